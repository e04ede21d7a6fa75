package alibaba

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
)

// algorithm is signature method V3's only algorithm.
const algorithm = "ACS3-HMAC-SHA256"

// param is a query parameter or a header, before encoding.
type param struct{ name, value string }

// signing is what ACS3-HMAC-SHA256 signs of one request, following the
// steps of Alibaba Cloud's "V3 request syntax and signature method" page.
type signing struct {
	method string
	// canonicalURI is "/" for an RPC-style API such as dysmsapi.
	canonicalURI string
	query        []param
	// headers are host, content-type if any, and every x-acs-* header,
	// names in lower case: all of them are signed, as the page recommends.
	headers []param
	payload []byte
}

// percentEncode is RFC 3986 as the page asks: letters, digits and -_.~
// stay, every other byte is %XX in upper case (so a space is %20, * is
// %2A and ~ stays ~).
func percentEncode(s string) string {
	const hexdigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexdigits[c>>4])
		b.WriteByte(hexdigits[c&15])
	}
	return b.String()
}

// canonicalQuery sorts the parameters by name and encodes names and
// values; it is also the query string sent, so that Alibaba decodes
// exactly what was signed.
func (s signing) canonicalQuery() string {
	q := append([]param(nil), s.query...)
	sort.Slice(q, func(i, j int) bool { return q[i].name < q[j].name })
	parts := make([]string, len(q))
	for i, p := range q {
		parts[i] = percentEncode(p.name) + "=" + percentEncode(p.value)
	}
	return strings.Join(parts, "&")
}

func (s signing) sortedHeaders() []param {
	h := make([]param, len(s.headers))
	for i, p := range s.headers {
		h[i] = param{strings.ToLower(p.name), strings.TrimSpace(p.value)}
	}
	sort.Slice(h, func(i, j int) bool { return h[i].name < h[j].name })
	return h
}

func (s signing) signedHeaders() string {
	h := s.sortedHeaders()
	names := make([]string, len(h))
	for i, p := range h {
		names[i] = p.name
	}
	return strings.Join(names, ";")
}

// hashedPayload is HashedRequestPayload, also sent as x-acs-content-sha256.
func (s signing) hashedPayload() string { return sha256Hex(s.payload) }

// canonicalRequest is step 1.
func (s signing) canonicalRequest() string {
	var b strings.Builder
	b.WriteString(s.method + "\n" + s.canonicalURI + "\n" + s.canonicalQuery() + "\n")
	for _, p := range s.sortedHeaders() {
		b.WriteString(p.name + ":" + p.value + "\n")
	}
	b.WriteString("\n" + s.signedHeaders() + "\n" + s.hashedPayload())
	return b.String()
}

// stringToSign is step 2.
func (s signing) stringToSign() string {
	return algorithm + "\n" + sha256Hex([]byte(s.canonicalRequest()))
}

// signature is step 3: unlike V2, the key is the AccessKey secret itself.
func (s signing) signature(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(s.stringToSign()))
	return hex.EncodeToString(m.Sum(nil))
}

// authorization is step 4, the Authorization header.
func (s signing) authorization(accessKeyID, secret string) string {
	return algorithm + " Credential=" + accessKeyID + ",SignedHeaders=" + s.signedHeaders() + ",Signature=" + s.signature(secret)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
