// Package alibabatest is a fake Alibaba Cloud SMS SmsConversionIntl
// endpoint for tests. It checks every request as Alibaba's pages describe
// it (RPC style, POST / with the parameters in the query, the x-acs-*
// headers and the ACS3-HMAC-SHA256 signature, which it recomputes on its
// own), answers as Alibaba does (a JSON Code, with a 200 for success and
// business errors and a 4xx or 5xx for the gateway's), and implements
// confirmtest.Fake.
package alibabatest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"relay/internal/vendors/confirm/confirmtest"
)

// Options configure a Fake. The credentials are required of every request.
type Options struct {
	AccessKeyID, AccessKeySecret string
	// Now is the fake's clock: x-acs-date must be within 15 minutes of it
	// and ConversionTime not after it; default time.Now.
	Now func() time.Time
}

// Reply is one answer of the fake: Alibaba's Code and Message with an
// HTTP status (0 means 200), or a raw answer byte for byte.
type Reply struct {
	Status        int
	Code, Message string
	Raw           *confirmtest.Raw
}

// Fake is a SmsConversionIntl endpoint. Unless told otherwise it answers
// every well-formed, well-signed call with OK.
type Fake struct {
	opts   Options
	srv    *confirmtest.Server
	ledger confirmtest.Ledger[Reply]

	mu sync.Mutex
	// nonces are the x-acs-signature-nonce values received: Alibaba
	// refuses one used before.
	nonces map[string]bool
}

// Start starts a fake on a local port; Close stops it.
func Start(opts Options) *Fake {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := &Fake{opts: opts, nonces: map[string]bool{}}
	f.srv = confirmtest.Serve(f)
	return f
}

// NewServer starts a fake for the test's lifetime.
func NewServer(t testing.TB, opts Options) *Fake {
	t.Helper()
	f := Start(opts)
	t.Cleanup(f.Close)
	return f
}

// Close stops the fake and the connections to it.
func (f *Fake) Close() { f.srv.Close() }

// URL is the fake's base URL.
func (f *Fake) URL() string { return f.srv.URL }

// Reply queues r as the answer to the next call for messageID.
func (f *Fake) Reply(messageID string, r Reply) {
	f.ledger.Queue(messageID, r)
}

// Answer queues Alibaba's own answer for kind. Alibaba documents no
// Retry-After; a repeat is a plain success.
func (f *Fake) Answer(messageID string, kind confirmtest.Kind) {
	r := map[confirmtest.Kind]Reply{
		confirmtest.Success:     {Code: "OK", Message: "OK"},
		confirmtest.Repeat:      {Code: "OK", Message: "OK"},
		confirmtest.Permanent:   {Code: "isv.INVALID_PARAMETERS", Message: "MessageId is invalid."},
		confirmtest.Credentials: {Status: http.StatusNotFound, Code: "InvalidAccessKeyId.NotFound", Message: "Specified access key is not found."},
		confirmtest.Throttled:   {Status: http.StatusBadRequest, Code: "Throttling.User", Message: "Request was denied due to user flow control."},
		confirmtest.ServerError: {Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", Message: "The request has failed due to a temporary failure of the server."},
	}[kind]
	f.Reply(messageID, r)
}

// Raw queues r as the next answer for messageID, given after the request
// is checked as usual.
func (f *Fake) Raw(messageID string, r confirmtest.Raw) { f.Reply(messageID, Reply{Raw: &r}) }

// Calls counts the requests received for messageID.
func (f *Fake) Calls(messageID string) int {
	return f.ledger.Calls(messageID)
}

// Problems lists what broke Alibaba's documented format.
func (f *Fake) Problems() []string {
	return f.ledger.Problems()
}

// Overlaps names the MessageIds that ever had two calls in flight at
// once, with the most seen together.
func (f *Fake) Overlaps() map[string]int {
	return f.ledger.Overlaps()
}

// ServeHTTP answers one call.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		f.ledger.Problem("body: %v", err)
		return
	}
	q, qerr := url.ParseQuery(r.URL.RawQuery)
	messageID := q.Get("MessageId")
	reply, queued := f.ledger.Begin(messageID)
	defer f.ledger.End(messageID)

	// Alibaba refuses a badly signed or malformed call whatever was queued.
	if qerr != nil {
		f.ledger.Problem("query %q: %v", r.URL.RawQuery, qerr)
		writeCode(w, http.StatusBadRequest, "InvalidParameter", "The query string is malformed.")
		return
	}
	// Both are checked, so that every fault is a problem; the request's
	// comes first in the answer, as the gateway checks it first.
	rst, rcode, rmsg := f.checkRequest(r, body)
	pst, pcode, pmsg := f.checkParams(q)
	if rcode != "" {
		writeCode(w, rst, rcode, rmsg)
		return
	}
	if pcode != "" {
		writeCode(w, pst, pcode, pmsg)
		return
	}
	if queued && reply.Raw != nil {
		confirmtest.WriteRaw(w, r, *reply.Raw)
		return
	}
	if !queued {
		reply = Reply{Code: "OK", Message: "OK"}
	}
	writeCode(w, reply.Status, reply.Code, reply.Message)
}

