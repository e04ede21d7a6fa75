// Package config is relay's one place for configuration: every setting is
// read from the environment (RELAY_*), given its default, and validated at
// start so that a mistake stops the process with a message naming the
// variable instead of failing later in the middle of traffic.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Role selects which parts of relay a process runs.
type Role string

// The roles a process may take; RoleAll is the default.
const (
	RoleAll    Role = "all"
	RoleIngest Role = "ingest"
	RoleWorker Role = "worker"
)

// APIKey is a bootstrap ingest key from RELAY_API_KEYS.
type APIKey struct {
	Name   string
	Secret string
}

// Liasmart holds the CTrack client settings.
type Liasmart struct {
	URL         string
	CTrackPath  string
	APIID       string
	APIPassword string
}

// Configured reports whether CTrack credentials were given.
func (l Liasmart) Configured() bool { return l.APIID != "" && l.APIPassword != "" }

// Laaffic holds the Laaffic client settings (balance and delivery reports).
type Laaffic struct {
	// URL is the scheme and host only; the client appends /v3/....
	URL       string
	APIKey    string
	APISecret string
	// AppID is the default appId of messages tracked for delivery reports.
	AppID string
	// LowBalance, when set, raises a low_balance alert when "balance"
	// falls below it.
	LowBalance *decimal.Decimal
}

// Configured reports whether Laaffic credentials were given.
func (l Laaffic) Configured() bool { return l.APIKey != "" && l.APISecret != "" }

// Itniotech holds the Itniotech client settings (balance).
type Itniotech struct {
	// URL is the scheme and host only; the client appends /sms/getBalance.
	URL       string
	APIKey    string
	APISecret string
	// LowBalance, when set, raises a low_balance alert when "balance"
	// falls below it.
	LowBalance *decimal.Decimal
}

// Configured reports whether Itniotech credentials were given.
func (i Itniotech) Configured() bool { return i.APIKey != "" && i.APISecret != "" }

// JPush holds the JPush SMS balance client settings. Either credential
// pair may be given alone.
type JPush struct {
	// URL is the scheme and host only; the client appends /v1/accounts/....
	URL          string
	DevKey       string
	DevSecret    string
	AppKey       string
	MasterSecret string
	// LowBalance, when set, raises a low_balance alert when any allocated
	// quota (dev_* and app_*) falls below it.
	LowBalance *decimal.Decimal
}

// Configured reports whether at least one JPush credential pair was given.
func (j JPush) Configured() bool {
	return (j.DevKey != "" && j.DevSecret != "") || (j.AppKey != "" && j.MasterSecret != "")
}

// Config is every setting of a relay process.
type Config struct {
	Role        Role
	HTTPAddr    string
	DatabaseURL string
	NATSURL     string
	DataDir     string
	NATSListen  string
	APIKeys     []APIKey
	AdminToken  string
	DedupWindow time.Duration
	// StreamMaxAge bounds how long messages stay in the RELAY stream. It must
	// exceed the longest outage relay is expected to ride out, since an
	// unprocessed registration older than this is discarded by JetStream.
	StreamMaxAge time.Duration
	// StreamReplicas is the replica count of every relay stream (3 on a
	// 3-node NATS cluster).
	StreamReplicas int
	// EventsMaxAge is how long outcome, report, balance and alert events
	// stay on the bus for subscribers.
	EventsMaxAge time.Duration
	// Retention is how long final events (and their attempts) are kept in
	// PostgreSQL after their last update; 0 keeps everything.
	Retention time.Duration

	Liasmart      Liasmart
	VendorTimeout time.Duration

	// The monitored vendors; each is off while its credentials are empty.
	Laaffic   Laaffic
	Itniotech Itniotech
	JPush     JPush
	// BalanceInterval is how often each configured vendor's balance is
	// read (one poll per vendor per interval across all replicas).
	BalanceInterval time.Duration
	// ReportInterval is the delivery-report poller's tick; ReportBatch the
	// most msgIds per getReport call; ReportTTL how long after it was
	// registered a message is polled before it is "expired".
	ReportInterval time.Duration
	ReportBatch    int
	ReportTTL      time.Duration

	MaxAttempts int
	RetryBase   time.Duration
	RetryMax    time.Duration
	// PauseProbe is how often a paused vendor is tried again with one event,
	// so that fixed credentials resume traffic without an operator.
	PauseProbe time.Duration

	// WorkerConcurrency bounds concurrent vendor calls per process.
	WorkerConcurrency int
	// WorkerBatch is how many messages a worker writes to Postgres in one
	// transaction at most.
	WorkerBatch int
	// AckWait is how long JetStream waits for a worker's ack before it
	// redelivers; it must exceed the vendor timeout by a margin.
	AckWait time.Duration

	// RateLimit is the per-key ingest rate in events per second; 0 is off.
	RateLimit float64
	// SignedKeys names RELAY_API_KEYS keys whose requests must carry a
	// valid Relay-Signature.
	SignedKeys []string
	// TLSCert and TLSKey, when set, make the HTTP server speak TLS.
	TLSCert string
	TLSKey  string

	ShutdownTimeout time.Duration
	LogLevel        string
	LogFormat       string
}

