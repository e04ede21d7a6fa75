package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"relay/internal/config"
	"relay/internal/store"
	"relay/internal/testenv"
	"relay/internal/vendors/liasmart/liasmarttest"
)

// vendorSecrets are credentials `relay vendors` is given and must never
// print.
var vendorSecrets = map[string]string{
	"RELAY_LIASMART_API_ID":       "lia-id-7",
	"RELAY_LIASMART_API_PASSWORD": "LIA-PASSWORD-s3cr3t",
	"RELAY_TWILIO_ACCOUNT_SID":    "AC-SID-0042",
	"RELAY_TWILIO_AUTH_TOKEN":     "TWILIO-TOKEN-s3cr3t",
	// Tencent without RELAY_TENCENT_SMS_SDK_APP_ID: its secrets are set,
	// yet it is not configured.
	"RELAY_TENCENT_SECRET_ID":  "TENCENT-ID-s3cr3t",
	"RELAY_TENCENT_SECRET_KEY": "TENCENT-KEY-s3cr3t",
}

func vendorsEnv(dbURL string) map[string]string {
	env := map[string]string{
		"RELAY_DATABASE_URL":         dbURL,
		"RELAY_CONFIRM_VENDORS":      "liasmart,twilio,vonage,tencent",
		"RELAY_TWILIO_MAX_IN_FLIGHT": "7",
		"RELAY_TWILIO_RATE":          "1200/m",
		"RELAY_WORKER_CONCURRENCY":   "64",
	}
	for k, v := range vendorSecrets {
		env[k] = v
	}
	return env
}

func noSecretIn(t *testing.T, what string, out ...string) {
	t.Helper()
	all := strings.Join(out, "\n")
	for k, v := range vendorSecrets {
		if strings.Contains(all, v) {
			t.Errorf("%s prints %s's value:\n%s", what, k, all)
		}
	}
}

// TestVendorsCommand: `relay vendors` lists the enabled vendors in
// RELAY_CONFIRM_VENDORS order, whether their credentials are set, their
// limits and their pause state, as a table or as JSON, and prints no
// credential.
func TestVendorsCommand(t *testing.T) {
	t.Parallel()
	dbURL := testenv.DatabaseURL(t)
	env := vendorsEnv(dbURL)
	ctx := context.Background()
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"migrate"}, envOf(env), &out, &errOut); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, errOut.String())
	}
	st, err := store.Open(ctx, dbURL, store.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if _, err := st.PauseVendor(ctx, "twilio", store.PauseCredentials, "HTTP 401: authenticate"); err != nil {
		t.Fatal(err)
	}

	out.Reset()
	errOut.Reset()
	if code := run(ctx, []string{"vendors"}, envOf(env), &out, &errOut); code != 0 {
		t.Fatalf("vendors: exit %d: %s", code, errOut.String())
	}
	table := out.String()
	for _, row := range []string{
		`VENDOR +CREDENTIALS +MAX_IN_FLIGHT +RATE +PAUSED$`,
		`liasmart +yes +64 \(RELAY_WORKER_CONCURRENCY\) +off +no$`,
		`twilio +yes +7 +20/s +yes, credentials: HTTP 401: authenticate$`,
		`vonage +no +64 \(RELAY_WORKER_CONCURRENCY\) +off +no$`,
		`tencent +no +64 \(RELAY_WORKER_CONCURRENCY\) +off +no$`,
	} {
		if !regexp.MustCompile(`(?m)^` + row).MatchString(table) {
			t.Errorf("no row matching %q in\n%s", row, table)
		}
	}
	if n := strings.Count(table, "\n"); n != 5 {
		t.Errorf("%d lines, want a header and 4 vendors:\n%s", n, table)
	}
	noSecretIn(t, "relay vendors", table, errOut.String())

	out.Reset()
	errOut.Reset()
	if code := run(ctx, []string{"vendors", "--json"}, envOf(env), &out, &errOut); code != 0 {
		t.Fatalf("vendors --json: exit %d: %s", code, errOut.String())
	}
	noSecretIn(t, "relay vendors --json", out.String(), errOut.String())
	var lines []map[string]any
	if err := json.Unmarshal(out.Bytes(), &lines); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if len(lines) != 4 {
		t.Fatalf("%d vendors: %s", len(lines), out.String())
	}
	tw := lines[1]
	delete(tw, "paused_at")
	if want := map[string]any{"vendor": "twilio", "credentials_set": true, "max_in_flight": 7.0, "max_in_flight_default": false,
		"rate_per_second": 20.0, "paused": true, "pause_kind": "credentials", "reason": "HTTP 401: authenticate"}; !reflect.DeepEqual(tw, want) {
		t.Errorf("twilio: %v\nwant %v", tw, want)
	}
	if want := map[string]any{"vendor": "tencent", "credentials_set": false, "max_in_flight": 64.0, "max_in_flight_default": true,
		"rate_per_second": 0.0, "paused": false}; !reflect.DeepEqual(lines[3], want) {
		t.Errorf("tencent: %v\nwant %v", lines[3], want)
	}
}

