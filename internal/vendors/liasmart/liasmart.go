// Package liasmart is the client of Liasmart's CTrack API, the "registration
// succeeded" callback that tells the vendor an SMS converted. It knows the
// wire format and nothing of NATS or PostgreSQL; deciding what a code means
// for an event (retry, give up, pause) is the caller's business.
package liasmart

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"relay/internal/vendors/confirm"
	"relay/internal/vendors/vendorbody"
)

// Code is CTrack's ErrorCode.
type Code int

// The codes CTrack documents (1000~1009).
const (
	CodeOK                   Code = 1000
	CodeAPIIDMissing         Code = 1001
	CodeAPIPasswordMissing   Code = 1002
	CodeInvalidAPIID         Code = 1003
	CodeInvalidAPIPassword   Code = 1004
	CodeStatusMissing        Code = 1005
	CodeInvalidStatus        Code = 1006
	CodeMessageIDMissing     Code = 1007
	CodeInvalidMessageID     Code = 1008
	CodeMessageAlreadyUpdate Code = 1009
)

var meanings = map[Code]string{
	CodeOK:                   "OK",
	CodeAPIIDMissing:         "api_id not specified",
	CodeAPIPasswordMissing:   "api_password not specified",
	CodeInvalidAPIID:         "Invalid api_id",
	CodeInvalidAPIPassword:   "Invalid api_password",
	CodeStatusMissing:        "status not specified",
	CodeInvalidStatus:        "Invalid status",
	CodeMessageIDMissing:     "message_id not specified",
	CodeInvalidMessageID:     "Invalid message_id",
	CodeMessageAlreadyUpdate: "message_id already updated",
}

// Meaning is the ErrorDescription the vendor documents for the code, or
// "undocumented code" for any other.
func (c Code) Meaning() string {
	if m, ok := meanings[c]; ok {
		return m
	}
	return "undocumented code"
}

// Documented reports whether the code is one of 1000..1009.
func (c Code) Documented() bool { _, ok := meanings[c]; return ok }

// Result is CTrack's answer to one call.
type Result struct {
	Code        Code
	Description string
	// HTTPStatus is the response status; 0 when no response arrived.
	HTTPStatus int
}

// HTTPError is a response whose status is not 2xx.
type HTTPError struct {
	StatusCode int
	// Snippet is the start of the body as vendorbody makes it safe:
	// credentials removed, then valid UTF-8 on one line, then cut.
	Snippet string
	// RetryAfter is the vendor's Retry-After (seconds or an HTTP date),
	// 0 when it sent none or one that does not parse.
	RetryAfter time.Duration
}

func (e *HTTPError) Error() string {
	if e.Snippet == "" {
		return fmt.Sprintf("liasmart: HTTP %d", e.StatusCode)
	}
	return fmt.Sprintf("liasmart: HTTP %d: %s", e.StatusCode, e.Snippet)
}

// ErrBadResponse is wrapped by errors for 2xx bodies without an ErrorCode,
// and for 2xx HTML pages (a portal or a proxy answering, not CTrack).
var ErrBadResponse = errors.New("liasmart: response has no ErrorCode")

// ErrTooLarge is wrapped by errors for 2xx bodies over 64 KiB: CTrack's
// answer is a few dozen bytes, and reading the start of such a body could
// find a code that is not the answer.
var ErrTooLarge = vendorbody.ErrTooLarge

// maxBody bounds what is read of an answer.
const maxBody = 64 << 10

// ErrTimeout is wrapped by errors for calls that exceeded the timeout.
var ErrTimeout = errors.New("liasmart: timeout")

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// BaseURL is scheme and host, default https://api.liasmart.com.
	BaseURL string
	// CTrackPath defaults to /api/CTrack.
	CTrackPath  string
	APIID       string
	APIPassword string
	// Timeout bounds each call, default 10s.
	Timeout time.Duration
	// MaxConns bounds idle connections kept to the vendor, default 256.
	MaxConns int
	// HTTPClient, when set, is copied: the copy follows no redirect.
	HTTPClient *http.Client
}

// Client calls CTrack. It is safe for concurrent use.
type Client struct {
	url    string
	cfg    Config
	http   *http.Client
	redact vendorbody.Redactor
}

// New returns a client for cfg.
func New(cfg Config) *Client {
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://api.liasmart.com"
	}
	if cfg.CTrackPath == "" {
		cfg.CTrackPath = "/api/CTrack"
	}
	cfg.Timeout = confirm.TimeoutOrDefault(cfg.Timeout)
	return &Client{
		url: strings.TrimRight(cfg.BaseURL, "/") + cfg.CTrackPath,
		cfg: cfg,
		// A redirected POST turns into a GET without the body, and the
		// credentials would go to wherever it points: any 3xx is an
		// answer to look at (a transient *HTTPError), not to follow.
		http:   confirm.HTTPClientFor(cfg.HTTPClient, cfg.MaxConns),
		redact: vendorbody.NewRedactor(cfg.APIPassword, cfg.APIID),
	}
}