// Defaults returns the configuration relay uses when no variable is set.
func Defaults() Config {
	return Config{
		Role:              RoleAll,
		HTTPAddr:          "127.0.0.1:8080",
		DatabaseURL:       "postgres://postgres@127.0.0.1:5432/relay?sslmode=disable",
		DataDir:           "./data",
		DedupWindow:       10 * time.Minute,
		StreamMaxAge:      7 * 24 * time.Hour,
		StreamReplicas:    1,
		EventsMaxAge:      72 * time.Hour,
		Retention:         720 * time.Hour,
		Liasmart:          Liasmart{URL: "https://api.liasmart.com", CTrackPath: "/api/CTrack"},
		Laaffic:           Laaffic{URL: "https://api.laaffic.com"},
		Itniotech:         Itniotech{URL: "https://api.itniotech.com"},
		JPush:             JPush{URL: "https://api.sms.jpush.cn"},
		BalanceInterval:   5 * time.Minute,
		ReportInterval:    30 * time.Second,
		ReportBatch:       100,
		ReportTTL:         24 * time.Hour,
		VendorTimeout:     10 * time.Second,
		MaxAttempts:       8,
		RetryBase:         time.Second,
		RetryMax:          10 * time.Minute,
		PauseProbe:        time.Minute,
		WorkerConcurrency: 512,
		WorkerBatch:       500,
		AckWait:           time.Minute,
		ShutdownTimeout:   30 * time.Second,
		LogLevel:          "info",
		LogFormat:         "json",
	}
}

