package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:8080" || c.DedupWindow != 2*time.Minute || c.MaxAttempts != 8 ||
		c.RetryBase != time.Second || c.RetryMax != 10*time.Minute || c.Liasmart.URL != "https://api.liasmart.com" ||
		c.Liasmart.CTrackPath != "/api/CTrack" || c.DataDir != "./data" || c.Role != RoleAll {
		t.Fatalf("defaults differ from the spec: %+v", c)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{
		"RELAY_API_KEYS":     "app1:s3cret-one-0123456789, app2:s3cret:two-0123456789",
		"RELAY_MAX_ATTEMPTS": "3",
		"RELAY_RETRY_BASE":   "250ms",
		"RELAY_ROLE":         "worker",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.APIKeys) != 2 || c.APIKeys[1] != (APIKey{"app2", "s3cret:two-0123456789"}) || c.MaxAttempts != 3 ||
		c.RetryBase != 250*time.Millisecond || c.Role != RoleWorker {
		t.Fatalf("got %+v", c)
	}
}

func TestLoadReportsEveryProblemByName(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{
		"RELAY_API_KEYS":              "nocolon",
		"RELAY_MAX_ATTEMPTS":          "many",
		"RELAY_RETRY_BASE":            "1h",
		"RELAY_DEDUP_WINDOW":          "1m",
		"RELAY_ROLE":                  "boss",
		"RELAY_LIASMART_URL":          "ftp://x",
		"RELAY_LIASMART_API_PASSWORD": "only-half",
		"RELAY_DATABASE_URL":          "mysql://x",
	}))
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range []string{"RELAY_API_KEYS", "RELAY_MAX_ATTEMPTS", "RELAY_RETRY_BASE", "RELAY_DEDUP_WINDOW",
		"RELAY_ROLE", "RELAY_LIASMART_URL", "RELAY_LIASMART_API_ID", "RELAY_DATABASE_URL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestAPIKeyErrorsDoNotEchoSecrets(t *testing.T) {
	t.Parallel()
	_, err := ParseAPIKeys("app1:topsecretvalue,app1:othersecret")
	if err == nil || strings.Contains(err.Error(), "topsecretvalue") || strings.Contains(err.Error(), "othersecret") {
		t.Fatalf("got %v", err)
	}
}