// writeCode answers as Alibaba's RPC gateway does.
func writeCode(w http.ResponseWriter, status int, code, message string) {
	if status == 0 {
		status = http.StatusOK
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"Code": code, "Message": message, "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8D0001"})
}

// checkParams checks SmsConversionIntl's fields.
func (f *Fake) checkParams(q url.Values) (status int, code, message string) {
	for k, vs := range q {
		switch {
		case k != "MessageId" && k != "Delivered" && k != "ConversionTime":
			f.ledger.Problem("unexpected parameter %q", k)
		case len(vs) != 1:
			f.ledger.Problem("parameter %s given %d times", k, len(vs))
		}
	}
	if q.Get("MessageId") == "" {
		f.ledger.Problem("MessageId is missing")
		return http.StatusBadRequest, "MissingMessageId", "MessageId is mandatory for this action."
	}
	if d := q.Get("Delivered"); d != "true" {
		f.ledger.Problem("Delivered %q, want true", d)
		return http.StatusBadRequest, "MissingDelivered", "Delivered is mandatory for this action."
	}
	if ct, ok := q["ConversionTime"]; ok {
		// Milliseconds, not in the future, not seconds.
		ms, err := strconv.ParseInt(ct[0], 10, 64)
		now := f.opts.Now().UnixMilli()
		switch {
		case err != nil:
			f.ledger.Problem("ConversionTime %q is not an integer", ct[0])
		case ms > now:
			f.ledger.Problem("ConversionTime %d is %dms in the future", ms, ms-now)
			return http.StatusOK, "isv.INVALID_PARAMETERS", "ConversionTime must be earlier than the current time."
		case ms < 1e11:
			f.ledger.Problem("ConversionTime %d is not unix milliseconds", ms)
		}
	}
	return 0, "", ""
}

