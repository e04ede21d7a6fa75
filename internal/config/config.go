// Package config is relay's one place for configuration: every setting is
// read from the environment (RELAY_*), given its default, and validated at
// start so that a mistake stops the process with a message naming the
// variable instead of failing later in the middle of traffic. Variables and
// defaults are struct tags of Config, read by github.com/caarlos0/env;
// ranges and relations between settings are Validate's.
package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	envtags "github.com/caarlos0/env/v11"
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

// Rate is an ingest rate in events per second; 0 is off. It reads "500/s",
// "30000/m", "100" (per second) or "0".
type Rate float64

// UnmarshalText reads a rate with ParseRate.
func (r *Rate) UnmarshalText(b []byte) error {
	v, err := ParseRate(string(b))
	*r = Rate(v)
	return err
}

// Threshold is a low-balance threshold: a plain decimal such as "100" or
// "12.50". It is its own type rather than a decimal.Decimal because the
// decimal package's own text parsing also takes exponents ("1e3"), which
// an operator's threshold should not be.
type Threshold decimal.Decimal

// UnmarshalText reads a threshold with ParseThreshold.
func (t *Threshold) UnmarshalText(b []byte) error {
	d, err := ParseThreshold(string(b))
	*t = Threshold(d)
	return err
}

// Decimal returns the threshold as a decimal; nil when t is nil (unset).
func (t *Threshold) Decimal() *decimal.Decimal { return (*decimal.Decimal)(t) }

// String formats the threshold as a decimal; "" when unset.
func (t *Threshold) String() string {
	if t == nil {
		return ""
	}
	return t.Decimal().String()
}

// Liasmart holds the CTrack client settings.
type Liasmart struct {
	URL         string `env:"RELAY_LIASMART_URL" envDefault:"https://api.liasmart.com"`
	CTrackPath  string `env:"RELAY_LIASMART_CTRACK_PATH" envDefault:"/api/CTrack"`
	APIID       string `env:"RELAY_LIASMART_API_ID"`
	APIPassword string `env:"RELAY_LIASMART_API_PASSWORD" secret:"true"`
	MaxInFlight int    `env:"RELAY_LIASMART_MAX_IN_FLIGHT" envDefault:"0"`
	Rate        Rate   `env:"RELAY_LIASMART_RATE" envDefault:"0"`
}

// Configured reports whether CTrack credentials were given.
func (l Liasmart) Configured() bool { return l.APIID != "" && l.APIPassword != "" }

// Laaffic holds the Laaffic client settings (balance and delivery reports).
type Laaffic struct {
	// URL is the scheme and host only; the client appends /v3/....
	URL       string `env:"RELAY_LAAFFIC_URL" envDefault:"https://api.laaffic.com"`
	APIKey    string `env:"RELAY_LAAFFIC_API_KEY"`
	APISecret string `env:"RELAY_LAAFFIC_API_SECRET" secret:"true"`
	// AppID is the default appId of messages tracked for delivery reports.
	AppID string `env:"RELAY_LAAFFIC_APP_ID"`
	// LowBalance, when set, raises a low_balance alert when "balance"
	// falls below it.
	LowBalance *Threshold `env:"RELAY_LAAFFIC_LOW_BALANCE"`
}

// Configured reports whether Laaffic credentials were given.
func (l Laaffic) Configured() bool { return l.APIKey != "" && l.APISecret != "" }

// Itniotech holds the Itniotech client settings (balance).
type Itniotech struct {
	// URL is the scheme and host only; the client appends /sms/getBalance.
	URL       string `env:"RELAY_ITNIOTECH_URL" envDefault:"https://api.itniotech.com"`
	APIKey    string `env:"RELAY_ITNIOTECH_API_KEY"`
	APISecret string `env:"RELAY_ITNIOTECH_API_SECRET" secret:"true"`
	// LowBalance, when set, raises a low_balance alert when "balance"
	// falls below it.
	LowBalance *Threshold `env:"RELAY_ITNIOTECH_LOW_BALANCE"`
}

// Configured reports whether Itniotech credentials were given.
func (i Itniotech) Configured() bool { return i.APIKey != "" && i.APISecret != "" }

// JPush holds the JPush SMS balance client settings. Either credential
// pair may be given alone.
type JPush struct {
	// URL is the scheme and host only; the client appends /v1/accounts/....
	URL          string `env:"RELAY_JPUSH_URL" envDefault:"https://api.sms.jpush.cn"`
	DevKey       string `env:"RELAY_JPUSH_DEV_KEY"`
	DevSecret    string `env:"RELAY_JPUSH_DEV_SECRET" secret:"true"`
	AppKey       string `env:"RELAY_JPUSH_APP_KEY"`
	MasterSecret string `env:"RELAY_JPUSH_MASTER_SECRET" secret:"true"`
	// LowBalance, when set, raises a low_balance alert when any allocated
	// quota (dev_* and app_*) falls below it.
	LowBalance *Threshold `env:"RELAY_JPUSH_LOW_BALANCE"`
}

