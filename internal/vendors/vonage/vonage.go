// Package vonage is relay's client of Vonage's Conversion API: it tells
// Vonage that an SMS (or a Verify request) converted, so that Vonage's
// routing learns from it. It knows the wire format and Vonage's answers,
// and nothing of NATS or PostgreSQL.
//
// The Conversion API answers with its HTTP status alone: 200 with a body of
// no documented format is the success, and every documented failure is a
// status (401, 402, 420, 422, 423). So the status is the verdict here, and a
// body is read only for the words of a failure.
package vonage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"relay/internal/vendors/confirm"
	"relay/internal/vendors/vendorbody"
)

// DefaultBaseURL is Vonage's API host (SPEC: RELAY_VONAGE_URL).
const DefaultBaseURL = "https://api.nexmo.com"

// Path is the SMS Conversion endpoint; it also takes a Verify event_id.
const Path = "/conversions/sms"

// TimestampLayout is the conversion time as Vonage takes it: UTC,
// "yyyy-MM-dd HH:mm:ss".
const TimestampLayout = "2006-01-02 15:04:05"

// maxBody bounds what is read of an answer: Vonage's error bodies are a few
// hundred bytes of JSON.
const maxBody = 64 << 10

// maxDrain bounds the success body read only so that the connection can be
// reused. Vonage's success is "OK" or nothing.
const maxDrain = 512

// Config configures a Client. Zero values take the defaults.
type Config struct {
	// BaseURL is scheme and host, default DefaultBaseURL.
	BaseURL string
	// APIKey and APISecret are the account's credentials, sent as the
	// api_key and api_secret parameters.
	APIKey    string
	APISecret string
	// Timeout bounds each call, its body included; default 10s.
	Timeout time.Duration
	// MaxConns bounds the idle connections kept to Vonage, default 256.
	MaxConns int
	// HTTPClient, when set, is copied: the copy follows no redirect.
	HTTPClient *http.Client
}

// Client calls the Conversion API. It is safe for concurrent use.
type Client struct {
	url     string
	key     string
	secret  string
	timeout time.Duration
	http    *http.Client
	redact  vendorbody.Redactor
}

// New returns a client for cfg.
func New(cfg Config) *Client {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	cfg.Timeout = confirm.TimeoutOrDefault(cfg.Timeout)
	hc := confirm.HTTPClientFor(cfg.HTTPClient, cfg.MaxConns)
	return &Client{
		url:     strings.TrimRight(cfg.BaseURL, "/") + Path,
		key:     cfg.APIKey,
		secret:  cfg.APISecret,
		timeout: cfg.Timeout,
		http:    hc,
		redact:  vendorbody.NewRedactor(cfg.APISecret, cfg.APIKey),
	}
}

// Form is the request body of one conversion: message-id, delivered=true,
// and the conversion time where there is one (Vonage takes the time of
// receipt without it), with the credentials.
func Form(apiKey, apiSecret string, conv confirm.Conversion) url.Values {
	v := url.Values{
		"api_key":    {apiKey},
		"api_secret": {apiSecret},
		"message-id": {conv.MessageID},
		"delivered":  {"true"},
	}
	if !conv.At.IsZero() {
		v.Set("timestamp", conv.At.UTC().Format(TimestampLayout))
	}
	return v
}

