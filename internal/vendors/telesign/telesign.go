// Package telesign is relay's client of Telesign's Verify completion API:
// it tells Telesign that a verification it delivered was completed, so that
// Telesign's routing learns from it. It knows the wire format and
// Telesign's codes, and nothing of NATS or PostgreSQL.
//
// Telesign asks its clients to decide on the codes in the body (status.code
// and errors[].code), not on the HTTP status; the status decides only where
// the body carries no code.
package telesign

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"relay/internal/vendors/confirm"
	"relay/internal/vendors/vendorbody"
)

// DefaultBaseURL is Telesign's enterprise REST host (SPEC:
// RELAY_TELESIGN_URL).
const DefaultBaseURL = "https://rest-ww.telesign.com"

// PathPrefix is the completion resource; the reference id follows it.
const PathPrefix = "/v1/verify/completion/"

// CodeCompleted is status.code of a recorded completion.
const CodeCompleted = 1900

// ReferenceID is the form of a Telesign reference id: 32 hex digits, as
// Telesign documents it.
var ReferenceID = regexp.MustCompile(`^[0-9A-Fa-f]{32}$`)

// codes are the codes Telesign documents for this call, with their
// outcome and meaning ("All status and error codes"; the Verify API
// references).
var codes = map[int]struct {
	outcome confirm.Outcome
	meaning string
}{
	CodeCompleted: {confirm.Confirmed, "Verify completion successfully recorded"},
	-10001:        {confirm.Permanent, "invalid parameter, or CustomerID/ReferenceID not found"},
	-10004:        {confirm.Permanent, "Reference ID expired"},
	-20002:        {confirm.Credentials, "this product is not enabled for this Customer ID"},
	-30000:        {confirm.Credentials, "invalid Customer ID"},
	-30001:        {confirm.Credentials, "Customer ID account suspended"},
	-30002:        {confirm.Credentials, "not authorized"},
	-30003:        {confirm.Credentials, "not authorized"},
	-30004:        {confirm.Credentials, "missing required Authorization header"},
	-30005:        {confirm.Credentials, "Authorization header is not in the correct format"},
	-30006:        {confirm.Credentials, "invalid signature"},
	-30007:        {confirm.Credentials, "missing required Date or x-ts-date header"},
	-30008:        {confirm.Credentials, "invalid x-ts-auth-method header"},
	-30009:        {confirm.Credentials, "Date or x-ts-date header is not RFC 822 compliant"},
	-30010:        {confirm.Credentials, "Date or x-ts-date header is not within tolerable range"},
	-30011:        {confirm.Credentials, "x-ts-nonce header is too long or too short"},
	-30012:        {confirm.Credentials, "x-ts-nonce header value has been used recently"},
	-30013:        {confirm.Permanent, "invalid ReferenceID"},
	-30015:        {confirm.Credentials, "invalid API key"},
	-90001:        {confirm.Transient, "system unavailable, try again"},
}

// ClassifyCode is the outcome and documented meaning of one of Telesign's
// codes; ok is false for a code it does not document for this call.
func ClassifyCode(code int) (o confirm.Outcome, meaning string, ok bool) {
	c, ok := codes[code]
	return c.outcome, c.meaning, ok
}

// ClassifyHTTP is what a status means where the body gave no documented
// code: 401 refuses the credentials, 400 and 404 (with Telesign's body)
// refuse the event, anything else is retried.
func ClassifyHTTP(status int) confirm.Outcome {
	switch status {
	case http.StatusUnauthorized:
		return confirm.Credentials
	case http.StatusBadRequest, http.StatusNotFound:
		return confirm.Permanent
	}
	return confirm.Transient
}

// Config configures a Client. Zero values take the defaults.
type Config struct {
	// BaseURL is scheme and host, default DefaultBaseURL.
	BaseURL string
	// CustomerID and APIKey are the account's credentials, sent as HTTP
	// Basic authentication.
	CustomerID string
	APIKey     string
	// Timeout bounds each call, its body included; default 10s.
	Timeout time.Duration
	// MaxConns bounds the idle connections kept to Telesign, default 256.
	MaxConns int
	// HTTPClient, when set, is copied: the copy follows no redirect.
	HTTPClient *http.Client
}

// Client calls the completion API. It is safe for concurrent use.
type Client struct {
	base       string
	customerID string
	apiKey     string
	timeout    time.Duration
	http       *http.Client
	redact     vendorbody.Redactor
}

// New returns a client for cfg.
func New(cfg Config) *Client {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	cfg.Timeout = confirm.TimeoutOrDefault(cfg.Timeout)
	hc := confirm.HTTPClientFor(cfg.HTTPClient, cfg.MaxConns)
	return &Client{
		base:       strings.TrimRight(cfg.BaseURL, "/"),
		customerID: cfg.CustomerID,
		apiKey:     cfg.APIKey,
		timeout:    cfg.Timeout,
		http:       hc,
		redact:     vendorbody.NewRedactor(cfg.APIKey, cfg.CustomerID),
	}
}

// Response is Telesign's answer body. Codes are numbers in Telesign's
// examples and strings in one of its schemas; both are read.
type Response struct {
	ReferenceID string          `json:"reference_id"`
	SubResource string          `json:"sub_resource"`
	Errors      []ResponseError `json:"errors"`
	Status      *struct {
		Code        json.Number `json:"code"`
		Description string      `json:"description"`
		UpdatedOn   string      `json:"updated_on"`
	} `json:"status"`
}

// ResponseError is one entry of errors[].
type ResponseError struct {
	Code        json.Number `json:"code"`
	Description string      `json:"description"`
}