// Load reads the configuration from getenv (os.Getenv when nil) on top of
// Defaults and validates it. All problems are reported together.
func Load(getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	c := Defaults()
	var errs []error
	str := func(name string, dst *string) {
		if v, ok := lookup(getenv, name); ok {
			*dst = v
		}
	}
	dur := func(name string, dst *time.Duration) {
		if v, ok := lookup(getenv, name); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: not a duration (use e.g. 500ms, 10s, 5m)", name, v))
				return
			}
			*dst = d
		}
	}
	integer := func(name string, dst *int) {
		if v, ok := lookup(getenv, name); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: not an integer", name, v))
				return
			}
			*dst = n
		}
	}

	var role string
	str("RELAY_ROLE", &role)
	if role != "" {
		c.Role = Role(role)
	}
	str("RELAY_HTTP_ADDR", &c.HTTPAddr)
	str("RELAY_DATABASE_URL", &c.DatabaseURL)
	str("RELAY_NATS_URL", &c.NATSURL)
	str("RELAY_DATA_DIR", &c.DataDir)
	str("RELAY_NATS_LISTEN", &c.NATSListen)
	str("RELAY_ADMIN_TOKEN", &c.AdminToken)
	dur("RELAY_DEDUP_WINDOW", &c.DedupWindow)
	dur("RELAY_STREAM_MAX_AGE", &c.StreamMaxAge)
	integer("RELAY_STREAM_REPLICAS", &c.StreamReplicas)
	dur("RELAY_EVENTS_MAX_AGE", &c.EventsMaxAge)
	dur("RELAY_RETENTION", &c.Retention)
	str("RELAY_LIASMART_URL", &c.Liasmart.URL)
	str("RELAY_LIASMART_CTRACK_PATH", &c.Liasmart.CTrackPath)
	str("RELAY_LIASMART_API_ID", &c.Liasmart.APIID)
	str("RELAY_LIASMART_API_PASSWORD", &c.Liasmart.APIPassword)
	dur("RELAY_VENDOR_TIMEOUT", &c.VendorTimeout)
	str("RELAY_LAAFFIC_URL", &c.Laaffic.URL)
	str("RELAY_LAAFFIC_API_KEY", &c.Laaffic.APIKey)
	str("RELAY_LAAFFIC_API_SECRET", &c.Laaffic.APISecret)
	str("RELAY_LAAFFIC_APP_ID", &c.Laaffic.AppID)
	str("RELAY_ITNIOTECH_URL", &c.Itniotech.URL)
	str("RELAY_ITNIOTECH_API_KEY", &c.Itniotech.APIKey)
	str("RELAY_ITNIOTECH_API_SECRET", &c.Itniotech.APISecret)
	str("RELAY_JPUSH_URL", &c.JPush.URL)
	str("RELAY_JPUSH_DEV_KEY", &c.JPush.DevKey)
	str("RELAY_JPUSH_DEV_SECRET", &c.JPush.DevSecret)
	str("RELAY_JPUSH_APP_KEY", &c.JPush.AppKey)
	str("RELAY_JPUSH_MASTER_SECRET", &c.JPush.MasterSecret)
	for _, t := range []struct {
		name string
		dst  **decimal.Decimal
	}{
		{"RELAY_LAAFFIC_LOW_BALANCE", &c.Laaffic.LowBalance},
		{"RELAY_ITNIOTECH_LOW_BALANCE", &c.Itniotech.LowBalance},
		{"RELAY_JPUSH_LOW_BALANCE", &c.JPush.LowBalance},
	} {
		if v, ok := lookup(getenv, t.name); ok {
			d, err := ParseThreshold(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", t.name, v, err))
				continue
			}
			*t.dst = &d
		}
	}
	dur("RELAY_BALANCE_INTERVAL", &c.BalanceInterval)
	dur("RELAY_REPORT_INTERVAL", &c.ReportInterval)
	integer("RELAY_REPORT_BATCH", &c.ReportBatch)
	dur("RELAY_REPORT_TTL", &c.ReportTTL)
	integer("RELAY_MAX_ATTEMPTS", &c.MaxAttempts)
	dur("RELAY_RETRY_BASE", &c.RetryBase)
	dur("RELAY_RETRY_MAX", &c.RetryMax)
	dur("RELAY_PAUSE_PROBE", &c.PauseProbe)
	integer("RELAY_WORKER_CONCURRENCY", &c.WorkerConcurrency)
	integer("RELAY_WORKER_BATCH", &c.WorkerBatch)
	dur("RELAY_ACK_WAIT", &c.AckWait)
	dur("RELAY_SHUTDOWN_TIMEOUT", &c.ShutdownTimeout)
	str("RELAY_LOG_LEVEL", &c.LogLevel)
	str("RELAY_LOG_FORMAT", &c.LogFormat)

	str("RELAY_TLS_CERT", &c.TLSCert)
	str("RELAY_TLS_KEY", &c.TLSKey)
	if v, ok := lookup(getenv, "RELAY_RATE_LIMIT"); ok {
		r, err := ParseRate(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("RELAY_RATE_LIMIT=%q: %w", v, err))
		}
		c.RateLimit = r
	}
	if v, ok := lookup(getenv, "RELAY_SIGNED_KEYS"); ok {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				c.SignedKeys = append(c.SignedKeys, name)
			}
		}
	}
	if v, ok := lookup(getenv, "RELAY_API_KEYS"); ok {
		keys, err := ParseAPIKeys(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("RELAY_API_KEYS: %w", err))
		}
		c.APIKeys = keys
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
	}
	return c, nil
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := strings.TrimSpace(getenv(name))
	return v, v != ""
}

// ParseAPIKeys parses `name:secret` pairs separated by commas.
func ParseAPIKeys(s string) ([]APIKey, error) {
	var keys []APIKey
	seen := map[string]bool{}
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, secret, ok := strings.Cut(part, ":")
		if !ok || name == "" || secret == "" {
			// The secret is not echoed: it would end up in logs.
			return nil, fmt.Errorf("entry %d is not name:secret", i+1)
		}
		if seen[name] {
			return nil, fmt.Errorf("key name %q given twice", name)
		}
		seen[name] = true
		keys = append(keys, APIKey{Name: name, Secret: secret})
	}
	return keys, nil
}

