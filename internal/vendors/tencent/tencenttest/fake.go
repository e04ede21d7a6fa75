// Package tencenttest is a fake Tencent Cloud SMS ReportConversion
// endpoint for tests. It checks every request as Tencent's pages describe
// it (the API 3.0 common headers, the TC3-HMAC-SHA256 signature, which it
// recomputes on its own, and the body's fields), answers as Tencent does
// (a 200 whose Response holds an Error or the ReportConversionStatus), and
// implements confirmtest.Fake.
package tencenttest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"relay/internal/vendors/confirm/confirmtest"
)

// Options configure a Fake. The credentials and the SdkAppId are
// required of every request.
type Options struct {
	SecretID, SecretKey, SmsSdkAppID string
	// Region, when set, is the only X-TC-Region accepted.
	Region string
	// Now is the fake's clock, against which X-TC-Timestamp must be within
	// 5 minutes; default time.Now.
	Now func() time.Time
}

// Reply is one answer of the fake: Tencent's Code and Message, or a raw
// answer byte for byte.
type Reply struct {
	// Code and Message go in Response.Error, or in ReportConversionStatus
	// for a code that is OK in any case.
	Code, Message string
	Raw           *confirmtest.Raw
}

// Fake is a ReportConversion endpoint. Unless told otherwise it answers
// every well-formed, well-signed call with OK.
type Fake struct {
	opts   Options
	srv    *confirmtest.Server
	ledger confirmtest.Ledger[Reply]
}

// Start starts a fake on a local port; Close stops it.
func Start(opts Options) *Fake {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := &Fake{opts: opts}
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

// Reply queues r as the answer to the next call for serialNo.
func (f *Fake) Reply(serialNo string, r Reply) {
	f.ledger.Queue(serialNo, r)
}

// Answer queues Tencent's own answer for kind. Tencent answers its errors
// with a 200 and documents no Retry-After; a repeat is a plain success.
func (f *Fake) Answer(serialNo string, kind confirmtest.Kind) {
	r := map[confirmtest.Kind]Reply{
		confirmtest.Success:     {Code: "OK", Message: "ok"},
		confirmtest.Repeat:      {Code: "ok", Message: "ok"},
		confirmtest.Permanent:   {Code: "InvalidParameter", Message: "SerialNo is invalid."},
		confirmtest.Credentials: {Code: "AuthFailure.SecretIdNotFound", Message: "The SecretId is not found, please ensure that your SecretId is correct."},
		confirmtest.Throttled: {Code: "RequestLimitExceeded",
			Message: "Your current request times equals to `1001` in a second, which exceeds the frequency limit `1000` for a second. Please reduce the frequency of calls."},
		confirmtest.ServerError: {Code: "InternalError.SendAndRecvFail", Message: "Interface timeout or SMS packet sending and receiving timeout."},
	}[kind]
	f.Reply(serialNo, r)
}

// Raw queues r as the next answer for serialNo, given after the request
// is checked as usual.
func (f *Fake) Raw(serialNo string, r confirmtest.Raw) { f.Reply(serialNo, Reply{Raw: &r}) }

// Calls counts the requests received for serialNo.
func (f *Fake) Calls(serialNo string) int {
	return f.ledger.Calls(serialNo)
}

// Problems lists what broke Tencent's documented format.
func (f *Fake) Problems() []string {
	return f.ledger.Problems()
}

// Overlaps names the SerialNos that ever had two calls in flight at once,
// with the most seen together.
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
	serialNo, fields := f.checkBody(body)
	reply, queued := f.ledger.Begin(serialNo)
	defer f.ledger.End(serialNo)

	// Tencent refuses a badly signed call whatever was queued.
	if code, msg := f.checkRequest(r, body); code != "" {
		writeCode(w, code, msg)
		return
	}
	if !fields {
		writeCode(w, "MissingParameter", "The request is missing a required parameter `SerialNo`.")
		return
	}
	if queued && reply.Raw != nil {
		confirmtest.WriteRaw(w, r, *reply.Raw)
		return
	}
	if !queued {
		reply = Reply{Code: "Ok", Message: "ok"}
	}
	writeCode(w, reply.Code, reply.Message)
}

// writeCode answers code as Tencent does: OK in ReportConversionStatus,
// anything else in Response.Error, both with a 200.
func writeCode(w http.ResponseWriter, code, message string) {
	inner := map[string]any{"RequestId": "6e5bb4a3-1e5c-4b0a-9f3e-2f0d7a1c9b11"}
	if strings.EqualFold(code, "ok") {
		inner["ReportConversionStatus"] = map[string]string{"Code": code, "Message": message}
	} else {
		inner["Error"] = map[string]string{"Code": code, "Message": message}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"Response": inner})
}

