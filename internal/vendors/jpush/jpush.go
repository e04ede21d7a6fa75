// Package jpush is the client of JPush's (极光) SMS balance API: the
// account balance ("dev", GET /v1/accounts/dev, Basic devKey:devSecret) and
// the application balance ("app", GET /v1/accounts/app, Basic
// appKey:masterSecret). It knows the wire format and nothing of NATS or
// PostgreSQL.
//
// The vendor answers null for a quota that was never allocated, which is
// not an exhausted quota of 0: Quota keeps the two apart, so that a monitor
// does not raise a low-balance alert for a quota that does not exist.
package jpush

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"relay/internal/vendors/vendorbody"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultBaseURL = "https://api.sms.jpush.cn"
	DefaultTimeout = 10 * time.Second
)

// The paths the seed documents, appended to Config.BaseURL.
const (
	DevPath = "/v1/accounts/dev"
	AppPath = "/v1/accounts/app"
)

// maxBody bounds what is read of a response: a real answer is under a
// hundred bytes, so anything near this is not JPush talking.
const maxBody = 64 << 10

// Config configures a Client. Zero values take the documented defaults.
// Each credential pair is optional: a client with only the app pair serves
// AppBalance and answers ErrNotConfigured for DevBalance.
type Config struct {
	// BaseURL is the scheme and host only, default DefaultBaseURL; the
	// client appends DevPath and AppPath.
	BaseURL string
	// DevKey and DevSecret (the console's "API DevSecret") authenticate the
	// account balance query.
	DevKey    string
	DevSecret string
	// AppKey and MasterSecret authenticate the application balance query.
	AppKey       string
	MasterSecret string
	// HTTPClient defaults to http.DefaultClient's settings; either way the
	// client uses a copy that follows no redirect.
	HTTPClient *http.Client
	// Timeout bounds each call, default DefaultTimeout.
	Timeout time.Duration
}

// Validate reports configuration mistakes that New would otherwise turn
// into an error on every call: a BaseURL that is not scheme and host, a
// credential pair with only one half set, a negative timeout. A config
// with no credentials at all is valid: the vendor is simply off.
func (cfg Config) Validate() error {
	var errs []error
	if _, err := parseBaseURL(cfg.BaseURL); err != nil {
		errs = append(errs, err)
	}
	// A pair with both halves empty is a vendor switched off, not a
	// mistake; one half alone is almost always a missing variable.
	if cfg.DevKey != "" || cfg.DevSecret != "" {
		if err := pairError("DevKey", cfg.DevKey, "DevSecret", cfg.DevSecret); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrInvalidConfig, err))
		}
	}
	if cfg.AppKey != "" || cfg.MasterSecret != "" {
		if err := pairError("AppKey", cfg.AppKey, "MasterSecret", cfg.MasterSecret); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrInvalidConfig, err))
		}
	}
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%w: Timeout is negative", ErrInvalidConfig))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("jpush: %w", err)
	}
	return nil
}

// Client queries the two balances. It is safe for concurrent use.
type Client struct {
	cfg     Config
	base    *url.URL
	baseErr error
	http    *http.Client
	redact  vendorbody.Redactor
}

// New returns a client for cfg. It never fails: an invalid BaseURL is
// reported by every call (and by Config.Validate beforehand), so that a
// misconfigured vendor cannot stop the process that merely monitors it.
func New(cfg Config) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	base, baseErr := parseBaseURL(cfg.BaseURL)
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	// net/http drops Authorization only across domains, so a redirect
	// could resend the secret (to plain http, say); and a balance API that
	// redirects is misconfigured, not answering. Treat the 3xx as the
	// answer.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{
		cfg:     cfg,
		base:    base,
		baseErr: baseErr,
		http:    &hc,
		// The base64 forms are listed too: an echoed Authorization header
		// shows the pair encoded, where neither secret appears as such.
		redact: vendorbody.NewRedactor(basicToken(cfg.DevKey, cfg.DevSecret), basicToken(cfg.AppKey, cfg.MasterSecret),
			cfg.DevSecret, cfg.MasterSecret),
	}
}

// DevConfigured reports whether both DevKey and DevSecret are set.
func (c *Client) DevConfigured() bool { return c.cfg.DevKey != "" && c.cfg.DevSecret != "" }

// AppConfigured reports whether both AppKey and MasterSecret are set.
func (c *Client) AppConfigured() bool { return c.cfg.AppKey != "" && c.cfg.MasterSecret != "" }