type request struct {
	APIID       string `json:"api_id"`
	APIPassword string `json:"api_password"`
	MessageID   string `json:"message_id"`
	Status      string `json:"status"`
}

// Call reports messageID as converted ("status":"true"). A nil error
// means CTrack answered with an ErrorCode, whatever it is; the error cases
// are transport failures, timeouts (ErrTimeout, a body still dripping in
// when the timeout ends included), non-2xx statuses (*HTTPError, 3xx
// included), 2xx bodies over 64 KiB (ErrTooLarge) and 2xx bodies without a
// code or HTML pages (ErrBadResponse). Result.HTTPStatus is set whenever a
// response arrived. No error text, and no Description, contains a
// credential, a control character or invalid UTF-8.
func (c *Client) Call(ctx context.Context, messageID string) (Result, error) {
	body, err := json.Marshal(request{c.cfg.APIID, c.cfg.APIPassword, messageID, "true"})
	if err != nil {
		return Result{}, fmt.Errorf("liasmart: encode: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return Result{}, fmt.Errorf("liasmart: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return Result{}, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	res := Result{HTTPStatus: resp.StatusCode}
	raw, err := vendorbody.Read(resp.Body, maxBody)
	tooLarge := errors.Is(err, ErrTooLarge)
	if err != nil && !tooLarge {
		return res, c.transportError(ctx, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		snippet := c.redact.Snippet(raw)
		if tooLarge {
			// Not the start of it either: a secret cut at the limit would
			// no longer be recognised.
			snippet = "(answer over 64 KiB)"
		}
		return res, &HTTPError{StatusCode: resp.StatusCode, Snippet: snippet,
			RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	if tooLarge {
		return res, fmt.Errorf("liasmart: HTTP %d: %w", resp.StatusCode, err)
	}
	if ct := resp.Header.Get("Content-Type"); isHTML(ct) {
		return res, fmt.Errorf("%w: Content-Type %q (body: %q)", ErrBadResponse, vendorbody.Clean(ct, 60), c.redact.Snippet(raw))
	}
	code, desc, err := ParseResponse(raw)
	if err != nil {
		return res, fmt.Errorf("%w (body: %q)", err, c.redact.Snippet(raw))
	}
	res.Code, res.Description = code, c.redact.Text(desc, vendorbody.SnippetLen)
	return res, nil
}

// ParseRetryAfter reads a Retry-After header: delay-seconds or an
// HTTP-date (RFC 9110 10.2.3). It returns 0 for an absent, malformed or
// past value.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 || secs > 86400*365 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func (c *Client) transportError(ctx context.Context, err error) error {
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%w after %s", ErrTimeout, c.cfg.Timeout)
	}
	// *url.Error carries the URL, which holds no credential: they travel
	// in the body.
	return fmt.Errorf("liasmart: %w", err)
}

// isHTML reports an HTML page: never CTrack's JSON, whatever it holds.
// Other types (none, text/plain, JSON) are parsed: the vendor documents no
// type for its answer.
func isHTML(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "text/html" || mt == "application/xhtml+xml")
}

var (
	codeRe = regexp.MustCompile(`"ErrorCode"\s*:\s*"?(-?\d+)"?`)
	descRe = regexp.MustCompile(`"ErrorDescription"\s*:\s*"((?:[^"\\]|\\.)*)"`)
)

// ParseResponse reads ErrorCode and ErrorDescription from a CTrack body. It
// accepts the vendor's documented sample, which lacks the comma between
// the two fields, so that such an answer is not retried forever.
func ParseResponse(raw []byte) (Code, string, error) {
	var strict struct {
		ErrorCode        json.RawMessage `json:"ErrorCode"`
		ErrorDescription string          `json:"ErrorDescription"`
	}
	if err := json.Unmarshal(raw, &strict); err == nil && len(strict.ErrorCode) > 0 {
		n, err := strconv.Atoi(strings.Trim(string(strict.ErrorCode), `"`))
		if err == nil {
			return Code(n), strict.ErrorDescription, nil
		}
	}
	m := codeRe.FindSubmatch(raw)
	if m == nil {
		return 0, "", ErrBadResponse
	}
	n, err := strconv.Atoi(string(m[1]))
	if err != nil {
		return 0, "", ErrBadResponse
	}
	desc := ""
	if d := descRe.FindSubmatch(raw); d != nil {
		if s, err := strconv.Unquote(`"` + string(d[1]) + `"`); err == nil {
			desc = s
		}
	}
	return Code(n), desc, nil
}
