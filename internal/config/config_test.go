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
