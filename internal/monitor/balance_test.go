package monitor_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"relay/internal/bus"
	"relay/internal/metrics"
	"relay/internal/monitor"
	"relay/internal/outbox"
	"relay/internal/vendors/jpush"
	"relay/internal/vendors/jpush/jpushtest"
	"relay/internal/vendors/laaffic"
	"relay/internal/vendors/signedapi/signedapitest"
)

const (
	laafficKey    = "bDqJFiq9"
	laafficSecret = "laaffic-secret-7f3a"
)

func dec(s string) *decimal.Decimal {
	d := decimal.RequireFromString(s)
	return &d
}

func laafficFake(t *testing.T) (*signedapitest.Server, *laaffic.Client) {
	t.Helper()
	srv := signedapitest.NewServer(t, signedapitest.Options{APIKey: laafficKey, APISecret: laafficSecret, AppID: "app1"})
	return srv, laaffic.New(laaffic.Config{BaseURL: srv.URL, APIKey: laafficKey, APISecret: laafficSecret})
}

func (b *bundle) balanceMonitor(sources ...monitor.Source) *monitor.BalanceMonitor {
	return b.balanceMonitorWith(b.m, sources...)
}

func (b *bundle) balanceMonitorWith(m *metrics.Metrics, sources ...monitor.Source) *monitor.BalanceMonitor {
	return monitor.NewBalanceMonitor(monitor.BalanceConfig{
		Sources: sources, Interval: time.Minute, Logger: quiet(), Metrics: m, Now: b.clock.Now,
		Outbox: outbox.NewPublisher(b.st, b.js, quiet()),
	}, b.st, b.js)
}

// A balance that stays low alerts once; rising back re-arms; falling again
// alerts again. Two replicas alternate, so the state must be PostgreSQL's.
func TestLowBalanceAlertsOncePerCrossing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv, client := laafficFake(t)
	src := monitor.SignedSource("laaffic", client, dec("10"))
	replicas := []*monitor.BalanceMonitor{b.balanceMonitor(src), b.balanceMonitor(src)}
	ctx := context.Background()

	for i, bal := range []string{"5.50", "4.00", "3.25", "10.00", "9.99", "9.00"} {
		srv.SetBalance(bal, "100", "0") // gift and credit never alert
		if err := replicas[i%2].PollOnce(ctx); err != nil {
			t.Fatalf("poll %d: %v", i, err)
		}
		b.clock.Advance(time.Minute)
	}
	if n := len(srv.Requests()); n != 6 {
		t.Fatalf("vendor asked %d times, want 6 (one per interval)", n)
	}
	alerts := b.alerts(t, "laaffic")
	if len(alerts) != 2 {
		t.Fatalf("%d alerts %v, want 2 (below, above, below again)", len(alerts), alerts)
	}
	for i, want := range []string{"5.5", "9.99"} {
		a := alerts[i]
		if a["kind"] != "low_balance" || a["balance_kind"] != "balance" || a["value"] != want || a["threshold"] != "10" ||
			a["vendor"] != "laaffic" || !strings.Contains(a["message"].(string), "below") {
			t.Errorf("alert %d = %v, want low_balance of balance at %s", i, a, want)
		}
	}
	latest, err := b.st.LatestBalances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range latest {
		if wantBelow := r.Kind == "balance"; r.Below != wantBelow {
			t.Errorf("%s below=%v, want %v", r.Kind, r.Below, wantBelow)
		}
	}
}

