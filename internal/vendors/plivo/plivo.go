// Package plivo is the client of Plivo's Conversion Feedback API: it tells
// Plivo that a message sent with trackable=true converted, and when. It
// knows the wire format and what Plivo's answers mean, and nothing of NATS
// or PostgreSQL; the worker decides from the confirm.Answer alone.
//
// Plivo answers with HTTP statuses and a JSON body ({"api_id", "error"}
// on failure); it has no codes of its own, so an Answer's Status is the
// HTTP status ("HTTP 404") and its Meaning Plivo's message.
package plivo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"relay/internal/vendors/confirm"
	"relay/internal/vendors/vendorbody"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultBaseURL = "https://api.plivo.com"
	DefaultTimeout = confirm.DefaultTimeout
)

// TimestampLayout is the form of the conversion time Plivo takes: RFC
// 3339 in UTC, to the second ("2020-08-01T11:32:26Z").
const TimestampLayout = "2006-01-02T15:04:05Z"

// StatusConverted is the conversion status relay reports.
const StatusConverted = "CONVERTED"

// Path is the conversion endpoint for authID and messageUUID, each
// escaped as a path segment. It is written in lower case, as Plivo's
// Conversion Feedback page writes it, although Plivo's other message
// resources (and its SDKs, which have no conversion call) capitalise
// /v1/Account/{auth_id}/Message/.
func Path(authID, messageUUID string) string {
	return "/v1/account/" + url.PathEscape(authID) + "/message/" + url.PathEscape(messageUUID) + "/conversion/"
}

// meanings are Plivo's documented meanings of its statuses (the "API
// responses" pages of its messaging API).
var meanings = map[int]string{
	http.StatusBadRequest:          "A parameter is missing or is invalid",
	http.StatusUnauthorized:        "Authentication failed",
	http.StatusForbidden:           "Forbidden: the account may not use this API",
	http.StatusNotFound:            "Resource cannot be found: the message is unknown",
	http.StatusMethodNotAllowed:    "HTTP method not allowed",
	http.StatusTooManyRequests:     "Too many requests, rate limited",
	http.StatusInternalServerError: "Server error",
}

// Classify is the outcome of a Plivo answer that is not a success, from
// its HTTP status: 401 and 403 refuse the account; 408, 429 and 5xx are
// worth retrying; any other 4xx (400, 404, 405, ...) refuses this request
// for good.
func Classify(httpStatus int) confirm.Outcome {
	switch {
	case httpStatus == http.StatusUnauthorized || httpStatus == http.StatusForbidden:
		return confirm.Credentials
	case httpStatus == http.StatusRequestTimeout || httpStatus == http.StatusTooManyRequests || httpStatus >= 500:
		return confirm.Transient
	case httpStatus >= 400 && httpStatus < 500:
		return confirm.Permanent
	}
	return confirm.Transient
}

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// BaseURL is the scheme and host only, default DefaultBaseURL.
	BaseURL string
	// AuthID is in the path of every call and is the Basic user name;
	// AuthToken its password.
	AuthID    string
	AuthToken string
	// Timeout bounds each call, body included; default DefaultTimeout.
	Timeout time.Duration
	// MaxConns bounds idle connections kept to Plivo, default 256.
	MaxConns int
	// HTTPClient, when set, is copied: the copy follows no redirect.
	HTTPClient *http.Client
	// Now is the clock for a Conversion without a time; default time.Now.
	Now func() time.Time
}

// ErrInvalidConfig is wrapped by Validate's errors.
var ErrInvalidConfig = errors.New("plivo: invalid config")

// Validate reports what would make every call fail: a BaseURL that is not
// scheme and host, a missing AuthID or AuthToken. No error text holds a
// credential.
func (cfg Config) Validate() error {
	var errs []error
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
			errs = append(errs, fmt.Errorf("%w: BaseURL must be scheme and host only", ErrInvalidConfig))
		}
	}
	if cfg.AuthID == "" {
		errs = append(errs, fmt.Errorf("%w: AuthID is not set", ErrInvalidConfig))
	}
	if cfg.AuthToken == "" {
		errs = append(errs, fmt.Errorf("%w: AuthToken is not set", ErrInvalidConfig))
	}
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%w: negative Timeout", ErrInvalidConfig))
	}
	return errors.Join(errs...)
}

// Client reports conversions to Plivo. It is safe for concurrent use.
type Client struct {
	cfg    Config
	base   string
	http   *http.Client
	redact vendorbody.Redactor
}

// New returns a client for cfg.
func New(cfg Config) *Client {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	cfg.Timeout = confirm.TimeoutOrDefault(cfg.Timeout)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	hc := confirm.HTTPClientFor(cfg.HTTPClient, cfg.MaxConns)
	return &Client{
		cfg:  cfg,
		base: strings.TrimRight(cfg.BaseURL, "/"),
		http: hc,
		// The AuthID too: it is in the path, which a proxy's error page
		// may echo.
		redact: vendorbody.NewRedactor(cfg.AuthToken, cfg.AuthID),
	}
}

