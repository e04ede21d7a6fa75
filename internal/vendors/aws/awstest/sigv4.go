package awstest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Signing is what a SigV4 Authorization header is checked against: the
// key pair, and the scope the service expects.
type Signing struct {
	AccessKeyID, SecretAccessKey string
	Region, Service              string
	// Now is the service's clock, for the 15-minute window; nil: no window.
	Now func() time.Time
}

// Authorization is a parsed SigV4 Authorization header.
type Authorization struct {
	AccessKeyID                    string
	Date, Region, Service, Request string
	SignedHeaders                  []string
	Signature                      string
}

// ParseAuthorization reads "AWS4-HMAC-SHA256 Credential=.../date/region/
// service/aws4_request, SignedHeaders=a;b, Signature=hex".
func ParseAuthorization(v string) (Authorization, error) {
	var a Authorization
	rest, ok := strings.CutPrefix(v, "AWS4-HMAC-SHA256 ")
	if !ok {
		return a, errors.New("not AWS4-HMAC-SHA256")
	}
	fields := map[string]string{}
	for _, f := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok {
			return a, fmt.Errorf("field %q has no value", f)
		}
		fields[k] = val
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 {
		return a, fmt.Errorf("credential %q is not key/date/region/service/aws4_request", fields["Credential"])
	}
	a.AccessKeyID, a.Date, a.Region, a.Service, a.Request = scope[0], scope[1], scope[2], scope[3], scope[4]
	if fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return a, errors.New("no SignedHeaders or Signature")
	}
	a.SignedHeaders = strings.Split(fields["SignedHeaders"], ";")
	a.Signature = fields["Signature"]
	return a, nil
}

// Verify checks r's SigV4 signature over body as AWS computes it
// (Signature Version 4 signing process: canonical request, string to
// sign, derived key), and the credential scope against s. The error says
// which step broke.
func (s Signing) Verify(r *http.Request, body []byte) (Authorization, error) {
	a, err := ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return a, err
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse("20060102T150405Z", amzDate)
	switch {
	case err != nil:
		return a, fmt.Errorf("X-Amz-Date %q: %v", amzDate, err)
	case a.AccessKeyID != s.AccessKeyID:
		return a, fmt.Errorf("access key id %q, want %q", a.AccessKeyID, s.AccessKeyID)
	case a.Date != t.Format("20060102"):
		return a, fmt.Errorf("scope date %q is not X-Amz-Date's day %q", a.Date, amzDate)
	case a.Region != s.Region:
		return a, fmt.Errorf("scope region %q, want %q", a.Region, s.Region)
	case a.Service != s.Service:
		return a, fmt.Errorf("scope service %q, want %q", a.Service, s.Service)
	case a.Request != "aws4_request":
		return a, fmt.Errorf("scope terminator %q, want aws4_request", a.Request)
	}
	if s.Now != nil {
		if d := s.Now().Sub(t); d > 15*time.Minute || d < -15*time.Minute {
			return a, fmt.Errorf("X-Amz-Date %s is %s from the service's clock", amzDate, d)
		}
	}
	signed := map[string]bool{}
	for _, h := range a.SignedHeaders {
		signed[h] = true
	}
	if !sort.StringsAreSorted(a.SignedHeaders) {
		return a, fmt.Errorf("SignedHeaders %v not sorted", a.SignedHeaders)
	}
	for _, h := range []string{"host", "x-amz-date"} {
		if !signed[h] {
			return a, fmt.Errorf("%s is not signed", h)
		}
	}
	for h := range r.Header {
		if lh := strings.ToLower(h); (strings.HasPrefix(lh, "x-amz-") || lh == "content-type") && !signed[lh] {
			return a, fmt.Errorf("%s is sent but not signed", lh)
		}
	}
	canonical := CanonicalRequest(r, a.SignedHeaders, body)
	want := Sign(s.SecretAccessKey, amzDate, a.Region, a.Service, canonical)
	if !hmac.Equal([]byte(want), []byte(a.Signature)) {
		return a, fmt.Errorf("signature %s, want %s over canonical request %q", a.Signature, want, canonical)
	}
	return a, nil
}

// CanonicalRequest is SigV4's canonical form of r: method, URI, query,
// the signed headers (lower-cased names, trimmed values, sorted), their
// names, and the hex SHA-256 of the body.
func CanonicalRequest(r *http.Request, signedHeaders []string, body []byte) string {
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(path + "\n")
	b.WriteString(canonicalQuery(r.URL.Query()) + "\n")
	for _, h := range signedHeaders {
		var vals []string
		switch h {
		case "host":
			vals = []string{r.Host}
		case "content-length":
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		default:
			vals = r.Header.Values(h)
		}
		for i, v := range vals {
			vals[i] = strings.Join(strings.Fields(v), " ")
		}
		b.WriteString(h + ":" + strings.Join(vals, ",") + "\n")
	}
	b.WriteString("\n" + strings.Join(signedHeaders, ";") + "\n")
	sum := sha256.Sum256(body)
	b.WriteString(hex.EncodeToString(sum[:]))
	return b.String()
}

func canonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			parts = append(parts, escape(k)+"="+escape(v))
		}
	}
	return strings.Join(parts, "&")
}

// escape is SigV4's URI encoding: every byte but A-Z a-z 0-9 - _ . ~.
func escape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// Sign is the hex signature of canonical, signed at amzDate in region and
// service with secret.
func Sign(secret, amzDate, region, service, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	scope := amzDate[:8] + "/" + region + "/" + service + "/aws4_request"
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	key := []byte("AWS4" + secret)
	for _, part := range []string{amzDate[:8], region, service, "aws4_request"} {
		key = hmacSHA256(key, part)
	}
	return hex.EncodeToString(hmacSHA256(key, toSign))
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