// Readings are stored exactly (numeric, NULL for not allocated), exported
// as gauges (not-allocated skipped) by the replica that polled and by any
// other, and published on relay.balances.<vendor>.
func TestBalancesStoredPublishedAndExported(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv, client := laafficFake(t)
	srv.SetBalance("99.990000", "50.00000", "0.000001")
	jp := jpushtest.NewServer(t, jpushtest.Options{
		App: jpushtest.Response{Quotas: &jpushtest.Quotas{Balance: jpushtest.Int(1), Industry: jpushtest.Int(44), Market: jpushtest.Int(0)}},
	})
	jc := jpush.New(jp.Config())
	mon := b.balanceMonitor(monitor.SignedSource("laaffic", client, nil), monitor.JPushSource(jc, dec("10")))
	ctx := context.Background()
	if err := mon.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}

	latest, err := b.st.LatestBalances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range latest {
		v := "null"
		if r.Value != nil {
			v = r.Value.String()
		}
		got[r.Vendor+"/"+r.Kind] = v
	}
	want := map[string]string{
		"laaffic/balance": "99.99", "laaffic/gift": "50", "laaffic/credit": "0.000001",
		"jpush/dev_balance": "9", "jpush/dev_voice": "702", "jpush/dev_industry": "121981", "jpush/dev_market": "11683",
		"jpush/app_balance": "1", "jpush/app_voice": "null", "jpush/app_industry": "44", "jpush/app_market": "0",
	}
	if len(got) != len(want) {
		t.Errorf("latest %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %s, want %s", k, got[k], v)
		}
	}
	var numeric string
	if err := b.st.Pool().QueryRow(ctx, `SELECT value::text FROM balances WHERE vendor = 'laaffic' AND kind = 'credit'`).Scan(&numeric); err != nil || numeric != "0.000001" {
		t.Errorf("stored credit %q (%v), want the exact numeric 0.000001", numeric, err)
	}
	hist, err := b.st.BalanceHistory(ctx, "jpush", "app_voice", 10)
	if err != nil || len(hist) != 1 || hist[0].Value != nil {
		t.Errorf("app_voice history %+v (%v), want one NULL reading", hist, err)
	}

	check := func(m *metrics.Metrics, who string) {
		t.Helper()
		g := series(t, m, "relay_vendor_balance")
		if len(g) != 10 {
			t.Errorf("%s: balance gauges %v, want 10 (11 readings, app_voice not allocated)", who, g)
		}
		if _, ok := g["jpush/app_voice"]; ok {
			t.Errorf("%s: a gauge for a quota not allocated", who)
		}
		if g["laaffic/balance"] != 99.99 || g["jpush/dev_industry"] != 121981 || g["jpush/app_market"] != 0 {
			t.Errorf("%s: gauges %v", who, g)
		}
	}
	check(b.m, "polling replica")
	other := metrics.New()
	b.balanceMonitorWith(other, monitor.SignedSource("laaffic", client, nil), monitor.JPushSource(jc, nil)).RefreshGauges(ctx)
	check(other, "other replica")

	raw := b.stored(t, bus.BalanceSubject("jpush"))
	if len(raw) != 1 {
		t.Fatalf("%d relay.balances.jpush messages, want 1", len(raw))
	}
	var p struct {
		Vendor   string `json:"vendor"`
		Readings []struct {
			Kind      string          `json:"kind"`
			Value     json.RawMessage `json:"value"`
			CheckedAt time.Time       `json:"checked_at"`
		} `json:"readings"`
	}
	if err := json.Unmarshal(raw[0], &p); err != nil {
		t.Fatal(err)
	}
	values := map[string]string{}
	for _, r := range p.Readings {
		values[r.Kind] = string(r.Value)
		if !r.CheckedAt.Equal(b.clock.Now()) {
			t.Errorf("checked_at %s, want %s", r.CheckedAt, b.clock.Now())
		}
	}
	if p.Vendor != "jpush" || len(p.Readings) != 8 || values["app_voice"] != "null" || values["dev_balance"] != `"9"` {
		t.Errorf("relay.balances.jpush = %s", raw[0])
	}
	// The JPush threshold applies to every allocated quota: dev_balance 9,
	// app_balance 1 and app_market 0 are below 10; app_voice is not
	// allocated and never alerts.
	var low []string
	for _, a := range b.alerts(t, "jpush") {
		low = append(low, a["balance_kind"].(string))
	}
	if strings.Join(low, ",") != "app_balance,app_market,dev_balance" {
		t.Errorf("jpush low-balance alerts for %v", low)
	}
	if a := b.alerts(t, "laaffic"); len(a) != 0 {
		t.Errorf("laaffic without threshold alerted: %v", a)
	}
}