// DevBalance asks for the account balance: quotas that belong to the
// developer account and are shared by its applications. Errors are
// ErrNotConfigured, ErrInvalidConfig, *APIError, ErrBadResponse or a
// transport failure; Retryable sorts them. No error text contains a secret.
func (c *Client) DevBalance(ctx context.Context) (DevBalance, error) {
	if err := pairError("DevKey", c.cfg.DevKey, "DevSecret", c.cfg.DevSecret); err != nil {
		return DevBalance{}, fmt.Errorf("jpush: GET %s: %w: %w", DevPath, ErrNotConfigured, err)
	}
	q, err := c.get(ctx, DevPath, c.cfg.DevKey, c.cfg.DevSecret, devFields)
	if err != nil {
		return DevBalance{}, err
	}
	return DevBalance{Balance: q[0], Voice: q[1], Industry: q[2], Market: q[3]}, nil
}

// AppBalance asks for the application balance: quotas allocated to the
// application of AppKey alone. Errors are as for DevBalance.
func (c *Client) AppBalance(ctx context.Context) (AppBalance, error) {
	if err := pairError("AppKey", c.cfg.AppKey, "MasterSecret", c.cfg.MasterSecret); err != nil {
		return AppBalance{}, fmt.Errorf("jpush: GET %s: %w: %w", AppPath, ErrNotConfigured, err)
	}
	q, err := c.get(ctx, AppPath, c.cfg.AppKey, c.cfg.MasterSecret, appFields)
	if err != nil {
		return AppBalance{}, err
	}
	return AppBalance{Balance: q[0], Voice: q[1], Industry: q[2], Market: q[3]}, nil
}

func (c *Client) get(ctx context.Context, path, user, secret string, fields [4]string) ([4]Quota, error) {
	op := "jpush: GET " + path
	if c.baseErr != nil {
		return [4]Quota{}, fmt.Errorf("%s: %w", op, c.baseErr)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	u := *c.base
	u.Path = path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return [4]Quota{}, fmt.Errorf("%s: %w", op, err)
	}
	req.SetBasicAuth(user, secret)
	// The seed's curl sends a JSON content type on this body-less GET;
	// send what the vendor documents rather than what HTTP would suggest.
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		// *url.Error carries the URL, which holds no credential: they
		// travel in the Authorization header, which it never prints.
		return [4]Quota{}, fmt.Errorf("%s: %w", op, &transportError{err: err, ctxErr: ctx.Err()})
	}
	defer resp.Body.Close()
	body, err := vendorbody.Read(resp.Body, maxBody)
	if errors.Is(err, vendorbody.ErrTooLarge) {
		return [4]Quota{}, fmt.Errorf("%s: %w: %w", op, ErrBadResponse, err)
	}
	if err != nil {
		return [4]Quota{}, fmt.Errorf("%s: reading response: %w", op, &transportError{err: err, ctxErr: ctx.Err()})
	}
	q, err := parseBalance(resp.StatusCode, body, fields)
	if err != nil {
		var apiErr *APIError
		if errors.As(err, &apiErr) {
			// A vendor or a proxy echoing the request must not carry the
			// secret into logs through our error; and its text, whatever
			// bytes it holds, must be storable.
			apiErr.Message = c.redact.Text(apiErr.Message, vendorbody.SnippetLen)
		}
		return [4]Quota{}, fmt.Errorf("%s: %w", op, err)
	}
	return q, nil
}

// parseBaseURL accepts scheme and host only. Its errors never quote the
// input, which may hold a password in its userinfo.
func parseBaseURL(raw string) (*url.URL, error) {
	if raw == "" {
		raw = DefaultBaseURL
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: BaseURL is not a URL", ErrInvalidConfig)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%w: BaseURL scheme must be http or https", ErrInvalidConfig)
	case u.Host == "":
		return nil, fmt.Errorf("%w: BaseURL has no host", ErrInvalidConfig)
	case u.User != nil:
		return nil, fmt.Errorf("%w: BaseURL must not carry credentials", ErrInvalidConfig)
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		// Silently appending the paths to a base that has one would hide
		// the mistake until the vendor answers 404.
		return nil, fmt.Errorf("%w: BaseURL must be scheme and host only, the client appends %s and %s", ErrInvalidConfig, DevPath, AppPath)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

// pairError names the missing half of a credential pair, or returns nil.
func pairError(keyName, key, secretName, secret string) error {
	switch {
	case key == "" && secret == "":
		return fmt.Errorf("%s and %s are empty", keyName, secretName)
	case key == "":
		return fmt.Errorf("%s is empty", keyName)
	case secret == "":
		return fmt.Errorf("%s is empty", secretName)
	}
	return nil
}

// basicToken is the base64 part of the Authorization header, or "" when
// either half is missing (no request is made then).
func basicToken(key, secret string) string {
	if key == "" || secret == "" {
		return ""
	}
	return base64.StdEncoding.EncodeToString([]byte(key + ":" + secret))
}