// request is the body Plivo's page documents.
type request struct {
	Status    string `json:"status"`
	Timestamp string `json:"timestamp"`
}

// answerBody holds the fields of Plivo's success and error answers.
type answerBody struct {
	APIID          *string `json:"api_id"`
	ConversionUUID *string `json:"conversion_uuid"`
	MessageUUID    *string `json:"message_uuid"`
	Message        string  `json:"message"`
	Error          any     `json:"error"`
}

// Confirm reports conv.MessageID (a message_uuid) as CONVERTED at conv.At
// (now, for a zero At: Plivo requires a time). An empty message id is
// answered Permanent without a call, an empty AuthID Credentials without
// a call. An error, wrapping one of confirm's failures, comes only with a
// Transient answer that holds no verdict.
func (c *Client) Confirm(ctx context.Context, conv confirm.Conversion) (confirm.Answer, error) {
	if conv.MessageID == "" {
		return confirm.Answer{Outcome: confirm.Permanent, Status: "invalid message_id",
			Meaning: "an empty message_uuid: Plivo could never accept it"}, nil
	}
	if c.cfg.AuthID == "" {
		return confirm.Answer{Outcome: confirm.Credentials, Status: "invalid auth_id",
			Meaning: "no AuthID is configured"}, nil
	}
	at := conv.At
	if at.IsZero() {
		at = c.cfg.Now()
	}
	body, err := json.Marshal(request{Status: StatusConverted, Timestamp: at.UTC().Format(TimestampLayout)})
	if err != nil {
		return confirm.Answer{Outcome: confirm.Transient}, fmt.Errorf("plivo: encode: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+Path(c.cfg.AuthID, conv.MessageID), bytes.NewReader(body))
	if err != nil {
		return confirm.Answer{Outcome: confirm.Transient}, fmt.Errorf("plivo: %w: %s", confirm.ErrTransport, c.redact.Text(err.Error(), vendorbody.SnippetLen))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(c.cfg.AuthID, c.cfg.AuthToken)
	a, _, raw, err := confirm.Exchange(ctx, c.http, req, "plivo", c.cfg.Timeout)
	if err != nil {
		if errors.Is(err, confirm.ErrTooLarge) {
			a.Meaning = "answer over 64 KiB"
		}
		return a, err
	}
	return c.answer(a, raw)
}

// answer classifies a response that was read whole: a, with its status
// set, and the body.
func (c *Client) answer(a confirm.Answer, raw []byte) (confirm.Answer, error) {
	n := a.HTTPStatus
	var b answerBody
	isJSON := json.Unmarshal(raw, &b) == nil
	switch {
	case n >= 200 && n <= 299:
		if !isJSON || (b.APIID == nil && b.ConversionUUID == nil && b.MessageUUID == nil) {
			a.Meaning = "a success without Plivo's answer"
			return a, fmt.Errorf("plivo: HTTP %d: %w: not Plivo's answer: %s", n, confirm.ErrUnreadable, c.redact.Snippet(raw))
		}
		a.Outcome = confirm.Confirmed
		a.Meaning = c.redact.Text(b.Message, vendorbody.SnippetLen)
		if a.Meaning == "" {
			a.Meaning = "conversion recorded"
		}
		return a, nil
	case n >= 300 && n <= 399:
		a.Meaning = "a redirect, not followed"
		return a, fmt.Errorf("plivo: HTTP %d: %w: a redirect", n, confirm.ErrUnreadable)
	}
	o := Classify(n)
	if isJSON {
		a.Meaning = c.message(b)
	} else {
		a.Meaning = c.redact.Snippet(raw)
		// Not Plivo's JSON: a proxy's or a load balancer's page (or
		// nothing). Its status is enough to pause or retry, never to give
		// an event up for good.
		if o == confirm.Permanent {
			return a, fmt.Errorf("plivo: HTTP %d: %w: not Plivo's error format: %s", n, confirm.ErrUnreadable, a.Meaning)
		}
	}
	if a.Meaning == "" {
		a.Meaning = meanings[n]
	}
	a.Outcome = o
	return a, nil
}

// message is Plivo's error message, else the status's documented meaning.
func (c *Client) message(b answerBody) string {
	var s string
	switch e := b.Error.(type) {
	case string:
		s = e
	case nil:
		s = b.Message
	default:
		// Some Plivo errors are an object of field errors.
		if j, err := json.Marshal(e); err == nil {
			s = string(j)
		}
	}
	return c.redact.Text(s, vendorbody.SnippetLen)
}