// ParseRate reads "500/s", "30000/m", "100" (per second) or "0" (off) as
// events per second.
func ParseRate(s string) (float64, error) {
	num, unit, _ := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || n < 0 {
		return 0, errors.New("want a rate such as 500/s, 30000/m or 0 (off)")
	}
	switch strings.TrimSpace(unit) {
	case "", "s":
		return n, nil
	case "m":
		return n / 60, nil
	case "h":
		return n / 3600, nil
	}
	return 0, errors.New("the unit must be s, m or h")
}

// Validate checks relations between settings and their ranges.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.Role {
	case RoleAll, RoleIngest, RoleWorker:
	default:
		bad("RELAY_ROLE=%q: want all, ingest or worker", c.Role)
	}
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		bad("RELAY_DATABASE_URL: want postgres://user@host:port/db")
	}
	if c.NATSURL == "" && c.DataDir == "" {
		bad("RELAY_DATA_DIR must be set when RELAY_NATS_URL is empty (embedded NATS keeps its data there)")
	}
	if c.DedupWindow < 2*time.Minute {
		bad("RELAY_DEDUP_WINDOW=%s: must be at least 2m", c.DedupWindow)
	}
	if c.StreamMaxAge != 0 && c.StreamMaxAge < c.DedupWindow {
		bad("RELAY_STREAM_MAX_AGE=%s: must be 0 (unlimited) or at least RELAY_DEDUP_WINDOW", c.StreamMaxAge)
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		bad("RELAY_STREAM_REPLICAS=%d: must be 1 to 5", c.StreamReplicas)
	}
	if c.EventsMaxAge <= 0 {
		bad("RELAY_EVENTS_MAX_AGE=%s: must be positive", c.EventsMaxAge)
	}
	if c.Retention < 0 {
		bad("RELAY_RETENTION=%s: must be 0 (keep everything) or positive", c.Retention)
	}
	if u, err := url.Parse(c.Liasmart.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("RELAY_LIASMART_URL=%q: want http(s)://host", c.Liasmart.URL)
	}
	if !strings.HasPrefix(c.Liasmart.CTrackPath, "/") {
		bad("RELAY_LIASMART_CTRACK_PATH=%q: must start with /", c.Liasmart.CTrackPath)
	}
	if (c.Liasmart.APIID == "") != (c.Liasmart.APIPassword == "") {
		bad("RELAY_LIASMART_API_ID and RELAY_LIASMART_API_PASSWORD must be set together")
	}
	if c.VendorTimeout <= 0 {
		bad("RELAY_VENDOR_TIMEOUT must be positive")
	}
	if c.MaxAttempts < 1 {
		bad("RELAY_MAX_ATTEMPTS=%d: must be at least 1", c.MaxAttempts)
	}
	if c.RetryBase <= 0 || c.RetryMax < c.RetryBase {
		bad("RELAY_RETRY_BASE=%s, RELAY_RETRY_MAX=%s: want 0 < base <= max", c.RetryBase, c.RetryMax)
	}
	if c.PauseProbe <= 0 {
		bad("RELAY_PAUSE_PROBE must be positive")
	}
	if c.WorkerConcurrency < 1 {
		bad("RELAY_WORKER_CONCURRENCY=%d: must be at least 1", c.WorkerConcurrency)
	}
	if c.WorkerBatch < 1 || c.WorkerBatch > 10000 {
		bad("RELAY_WORKER_BATCH=%d: want 1..10000", c.WorkerBatch)
	}
	if c.AckWait < c.VendorTimeout+5*time.Second {
		bad("RELAY_ACK_WAIT=%s: must exceed RELAY_VENDOR_TIMEOUT (%s) by at least 5s", c.AckWait, c.VendorTimeout)
	}
	for _, k := range c.APIKeys {
		if c.AdminToken != "" && k.Secret == c.AdminToken {
			bad("RELAY_API_KEYS: key %q equals RELAY_ADMIN_TOKEN; they must differ", k.Name)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("RELAY_TLS_CERT and RELAY_TLS_KEY must be set together")
	}
	for _, f := range []struct{ name, path string }{{"RELAY_TLS_CERT", c.TLSCert}, {"RELAY_TLS_KEY", c.TLSKey}} {
		if f.path != "" {
			if _, err := os.Stat(f.path); err != nil {
				bad("%s=%q: %v", f.name, f.path, err)
			}
		}
	}
	for _, name := range c.SignedKeys {
		found := false
		for _, k := range c.APIKeys {
			found = found || k.Name == name
		}
		if !found {
			bad("RELAY_SIGNED_KEYS: %q is not a key of RELAY_API_KEYS", name)
		}
	}
	errs = append(errs, c.validateMonitor()...)
	switch c.LogFormat {
	case "json", "text":
	default:
		bad("RELAY_LOG_FORMAT=%q: want json or text", c.LogFormat)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		bad("RELAY_LOG_LEVEL=%q: want debug, info, warn or error", c.LogLevel)
	}
	return errors.Join(errs...)
}

