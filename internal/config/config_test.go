package config

import (
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
	if c.HTTPAddr != "127.0.0.1:8080" || c.DedupWindow != 10*time.Minute || c.MaxAttempts != 8 ||
		c.RetryBase != time.Second || c.RetryMax != 10*time.Minute || c.Liasmart.URL != "https://api.liasmart.com" ||
		c.Liasmart.CTrackPath != "/api/CTrack" || c.DataDir != "./data" || c.Role != RoleAll {
		t.Fatalf("defaults differ from the spec: %+v", c)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{
		"RELAY_API_KEYS":     "app1:s3cret-one, app2:s3cret:two",
		"RELAY_MAX_ATTEMPTS": "3",
		"RELAY_RETRY_BASE":   "250ms",
		"RELAY_ROLE":         "worker",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.APIKeys) != 2 || c.APIKeys[1] != (APIKey{"app2", "s3cret:two"}) || c.MaxAttempts != 3 ||
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
