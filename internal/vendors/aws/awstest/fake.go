// Package awstest is a fake of AWS End User Messaging SMS
// (pinpoint-sms-voice-v2) answering PutMessageFeedback, for the aws
// client's tests. It checks every request as AWS's API reference and the
// awsJson1_0 protocol describe it (POST /, X-Amz-Target, Content-Type,
// the JSON body, a SigV4 signature recomputed with the test's key for
// service sms-voice) and answers as AWS does: 200 with the message's
// status, or a JSON 1.0 error naming its exception.
package awstest

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"relay/internal/vendors/confirm/confirmtest"
)

// The fake's default credentials: AWS's documentation example key pair,
// which no account has.
const (
	AccessKeyID     = "AKIAIOSFODNN7EXAMPLE"
	SecretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	Region          = "us-east-1"
)

// Target is the X-Amz-Target of PutMessageFeedback.
const Target = "PinpointSMSVoiceV2.PutMessageFeedback"

// ContentType is the awsJson1_0 protocol's content type, both ways.
const ContentType = "application/x-amz-json-1.0"

// namespace prefixes __type as AWS's JSON 1.0 services write it.
const namespace = "com.amazonaws.pinpointsmsvoicev2#"

// Exception is an error answer in AWS's JSON 1.0 form.
type Exception struct {
	// Name is the exception's shape name ("ThrottlingException").
	Name string
	// Status is the HTTP status; 0 means 400, as the API reference gives
	// for every exception of this call but InternalServerException.
	Status  int
	Message string
	// Fields are members the exception adds (Reason, ResourceType, ...).
	Fields map[string]any
	// InHeader names the exception in X-Amzn-ErrorType (with the URL suffix
	// some AWS front ends add) rather than in the body's __type.
	InHeader bool
}

