package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shopspring/decimal"

	"relay/internal/bus"
	"relay/internal/bus/asyncapitest"
	"relay/internal/config"
	"relay/internal/inbound"
	"relay/internal/testenv"
	"relay/internal/vendors/jpush/jpushtest"
	"relay/internal/vendors/liasmart/liasmarttest"
	"relay/internal/vendors/signedapi/signedapitest"
)

// vendorFakes are the three monitored vendors, faked, with the variables
// that point relay at them.
type vendorFakes struct {
	laaffic, itniotech *signedapitest.Server
	jpush              *jpushtest.Server
	env                map[string]string
}

func startVendorFakes(t *testing.T) *vendorFakes {
	t.Helper()
	f := &vendorFakes{
		laaffic:   signedapitest.NewServer(t, signedapitest.Options{APIKey: "lk", APISecret: "laaffic-secret", AppID: "app1"}),
		itniotech: signedapitest.NewServer(t, signedapitest.Options{APIKey: "ik", APISecret: "itniotech-secret", Vendor: signedapitest.Itniotech}),
		jpush: jpushtest.NewServer(t, jpushtest.Options{
			App: jpushtest.Response{Quotas: &jpushtest.Quotas{Balance: jpushtest.Int(1), Industry: jpushtest.Int(44), Market: jpushtest.Int(14)}},
		}),
	}
	f.itniotech.SetBalance("12.500", "0", "100")
	f.env = map[string]string{
		"RELAY_LAAFFIC_URL": f.laaffic.URL, "RELAY_LAAFFIC_API_KEY": "lk", "RELAY_LAAFFIC_API_SECRET": "laaffic-secret",
		"RELAY_ITNIOTECH_URL": f.itniotech.URL, "RELAY_ITNIOTECH_API_KEY": "ik", "RELAY_ITNIOTECH_API_SECRET": "itniotech-secret",
		"RELAY_JPUSH_URL": f.jpush.URL, "RELAY_JPUSH_DEV_KEY": jpushtest.DevKey, "RELAY_JPUSH_DEV_SECRET": jpushtest.DevSecret,
		"RELAY_JPUSH_APP_KEY": jpushtest.AppKey, "RELAY_JPUSH_MASTER_SECRET": jpushtest.MasterSecret,
	}
	return f
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestBalanceCommandTable(t *testing.T) {
	t.Parallel()
	f := startVendorFakes(t)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"balance"}, envOf(f.env), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errOut.String())
	}
	table := out.String()
	for _, row := range []string{
		`laaffic +balance +99\.99 +20\d\d-`, `laaffic +gift +50 `, `laaffic +credit +0 `,
		`itniotech +balance +12\.5 `, `itniotech +gift +0 `, `itniotech +credit +100 `,
		`jpush +dev_balance +9 `, `jpush +dev_voice +702 `, `jpush +dev_industry +121981 `, `jpush +dev_market +11683 `,
		`jpush +app_balance +1 `, `jpush +app_voice +not allocated `, `jpush +app_industry +44 `, `jpush +app_market +14 `,
		`liasmart +- +no balance API`,
	} {
		if !regexp.MustCompile(`(?m)^` + row).MatchString(table) {
			t.Errorf("no row matching %q in\n%s", row, table)
		}
	}
	if !strings.HasPrefix(table, "VENDOR") || strings.Contains(table, "secret") {
		t.Errorf("table:\n%s", table)
	}
}

func TestBalanceCommandJSON(t *testing.T) {
	t.Parallel()
	f := startVendorFakes(t)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"balance", "--json"}, envOf(f.env), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var lines []map[string]json.RawMessage
	if err := json.Unmarshal(out.Bytes(), &lines); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, out.String())
	}
	got := map[string]string{}
	for _, l := range lines {
		if len(l) != 4 {
			t.Errorf("item %v, want vendor, kind, value, checked_at", l)
		}
		var vendor, kind string
		var at time.Time
		_ = json.Unmarshal(l["vendor"], &vendor)
		_ = json.Unmarshal(l["kind"], &kind)
		if err := json.Unmarshal(l["checked_at"], &at); err != nil || time.Since(at) > time.Minute {
			t.Errorf("checked_at %s", l["checked_at"])
		}
		got[vendor+"/"+kind] = string(l["value"])
	}
	if len(lines) != 14 {
		t.Errorf("%d items, want 3 + 3 + 8", len(lines))
	}
	for k, v := range map[string]string{
		"laaffic/balance": `"99.99"`, "itniotech/balance": `"12.5"`, "itniotech/credit": `"100"`,
		"jpush/dev_industry": `"121981"`, "jpush/app_voice": "null", "jpush/app_market": `"14"`,
	} {
		if got[k] != v {
			t.Errorf("%s = %s, want %s", k, got[k], v)
		}
	}
}

