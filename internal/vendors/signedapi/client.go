package signedapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"relay/internal/vendors/vendorbody"
)

// DefaultTimeout bounds a whole call, the -16 retry included, when
// Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// ContentType is the Content-Type header value exactly as the vendors'
// pages show it, although the GET calls carry no body.
const ContentType = "application/json;charset=UTF-8"

// maxBody bounds the answer read into memory: a getReport answer for a
// large batch is a few dozen KiB.
const maxBody = 1 << 20

// Config configures a Client. Vendor packages alias it and fill their own
// default BaseURL.
type Config struct {
	// BaseURL is the scheme and host only, like https://api.laaffic.com;
	// the vendor package appends the documented path.
	BaseURL string
	// APIKey is sent in the Api-Key header.
	APIKey string
	// APISecret only enters the Sign; it is never sent, logged or printed.
	APISecret string
	// HTTPClient defaults to http.DefaultClient. The client makes a copy
	// that does not follow redirects, so the signed headers never reach a
	// host other than BaseURL.
	HTTPClient *http.Client
	// Timeout bounds each call (the -16 retry included); zero means
	// DefaultTimeout.
	Timeout time.Duration
	// Now is the clock for the Timestamp header and the skew report;
	// nil means time.Now.
	Now func() time.Time
}

// Validate reports what makes the Config unusable, wrapping ErrConfig.
// Messages name the field, never a credential.
func (c Config) Validate() error {
	if c.BaseURL == "" {
		return fmt.Errorf("%w: BaseURL is empty", ErrConfig)
	}
	u, err := url.Parse(c.BaseURL)
	switch {
	case err != nil:
		// url.Parse's message quotes the URL, which may hold credentials.
		return fmt.Errorf("%w: BaseURL does not parse", ErrConfig)
	case u.User != nil:
		return fmt.Errorf("%w: BaseURL must not carry user info", ErrConfig)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%w: BaseURL scheme must be http or https, not %q", ErrConfig, u.Scheme)
	case u.Host == "":
		return fmt.Errorf("%w: BaseURL has no host", ErrConfig)
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%w: BaseURL must be scheme and host only (got path %q): the client appends the documented path", ErrConfig, u.Path)
	}
	if c.APIKey == "" {
		return fmt.Errorf("%w: APIKey is empty", ErrConfig)
	}
	if c.APISecret == "" {
		return fmt.Errorf("%w: APISecret is empty", ErrConfig)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("%w: Timeout %s is negative", ErrConfig, c.Timeout)
	}
	return nil
}

const redacted = "[redacted]"

// String prints the Config with the credentials redacted, so that a
// logged Config leaks nothing.
func (c Config) String() string {
	return fmt.Sprintf("{BaseURL:%s APIKey:%s APISecret:%s Timeout:%s}", redactURL(c.BaseURL), redactIfSet(c.APIKey), redactIfSet(c.APISecret), c.Timeout)
}

// redactURL hides a password that Validate would refuse anyway.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return redactIfSet(s)
	}
	return u.Redacted()
}

// GoString redacts %#v as String redacts %v.
func (c Config) GoString() string { return "signedapi.Config" + c.String() }

// LogValue redacts the Config in log/slog output.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", redactURL(c.BaseURL)),
		slog.String("api_key", redactIfSet(c.APIKey)),
		slog.String("api_secret", redactIfSet(c.APISecret)),
		slog.Duration("timeout", c.Timeout),
	)
}

func redactIfSet(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

// Client makes signed calls to one vendor of the family. It is safe for
// concurrent use.
type Client struct {
	cfg  Config
	base string // BaseURL without a trailing slash
	err  error  // from Validate, returned by every call
}

// New returns a Client for cfg. An invalid cfg does not fail here (vendor
// constructors cannot return errors); every call returns the ErrConfig
// instead. Call Config.Validate at start-up to fail early.
func New(cfg Config) *Client {
	c := &Client{err: cfg.Validate()}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	hc := http.DefaultClient
	if cfg.HTTPClient != nil {
		hc = cfg.HTTPClient
	}
	own := *hc
	own.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cfg.HTTPClient = &own
	c.cfg = cfg
	if u, err := url.Parse(cfg.BaseURL); err == nil {
		u.Path = ""
		c.base = u.String()
	}
	return c
}

// Get makes a signed GET of path (like "/v3/getReport") with rawQuery
// (already encoded, without "?"; empty for none) and returns the body of an
// answer whose status is "0". Failure answers come back as the typed errors
// of this package. A -16 answer is retried once with a fresh timestamp.
func (c *Client) Get(ctx context.Context, path, rawQuery string) ([]byte, error) {
	if c.err != nil {
		return nil, c.err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()

	body, _, err := c.attempt(ctx, path, rawQuery)
	if !errors.Is(err, ErrTimestampExpired) {
		return body, err
	}
	// The first refusal is often a request that waited too long in a queue
	// or a retry of an old attempt; a fresh timestamp fixes those.
	body, date, err := c.attempt(ctx, path, rawQuery)
	if !errors.Is(err, ErrTimestampExpired) {
		return body, err
	}
	if server, perr := http.ParseTime(date); perr == nil {
		return nil, &SkewError{Skew: c.cfg.Now().Sub(server), Err: err}
	}
	return nil, err
}

// GetBalance makes the family's getBalance call on path and parses it.
func (c *Client) GetBalance(ctx context.Context, path string) (Balance, error) {
	body, err := c.Get(ctx, path, "")
	if err != nil {
		return Balance{}, err
	}
	return ParseBalance(body)
}

// attempt is one signed request; it returns the vendor's Date header for
// the skew report.
func (c *Client) attempt(ctx context.Context, path, rawQuery string) (body []byte, date string, err error) {
	target := c.base + path
	if rawQuery != "" {
		target += "?" + rawQuery
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	ts := c.cfg.Now().Unix()
	sign := Sign(c.cfg.APIKey, c.cfg.APISecret, ts)
	// An answer echoing the request must not carry the credentials, or
	// this call's Sign, into our errors.
	redact := vendorbody.NewRedactor(c.cfg.APISecret, c.cfg.APIKey, sign)
	// Direct map writes keep the header names byte-for-byte as documented.
	req.Header["Content-Type"] = []string{ContentType}
	req.Header["Sign"] = []string{sign}
	req.Header["Timestamp"] = []string{strconv.FormatInt(ts, 10)}
	req.Header["Api-Key"] = []string{c.cfg.APIKey}

	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		// *url.Error names the URL, which holds no credential: those travel
		// in headers only.
		return nil, "", fmt.Errorf("signedapi: GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	date = resp.Header.Get("Date")
	body, err = vendorbody.Read(resp.Body, maxBody)
	if errors.Is(err, vendorbody.ErrTooLarge) {
		return nil, date, fmt.Errorf("%w: %w", ErrMalformedResponse, err)
	}
	if err != nil {
		return nil, date, fmt.Errorf("signedapi: GET %s: reading answer: %w", path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// A failure envelope says more than the HTTP status does.
		var se *StatusError
		if err := checkStatus(body, redact); errors.As(err, &se) {
			return nil, date, se
		}
		return nil, date, &HTTPError{StatusCode: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), c.cfg.Now())}
	}
	if err := checkStatus(body, redact); err != nil {
		return nil, date, err
	}
	return body, date, nil
}

// maxRetryAfter caps the vendor's hint, in seconds.
const maxRetryAfter = 24 * 60 * 60

// retryAfter reads Retry-After as seconds or as an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		// Cap before multiplying: a hostile value must not overflow.
		return time.Duration(min(s, maxRetryAfter)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
