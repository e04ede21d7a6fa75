// Package twilio is the client of Twilio's Message Feedback resource: it
// tells Twilio that the recipient of a message sent with
// ProvideFeedback=true performed the tracked action (Outcome=confirmed).
// It knows the wire format and Twilio's error codes, and nothing of NATS
// or PostgreSQL; the worker decides from the confirm.Answer alone.
package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"relay/internal/vendors/confirm"
	"relay/internal/vendors/vendorbody"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultBaseURL = "https://api.twilio.com"
	DefaultTimeout = confirm.DefaultTimeout
)

// The SID patterns of Twilio's OpenAPI description (twilio_api_v2010.json)
// and of its API keys.
var (
	accountSIDRe = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	messageSIDRe = regexp.MustCompile(`^(SM|MM)[0-9a-fA-F]{32}$`)
	apiKeySIDRe  = regexp.MustCompile(`^SK[0-9a-fA-F]{32}$`)
)

// The Twilio error codes this client tells apart. Any other code is
// classified by its HTTP status.
const (
	// CodeAuthenticate (HTTP 401, "Permission Denied"): wrong AccountSid
	// and AuthToken, a deleted API key, a suspended account.
	CodeAuthenticate = 20003
	// CodeForbidden (HTTP 403): the account may not use the API
	// (suspended or closed).
	CodeForbidden = 20403
	// CodeNotFound (HTTP 404): the message is unknown to the account, or
	// was sent without ProvideFeedback=true.
	CodeNotFound = 20404
	// CodeTooManyRequests (HTTP 429): over the account's concurrency;
	// never processed, safe to retry.
	CodeTooManyRequests = 20429
	// CodeInternalServerError (HTTP 500) and CodeServiceUnavailable (HTTP
	// 503): Twilio's own failures, retried with back-off.
	CodeInternalServerError = 20500
	CodeServiceUnavailable  = 20503
)

// codes are the documented meanings and outcomes of the codes above.
var codes = map[int]struct {
	meaning string
	outcome confirm.Outcome
}{
	CodeAuthenticate:        {"Permission Denied: the credentials were refused", confirm.Credentials},
	CodeForbidden:           {"403 Forbidden: the account may not use the API (suspended or closed)", confirm.Credentials},
	CodeNotFound:            {"Not Found: the message is unknown or was sent without ProvideFeedback", confirm.Permanent},
	CodeTooManyRequests:     {"Too Many Requests: not processed, safe to retry", confirm.Transient},
	CodeInternalServerError: {"Internal Server Error", confirm.Transient},
	CodeServiceUnavailable:  {"Service unavailable", confirm.Transient},
}

// Classify is the outcome of a Twilio error answer: its code where Twilio
// documents it, else its HTTP status (401 and 403 refuse the account; 408,
// 429 and 5xx are worth retrying; any other 4xx refuses this request for
// good). code 0 means the answer had none.
func Classify(httpStatus, code int) confirm.Outcome {
	if c, ok := codes[code]; ok {
		return c.outcome
	}
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
	// AccountSID is the account the messages were sent from; it is in the
	// path of every call, whichever credentials sign it.
	AccountSID string
	// AuthToken is the account's password for HTTP Basic auth.
	AuthToken string
	// APIKeySID and APIKeySecret, when APIKeySID is set, authenticate
	// instead of AccountSID and AuthToken (a revocable key).
	APIKeySID    string
	APIKeySecret string
	// Timeout bounds each call, body included; default DefaultTimeout.
	Timeout time.Duration
	// MaxConns bounds idle connections kept to Twilio, default 256.
	MaxConns int
	// HTTPClient, when set, is copied: the copy follows no redirect.
	HTTPClient *http.Client
}

// ErrInvalidConfig is wrapped by Validate's errors.
var ErrInvalidConfig = errors.New("twilio: invalid config")

// Validate reports what would make every call fail: a BaseURL that is not
// scheme and host, an AccountSID or APIKeySID off Twilio's pattern, a
// missing password. No error text holds a credential.
func (cfg Config) Validate() error {
	var errs []error
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
			errs = append(errs, fmt.Errorf("%w: BaseURL must be scheme and host only", ErrInvalidConfig))
		}
	}
	if !accountSIDRe.MatchString(cfg.AccountSID) {
		errs = append(errs, fmt.Errorf("%w: AccountSID must match %s", ErrInvalidConfig, accountSIDRe))
	}
	switch {
	case cfg.APIKeySID != "" && !apiKeySIDRe.MatchString(cfg.APIKeySID):
		errs = append(errs, fmt.Errorf("%w: APIKeySID must match %s", ErrInvalidConfig, apiKeySIDRe))
	case cfg.APIKeySID != "" && cfg.APIKeySecret == "":
		errs = append(errs, fmt.Errorf("%w: APIKeySID is set without APIKeySecret", ErrInvalidConfig))
	case cfg.APIKeySID == "" && cfg.APIKeySecret != "":
		errs = append(errs, fmt.Errorf("%w: APIKeySecret is set without APIKeySID", ErrInvalidConfig))
	case cfg.APIKeySID == "" && cfg.AuthToken == "":
		errs = append(errs, fmt.Errorf("%w: AuthToken, or APIKeySID and APIKeySecret, must be set", ErrInvalidConfig))
	}
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%w: negative Timeout", ErrInvalidConfig))
	}
	return errors.Join(errs...)
}