// checkBody reads ReportConversion's fields, recording what is off the
// documentation; fields reports whether the required ones are there.
func (f *Fake) checkBody(body []byte) (serialNo string, fields bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		f.ledger.Problem("body is not a JSON object: %v", err)
		return "", false
	}
	for k := range m {
		if k != "SmsSdkAppId" && k != "SerialNo" && k != "ConversionTime" {
			f.ledger.Problem("unexpected field %q", k)
		}
	}
	var appID string
	if err := json.Unmarshal(m["SmsSdkAppId"], &appID); err != nil || appID != f.opts.SmsSdkAppID {
		f.ledger.Problem("SmsSdkAppId %s, want %q", m["SmsSdkAppId"], f.opts.SmsSdkAppID)
	}
	if err := json.Unmarshal(m["SerialNo"], &serialNo); err != nil || serialNo == "" {
		f.ledger.Problem("SerialNo %s, want a non-empty string", m["SerialNo"])
		return serialNo, false
	}
	if ct, ok := m["ConversionTime"]; ok {
		// Unix seconds: an integer, not in the future, not milliseconds.
		n, err := strconv.ParseInt(string(ct), 10, 64)
		switch {
		case err != nil:
			f.ledger.Problem("ConversionTime %s is not an integer", ct)
		case n <= 0 || n > f.opts.Now().Add(5*time.Minute).Unix():
			f.ledger.Problem("ConversionTime %d is not unix seconds up to now", n)
		}
	}
	return serialNo, true
}

// checkRequest checks the method, path, common headers and signature. A
// fault gives the code Tencent answers it with; every one is a problem,
// but for the wrong credentials the conformance suite asks for.
func (f *Fake) checkRequest(r *http.Request, body []byte) (code, message string) {
	if r.Method != http.MethodPost || r.URL.Path != "/" || r.URL.RawQuery != "" {
		f.ledger.Problem("%s %s, want POST /", r.Method, r.URL.RequestURI())
		return "InvalidAction", "The request method or path is not supported."
	}
	want := map[string]string{"Content-Type": "application/json; charset=utf-8", "X-TC-Action": "ReportConversion", "X-TC-Version": "2021-01-11"}
	if f.opts.Region != "" {
		want["X-TC-Region"] = f.opts.Region
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			f.ledger.Problem("%s %q, want %q", k, got, v)
			return "InvalidParameter", "Common parameter " + k + " is invalid."
		}
	}
	ts, err := strconv.ParseInt(r.Header.Get("X-TC-Timestamp"), 10, 64)
	if err != nil {
		f.ledger.Problem("X-TC-Timestamp %q is not unix seconds", r.Header.Get("X-TC-Timestamp"))
		return "InvalidParameter", "X-TC-Timestamp is invalid."
	}
	if d := f.opts.Now().Unix() - ts; d > 300 || d < -300 {
		f.ledger.Problem("X-TC-Timestamp %d is %ds from now", ts, d)
		return "AuthFailure.SignatureExpire", "Signature expire. Timestamp is over 5 minutes."
	}
	id, scope, signed, sig, ok := parseAuthorization(r.Header.Get("Authorization"))
	if !ok {
		f.ledger.Problem("Authorization %q is not TC3-HMAC-SHA256", r.Header.Get("Authorization"))
		return "AuthFailure.InvalidAuthorization", "The Authorization header is malformed."
	}
	date := time.Unix(ts, 0).UTC().Format("2006-01-02")
	if scope != date+"/sms/tc3_request" {
		f.ledger.Problem("credential scope %q, want %q", scope, date+"/sms/tc3_request")
		return "AuthFailure.SignatureFailure", "The provided credentials could not be validated."
	}
	if !contains(signed, "content-type") || !contains(signed, "host") || !sort.StringsAreSorted(signed) {
		f.ledger.Problem("SignedHeaders %q: content-type and host are required, sorted", strings.Join(signed, ";"))
		return "AuthFailure.SignatureFailure", "The provided credentials could not be validated."
	}
	if id != f.opts.SecretID {
		return "AuthFailure.SecretIdNotFound", "The SecretId is not found, please ensure that your SecretId is correct."
	}
	var canon strings.Builder
	canon.WriteString("POST\n/\n\n")
	for _, h := range signed {
		v := r.Header.Get(h)
		if h == "host" {
			v = r.Host
		}
		canon.WriteString(h + ":" + strings.ToLower(strings.TrimSpace(v)) + "\n")
	}
	canon.WriteString("\n" + strings.Join(signed, ";") + "\n" + hexSHA256(body))
	toSign := "TC3-HMAC-SHA256\n" + strconv.FormatInt(ts, 10) + "\n" + scope + "\n" + hexSHA256([]byte(canon.String()))
	key := mac([]byte("TC3"+f.opts.SecretKey), date)
	key = mac(mac(key, "sms"), "tc3_request")
	if want := hex.EncodeToString(mac(key, toSign)); !hmac.Equal([]byte(want), []byte(sig)) {
		f.ledger.Problem("signature %s, want %s", sig, want)
		return "AuthFailure.SignatureFailure", "The provided credentials could not be validated. Please check your signature is correct."
	}
	return "", ""
}

// parseAuthorization splits "TC3-HMAC-SHA256 Credential=ID/SCOPE,
// SignedHeaders=a;b, Signature=HEX".
func parseAuthorization(v string) (id, scope string, signed []string, sig string, ok bool) {
	rest, found := strings.CutPrefix(v, "TC3-HMAC-SHA256 ")
	if !found {
		return "", "", nil, "", false
	}
	parts := map[string]string{}
	for _, p := range strings.Split(rest, ", ") {
		k, val, found := strings.Cut(p, "=")
		if !found {
			return "", "", nil, "", false
		}
		parts[k] = val
	}
	cred := parts["Credential"]
	id, scope, found = strings.Cut(cred, "/")
	if !found || parts["SignedHeaders"] == "" || parts["Signature"] == "" {
		return "", "", nil, "", false
	}
	return id, scope, strings.Split(parts["SignedHeaders"], ";"), parts["Signature"], true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func mac(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