func TestLoadMonitorSettings(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Laaffic.URL != "https://api.laaffic.com" || c.Itniotech.URL != "https://api.itniotech.com" ||
		c.JPush.URL != "https://api.sms.jpush.cn" || c.BalanceInterval != 5*time.Minute ||
		c.ReportBatch != 100 || c.ReportTTL != 24*time.Hour || c.ReportInterval != 30*time.Second ||
		c.Laaffic.Configured() || c.Itniotech.Configured() || c.JPush.Configured() || c.Laaffic.LowBalance != nil {
		t.Fatalf("monitor defaults differ from the spec: %+v", c)
	}
	c, err = Load(env(map[string]string{
		"RELAY_LAAFFIC_URL":           "http://127.0.0.1:9000",
		"RELAY_LAAFFIC_API_KEY":       "k",
		"RELAY_LAAFFIC_API_SECRET":    "s",
		"RELAY_LAAFFIC_APP_ID":        "4luaKsL2",
		"RELAY_LAAFFIC_LOW_BALANCE":   "12.50",
		"RELAY_JPUSH_APP_KEY":         "a",
		"RELAY_JPUSH_MASTER_SECRET":   "m",
		"RELAY_JPUSH_LOW_BALANCE":     "100",
		"RELAY_ITNIOTECH_LOW_BALANCE": "-5",
		"RELAY_BALANCE_INTERVAL":      "1m",
		"RELAY_REPORT_BATCH":          "50",
		"RELAY_REPORT_TTL":            "2h",
		"RELAY_REPORT_INTERVAL":       "5s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Laaffic.Configured() || c.Laaffic.AppID != "4luaKsL2" || c.Laaffic.LowBalance.String() != "12.5" ||
		!c.JPush.Configured() || c.JPush.LowBalance.String() != "100" || c.Itniotech.LowBalance.String() != "-5" ||
		c.Itniotech.Configured() || c.BalanceInterval != time.Minute || c.ReportBatch != 50 ||
		c.ReportTTL != 2*time.Hour || c.ReportInterval != 5*time.Second {
		t.Fatalf("got %+v", c)
	}
}

func TestLoadMonitorProblemsByName(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{
		"RELAY_LAAFFIC_URL":           "https://api.laaffic.com/v3",
		"RELAY_ITNIOTECH_URL":         "ftp://x",
		"RELAY_JPUSH_URL":             "https://user:pw@api.sms.jpush.cn",
		"RELAY_LAAFFIC_API_KEY":       "only-half",
		"RELAY_JPUSH_DEV_SECRET":      "only-half",
		"RELAY_LAAFFIC_LOW_BALANCE":   "1e3",
		"RELAY_ITNIOTECH_LOW_BALANCE": "ten",
		"RELAY_BALANCE_INTERVAL":      "5s",
		"RELAY_REPORT_BATCH":          "1001",
		"RELAY_REPORT_TTL":            "10s",
		"RELAY_REPORT_INTERVAL":       "soon",
		"RELAY_LAAFFIC_APP_ID":        "has space",
	}))
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range []string{"RELAY_LAAFFIC_URL", "RELAY_ITNIOTECH_URL", "RELAY_JPUSH_URL", "RELAY_LAAFFIC_API_SECRET",
		"RELAY_JPUSH_DEV_KEY", "RELAY_LAAFFIC_LOW_BALANCE", "RELAY_ITNIOTECH_LOW_BALANCE", "RELAY_BALANCE_INTERVAL",
		"RELAY_REPORT_BATCH", "RELAY_REPORT_TTL", "RELAY_REPORT_INTERVAL", "RELAY_LAAFFIC_APP_ID"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	if strings.Contains(err.Error(), "pw@") {
		t.Errorf("error echoes a URL password: %v", err)
	}
}

func TestDefaultsAreTheTags(t *testing.T) {
	t.Parallel()
	d := Defaults()
	if err := d.Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, d) {
		t.Fatalf("Load of an empty environment differs from Defaults:\n%+v\n%+v", c, d)
	}
	if d.RetrySchedule != nil || d.BreakerThreshold != 20 || d.StreamReplicas != 1 || d.EventsMaxAge != 72*time.Hour ||
		d.Retention != 720*time.Hour || d.StreamMaxAge != 168*time.Hour || d.RateLimit != 0 || d.WorkerConcurrency != 512 {
		t.Fatalf("defaults differ from the spec: %+v", d)
	}
}

func TestLoadIgnoresTheProcessEnvironment(t *testing.T) {
	// Not parallel: it sets a process variable. A fake environment is the
	// whole environment, even when it sets nothing.
	t.Setenv("RELAY_MAX_ATTEMPTS", "3")
	c, err := Load(env(nil))
	if err != nil || c.MaxAttempts != 8 {
		t.Fatalf("MaxAttempts %d (err %v): the process environment leaked into Load(getenv)", c.MaxAttempts, err)
	}
	if c, err := Load(nil); err != nil || c.MaxAttempts != 3 {
		t.Fatalf("Load(nil): MaxAttempts %d (err %v), want 3 from the process environment", c.MaxAttempts, err)
	}
}

func TestLoadNewVariables(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{
		"RELAY_RETRY_SCHEDULE":    " 5s, 1m,5m ,30m,2h,2h ",
		"RELAY_BREAKER_THRESHOLD": "0",
		"RELAY_STREAM_REPLICAS":   "3",
		"RELAY_EVENTS_MAX_AGE":    "1h",
		"RELAY_RETENTION":         "0",
		"RELAY_SIGNED_KEYS":       " app1 ,, ",
		"RELAY_API_KEYS":          "app1:s3cret-0123456789ab",
		"RELAY_RATE_LIMIT":        "30000/m",
		"RELAY_MAX_ATTEMPTS":      "   ", // blank: the default
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{5 * time.Second, time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 2 * time.Hour}
	if !reflect.DeepEqual(c.RetrySchedule, want) || c.BreakerThreshold != 0 || c.StreamReplicas != 3 ||
		c.EventsMaxAge != time.Hour || c.Retention != 0 || !reflect.DeepEqual(c.SignedKeys, []string{"app1"}) ||
		c.RateLimit != 500 || c.MaxAttempts != 8 {
		t.Fatalf("got %+v", c)
	}
}

// TestLoadReportsParseAndRangeErrorsTogether: the library's parse errors
// and relay's own checks come back in one error, one line per problem,
// each naming its variable; a secret is never echoed.
func TestLoadReportsParseAndRangeErrorsTogether(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{
		"RELAY_RETRY_SCHEDULE":      "5s,soon",
		"RELAY_BREAKER_THRESHOLD":   "-1",
		"RELAY_STREAM_REPLICAS":     "6",
		"RELAY_EVENTS_MAX_AGE":      "0s",
		"RELAY_RETENTION":           "-1h",
		"RELAY_WORKER_BATCH":        "lots",
		"RELAY_ACK_WAIT":            "1 minute",
		"RELAY_RATE_LIMIT":          "5/day",
		"RELAY_JPUSH_LOW_BALANCE":   "1e3",
		"RELAY_LAAFFIC_LOW_BALANCE": "ten",
		"RELAY_API_KEYS":            "app1:topsecretvalue,app1:othersecret",
	}))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, name := range []string{"RELAY_RETRY_SCHEDULE", "RELAY_BREAKER_THRESHOLD", "RELAY_STREAM_REPLICAS", "RELAY_EVENTS_MAX_AGE",
		"RELAY_RETENTION", "RELAY_WORKER_BATCH", "RELAY_ACK_WAIT", "RELAY_RATE_LIMIT", "RELAY_JPUSH_LOW_BALANCE",
		"RELAY_LAAFFIC_LOW_BALANCE", "RELAY_API_KEYS"} {
		if n := strings.Count(msg, name); n != 1 {
			t.Errorf("error names %s %d times, want once: %v", name, n, msg)
		}
	}
	if lines := strings.Count(msg, "\n") + 1; lines != 11 {
		t.Errorf("%d lines, want one per problem (11):\n%v", lines, msg)
	}
	if strings.Contains(msg, "topsecretvalue") || strings.Contains(msg, "othersecret") {
		t.Errorf("error echoes a secret: %v", msg)
	}
	if strings.Contains(msg, "Env") || strings.Contains(msg, "field") {
		t.Errorf("error speaks of Go fields rather than variables: %v", msg)
	}
	var ve *VarError
	if !errors.As(err, &ve) {
		t.Errorf("no VarError in %v", err)
	}
}

