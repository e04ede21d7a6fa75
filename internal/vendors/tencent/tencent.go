// Package tencent is the confirm client of Tencent Cloud SMS's
// ReportConversion (API 3.0, version 2021-01-11): it tells Tencent that
// the message with a SerialNo converted, and says what the answer means in
// relay's terms. It knows the wire format, the TC3-HMAC-SHA256 signature
// and the codes, and nothing of NATS or PostgreSQL.
package tencent

import (
	"bytes"
	"context"
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
	// DefaultBaseURL is the endpoint in the Chinese mainland;
	// https://sms.intl.tencentcloudapi.com is the international one.
	DefaultBaseURL = "https://sms.tencentcloudapi.com"
	// DefaultRegion is RELAY_TENCENT_REGION's default. One version of
	// Tencent's page serves ReportConversion in ap-singapore only, so the
	// configured region reaches X-TC-Region unchanged.
	DefaultRegion = "ap-guangzhou"
	Action        = "ReportConversion"
	Version       = "2021-01-11"
	// service is the credential scope's service: the product's name, not
	// the host's first label, so that a test's fake signs the same way.
	service = "sms"
	// contentType is signed, so it is sent exactly as signed.
	contentType = "application/json; charset=utf-8"
)

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// BaseURL is scheme and host, default DefaultBaseURL.
	BaseURL   string
	SecretID  string
	SecretKey string
	// SmsSdkAppID is the SMS application's SdkAppId ("1400006666").
	SmsSdkAppID string
	// Region is sent as X-TC-Region, default DefaultRegion.
	Region string
	// Timeout bounds each call, default 10s.
	Timeout time.Duration
	// MaxConns bounds idle connections kept to the vendor, default 256.
	MaxConns int
	// HTTPClient, when set, is copied: the copy follows no redirect.
	HTTPClient *http.Client
	// Now is the clock X-TC-Timestamp is read from, default time.Now.
	Now func() time.Time
	// Logger, when set, hears of answers an operator must act on that
	// relay retries anyway (a clock more than 5 minutes off).
	Logger *slog.Logger
}

// Client calls ReportConversion. It is safe for concurrent use.
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
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
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
		redact: vendorbody.NewRedactor(cfg.SecretKey, cfg.SecretID)}
}

// request is ReportConversion's body.
type request struct {
	SmsSdkAppID string `json:"SmsSdkAppId"`
	SerialNo    string `json:"SerialNo"`
	// ConversionTime is in unix seconds.
	ConversionTime *int64 `json:"ConversionTime,omitempty"`
}

// response is every answer of API 3.0: an Error, or the action's fields.
type response struct {
	Response *struct {
		Error *struct {
			Code    string `json:"Code"`
			Message string `json:"Message"`
		} `json:"Error"`
		ReportConversionStatus *struct {
			Code    string `json:"Code"`
			Message string `json:"Message"`
		} `json:"ReportConversionStatus"`
		RequestID string `json:"RequestId"`
	} `json:"Response"`
}