// A failing vendor fails the command (exit 1) after the others printed;
// a vendor without credentials is listed as such and is no failure.
func TestBalanceCommandReportsFailures(t *testing.T) {
	t.Parallel()
	f := startVendorFakes(t)
	f.itniotech.SetFault(&signedapitest.Fault{Status: -2})
	for _, k := range []string{"RELAY_JPUSH_DEV_KEY", "RELAY_JPUSH_DEV_SECRET", "RELAY_JPUSH_APP_KEY", "RELAY_JPUSH_MASTER_SECRET"} {
		delete(f.env, k)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"balance"}, envOf(f.env), &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, errOut.String())
	}
	table := out.String()
	for _, row := range []string{`laaffic +balance +99\.99`, `itniotech +- +ERROR .*-2`, `jpush +- +not configured`, `liasmart +- +no balance API`} {
		if !regexp.MustCompile(`(?m)^` + row).MatchString(table) {
			t.Errorf("no row matching %q in\n%s", row, table)
		}
	}
	if !strings.Contains(errOut.String(), "itniotech") || strings.Contains(errOut.String(), "laaffic") {
		t.Errorf("stderr %q, want the failed vendor named", errOut.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"balance", "--json", "extra"}, envOf(f.env), &out, &errOut); code != 2 {
		t.Errorf("extra argument: exit %d, want 2", code)
	}
}

// A Laaffic message tracked through the HTTP API is polled and produces
// exactly one relay.reports.laaffic event; the balances the monitor read
// at start are served by GET /admin/v1/balances.
func TestDeliveryReportEndToEnd(t *testing.T) {
	t.Parallel()
	const admin = "admin-token-for-monitor-e2e"
	fake := signedapitest.NewServer(t, signedapitest.Options{APIKey: "lk", APISecret: "laaffic-secret", AppID: "app1"})
	fake.SetBalance("5.25", "0", "0")
	r := startRelay(t, liasmarttest.Options{}, func(c *config.Config) {
		c.Laaffic = config.Laaffic{URL: fake.URL, APIKey: "lk", APISecret: "laaffic-secret", AppID: "app1", LowBalance: decPtr("10")}
		c.ReportInterval = 20 * time.Millisecond
		c.AdminToken = admin
	})
	fake.SetReport("2108021054011000095", signedapitest.ReportItem{Number: "91856321412", ReceiveTime: "2021-02-12T09:30:03+08:00", Status: "0"})
	fake.SetReport("2108021059531000096", signedapitest.ReportItem{Number: "91856321413", Status: "-1"})

	code, _, body := r.do(t, "POST", "/v1/messages", `{"vendor":"laaffic","message_id":"2108021054011000095"}`)
	if code != 202 || body["status"] != "tracking" {
		t.Fatalf("POST: %d %v", code, body)
	}
	id := body["id"].(string)
	code, _, body = r.do(t, "POST", "/v1/messages/batch", `{"messages":[{"vendor":"laaffic","message_id":"2108021054011000095"},{"vendor":"laaffic","message_id":"2108021059531000096"}]}`)
	if code != 200 || !strings.Contains(mustJSON(body), `"duplicate":true`) {
		t.Fatalf("batch: %d %v", code, body)
	}
	testenv.Eventually(t, 10*time.Second, "message delivered", func() bool {
		_, _, m := r.do(t, "GET", "/v1/messages/"+id, "")
		return m["status"] == "delivered"
	})
	_, _, m := r.do(t, "GET", "/v1/messages/"+id, "")
	if m["receive_time"] != "2021-02-12T01:30:03Z" || m["polls"] != float64(1) || m["next_poll_at"] != nil || m["app_id"] != "app1" {
		t.Errorf("GET delivered message: %v", m)
	}

	// The second message turns delivered later; once its event is in, the
	// poller has run well past the first one's: still one event each. Its
	// 1m backoff is cut short in the database once its first poll is
	// recorded (no poll of it is in flight then).
	id2 := inbound.TrackedMessageID("laaffic", "2108021059531000096").String()
	testenv.Eventually(t, 10*time.Second, "second message polled", func() bool {
		_, _, m := r.do(t, "GET", "/v1/messages/"+id2, "")
		polls, _ := m["polls"].(float64)
		return polls >= 1
	})
	fake.SetReport("2108021059531000096", signedapitest.ReportItem{Number: "91856321413", ReceiveTime: "2021-02-12T09:31:00+08:00", Status: "0"})
	if _, err := r.main.Store.Pool().Exec(context.Background(), `UPDATE messages SET next_poll_at = now() WHERE status = 'sending'`); err != nil {
		t.Fatal(err)
	}
	reports := func() []bus.Report { return storedReports(t, r.nats.ClientURL()) }
	testenv.Eventually(t, 10*time.Second, "two report events", func() bool { return len(reports()) >= 2 })
	reps := reports()
	if len(reps) != 2 || reps[0].ID != id || reps[0].Status != "delivered" || reps[0].Number != "91856321412" ||
		reps[1].ID != id2 || reps[1].Status != "delivered" {
		t.Errorf("relay.reports.laaffic holds %+v, want one delivered event per message", reps)
	}

	req, _ := http.NewRequest("GET", r.url+"/admin/v1/balances", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(raw), `"vendor":"laaffic","kind":"balance","value":"5.25"`) ||
		!strings.Contains(string(raw), `"below_threshold":true`) {
		t.Errorf("GET /admin/v1/balances: %d %s", resp.StatusCode, raw)
	}
}

func decPtr(s string) *config.Threshold {
	d := config.Threshold(decimal.RequireFromString(s))
	return &d
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// storedReports reads relay.reports.laaffic from the RELAY stream.
func storedReports(t *testing.T, url string) []bus.Report {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var out []bus.Report
	msgs := testenv.StoredMsgs(t, js, bus.ReportSubject("laaffic"))
	asyncapitest.ValidateStored(t, msgs...)
	for _, m := range msgs {
		var rep bus.Report
		if err := json.Unmarshal(m.Data, &rep); err != nil {
			t.Fatal(err)
		}
		out = append(out, rep)
	}
	return out
}