func TestRetrySchedule(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value string
		want  string // part of the error; "" for none
	}{
		{"", ""},
		{"1s", ""},
		{"5s,1m,5m,30m,2h", ""},
		{"1m,1m", ""},
		{"1m,30s", "entry 2 (30s) is shorter than the one before (1m0s)"},
		{"0s,1m", "entry 1 (0s) must be positive"},
		{"-5s", "entry 1 (-5s) must be positive"},
		{"5s;1m", `entry 1 ("5s;1m") is not a duration`},
		{"5", `entry 1 ("5") is not a duration`},
	} {
		_, err := Load(env(map[string]string{"RELAY_RETRY_SCHEDULE": tc.value}))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.value, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), "RELAY_RETRY_SCHEDULE") || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: got %v, want %q", tc.value, err, tc.want)
		}
	}
}

func TestRanges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, value string
		ok          bool
	}{
		{"RELAY_BREAKER_THRESHOLD", "0", true},
		{"RELAY_BREAKER_THRESHOLD", "1", true},
		{"RELAY_BREAKER_THRESHOLD", "-1", false},
		{"RELAY_STREAM_REPLICAS", "1", true},
		{"RELAY_STREAM_REPLICAS", "5", true},
		{"RELAY_STREAM_REPLICAS", "0", false},
		{"RELAY_STREAM_REPLICAS", "6", false},
		{"RELAY_EVENTS_MAX_AGE", "1s", true},
		{"RELAY_EVENTS_MAX_AGE", "0", false},
		{"RELAY_EVENTS_MAX_AGE", "-1h", false},
		{"RELAY_RETENTION", "0", true},
		{"RELAY_RETENTION", "24h", true},
		{"RELAY_RETENTION", "-1s", false},
	} {
		_, err := Load(env(map[string]string{tc.name: tc.value}))
		if tc.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.name)) {
			t.Errorf("%s=%s: %v", tc.name, tc.value, err)
		}
	}
}

func TestVariables(t *testing.T) {
	t.Parallel()
	secret := map[string]bool{}
	for _, v := range Variables() {
		if !strings.HasPrefix(v.Name, "RELAY_") {
			t.Errorf("%s does not start with RELAY_", v.Name)
		}
		secret[v.Name] = v.Secret
	}
	for _, name := range []string{"RELAY_API_KEYS", "RELAY_ADMIN_TOKEN", "RELAY_NATS_LISTEN_TOKEN", "RELAY_LIASMART_API_PASSWORD", "RELAY_LAAFFIC_API_SECRET",
		"RELAY_ITNIOTECH_API_SECRET", "RELAY_JPUSH_DEV_SECRET", "RELAY_JPUSH_MASTER_SECRET"} {
		if !secret[name] {
			t.Errorf("%s is not marked secret", name)
		}
	}
}