// Confirm reports conv.MessageID, the SerialNo SendSms returned, as
// converted at conv.At. It makes one call: relay's retry policy is the
// only one. An error, wrapping one of confirm's failures, comes with a
// Transient answer and only when no verdict could be read.
func (c *Client) Confirm(ctx context.Context, conv confirm.Conversion) (confirm.Answer, error) {
	if why := invalidSerialNo(conv.MessageID); why != "" {
		// Tencent could never accept it: no call spends a request on it.
		return confirm.Answer{Outcome: confirm.Permanent, Status: "invalid message_id", Meaning: why}, nil
	}
	req := request{SmsSdkAppID: c.cfg.SmsSdkAppID, SerialNo: conv.MessageID}
	if secs := conv.At.Unix(); !conv.At.IsZero() && secs > 0 {
		req.ConversionTime = &secs
	}
	body, err := json.Marshal(req)
	if err != nil {
		return confirm.Answer{Outcome: confirm.Transient}, fmt.Errorf("tencent: encode: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return confirm.Answer{Outcome: confirm.Transient}, fmt.Errorf("tencent: %w: %w", confirm.ErrTransport, err)
	}
	ts := c.cfg.Now().Unix()
	s := signing{method: http.MethodPost, canonicalURI: "/", headers: []header{{"content-type", contentType}, {"host", c.host}},
		payload: body, timestamp: ts, service: service}
	hr.Header.Set("Authorization", s.authorization(c.cfg.SecretID, c.cfg.SecretKey))
	hr.Header.Set("Content-Type", contentType)
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("X-TC-Action", Action)
	hr.Header.Set("X-TC-Version", Version)
	hr.Header.Set("X-TC-Timestamp", strconv.FormatInt(ts, 10))
	hr.Header.Set("X-TC-Region", c.cfg.Region)
	resp, err := c.http.Do(hr)
	if err != nil {
		return confirm.Answer{Outcome: confirm.Transient}, confirm.TransportError(ctx, "tencent", c.cfg.Timeout, err)
	}
	defer resp.Body.Close()
	a := confirm.Answer{Outcome: confirm.Transient, HTTPStatus: resp.StatusCode,
		RetryAfter: confirm.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	raw, err := confirm.ReadAnswer(ctx, "tencent", c.cfg.Timeout, resp)
	if err != nil {
		return a, err
	}
	return c.answer(a, resp.StatusCode, raw)
}

// answer reads the verdict in raw, a body of the given status.
func (c *Client) answer(a confirm.Answer, status int, raw []byte) (confirm.Answer, error) {
	var r response
	code, message := "", ""
	if err := json.Unmarshal(raw, &r); err == nil && r.Response != nil {
		switch {
		case r.Response.Error != nil && r.Response.Error.Code != "":
			code, message = r.Response.Error.Code, r.Response.Error.Message
		case r.Response.ReportConversionStatus != nil && r.Response.ReportConversionStatus.Code != "":
			code, message = r.Response.ReportConversionStatus.Code, r.Response.ReportConversionStatus.Message
		}
	}
	switch {
	case code != "":
		a.Outcome = Outcome(code)
		a.Status = c.redact.Text(code, 64)
		a.Meaning = c.redact.Text(message, vendorbody.SnippetLen)
		if a.Meaning == "" {
			a.Meaning = Meaning(code)
		}
		if strings.EqualFold(code, CodeSignatureExpire) && c.cfg.Logger != nil {
			c.cfg.Logger.Warn("tencent: signature expired: this host's clock is more than 5 minutes off", "code", a.Status)
		}
		return a, nil
	case status >= 300 && status <= 399:
		return a, fmt.Errorf("tencent: %w: HTTP %d redirect (body: %q)", confirm.ErrUnreadable, status, c.redact.Snippet(raw))
	case status < 200 || status > 299:
		// Tencent's API answers its errors with a 200; any other status is
		// what stands in front of it (a gateway, a proxy) saying it is
		// unavailable.
		a.Status = confirm.HTTPStatusText(status)
		a.Meaning = c.redact.Snippet(raw)
		return a, nil
	}
	return a, fmt.Errorf("tencent: %w: HTTP %d without Response.Error nor ReportConversionStatus (body: %q)",
		confirm.ErrUnreadable, status, c.redact.Snippet(raw))
}

// invalidSerialNo says why Tencent could never accept id as a SerialNo, ""
// for an id it might. Tencent documents no pattern (its example is
// "5000:1045710669157053657849499619"), only that the field is required.
func invalidSerialNo(id string) string {
	switch {
	case id == "":
		return "SerialNo is required"
	case !utf8.ValidString(id) || strings.ContainsFunc(id, unicode.IsControl):
		return "SerialNo is not printable text"
	}
	return ""
}