// Rejected credentials alert once per transition, for the signed family
// and for JPush; every failure is counted by class.
func TestCredentialsRejectedAlertsOncePerTransition(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv, client := laafficFake(t)
	jp := jpushtest.NewServer(t, jpushtest.Options{Lenient: true})
	cfg := jp.Config()
	cfg.MasterSecret = "stale-master-secret"
	cfg.DevKey, cfg.DevSecret = "", ""
	mon := b.balanceMonitor(monitor.SignedSource("laaffic", client, nil), monitor.JPushSource(jpush.New(cfg), nil))
	ctx := context.Background()
	poll := func() {
		t.Helper()
		_ = mon.PollOnce(ctx)
		b.clock.Advance(time.Minute)
	}

	srv.SetFault(&signedapitest.Fault{Status: -1})
	poll()
	poll()
	srv.SetFault(&signedapitest.Fault{HTTPStatus: http.StatusServiceUnavailable})
	poll() // says nothing about the credentials
	srv.SetFault(&signedapitest.Fault{Status: -1})
	poll()
	srv.SetFault(nil)
	poll()
	poll()

	if got := strings.Join(kinds(b.alerts(t, "laaffic")), ","); got != "credentials_rejected,credentials_accepted" {
		t.Errorf("laaffic alerts %s, want one rejection then one acceptance", got)
	}
	a := b.alerts(t, "laaffic")[0]
	if a["code"] != float64(-1) || strings.Contains(a["message"].(string), laafficSecret) {
		t.Errorf("rejection alert %v", a)
	}
	jAlerts := b.alerts(t, "jpush")
	if len(jAlerts) != 1 || jAlerts[0]["kind"] != "credentials_rejected" || jAlerts[0]["code"] != float64(jpushtest.AuthFailedCode) ||
		strings.Contains(jAlerts[0]["message"].(string), "stale-master-secret") {
		t.Errorf("jpush alerts %v, want one credentials_rejected with code %d", jAlerts, jpushtest.AuthFailedCode)
	}
	errs := series(t, b.m, "relay_vendor_poll_errors_total")
	for key, want := range map[string]float64{"laaffic/account": 3, "laaffic/retryable": 1, "jpush/account": 6} {
		if errs[key] != want {
			t.Errorf("poll errors %s = %v, want %v (all: %v)", key, errs[key], want, errs)
		}
	}
}

// Replicas polling at once make one vendor call per interval between
// them: the lease row lets one in.
func TestBalanceLeaseOnePollPerInterval(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv, client := laafficFake(t)
	src := monitor.SignedSource("laaffic", client, nil)
	var replicas []*monitor.BalanceMonitor
	for range 4 {
		replicas = append(replicas, b.balanceMonitor(src))
	}
	ctx := context.Background()
	round := func() {
		var wg sync.WaitGroup
		for _, r := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = r.PollOnce(ctx)
			}()
		}
		wg.Wait()
	}
	round()
	round()
	if n := len(srv.Requests()); n != 1 {
		t.Fatalf("%d vendor calls in one interval from 4 replicas, want 1", n)
	}
	b.clock.Advance(50 * time.Second) // still inside 90% of the 1m interval
	round()
	if n := len(srv.Requests()); n != 1 {
		t.Fatalf("%d vendor calls before the lease ran out, want 1", n)
	}
	b.clock.Advance(5 * time.Second)
	round()
	if n := len(srv.Requests()); n != 2 {
		t.Fatalf("%d vendor calls after the interval, want 2", n)
	}
	if h, err := b.st.BalanceHistory(ctx, "laaffic", "balance", 10); err != nil || len(h) != 2 {
		t.Errorf("history %d rows (%v), want 2", len(h), err)
	}
}