// TestShortSecretsRefused: a credential relay checks itself is at least
// MinSecretLen bytes; the error names the variable and the key, never
// the secret.
func TestShortSecretsRefused(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{
		"RELAY_API_KEYS":          "app1:short-one,app2:long-enough-0123456789",
		"RELAY_ADMIN_TOKEN":       "adm-tiny",
		"RELAY_NATS_LISTEN":       "127.0.0.1:4223",
		"RELAY_NATS_LISTEN_TOKEN": "tok-tiny",
	}))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{`RELAY_API_KEYS: the secret of key "app1" is shorter than 16 bytes`,
		"RELAY_ADMIN_TOKEN is shorter than 16 bytes", "RELAY_NATS_LISTEN_TOKEN is shorter than 16 bytes"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %v", want, msg)
		}
	}
	for _, secret := range []string{"short-one", "adm-tiny", "tok-tiny"} {
		if strings.Contains(msg, secret) {
			t.Errorf("error echoes the secret %q: %v", secret, msg)
		}
	}
	if strings.Contains(msg, "app2") {
		t.Errorf("a long enough key is reported: %v", msg)
	}
	// Exactly MinSecretLen bytes is enough.
	c, err := Load(env(map[string]string{
		"RELAY_API_KEYS":    "app1:" + strings.Repeat("k", MinSecretLen),
		"RELAY_ADMIN_TOKEN": strings.Repeat("a", MinSecretLen),
	}))
	if err != nil || len(c.APIKeys) != 1 {
		t.Fatalf("%d-byte secrets: %v", MinSecretLen, err)
	}
}

// TestNATSListenNeedsTokenOffLoopback: the embedded server open beyond
// this machine without a token would take anyone's publishes and purges.
func TestNATSListenNeedsTokenOffLoopback(t *testing.T) {
	t.Parallel()
	const token = "nats-token-0123456789"
	for _, tc := range []struct {
		listen, token, url string
		want               string // part of the error; "" for none
	}{
		{"127.0.0.1:4223", "", "", ""},
		{"127.0.0.2:4223", "", "", ""},
		{"[::1]:4223", "", "", ""},
		{"localhost:4223", "", "", ""},
		{"LOCALHOST:4223", "", "", ""},
		{"127.0.0.1:4223", token, "", ""},
		{"0.0.0.0:4223", token, "", ""},
		{"0.0.0.0:4223", "", "", "RELAY_NATS_LISTEN_TOKEN"},
		{"[::]:4223", "", "", "RELAY_NATS_LISTEN_TOKEN"},
		{":4223", "", "", "RELAY_NATS_LISTEN_TOKEN"},
		{"192.168.1.5:4223", "", "", "RELAY_NATS_LISTEN_TOKEN"},
		{"nats.internal:4223", "", "", "RELAY_NATS_LISTEN_TOKEN"},
		{"localhost.evil.example:4223", "", "", "RELAY_NATS_LISTEN_TOKEN"},
		// With an external server there is no embedded one to expose.
		{"0.0.0.0:4223", "", "nats://n1:4222", ""},
		{"4223", "", "", "want host:port"},
		{"127.0.0.1:4223", "$2a$11$abcdefghijklmnopqrstuv", "", "bcrypt"},
	} {
		_, err := Load(env(map[string]string{"RELAY_NATS_LISTEN": tc.listen, "RELAY_NATS_LISTEN_TOKEN": tc.token, "RELAY_NATS_URL": tc.url}))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q (token %t, url %q): %v", tc.listen, tc.token != "", tc.url, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q (token %t, url %q): got %v, want %q", tc.listen, tc.token != "", tc.url, err, tc.want)
		case tc.want == "RELAY_NATS_LISTEN_TOKEN" && !strings.Contains(err.Error(), "RELAY_NATS_LISTEN="):
			t.Errorf("%q: the error does not name RELAY_NATS_LISTEN: %v", tc.listen, err)
		}
	}
}

func TestMetricsAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"", true},
		{"127.0.0.1:9464", true},
		{":9464", true},
		{"9464", false},
		{"127.0.0.1:8080", false}, // RELAY_HTTP_ADDR's default
		{"127.0.0.1:0", true},
	} {
		c, err := Load(env(map[string]string{"RELAY_METRICS_ADDR": tc.addr}))
		switch {
		case tc.ok && (err != nil || c.MetricsAddr != tc.addr):
			t.Errorf("%q: %q, %v", tc.addr, c.MetricsAddr, err)
		case !tc.ok && (err == nil || !strings.Contains(err.Error(), "RELAY_METRICS_ADDR")):
			t.Errorf("%q: got %v, want an error naming RELAY_METRICS_ADDR", tc.addr, err)
		}
	}
	// Port 0 twice is two free ports, not one address given twice.
	if _, err := Load(env(map[string]string{"RELAY_METRICS_ADDR": "127.0.0.1:0", "RELAY_HTTP_ADDR": "127.0.0.1:0"})); err != nil {
		t.Errorf("both on port 0: %v", err)
	}
}

func TestDemoKeys(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{"RELAY_API_KEYS": "demo:" + DemoSecret + ",app1:app1-secret-0123456789,again:" + DemoSecret}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.DemoKeys(); !reflect.DeepEqual(got, []string{"demo", "again"}) {
		t.Fatalf("DemoKeys() = %q, want demo and again", got)
	}
	if got := Defaults().DemoKeys(); got != nil {
		t.Fatalf("DemoKeys() of the defaults = %q", got)
	}
}