// ParseThreshold reads a low-balance threshold: a plain decimal such as
// "100" or "12.50" (a leading minus allowed, no exponent).
func ParseThreshold(s string) (decimal.Decimal, error) {
	digits := strings.TrimPrefix(s, "-")
	intPart, frac, hasDot := strings.Cut(digits, ".")
	if len(s) > 64 || intPart == "" || strings.Trim(intPart, "0123456789") != "" ||
		(hasDot && (frac == "" || strings.Trim(frac, "0123456789") != "")) {
		return decimal.Decimal{}, errors.New("want a decimal number such as 100 or 12.50")
	}
	return decimal.NewFromString(s)
}

// validateMonitor checks the settings of the balance monitor and the
// delivery-report poller.
func (c Config) validateMonitor() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, u := range []struct{ name, value string }{
		{"RELAY_LAAFFIC_URL", c.Laaffic.URL},
		{"RELAY_ITNIOTECH_URL", c.Itniotech.URL},
		{"RELAY_JPUSH_URL", c.JPush.URL},
	} {
		if err := checkBaseURL(u.value); err != nil {
			// The value is not echoed: a URL may carry a password.
			bad("%s: %v", u.name, err)
		}
	}
	for _, p := range []struct{ key, secret, keyName, secretName string }{
		{c.Laaffic.APIKey, c.Laaffic.APISecret, "RELAY_LAAFFIC_API_KEY", "RELAY_LAAFFIC_API_SECRET"},
		{c.Itniotech.APIKey, c.Itniotech.APISecret, "RELAY_ITNIOTECH_API_KEY", "RELAY_ITNIOTECH_API_SECRET"},
		{c.JPush.DevKey, c.JPush.DevSecret, "RELAY_JPUSH_DEV_KEY", "RELAY_JPUSH_DEV_SECRET"},
		{c.JPush.AppKey, c.JPush.MasterSecret, "RELAY_JPUSH_APP_KEY", "RELAY_JPUSH_MASTER_SECRET"},
	} {
		if (p.key == "") != (p.secret == "") {
			bad("%s and %s must be set together", p.keyName, p.secretName)
		}
	}
	if id := c.Laaffic.AppID; id != "" {
		if len(id) > 128 || strings.IndexFunc(id, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
			bad("RELAY_LAAFFIC_APP_ID: want 1 to 128 printable ASCII characters without spaces")
		}
	}
	// A JPush poll makes its two calls at once, so a poll lasts at most
	// one vendor timeout; the lease that keeps other replicas off lasts
	// 90% of the interval.
	if c.BalanceInterval < 2*c.VendorTimeout || c.BalanceInterval < time.Second {
		bad("RELAY_BALANCE_INTERVAL=%s: must be at least 1s and twice RELAY_VENDOR_TIMEOUT (%s)", c.BalanceInterval, c.VendorTimeout)
	}
	if c.ReportInterval <= 0 {
		bad("RELAY_REPORT_INTERVAL must be positive")
	}
	if c.ReportBatch < 1 || c.ReportBatch > 1000 {
		bad("RELAY_REPORT_BATCH=%d: want 1..1000", c.ReportBatch)
	}
	if c.ReportTTL < time.Minute || c.ReportTTL < c.ReportInterval {
		bad("RELAY_REPORT_TTL=%s: must be at least 1m and at least RELAY_REPORT_INTERVAL", c.ReportTTL)
	}
	return errs
}

// checkBaseURL accepts scheme and host only: the vendor clients append
// the documented paths.
func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("want http(s)://host")
	case u.Host == "":
		return errors.New("want http(s)://host: no host")
	case u.User != nil:
		return errors.New("must not carry credentials")
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return errors.New("must be scheme and host only: the client appends the documented path")
	}
	return nil
}