// Confirm reports conv to Telesign: conv.MessageID is the reference id of
// the verification. Telesign takes no conversion time. An error (wrapping
// confirm.ErrTimeout, ErrTransport, ErrTooLarge or ErrUnreadable) comes
// only with a Transient answer.
func (c *Client) Confirm(ctx context.Context, conv confirm.Conversion) (confirm.Answer, error) {
	if !ReferenceID.MatchString(conv.MessageID) {
		return confirm.Answer{Outcome: confirm.Permanent, Status: "invalid message_id",
			Meaning: "a Telesign reference id is 32 hex digits"}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.base+PathPrefix+conv.MessageID, http.NoBody)
	if err != nil {
		return confirm.Answer{Outcome: confirm.Transient}, fmt.Errorf("telesign: %w: bad base URL", confirm.ErrTransport)
	}
	req.SetBasicAuth(c.customerID, c.apiKey)
	req.Header.Set("Accept", "application/json")
	a, header, raw, err := confirm.Exchange(ctx, c.http, req, "telesign", c.timeout)
	if err != nil {
		return a, err
	}
	if a.HTTPStatus >= 300 && a.HTTPStatus <= 399 {
		return a, fmt.Errorf("telesign: %w: HTTP %d redirect", confirm.ErrUnreadable, a.HTTPStatus)
	}
	body, ok := c.parse(header.Get("Content-Type"), raw)
	if !ok {
		return c.withoutCode(a, raw, "")
	}
	if d, found := c.decide(body, a.HTTPStatus); found {
		d.HTTPStatus, d.RetryAfter = a.HTTPStatus, a.RetryAfter
		return d, nil
	}
	desc := ""
	if body.Status != nil {
		desc = body.Status.Description
	}
	return c.withoutCode(a, raw, desc)
}

// parse reads Telesign's JSON body; ok is false for anything else (an
// HTML page, another format, JSON with neither status nor errors).
func (c *Client) parse(contentType string, raw []byte) (Response, bool) {
	if mt, _, err := mime.ParseMediaType(contentType); err == nil && (mt == "text/html" || mt == "application/xhtml+xml") {
		return Response{}, false
	}
	var r Response
	if err := json.Unmarshal(raw, &r); err != nil || (r.Status == nil && len(r.Errors) == 0) {
		return Response{}, false
	}
	return r, true
}

// severity orders outcomes when errors[] holds several codes: an
// account-wide refusal outweighs one event's, which outweighs a retry.
var severity = map[confirm.Outcome]int{confirm.Credentials: 3, confirm.Permanent: 2, confirm.Transient: 1}

// decide reads the verdict of a body: its errors first (Telesign has
// answered status 1900 beside an error), else its status code. found is
// false when the body holds no code at all.
func (c *Client) decide(r Response, httpStatus int) (a confirm.Answer, found bool) {
	best := -1
	for i, e := range r.Errors {
		n, ok := codeOf(e.Code)
		if !ok {
			continue
		}
		o, meaning, ok := ClassifyCode(n)
		if !ok || o == confirm.Confirmed {
			// An undocumented error code (or a success code among the
			// errors) is judged by the HTTP status.
			o, meaning = ClassifyHTTP(httpStatus), "undocumented code"
		}
		if best < 0 || severity[o] > severity[a.Outcome] {
			best = i
			a = confirm.Answer{Outcome: o, Status: strconv.Itoa(n), Meaning: c.meaning(e.Description, meaning)}
		}
	}
	if best >= 0 {
		return a, true
	}
	if r.Status == nil {
		return confirm.Answer{}, false
	}
	n, ok := codeOf(r.Status.Code)
	if !ok {
		return confirm.Answer{}, false
	}
	o, meaning, ok := ClassifyCode(n)
	if !ok {
		// A status without errors that is not 1900 ("500 Transaction not
		// attempted"): the transaction did not happen; judged by the HTTP
		// status, and never a success.
		o, meaning = ClassifyHTTP(httpStatus), "undocumented status"
	}
	return confirm.Answer{Outcome: o, Status: strconv.Itoa(n), Meaning: c.meaning(r.Status.Description, meaning)}, true
}

// codeOf reads a code as an integer of at most 10 digits: Telesign's are
// 3 to 5, and a longer "number" is no code to keep.
func codeOf(n json.Number) (int, bool) {
	s := n.String()
	if s == "" || len(s) > 11 {
		return 0, false
	}
	c, err := strconv.Atoi(s)
	return c, err == nil
}

// meaning is Telesign's own description where it gave one, else the
// documented meaning.
func (c *Client) meaning(description, documented string) string {
	if d := c.redact.Text(description, vendorbody.SnippetLen); d != "" {
		return d
	}
	return documented
}

// withoutCode answers a response that carries no Telesign code: 401 and
// 429/5xx are verdicts by their status; anything else is not Telesign's
// API talking (a portal, a proxy's page, a 2xx of another format).
// description is Telesign's status.description where its JSON had one.
func (c *Client) withoutCode(a confirm.Answer, raw []byte, description string) (confirm.Answer, error) {
	s := a.HTTPStatus
	a.Meaning = c.redact.Text(description, vendorbody.SnippetLen)
	if a.Meaning == "" {
		a.Meaning = c.redact.Snippet(raw)
	}
	switch {
	case s == http.StatusUnauthorized:
		a.Outcome = confirm.Credentials
		if a.Meaning == "" {
			a.Meaning = "unauthorized: CustomerID or API key refused"
		}
		return a, nil
	case s == http.StatusTooManyRequests || s >= 500:
		return a, nil
	}
	return a, fmt.Errorf("telesign: %w: HTTP %d without a Telesign code (body: %q)", confirm.ErrUnreadable, s, a.Meaning)
}
