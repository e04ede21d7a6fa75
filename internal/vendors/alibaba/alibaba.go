// Package alibaba is the confirm client of Alibaba Cloud SMS's
// SmsConversionIntl (dysmsapi, version 2017-05-25): it tells Alibaba that
// the message with a MessageId converted, and says what the answer means
// in relay's terms. It knows the wire format, signature method V3
// (ACS3-HMAC-SHA256) and the codes, and nothing of NATS or PostgreSQL.
package alibaba

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"relay/internal/vendors/confirm"
	"relay/internal/vendors/vendorbody"
)

// The API's fixed values.
const (
	DefaultBaseURL = "https://dysmsapi.aliyuncs.com"
	Action         = "SmsConversionIntl"
	Version        = "2017-05-25"
	// dateFormat is x-acs-date's: ISO 8601 in UTC, to the second.
	dateFormat = "2006-01-02T15:04:05Z"
)

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// BaseURL is scheme and host, default DefaultBaseURL.
	BaseURL         string
	AccessKeyID     string
	AccessKeySecret string
	// Timeout bounds each call, default 10s.
	Timeout time.Duration
	// MaxConns bounds idle connections kept to the vendor, default 256.
	MaxConns int
	// HTTPClient, when set, is copied: the copy follows no redirect.
	HTTPClient *http.Client
	// Now is the clock x-acs-date is read from and ConversionTime is held
	// to, default time.Now.
	Now func() time.Time
	// Logger, when set, hears of answers an operator must act on that
	// relay retries anyway (a clock more than 15 minutes off).
	Logger *slog.Logger
}

// Client calls SmsConversionIntl. It is safe for concurrent use.
type Client struct {
	cfg    Config
	url    string
	host   string
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
	base := strings.TrimRight(cfg.BaseURL, "/")
	host := base
	if i := strings.Index(host, "://"); i >= 0 {
		host = host[i+3:]
	}
	return &Client{cfg: cfg, url: base + "/", host: host, http: hc,
		redact: vendorbody.NewRedactor(cfg.AccessKeySecret, cfg.AccessKeyID)}
}

// response is an answer of the RPC API, success or error alike.
type response struct {
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	RequestID string `json:"RequestId"`
}

// Confirm reports conv.MessageID, the MessageId the send call returned,
// as delivered and converted at conv.At. It makes one call: relay's retry
// policy is the only one. An error, wrapping one of confirm's failures,
// comes with a Transient answer and only when no verdict could be read.
func (c *Client) Confirm(ctx context.Context, conv confirm.Conversion) (confirm.Answer, error) {
	if why := invalidMessageID(conv.MessageID); why != "" {
		// Alibaba could never accept it: no call spends a request on it.
		return confirm.Answer{Outcome: confirm.Permanent, Status: "invalid message_id", Meaning: why}, nil
	}
	now := c.cfg.Now()
	query := []param{{"MessageId", conv.MessageID}, {"Delivered", "true"}}
	if !conv.At.IsZero() && conv.At.UnixMilli() > 0 {
		// Alibaba refuses a ConversionTime in the future: a clock ahead of
		// this host's, or an app's, is clamped to now.
		at := conv.At
		if at.After(now) {
			at = now
		}
		query = append(query, param{"ConversionTime", strconv.FormatInt(at.UnixMilli(), 10)})
	}
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return confirm.Answer{Outcome: confirm.Transient}, fmt.Errorf("alibaba: %w: nonce: %w", confirm.ErrTransport, err)
	}
	s := signing{method: http.MethodPost, canonicalURI: "/", query: query}
	s.headers = []param{{"host", c.host}, {"x-acs-action", Action}, {"x-acs-version", Version},
		{"x-acs-date", now.UTC().Format(dateFormat)}, {"x-acs-signature-nonce", hex.EncodeToString(nonce)},
		{"x-acs-content-sha256", s.hashedPayload()}}

	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"?"+s.canonicalQuery(), http.NoBody)
	if err != nil {
		return confirm.Answer{Outcome: confirm.Transient}, fmt.Errorf("alibaba: %w: %w", confirm.ErrTransport, err)
	}
	for _, h := range s.headers[1:] {
		hr.Header.Set(h.name, h.value)
	}
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("Authorization", s.authorization(c.cfg.AccessKeyID, c.cfg.AccessKeySecret))
	resp, err := c.http.Do(hr)
	if err != nil {
		return confirm.Answer{Outcome: confirm.Transient}, confirm.TransportError(ctx, "alibaba", c.cfg.Timeout, err)
	}
	defer resp.Body.Close()
	a := confirm.Answer{Outcome: confirm.Transient, HTTPStatus: resp.StatusCode,
		RetryAfter: confirm.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	raw, err := confirm.ReadAnswer(ctx, "alibaba", c.cfg.Timeout, resp)
	if err != nil {
		return a, err
	}
	return c.answer(a, resp.StatusCode, raw)
}

// answer reads the verdict in raw, a body of the given status. Alibaba
// gives its Code with a 200 for success and business errors (isv.*), with
// a 4xx or 5xx for the gateway's own (signature, throttling, outage).
func (c *Client) answer(a confirm.Answer, status int, raw []byte) (confirm.Answer, error) {
	var r response
	if err := json.Unmarshal(raw, &r); err == nil && r.Code != "" {
		a.Outcome = Outcome(r.Code)
		a.Status = c.redact.Text(r.Code, 64)
		a.Meaning = c.redact.Text(r.Message, vendorbody.SnippetLen)
		if a.Meaning == "" {
			a.Meaning = Meaning(r.Code)
		}
		if strings.HasPrefix(strings.ToLower(r.Code), "invalidtimestamp") && c.cfg.Logger != nil {
			c.cfg.Logger.Warn("alibaba: x-acs-date refused: this host's clock is more than 15 minutes off", "code", a.Status)
		}
		return a, nil
	}
	switch {
	case status >= 300 && status <= 399:
		return a, fmt.Errorf("alibaba: %w: HTTP %d redirect (body: %q)", confirm.ErrUnreadable, status, c.redact.Snippet(raw))
	case status < 200 || status > 299:
		// No Code: what stands in front of the API (a load balancer, a
		// proxy) answered.
		a.Status = confirm.HTTPStatusText(status)
		a.Meaning = c.redact.Snippet(raw)
		return a, nil
	}
	return a, fmt.Errorf("alibaba: %w: HTTP %d without a Code (body: %q)", confirm.ErrUnreadable, status, c.redact.Snippet(raw))
}

// invalidMessageID says why Alibaba could never accept id, "" for an id
// it might. Alibaba documents no pattern (its example is "1008030300****"),
// only that the field is required.
func invalidMessageID(id string) string {
	switch {
	case id == "":
		return "MessageId is required"
	case !utf8.ValidString(id) || strings.ContainsFunc(id, unicode.IsControl):
		return "MessageId is not printable text"
	}
	return ""
}