// The documented exceptions, in AWS's words.
var (
	ResourceNotFound = Exception{Name: "ResourceNotFoundException", Message: "A requested resource couldn't be found.",
		Fields: map[string]any{"ResourceType": "message"}}
	Validation = Exception{Name: "ValidationException", Message: "A validation exception for a field.",
		Fields: map[string]any{"Reason": "FIELD_VALIDATION_FAILED"}}
	AccessDenied = Exception{Name: "AccessDeniedException",
		Message: "The request was denied because you don't have sufficient permissions to access the resource.",
		Fields:  map[string]any{"Reason": "ACCOUNT_DISABLED"}}
	Throttling = Exception{Name: "ThrottlingException",
		Message: "An error that occurred because too many requests were sent during a certain amount of time."}
	InternalServer = Exception{Name: "InternalServerException", Status: 500,
		Message: "The API encountered an unexpected error and couldn't complete the request. You might be able to successfully issue the request again in the future.",
		Fields:  map[string]any{"RequestId": "9f2c7d1e-0000-4000-8000-000000000000"}}
	UnrecognizedClient = Exception{Name: "UnrecognizedClientException", Status: 403,
		Message: "The security token included in the request is invalid."}
	InvalidSignature = Exception{Name: "InvalidSignatureException", Status: 403,
		Message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."}
	ExpiredToken = Exception{Name: "ExpiredTokenException", Status: 403,
		Message: "The security token included in the request is expired"}
)

// Options configure a Fake. Zero values take the package's constants.
type Options struct {
	AccessKeyID, SecretAccessKey string
	// SessionToken, when set, is required in X-Amz-Security-Token.
	SessionToken string
	Region       string
}

// Fake is the fake service. It implements confirmtest.Fake.
type Fake struct {
	srv  *confirmtest.Server
	sign Signing
	opts Options

	ledger confirmtest.Ledger[answer]
}

// answer is one queued answer: an exception, a raw reply, or success.
type answer struct {
	exc *Exception
	raw *confirmtest.Raw
}

// New starts a fake for the test's lifetime.
func New(t testing.TB, opts Options) *Fake {
	t.Helper()
	f := Start(opts)
	t.Cleanup(f.Close)
	return f
}

// Start starts a fake that runs until Close (New ties it to a test).
func Start(opts Options) *Fake {
	if opts.AccessKeyID == "" {
		opts.AccessKeyID, opts.SecretAccessKey = AccessKeyID, SecretAccessKey
	}
	if opts.Region == "" {
		opts.Region = Region
	}
	f := &Fake{
		opts: opts,
		sign: Signing{AccessKeyID: opts.AccessKeyID, SecretAccessKey: opts.SecretAccessKey,
			Region: opts.Region, Service: "sms-voice", Now: time.Now},
	}
	f.srv = confirmtest.Serve(f)
	return f
}

// Close stops the fake and its connections.
func (f *Fake) Close() { f.srv.Close() }

// URL is the fake's base URL, RELAY_AWS_ENDPOINT in a test.
func (f *Fake) URL() string { return f.srv.URL }

// Answer makes the fake answer kind to the next call for messageID.
func (f *Fake) Answer(messageID string, kind confirmtest.Kind) {
	switch kind {
	case confirmtest.Success, confirmtest.Repeat:
		// AWS tells no repeat apart: a second RECEIVED answers as the first.
		f.ledger.Queue(messageID, answer{})
	case confirmtest.Permanent:
		f.Exception(messageID, ResourceNotFound)
	case confirmtest.Credentials:
		f.Exception(messageID, UnrecognizedClient)
	case confirmtest.Throttled:
		f.Exception(messageID, Throttling)
	case confirmtest.ServerError:
		f.Exception(messageID, InternalServer)
	default:
		f.ledger.Problem("the fake has no answer for kind %d", kind)
	}
}

// Exception makes the fake answer e to the next call for messageID.
func (f *Fake) Exception(messageID string, e Exception) { f.ledger.Queue(messageID, answer{exc: &e}) }

// Raw makes the fake answer r to the next call for messageID, after
// checking the request as usual.
func (f *Fake) Raw(messageID string, r confirmtest.Raw) { f.ledger.Queue(messageID, answer{raw: &r}) }

// Calls counts the requests received for messageID.
func (f *Fake) Calls(messageID string) int {
	return f.ledger.Calls(messageID)
}

// Overlaps names the message ids that ever had two calls in flight at once.
func (f *Fake) Overlaps() []string {
	return slices.Sorted(maps.Keys(f.ledger.Overlaps()))
}

// Problems lists what broke the documented format in the requests received.
func (f *Fake) Problems() []string {
	return f.ledger.Problems()
}

// messageID is the API reference's MessageId: 1 to 64 of [A-Za-z0-9_:/-].
var messageID = regexp.MustCompile(`^[A-Za-z0-9_:/-]{1,64}$`)

// ServeHTTP answers PutMessageFeedback.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		f.ledger.Problem("request body: %v", err)
		writeException(w, Exception{Name: "SerializationException", Message: "request body unreadable"})
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" || r.URL.RawQuery != "" {
		f.ledger.Problem("%s %s, want POST /", r.Method, r.URL.RequestURI())
		writeException(w, Exception{Name: "UnknownOperationException", Status: 404})
		return
	}
	if got := r.Header.Get("X-Amz-Target"); got != Target {
		f.ledger.Problem("X-Amz-Target %q, want %q", got, Target)
		writeException(w, Exception{Name: "UnknownOperationException", Status: 404})
		return
	}
	if got := r.Header.Get("Content-Type"); got != ContentType {
		f.ledger.Problem("Content-Type %q, want %q", got, ContentType)
	}
	if _, err := f.sign.Verify(r, body); err != nil {
		f.ledger.Problem("SigV4: %v", err)
		if a, perr := ParseAuthorization(r.Header.Get("Authorization")); perr == nil && a.AccessKeyID != f.opts.AccessKeyID {
			writeException(w, UnrecognizedClient)
		} else {
			writeException(w, InvalidSignature)
		}
		return
	}
	if f.opts.SessionToken != "" && r.Header.Get("X-Amz-Security-Token") != f.opts.SessionToken {
		f.ledger.Problem("X-Amz-Security-Token is not the session token")
		writeException(w, UnrecognizedClient)
		return
	}
	id, ok := f.checkBody(body)
	if !ok {
		writeException(w, Validation)
		return
	}

	a, _ := f.ledger.Begin(id)
	defer f.ledger.End(id)

	w.Header().Set("X-Amzn-RequestId", "7c1b8e4a-5d2f-4c3b-9a10-6e8f0d2c4b71")
	switch {
	case a.raw != nil:
		confirmtest.WriteRaw(w, r, *a.raw)
	case a.exc != nil:
		writeException(w, *a.exc)
	default:
		w.Header().Set("Content-Type", ContentType)
		out, _ := json.Marshal(map[string]string{"MessageId": id, "MessageFeedbackStatus": "RECEIVED"})
		w.Write(out)
	}
}

// checkBody checks the request's JSON: exactly MessageId and
// MessageFeedbackStatus RECEIVED, the id as documented.
func (f *Fake) checkBody(body []byte) (string, bool) {
	var in map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&in); err != nil {
		f.ledger.Problem("body is not JSON: %v", err)
		return "", false
	}
	ok := true
	for k := range in {
		if k != "MessageId" && k != "MessageFeedbackStatus" {
			f.ledger.Problem("body has an undocumented field %q", k)
			ok = false
		}
	}
	if st, _ := in["MessageFeedbackStatus"].(string); st != "RECEIVED" {
		f.ledger.Problem("MessageFeedbackStatus %v, want RECEIVED", in["MessageFeedbackStatus"])
		ok = false
	}
	id, _ := in["MessageId"].(string)
	if !messageID.MatchString(id) {
		f.ledger.Problem("MessageId %q does not match [A-Za-z0-9_:/-]{1,64}", id)
		ok = false
	}
	return id, ok
}

// writeException answers e as an awsJson1_0 error.
func writeException(w http.ResponseWriter, e Exception) {
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	out := map[string]any{}
	for k, v := range e.Fields {
		out[k] = v
	}
	if e.Message != "" {
		out["Message"] = e.Message
	}
	if e.InHeader {
		w.Header().Set("X-Amzn-ErrorType", e.Name+":http://internal.amazon.com/coral/com.amazon.coral.service/")
	} else {
		out["__type"] = namespace + e.Name
	}
	b, _ := json.Marshal(out)
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}