// Confirm reports conv to Vonage. The Answer's Status is "HTTP <status>":
// Vonage answers with nothing else. An error (wrapping confirm.ErrTimeout,
// ErrTransport or ErrUnreadable) comes only with a Transient answer.
func (c *Client) Confirm(ctx context.Context, conv confirm.Conversion) (confirm.Answer, error) {
	if conv.MessageID == "" {
		// message-id is required; Vonage documents no pattern beyond it.
		return confirm.Answer{Outcome: confirm.Permanent, Status: "invalid message_id", Meaning: "the message id is empty"}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// The credentials travel in the form body, as Vonage's SDKs send them,
	// and not in the query string, where access logs would keep them.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, strings.NewReader(Form(c.key, c.secret, conv).Encode()))
	if err != nil {
		return confirm.Answer{Outcome: confirm.Transient}, fmt.Errorf("vonage: %w: bad base URL", confirm.ErrTransport)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return confirm.Answer{Outcome: confirm.Transient}, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	a := confirm.Answer{HTTPStatus: resp.StatusCode, Status: confirm.HTTPStatusText(resp.StatusCode)}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 && isHTML(resp.Header.Get("Content-Type")) {
		// Vonage's success is a short plain body ("OK"); a 2xx HTML page
		// is a captive portal or a CDN's interstitial in front of it,
		// which has recorded nothing.
		return confirm.Answer{Outcome: confirm.Transient, Status: a.Status, HTTPStatus: a.HTTPStatus},
			fmt.Errorf("vonage: %w: HTTP %d with an HTML page", confirm.ErrUnreadable, resp.StatusCode)
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		// The verdict is in hand; the body has no documented format and a
		// slow or huge one must not turn a success into a timeout. A short
		// declared body is drained so that the connection is reused.
		if resp.ContentLength >= 0 && resp.ContentLength <= maxDrain {
			_, _ = io.Copy(io.Discard, resp.Body)
		}
		a.Outcome, a.Meaning = confirm.Confirmed, "conversion recorded"
		return a, nil
	}
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		// A redirect is something in front of Vonage, not Vonage's answer.
		return confirm.Answer{Outcome: confirm.Transient, Status: a.Status, HTTPStatus: a.HTTPStatus},
			fmt.Errorf("vonage: %w: HTTP %d redirect", confirm.ErrUnreadable, resp.StatusCode)
	}
	a.Outcome, a.Meaning = Classify(resp.StatusCode)
	a.RetryAfter = confirm.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	// The body only adds Vonage's words to the documented meaning; failing
	// to read it changes no verdict.
	raw, err := vendorbody.Read(resp.Body, maxBody)
	switch {
	case errors.Is(err, vendorbody.ErrTooLarge):
		a.Meaning += " (answer over 64 KiB)"
	case err == nil:
		if words := c.words(raw); words != "" {
			a.Meaning += ": " + words
		}
	}
	return a, nil
}

// Classify is what a non-2xx, non-3xx status of the Conversion API means.
// The meanings are those of Vonage's API specification (conversion.yml).
func Classify(status int) (confirm.Outcome, string) {
	switch {
	case status == http.StatusUnauthorized:
		return confirm.Credentials, "wrong credentials"
	case status == http.StatusPaymentRequired:
		// Account-wide, and only Vonage's support can change it: the
		// vendor pauses until the operator has conversion enabled.
		return confirm.Credentials, "conversion is not enabled for this account (Vonage support enables it)"
	case status == 420 || status == http.StatusUnprocessableEntity || status == http.StatusLocked:
		return confirm.Permanent, "invalid parameters"
	case status == http.StatusTooManyRequests:
		return confirm.Transient, "too many requests"
	case status >= 500:
		return confirm.Transient, "Vonage server error"
	}
	// Undocumented: retried, within relay's budget for the event.
	return confirm.Transient, "undocumented status"
}

// words is the title and detail of Vonage's JSON error body, else the
// start of the body, made safe.
func (c *Client) words(raw []byte) string {
	var e struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	if json.Unmarshal(raw, &e) == nil && (e.Title != "" || e.Detail != "") {
		s := e.Title
		if e.Detail != "" && e.Detail != e.Title {
			s = strings.TrimSpace(s + ". " + e.Detail)
		}
		return c.redact.Text(s, vendorbody.SnippetLen)
	}
	return c.redact.Snippet(raw)
}

func (c *Client) transportError(ctx context.Context, err error) error {
	return confirm.TransportError(ctx, "vonage", c.timeout, err)
}

// isHTML reports whether a Content-Type is a web page's.
func isHTML(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "text/html" || mt == "application/xhtml+xml")
}