// Configured reports whether at least one JPush credential pair was given.
func (j JPush) Configured() bool {
	return (j.DevKey != "" && j.DevSecret != "") || (j.AppKey != "" && j.MasterSecret != "")
}

// Config is every setting of a relay process. Each field names its
// variable and default in its tags; the README's tables are checked
// against them (readme_test.go). A field tagged secret is never echoed in
// an error.
type Config struct {
	Role        Role   `env:"RELAY_ROLE" envDefault:"all"`
	HTTPAddr    string `env:"RELAY_HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	DatabaseURL string `env:"RELAY_DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/relay?sslmode=disable"`
	NATSURL     string `env:"RELAY_NATS_URL"`
	DataDir     string `env:"RELAY_DATA_DIR" envDefault:"./data"`
	NATSListen  string `env:"RELAY_NATS_LISTEN"`
	// NATSListenToken is the token a TCP client of the embedded server
	// presents; relay's own in-process connection presents it too. It is
	// required when NATSListen is not a loopback address.
	NATSListenToken string   `env:"RELAY_NATS_LISTEN_TOKEN" secret:"true"`
	APIKeys         []APIKey `env:"RELAY_API_KEYS" secret:"true"`
	AdminToken      string   `env:"RELAY_ADMIN_TOKEN" secret:"true"`
	// MetricsAddr, when set, is a listener of its own for /metrics, so
	// that the scrape endpoint need not be reachable where ingest is.
	MetricsAddr string        `env:"RELAY_METRICS_ADDR"`
	DedupWindow time.Duration `env:"RELAY_DEDUP_WINDOW" envDefault:"2m"`
	// StreamMaxAge bounds how long messages stay in the RELAY stream. It must
	// exceed the longest outage relay is expected to ride out, since an
	// unprocessed registration older than this is discarded by JetStream.
	StreamMaxAge time.Duration `env:"RELAY_STREAM_MAX_AGE" envDefault:"168h"`
	// StreamReplicas is the replica count of every relay stream (1..5;
	// 3 on a 3-node NATS cluster).
	StreamReplicas int `env:"RELAY_STREAM_REPLICAS" envDefault:"1"`
	// EventsMaxAge is how long outcome, report, balance and alert events
	// stay on the bus for subscribers.
	EventsMaxAge time.Duration `env:"RELAY_EVENTS_MAX_AGE" envDefault:"72h"`
	// Retention is how long after its last update a final event (and its
	// attempts) is kept in PostgreSQL; 0 keeps everything.
	Retention time.Duration `env:"RELAY_RETENTION" envDefault:"720h"`

	// The vendor sections are parsed one by one (see sections), so that
	// a parse error names its variable; the library would only name the
	// Go field (LowBalance appears three times).
	// ConfirmVendors are the vendors this deployment accepts events for.
	ConfirmVendors []string `env:"RELAY_CONFIRM_VENDORS" envDefault:"liasmart"`
	Liasmart       Liasmart `env:"-"`
	Twilio         Twilio   `env:"-"`
	Vonage         Vonage   `env:"-"`
	AWS            AWS      `env:"-"`
	Telesign       Telesign `env:"-"`
	Plivo          Plivo    `env:"-"`
	Tencent        Tencent  `env:"-"`
	Alibaba        Alibaba  `env:"-"`
	// VendorTimeout bounds one vendor call, of every vendor.
	VendorTimeout time.Duration `env:"RELAY_VENDOR_TIMEOUT" envDefault:"10s"`

	// The monitored vendors; each is off while its credentials are empty.
	Laaffic   Laaffic   `env:"-"`
	Itniotech Itniotech `env:"-"`
	JPush     JPush     `env:"-"`
	// BalanceInterval is how often each configured vendor's balance is
	// read (one poll per vendor per interval across all replicas).
	BalanceInterval time.Duration `env:"RELAY_BALANCE_INTERVAL" envDefault:"5m"`
	// ReportInterval is the delivery-report poller's tick; ReportBatch the
	// most msgIds per getReport call; ReportTTL how long after it was
	// registered a message is polled before it is "expired".
	ReportInterval time.Duration `env:"RELAY_REPORT_INTERVAL" envDefault:"30s"`
	ReportBatch    int           `env:"RELAY_REPORT_BATCH" envDefault:"100"`
	ReportTTL      time.Duration `env:"RELAY_REPORT_TTL" envDefault:"24h"`

	MaxAttempts int           `env:"RELAY_MAX_ATTEMPTS" envDefault:"8"`
	RetryBase   time.Duration `env:"RELAY_RETRY_BASE" envDefault:"1s"`
	RetryMax    time.Duration `env:"RELAY_RETRY_MAX" envDefault:"10m"`
	// RetrySchedule, when not empty, gives the delay before each retry
	// explicitly (attempts past its end use its last entry) instead of
	// RetryBase and RetryMax. Each entry is positive; they never decrease.
	RetrySchedule []time.Duration `env:"RELAY_RETRY_SCHEDULE"`
	// PauseProbe is how often a paused vendor is tried again with one event,
	// so that fixed credentials resume traffic without an operator.
	PauseProbe time.Duration `env:"RELAY_PAUSE_PROBE" envDefault:"1m"`
	// BreakerThreshold is how many consecutive transient vendor failures
	// pause the vendor as unavailable; 0 turns the breaker off.
	BreakerThreshold int `env:"RELAY_BREAKER_THRESHOLD" envDefault:"20"`

	// WorkerConcurrency bounds concurrent vendor calls per process.
	WorkerConcurrency int `env:"RELAY_WORKER_CONCURRENCY" envDefault:"512"`
	// WorkerBatch is how many messages a worker writes to Postgres in one
	// transaction at most.
	WorkerBatch int `env:"RELAY_WORKER_BATCH" envDefault:"500"`
	// AckWait is how long JetStream waits for a worker's ack before it
	// redelivers; it must exceed the vendor timeout by a margin.
	AckWait time.Duration `env:"RELAY_ACK_WAIT" envDefault:"1m"`

	// RateLimit is the per-key ingest rate in events per second; 0 is off.
	RateLimit Rate `env:"RELAY_RATE_LIMIT" envDefault:"0"`
	// SignedKeys names RELAY_API_KEYS keys whose requests must carry a
	// valid Relay-Signature.
	SignedKeys []string `env:"RELAY_SIGNED_KEYS"`
	// TLSCert and TLSKey, when set, make the HTTP server speak TLS.
	TLSCert string `env:"RELAY_TLS_CERT"`
	TLSKey  string `env:"RELAY_TLS_KEY"`

	ShutdownTimeout time.Duration `env:"RELAY_SHUTDOWN_TIMEOUT" envDefault:"30s"`
	LogLevel        string        `env:"RELAY_LOG_LEVEL" envDefault:"info"`
	LogFormat       string        `env:"RELAY_LOG_FORMAT" envDefault:"json"`
}

// sections are the structs whose tagged fields are parsed, each on its
// own: a parse error names a Go field, which is unique within a section.
func (c *Config) sections() []any {
	return []any{c, &c.Liasmart, &c.Twilio, &c.Vonage, &c.AWS, &c.Telesign, &c.Plivo, &c.Tencent, &c.Alibaba,
		&c.Laaffic, &c.Itniotech, &c.JPush}
}

// Variable describes one environment variable of Config.
type Variable struct {
	Name string
	// Default is the value used when the variable is unset or blank; ""
	// when there is none.
	Default string
	// Secret variables are never echoed in errors.
	Secret bool
	// field is the Go field name within its section.
	field string
}

// Variables lists every variable relay reads, in the order of Config.
func Variables() []Variable {
	var c Config
	var out []Variable
	for _, s := range c.sections() {
		out = append(out, variablesOf(s)...)
	}
	return out
}

func variablesOf(section any) []Variable {
	t := reflect.TypeOf(section).Elem()
	var out []Variable
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, Variable{Name: name, Default: f.Tag.Get("envDefault"), Secret: f.Tag.Get("secret") == "true", field: f.Name})
	}
	return out
}

// parsers are relay's readers for the types whose text form is its own;
// Rate and Threshold read themselves (encoding.TextUnmarshaler).
var parsers = map[reflect.Type]envtags.ParserFunc{
	reflect.TypeFor[[]APIKey]():        func(s string) (any, error) { return ParseAPIKeys(s) },
	reflect.TypeFor[[]string]():        func(s string) (any, error) { return splitList(s), nil },
	reflect.TypeFor[[]time.Duration](): func(s string) (any, error) { return parseSchedule(s) },
}

// Defaults returns the configuration relay uses when no variable is set.
func Defaults() Config {
	// The defaults are tags, parsed like any value; TestDefaultsAreTheTags
	// proves they parse and validate.
	c, _ := parse(map[string]string{})
	return c
}

// Load reads the configuration from getenv (os.Getenv when nil) on top of
// Defaults and validates it. All problems are reported together, each
// naming its variable.
func Load(getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	// Only relay's own variables reach the parser, trimmed; a blank one
	// counts as unset and takes its default.
	environ := map[string]string{}
	for _, v := range Variables() {
		if s := strings.TrimSpace(getenv(v.Name)); s != "" {
			environ[v.Name] = s
		}
	}
	c, errs := parse(environ)
	if len(errs) > 0 {
		// A variable that did not parse keeps its default, so that
		// Validate reports the other problems and not this one twice.
		for _, err := range errs {
			var ve *VarError
			if errors.As(err, &ve) {
				delete(environ, ve.Var)
			}
		}
		c, _ = parse(environ)
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
	}
	return c, nil
}

// VarError is a variable whose value could not be read.
type VarError struct {
	Var string
	// Value is the value given, empty for a secret variable.
	Value string
	Err   error
}

func (e *VarError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %v", e.Var, e.Err)
	}
	return fmt.Sprintf("%s=%q: %v", e.Var, e.Value, e.Err)
}

func (e *VarError) Unwrap() error { return e.Err }

// parse fills a Config from environ and the defaults, translating the
// library's errors (which name Go fields) into VarErrors.
func parse(environ map[string]string) (Config, []error) {
	var c Config
	// Environment must not be nil: the library would read the process
	// environment instead.
	opts := envtags.Options{Environment: environ, FuncMap: parsers}
	var errs []error
	for _, s := range c.sections() {
		err := envtags.ParseWithOptions(s, opts)
		if err == nil {
			continue
		}
		vars := map[string]Variable{}
		for _, v := range variablesOf(s) {
			vars[v.field] = v
		}
		var agg envtags.AggregateError
		if !errors.As(err, &agg) {
			errs = append(errs, fmt.Errorf("config: %w", err))
			continue
		}
		for _, e := range agg.Errors {
			// Anything but a ParseError of a tagged field is a mistake
			// in the tags themselves, which TestDefaultsAreTheTags catches.
			var pe envtags.ParseError
			v, ok := Variable{}, false
			if errors.As(e, &pe) {
				v, ok = vars[pe.Name]
			}
			if !ok {
				errs = append(errs, fmt.Errorf("config: %w", e))
				continue
			}
			ve := &VarError{Var: v.Name, Err: explain(pe)}
			if !v.Secret {
				ve.Value = environ[v.Name]
			}
			errs = append(errs, ve)
		}
	}
	return c, errs
}

// explain words a parse failure for an operator.
func explain(pe envtags.ParseError) error {
	switch pe.Type {
	case reflect.TypeFor[time.Duration]():
		return errors.New("not a duration (use e.g. 500ms, 10s, 5m)")
	case reflect.TypeFor[int]():
		return errors.New("not an integer")
	}
	return pe.Err
}

// splitList reads a comma-separated list, ignoring blanks around and
// between items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// parseSchedule reads comma-separated durations such as "5s,1m,5m,30m,2h".
// Their ranges are Validate's concern.
func parseSchedule(s string) ([]time.Duration, error) {
	var out []time.Duration
	for i, item := range splitList(s) {
		d, err := time.ParseDuration(item)
		if err != nil {
			return nil, fmt.Errorf("entry %d (%q) is not a duration (use e.g. 5s,1m,5m,30m,2h)", i+1, item)
		}
		out = append(out, d)
	}
	return out, nil
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
	// strconv also reads "NaN" and "Inf", which no limit means.
	if err != nil || !(n >= 0) || math.IsInf(n, 0) {
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
	if u, err := url.Parse(c.Liasmart.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("RELAY_LIASMART_URL=%q: want http(s)://host", c.Liasmart.URL)
	}
	if !strings.HasPrefix(c.Liasmart.CTrackPath, "/") {
		bad("RELAY_LIASMART_CTRACK_PATH=%q: must start with /", c.Liasmart.CTrackPath)
	}
	if (c.Liasmart.APIID == "") != (c.Liasmart.APIPassword == "") {
		bad("RELAY_LIASMART_API_ID and RELAY_LIASMART_API_PASSWORD must be set together")
	}
	errs = append(errs, c.validateConfirmVendors()...)
	if c.VendorTimeout <= 0 {
		bad("RELAY_VENDOR_TIMEOUT must be positive")
	}
	if c.MaxAttempts < 1 {
		bad("RELAY_MAX_ATTEMPTS=%d: must be at least 1", c.MaxAttempts)
	}
	if c.RetryBase <= 0 || c.RetryMax < c.RetryBase {
		bad("RELAY_RETRY_BASE=%s, RELAY_RETRY_MAX=%s: want 0 < base <= max", c.RetryBase, c.RetryMax)
	}
	for i, d := range c.RetrySchedule {
		switch {
		case d <= 0:
			bad("RELAY_RETRY_SCHEDULE: entry %d (%s) must be positive", i+1, d)
		case i > 0 && d < c.RetrySchedule[i-1]:
			bad("RELAY_RETRY_SCHEDULE: entry %d (%s) is shorter than the one before (%s); delays must not decrease", i+1, d, c.RetrySchedule[i-1])
		}
	}
	if c.PauseProbe <= 0 {
		bad("RELAY_PAUSE_PROBE must be positive")
	}
	if c.BreakerThreshold < 0 {
		bad("RELAY_BREAKER_THRESHOLD=%d: want 0 (breaker off) or more", c.BreakerThreshold)
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		bad("RELAY_STREAM_REPLICAS=%d: want 1..5", c.StreamReplicas)
	}
	if c.EventsMaxAge <= 0 {
		bad("RELAY_EVENTS_MAX_AGE=%s: must be positive", c.EventsMaxAge)
	}
	if c.Retention < 0 {
		bad("RELAY_RETENTION=%s: want 0 (keep everything) or a positive duration", c.Retention)
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
		if len(k.Secret) < MinSecretLen {
			bad("RELAY_API_KEYS: the secret of key %q is shorter than %d bytes", k.Name, MinSecretLen)
		}
	}
	for _, s := range []struct{ name, value string }{
		{"RELAY_ADMIN_TOKEN", c.AdminToken},
		{"RELAY_NATS_LISTEN_TOKEN", c.NATSListenToken},
	} {
		if s.value != "" && len(s.value) < MinSecretLen {
			bad("%s is shorter than %d bytes", s.name, MinSecretLen)
		}
	}
	errs = append(errs, c.validateListeners()...)
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

// MinSecretLen is the fewest bytes relay takes for a credential it checks
// itself (an ingest key's secret, the admin token, the NATS listener's
// token): a shorter one is within reach of guessing over the network.
const MinSecretLen = 16

// DemoSecret is the ingest key secret of the Makefile's and the compose
// files' demo configuration: published, so a process using it takes
// ingest from anyone who read them.
const DemoSecret = "demo-key-change-me"

// DemoKeys names the RELAY_API_KEYS keys whose secret is DemoSecret.
func (c Config) DemoKeys() []string {
	var names []string
	for _, k := range c.APIKeys {
		if k.Secret == DemoSecret {
			names = append(names, k.Name)
		}
	}
	return names
}

// bcryptPrefix is what nats-server takes for a bcrypt hash of a token
// rather than the token itself.
var bcryptPrefix = regexp.MustCompile(`^\$2[abxy]\$\d{2}\$`)

// validateListeners checks the addresses relay listens on besides
// RELAY_HTTP_ADDR, and that the embedded NATS server is not open to the
// network without a token.
func (c Config) validateListeners() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("RELAY_METRICS_ADDR=%q: want host:port (e.g. 127.0.0.1:9464)", c.MetricsAddr)
		} else if c.MetricsAddr == c.HTTPAddr && port != "0" {
			// Port 0 is a free port each, two different ones.
			bad("RELAY_METRICS_ADDR=%q: must differ from RELAY_HTTP_ADDR", c.MetricsAddr)
		}
	}
	if bcryptPrefix.MatchString(c.NATSListenToken) {
		// nats-server would compare clients' tokens to it as a hash, and
		// relay's own connection, which presents it as given, would be
		// refused.
		bad("RELAY_NATS_LISTEN_TOKEN looks like a bcrypt hash: give the token itself")
	}
	if c.NATSListen == "" || c.NATSURL != "" {
		// No embedded server, or one that takes no TCP clients.
		return errs
	}
	host, _, err := net.SplitHostPort(c.NATSListen)
	if err != nil {
		bad("RELAY_NATS_LISTEN=%q: want host:port (e.g. 127.0.0.1:4223)", c.NATSListen)
		return errs
	}
	if c.NATSListenToken == "" && !loopback(host) {
		bad("RELAY_NATS_LISTEN=%q is not a loopback address: set RELAY_NATS_LISTEN_TOKEN, the token its clients must present (anyone who reaches the embedded NATS could otherwise publish registrations or purge the streams)", c.NATSListen)
	}
	return errs
}

// loopback reports whether host (from host:port) is reachable from this
// machine only. An empty host is every interface; a name other than
// localhost may resolve anywhere, so it counts as not loopback.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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
