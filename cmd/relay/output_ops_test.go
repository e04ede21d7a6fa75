package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"relay/internal/vendors/liasmart/liasmarttest"
)

// keysOf lists a JSON object's field names, sorted.
func keysOf(t *testing.T, v any) []string {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%v is not a JSON object", v)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestStatusPrintsTheAdminAPIForm: `relay status` prints what GET
// /admin/v1/attempts/{id} answers, field for field: snake_case names,
// duration_ms in milliseconds, no Go field names.
func TestStatusPrintsTheAdminAPIForm(t *testing.T) {
	t.Parallel()
	r := opsRelay(t, 5, func(_ string, n int) *liasmarttest.Reply {
		if n == 1 {
			return &liasmarttest.Reply{Status: http.StatusServiceUnavailable}
		}
		return nil
	})
	if code, _, body := r.do(t, "POST", "/v1/registrations", `{"vendor":"liasmart","message_id":"st-1","status":true}`); code != 202 {
		t.Fatalf("POST: %d %v", code, body)
	}
	r.waitStates(t, 20*time.Second, map[string]int64{"confirmed": 1})

	env := func(k string) string {
		if k == "RELAY_DATABASE_URL" {
			return r.main.Config.DatabaseURL
		}
		return ""
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"status", "liasmart:st-1"}, env, &out, &errOut); code != 0 {
		t.Fatalf("status: exit %d: %s", code, errOut.String())
	}
	var cli any
	if err := json.Unmarshal(out.Bytes(), &cli); err != nil {
		t.Fatalf("status printed no JSON: %v\n%s", err, out.String())
	}

	req, _ := http.NewRequest("GET", r.url+"/admin/v1/attempts/liasmart:st-1", nil)
	req.Header.Set("Authorization", "Bearer "+opsAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var api any
	if err := json.Unmarshal(raw, &api); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET attempts: %d %v %s", resp.StatusCode, err, raw)
	}
	if !reflect.DeepEqual(cli, api) {
		t.Errorf("relay status differs from the admin API:\ncli %s\napi %s", out.String(), raw)
	}

	doc := cli.(map[string]any)
	if got, want := keysOf(t, doc), []string{"attempts", "event"}; !reflect.DeepEqual(got, want) {
		t.Errorf("top-level fields %v, want %v", got, want)
	}
	if got, want := keysOf(t, doc["event"]), []string{"attempts", "confirmed_at", "created_at", "id", "last_error",
		"message_id", "state", "updated_at", "vendor", "vendor_code", "vendor_status"}; !reflect.DeepEqual(got, want) {
		t.Errorf("event fields %v, want %v", got, want)
	}
	attempts, _ := doc["attempts"].([]any)
	if len(attempts) != 2 {
		t.Fatalf("%d attempts, want 2 (a 503, then 1000)", len(attempts))
	}
	first := attempts[0].(map[string]any)
	for _, k := range keysOf(t, first) {
		if !regexp.MustCompile(`^[a-z_]+$`).MatchString(k) {
			t.Errorf("attempt field %q is not snake_case", k)
		}
	}
	for _, k := range []string{"attempt", "time", "duration_ms", "http_status", "vendor_code", "vendor_status", "outcome"} {
		if _, ok := first[k]; !ok {
			t.Errorf("attempt lacks %s: %v", k, first)
		}
	}
	if first["vendor_status"] != "HTTP 503" || first["vendor_code"] != nil {
		t.Errorf("the 503's vendor_status %v, vendor_code %v; want \"HTTP 503\", null", first["vendor_status"], first["vendor_code"])
	}
	// A vendor call on this machine takes well under a minute: a value
	// this large would be nanoseconds.
	if ms, ok := first["duration_ms"].(float64); !ok || ms < 0 || ms > 60000 {
		t.Errorf("duration_ms %v is not milliseconds", first["duration_ms"])
	}
	if strings.Contains(out.String(), "CallID") || strings.Contains(out.String(), "Duration") {
		t.Errorf("status prints Go field names:\n%s", out.String())
	}
}

// TestKeysListForms: the table heads its columns with the JSON names, and
// --json lists {name, source, created_at, revoked_at}.
func TestKeysListForms(t *testing.T) {
	t.Parallel()
	r := startRelay(t, liasmarttest.Options{}, nil)
	env := func(k string) string {
		switch k {
		case "RELAY_DATABASE_URL":
			return r.main.Config.DatabaseURL
		case "RELAY_API_KEYS":
			return "boot:boot-secret-0123456789"
		}
		return ""
	}
	ctx := context.Background()
	var out, errOut bytes.Buffer
	for _, name := range []string{"app2", "app3"} {
		if code := run(ctx, []string{"keys", "create", "--name", name}, env, &out, &errOut); code != 0 {
			t.Fatalf("keys create: exit %d: %s", code, errOut.String())
		}
	}
	if code := run(ctx, []string{"keys", "revoke", "app3"}, env, &out, &errOut); code != 0 {
		t.Fatalf("keys revoke: exit %d: %s", code, errOut.String())
	}

	out.Reset()
	if code := run(ctx, []string{"keys", "list", "--all"}, env, &out, &errOut); code != 0 {
		t.Fatalf("keys list: exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || strings.Join(strings.Fields(lines[0]), " ") != "NAME SOURCE CREATED_AT REVOKED_AT" ||
		!regexp.MustCompile(`^app2\s+stored\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+-$`).MatchString(lines[1]) ||
		!regexp.MustCompile(`^app3\s+stored\s+\S+Z\s+\S+Z$`).MatchString(lines[2]) ||
		!regexp.MustCompile(`^boot\s+RELAY_API_KEYS\s+-\s+-$`).MatchString(lines[3]) {
		t.Errorf("keys list table:\n%s", out.String())
	}

	out.Reset()
	if code := run(ctx, []string{"keys", "list", "--json"}, env, &out, &errOut); code != 0 {
		t.Fatalf("keys list --json: exit %d: %s", code, errOut.String())
	}
	var items []map[string]any
	if err := json.Unmarshal(out.Bytes(), &items); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, out.String())
	}
	if len(items) != 2 {
		t.Fatalf("%d keys without --all, want app2 and boot: %s", len(items), out.String())
	}
	for _, it := range items {
		if got := keysOf(t, it); !reflect.DeepEqual(got, []string{"created_at", "name", "revoked_at", "source"}) {
			t.Errorf("key fields %v", got)
		}
	}
	if items[0]["name"] != "app2" || items[0]["source"] != "stored" || items[0]["revoked_at"] != nil {
		t.Errorf("stored key %v", items[0])
	}
	if at, err := time.Parse(time.RFC3339Nano, items[0]["created_at"].(string)); err != nil || at.Location() != time.UTC {
		t.Errorf("created_at %v is not an RFC 3339 UTC time", items[0]["created_at"])
	}
	if items[1]["name"] != "boot" || items[1]["source"] != "RELAY_API_KEYS" || items[1]["created_at"] != nil {
		t.Errorf("bootstrap key %v", items[1])
	}
	if strings.Contains(out.String(), "secret") {
		t.Errorf("keys list --json shows a secret:\n%s", out.String())
	}
}