// Client reports conversions to Twilio. It is safe for concurrent use.
type Client struct {
	cfg            Config
	base           string
	user, password string
	http           *http.Client
	redact         vendorbody.Redactor
}

// New returns a client for cfg. A cfg that Validate refuses still makes a
// client: its calls answer without reaching Twilio where the mistake
// makes them hopeless (a malformed AccountSID), else Twilio's refusal.
func New(cfg Config) *Client {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	cfg.Timeout = confirm.TimeoutOrDefault(cfg.Timeout)
	hc := confirm.HTTPClientFor(cfg.HTTPClient, cfg.MaxConns)
	user, password := cfg.AccountSID, cfg.AuthToken
	if cfg.APIKeySID != "" {
		user, password = cfg.APIKeySID, cfg.APIKeySecret
	}
	return &Client{
		cfg:      cfg,
		base:     strings.TrimRight(cfg.BaseURL, "/"),
		user:     user,
		password: password,
		http:     hc,
		// The SIDs are redacted too: Twilio echoes the request path, with
		// the AccountSID, in its error messages.
		redact: vendorbody.NewRedactor(cfg.AuthToken, cfg.APIKeySecret, cfg.AccountSID, cfg.APIKeySID),
	}
}

// feedback is the MessageFeedback resource Twilio answers a success with.
type feedback struct {
	AccountSID *string `json:"account_sid"`
	MessageSID *string `json:"message_sid"`
	Outcome    *string `json:"outcome"`
}

// apiError is Twilio's error answer.
type apiError struct {
	Code     *int   `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   *int   `json:"status"`
}

// Confirm reports conv.MessageID (a MessageSid) as confirmed. Twilio takes
// no conversion time: conv.At is not sent. A MessageSid off Twilio's
// pattern is answered Permanent without a call, a malformed AccountSID
// Credentials without a call. An error, wrapping one of confirm's
// failures, comes only with a Transient answer that holds no verdict.
func (c *Client) Confirm(ctx context.Context, conv confirm.Conversion) (confirm.Answer, error) {
	if !messageSIDRe.MatchString(conv.MessageID) {
		return confirm.Answer{Outcome: confirm.Permanent, Status: "invalid message_id",
			Meaning: "not a Twilio MessageSid (SM or MM and 32 hex digits): Twilio could never accept it"}, nil
	}
	if !accountSIDRe.MatchString(c.cfg.AccountSID) {
		// Every call would fail the same way; pausing the vendor tells the
		// operator, where a permanent failure per event would not.
		return confirm.Answer{Outcome: confirm.Credentials, Status: "invalid account_sid",
			Meaning: "the configured AccountSID is not AC and 32 hex digits"}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	u := c.base + "/2010-04-01/Accounts/" + c.cfg.AccountSID + "/Messages/" + conv.MessageID + "/Feedback.json"
	form := url.Values{"Outcome": {"confirmed"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form))
	if err != nil {
		return confirm.Answer{Outcome: confirm.Transient}, fmt.Errorf("twilio: %w: %s", confirm.ErrTransport, c.redact.Text(err.Error(), vendorbody.SnippetLen))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(c.user, c.password)
	a, _, raw, err := confirm.Exchange(ctx, c.http, req, "twilio", c.cfg.Timeout)
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
	switch {
	case n >= 200 && n <= 299:
		var fb feedback
		if err := json.Unmarshal(raw, &fb); err != nil || fb.Outcome == nil {
			a.Meaning = "a success without Twilio's MessageFeedback resource"
			return a, fmt.Errorf("twilio: HTTP %d: %w: not a MessageFeedback resource: %s", n, confirm.ErrUnreadable, c.redact.Snippet(raw))
		}
		if *fb.Outcome != "confirmed" {
			a.Meaning = "the feedback was recorded with another outcome"
			return a, fmt.Errorf("twilio: HTTP %d: %w: outcome %s", n, confirm.ErrUnreadable, c.redact.Text(*fb.Outcome, 40))
		}
		a.Outcome, a.Meaning = confirm.Confirmed, "Message Feedback recorded: outcome confirmed"
		return a, nil
	case n >= 300 && n <= 399:
		a.Meaning = "a redirect, not followed"
		return a, fmt.Errorf("twilio: HTTP %d: %w: a redirect", n, confirm.ErrUnreadable)
	}
	var e apiError
	if json.Unmarshal(raw, &e) != nil || (e.Code == nil && e.Status == nil) {
		// Not Twilio's JSON: a proxy's or a load balancer's page. Its
		// status alone is enough to pause or retry, never to give an
		// event up for good.
		a.Meaning = c.redact.Snippet(raw)
		if o := Classify(n, 0); o == confirm.Credentials || o == confirm.Transient {
			a.Outcome = o
			return a, nil
		}
		return a, fmt.Errorf("twilio: HTTP %d: %w: not Twilio's error format: %s", n, confirm.ErrUnreadable, a.Meaning)
	}
	code := 0
	if e.Code != nil {
		code = *e.Code
		a.Status = strconv.Itoa(code)
	}
	a.Outcome = Classify(n, code)
	if doc, ok := codes[code]; ok {
		a.Meaning = doc.meaning
	}
	if a.Meaning == "" {
		a.Meaning = e.Message
	}
	a.Meaning = c.redact.Text(a.Meaning, vendorbody.SnippetLen)
	return a, nil
}