// checkRequest checks the method, path, common headers and signature. A
// fault gives the answer Alibaba gives it; every one is a problem, but for
// the wrong credentials the conformance suite asks for.
func (f *Fake) checkRequest(r *http.Request, body []byte) (status int, code, message string) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		f.ledger.Problem("%s %s, want POST /", r.Method, r.URL.Path)
		return http.StatusNotFound, "InvalidAction.NotFound", "Specified api is not found, please check your url and method."
	}
	if len(body) != 0 {
		f.ledger.Problem("a body of %d bytes: SmsConversionIntl's parameters are in the query", len(body))
	}
	want := map[string]string{"x-acs-action": "SmsConversionIntl", "x-acs-version": "2017-05-25", "x-acs-content-sha256": hexSHA256(body)}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			f.ledger.Problem("%s %q, want %q", k, got, v)
			return http.StatusBadRequest, "InvalidParameter", k + " is invalid."
		}
	}
	date, err := time.Parse("2006-01-02T15:04:05Z", r.Header.Get("x-acs-date"))
	if err != nil {
		f.ledger.Problem("x-acs-date %q is not yyyy-MM-ddTHH:mm:ssZ", r.Header.Get("x-acs-date"))
		return http.StatusBadRequest, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted."
	}
	if d := f.opts.Now().Sub(date); d > 15*time.Minute || d < -15*time.Minute {
		f.ledger.Problem("x-acs-date %s is %s from now", date, d)
		return http.StatusBadRequest, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
	}
	nonce := r.Header.Get("x-acs-signature-nonce")
	f.mu.Lock()
	used := f.nonces[nonce]
	f.nonces[nonce] = true
	f.mu.Unlock()
	if nonce == "" || used {
		f.ledger.Problem("x-acs-signature-nonce %q is empty or used before", nonce)
		return http.StatusBadRequest, "SignatureNonceUsed", "Specified signature nonce was used already."
	}
	id, signed, sig, ok := parseAuthorization(r.Header.Get("Authorization"))
	if !ok {
		f.ledger.Problem("Authorization %q is not ACS3-HMAC-SHA256", r.Header.Get("Authorization"))
		return http.StatusBadRequest, "IncompleteSignature", "The request signature does not conform to Aliyun standards."
	}
	// Every header but Authorization is to be signed: host and all x-acs-*.
	var needed []string
	for k := range r.Header {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-acs-") || lk == "content-type" {
			needed = append(needed, lk)
		}
	}
	needed = append(needed, "host")
	sort.Strings(needed)
	if strings.Join(signed, ";") != strings.Join(needed, ";") {
		f.ledger.Problem("SignedHeaders %q, want %q", strings.Join(signed, ";"), strings.Join(needed, ";"))
	}
	if id != f.opts.AccessKeyID {
		return http.StatusNotFound, "InvalidAccessKeyId.NotFound", "Specified access key is not found."
	}
	var canon strings.Builder
	canon.WriteString("POST\n/\n" + canonicalQuery(r.URL.Query()) + "\n")
	for _, h := range signed {
		v := r.Header.Get(h)
		if h == "host" {
			v = r.Host
		}
		canon.WriteString(h + ":" + strings.TrimSpace(v) + "\n")
	}
	canon.WriteString("\n" + strings.Join(signed, ";") + "\n" + hexSHA256(body))
	m := hmac.New(sha256.New, []byte(f.opts.AccessKeySecret))
	m.Write([]byte("ACS3-HMAC-SHA256\n" + hexSHA256([]byte(canon.String()))))
	if want := hex.EncodeToString(m.Sum(nil)); !hmac.Equal([]byte(want), []byte(sig)) {
		f.ledger.Problem("signature %s, want %s", sig, want)
		return http.StatusBadRequest, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation."
	}
	return 0, "", ""
}

// canonicalQuery is the query as V3 signs it: sorted by name, names and
// values in RFC 3986's encoding.
func canonicalQuery(q url.Values) string {
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		for _, v := range q[k] {
			parts = append(parts, rfc3986(k)+"="+rfc3986(v))
		}
	}
	return strings.Join(parts, "&")
}

// rfc3986 encodes as url.QueryEscape does, then as the page asks: a space
// is %20, * is %2A, ~ is itself.
func rfc3986(s string) string {
	e := url.QueryEscape(s)
	return strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~").Replace(e)
}

// parseAuthorization splits "ACS3-HMAC-SHA256 Credential=ID,
// SignedHeaders=a;b,Signature=HEX".
func parseAuthorization(v string) (id string, signed []string, sig string, ok bool) {
	rest, found := strings.CutPrefix(v, "ACS3-HMAC-SHA256 ")
	if !found {
		return "", nil, "", false
	}
	parts := map[string]string{}
	for _, p := range strings.Split(rest, ",") {
		k, val, found := strings.Cut(strings.TrimSpace(p), "=")
		if !found {
			return "", nil, "", false
		}
		parts[k] = val
	}
	if parts["Credential"] == "" || parts["SignedHeaders"] == "" || parts["Signature"] == "" {
		return "", nil, "", false
	}
	return parts["Credential"], strings.Split(parts["SignedHeaders"], ";"), parts["Signature"], true
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