// TestVendorsCommandWithoutPostgres: with PostgreSQL out of reach the
// listing still comes from the configuration, pause state unknown (null
// in JSON), and the database password is not printed either.
func TestVendorsCommandWithoutPostgres(t *testing.T) {
	t.Parallel()
	const password = "PG-PASSWORD-s3cr3t"
	// Port 1 on loopback: refused at once.
	env := vendorsEnv("postgres://relay:" + password + "@127.0.0.1:1/relay?sslmode=disable")
	for _, args := range [][]string{{"vendors"}, {"vendors", "--json"}} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, envOf(env), &out, &errOut); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut.String())
		}
		noSecretIn(t, strings.Join(args, " "), out.String(), errOut.String())
		if strings.Contains(out.String()+errOut.String(), password) {
			t.Errorf("%v prints the database password:\n%s\n%s", args, out.String(), errOut.String())
		}
		if !strings.Contains(errOut.String(), "pause states unknown") {
			t.Errorf("%v: stderr %q says nothing of PostgreSQL", args, errOut.String())
		}
		if args[len(args)-1] == "--json" {
			var lines []map[string]any
			if err := json.Unmarshal(out.Bytes(), &lines); err != nil || len(lines) != 4 {
				t.Fatalf("%v %s", err, out.String())
			}
			if p, ok := lines[0]["paused"]; !ok || p != nil {
				t.Errorf("paused %v, want null", p)
			}
		} else if !regexp.MustCompile(`(?m)^twilio +yes +7 +20/s +unknown$`).MatchString(out.String()) {
			t.Errorf("table:\n%s", out.String())
		}
	}
}

// TestStatusWithoutAnEventSummarisesTheVendors: `relay status` without
// an argument prints each enabled vendor's state, calls per minute and
// latency, what GET /admin/v1/stats answers in enabled_vendors; a vendor
// without credentials is not_configured.
func TestStatusWithoutAnEventSummarisesTheVendors(t *testing.T) {
	t.Parallel()
	r := startRelay(t, liasmarttest.Options{}, func(c *config.Config) {
		c.AdminToken = opsAdminToken
		c.ConfirmVendors = []string{"liasmart", "twilio"}
	})
	for _, m := range []string{"sum-1", "sum-2", "sum-3"} {
		if code, _, body := r.do(t, "POST", "/v1/registrations", `{"vendor":"liasmart","message_id":"`+m+`","status":true}`); code != 202 {
			t.Fatalf("POST: %d %v", code, body)
		}
	}
	r.waitStates(t, 20*time.Second, map[string]int64{"confirmed": 3})

	var api struct {
		EnabledVendors []any `json:"enabled_vendors"`
	}
	if code := r.admin(t, http.MethodGet, "/admin/v1/stats", "", &api); code != 200 {
		t.Fatalf("stats: %d", code)
	}
	cfg := r.main.Config
	env := map[string]string{
		"RELAY_DATABASE_URL":          cfg.DatabaseURL,
		"RELAY_CONFIRM_VENDORS":       "liasmart,twilio",
		"RELAY_LIASMART_API_ID":       cfg.Liasmart.APIID,
		"RELAY_LIASMART_API_PASSWORD": cfg.Liasmart.APIPassword,
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"status", "--json"}, envOf(env), &out, &errOut); code != 0 {
		t.Fatalf("status --json: exit %d: %s", code, errOut.String())
	}
	var cli struct {
		WindowSeconds int   `json:"window_seconds"`
		Vendors       []any `json:"vendors"`
	}
	if err := json.Unmarshal(out.Bytes(), &cli); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if cli.WindowSeconds != 300 || !reflect.DeepEqual(cli.Vendors, api.EnabledVendors) {
		t.Errorf("relay status differs from /admin/v1/stats:\ncli %v\napi %v", cli.Vendors, api.EnabledVendors)
	}
	if len(cli.Vendors) != 2 {
		t.Fatalf("vendors %v", cli.Vendors)
	}
	lia := cli.Vendors[0].(map[string]any)
	if lia["vendor"] != "liasmart" || lia["state"] != "active" || lia["calls"] != 3.0 || lia["calls_per_minute"] != 0.6 || lia["latency_ms_p95"] == nil {
		t.Errorf("liasmart: %v", lia)
	}
	if tw := cli.Vendors[1].(map[string]any); tw["vendor"] != "twilio" || tw["state"] != "not_configured" || tw["calls"] != 0.0 {
		t.Errorf("twilio: %v", tw)
	}

	out.Reset()
	if code := run(context.Background(), []string{"status"}, envOf(env), &out, &errOut); code != 0 {
		t.Fatalf("status: exit %d: %s", code, errOut.String())
	}
	for _, row := range []string{`VENDOR +STATE +CALLS/MIN +P50_MS +P95_MS +NOTE`, `liasmart +active +0\.6 +[0-9.]+ +[0-9.]+ *$`,
		`twilio +not_configured +0 +- +- *$`, `calls of the last 5 minutes, every replica, at 20`} {
		if !regexp.MustCompile(`(?m)^` + row).MatchString(out.String()) {
			t.Errorf("no line matching %q in\n%s", row, out.String())
		}
	}
	if strings.Contains(out.String(), cfg.Liasmart.APIPassword) {
		t.Errorf("status prints the Liasmart password:\n%s", out.String())
	}
	if code := run(context.Background(), []string{"status", "a", "b"}, envOf(env), &out, &errOut); code != 2 {
		t.Errorf("status a b: exit %d, want 2 (usage)", code)
	}
}
