package tencent

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// algorithm is the only signature method of API 3.0 with a JSON body.
const algorithm = "TC3-HMAC-SHA256"

// header is one request header taking part in the signature: its name in
// lower case, and its value as sent.
type header struct{ name, value string }

// signing is what TC3-HMAC-SHA256 signs of one request, following the
// steps of Tencent Cloud's "Signature v3" page.
type signing struct {
	method         string
	canonicalURI   string
	canonicalQuery string
	// headers are sorted by name, lower case, as the page requires.
	headers   []header
	payload   []byte
	timestamp int64
	service   string
}

// date is the UTC date of the timestamp: the page warns that a local date
// fails every call made just after midnight in UTC+8.
func (s signing) date() string { return time.Unix(s.timestamp, 0).UTC().Format("2006-01-02") }

func (s signing) credentialScope() string { return s.date() + "/" + s.service + "/tc3_request" }

func (s signing) signedHeaders() string {
	names := make([]string, len(s.headers))
	for i, h := range s.headers {
		names[i] = h.name
	}
	return strings.Join(names, ";")
}

// canonicalRequest is step 1.
func (s signing) canonicalRequest() string {
	var b strings.Builder
	b.WriteString(s.method + "\n" + s.canonicalURI + "\n" + s.canonicalQuery + "\n")
	for _, h := range s.headers {
		b.WriteString(h.name + ":" + strings.ToLower(strings.TrimSpace(h.value)) + "\n")
	}
	b.WriteString("\n" + s.signedHeaders() + "\n" + sha256Hex(s.payload))
	return b.String()
}

// stringToSign is step 2.
func (s signing) stringToSign() string {
	return algorithm + "\n" + strconv.FormatInt(s.timestamp, 10) + "\n" + s.credentialScope() + "\n" + sha256Hex([]byte(s.canonicalRequest()))
}

// signature is step 3: the key derived from the secret, the date and the
// service signs the string to sign.
func (s signing) signature(secretKey string) string {
	k := hmacSHA256([]byte("TC3"+secretKey), s.date())
	k = hmacSHA256(k, s.service)
	k = hmacSHA256(k, "tc3_request")
	return hex.EncodeToString(hmacSHA256(k, s.stringToSign()))
}

// authorization is step 4, the Authorization header.
func (s signing) authorization(secretID, secretKey string) string {
	return algorithm + " Credential=" + secretID + "/" + s.credentialScope() +
		", SignedHeaders=" + s.signedHeaders() + ", Signature=" + s.signature(secretKey)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
