// Package signedapi is the one implementation of the API family shared by
// Laaffic and Itniotech: header signing, the signed GET transport, the
// status envelope with its documented codes, and the balance answer that
// both vendors return in the same shape.
//
// Vendor packages (vendors/laaffic, vendors/itniotech) only add their base
// URL, their paths and the answers that are theirs alone, so a fix to the
// family's protocol is made once.
package signedapi

import (
	"crypto/md5"
	"encoding/hex"
	"strconv"
)

// Sign returns the family's request signature: the lowercase hex MD5 of
// apiKey, apiSecret and the decimal unix timestamp, concatenated without
// separators (md5(apiKey + apiSecret + timestamp) in the vendors' samples).
//
// The secret itself never travels; the timestamp is what lets the vendor
// reject a replayed Sign, which is why the vendor answers status -16 when
// the clocks disagree.
func Sign(apiKey, apiSecret string, ts int64) string {
	sum := md5.Sum([]byte(apiKey + apiSecret + strconv.FormatInt(ts, 10)))
	return hex.EncodeToString(sum[:])
}
