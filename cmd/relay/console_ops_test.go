package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"relay/internal/config"
	"relay/internal/inbound"
	"relay/internal/outbound"
	"relay/internal/store"
	"relay/internal/testenv"
	"relay/internal/vendors/liasmart/liasmarttest"
)

const chromiumPath = "/usr/bin/chromium"

// browser starts a headless Chromium for the test, in a profile of its own.
func browser(t *testing.T) context.Context {
	t.Helper()
	_, err := os.Stat(chromiumPath)
	testenv.Require(t, "Chromium at "+chromiumPath+" (Debian package chromium)", err)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return ctx
}

// until waits for a JavaScript condition on the page.
func until(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second))
}

func text(id string) string { return "document.getElementById(" + strconv.Quote(id) + ").textContent" }

// minuteCounts is one minute of the trends panel: confirmed,
// already_confirmed, failures.
type minuteCounts [3]int64

// earlierTraffic records, straight into PostgreSQL as the worker would, an
// hour of vendor calls made before the test's own: a few calls a minute
// from 55 to 3 minutes ago, a vendor outage 38-33 minutes ago whose
// retries are confirmed in the three minutes after it. Every event ends
// confirmed or already_confirmed (nothing for the workers to do). It gives
// the trends panel, and the README's picture, an hour with a shape, and
// returns what each minute should show and the events' final states.
func earlierTraffic(t *testing.T, st *store.Store, now time.Time) (map[string]minuteCounts, map[store.State]int64) {
	t.Helper()
	ctx := context.Background()
	current := now.UTC().Truncate(time.Minute)
	var (
		evs           []store.NewEvent
		first, second []store.Result
		owed          []store.NewEvent // outage events, confirmed after it
	)
	want := map[string]minuteCounts{}
	finals := map[store.State]int64{}
	call := func(minutesAgo, j int, ms float64, outcome string) *store.Attempt {
		at := current.Add(-time.Duration(minutesAgo)*time.Minute + time.Second + time.Duration(j)*6*time.Second)
		k := at.Truncate(time.Minute).Format(time.RFC3339)
		c := want[k]
		switch outcome {
		case "confirmed":
			c[0]++
		case "already_confirmed":
			c[1]++
		default:
			c[2]++
		}
		want[k] = c
		return &store.Attempt{Attempt: 1, StartedAt: at,
			Duration: time.Duration(ms * float64(time.Millisecond)), Outcome: outcome}
	}
	newEvent := func() store.NewEvent {
		mid := fmt.Sprintf("earlier-%d", len(evs)+1)
		e := store.NewEvent{ID: inbound.EventID("liasmart", mid), Vendor: "liasmart", MessageID: mid}
		evs = append(evs, e)
		return e
	}
	final := func(e store.NewEvent, c *store.Attempt, state store.State, into *[]store.Result) {
		c.EventID = e.ID
		*into = append(*into, store.Result{EventID: e.ID, State: state, SpendsBudget: true, Call: c})
	}
	for m := 55; m >= 3; m-- {
		n := 3 + (m*7)%4
		base := 140 + 45*math.Sin(float64(m)/5)
		switch {
		case m <= 38 && m >= 33: // the vendor answers 503, slowly
			for j := range n {
				e := newEvent()
				final(e, call(m, j, 700+float64(j*90), "retry"), store.StateConfirmed, &first)
				owed = append(owed, e)
			}
		case m <= 32 && m >= 30: // retries of the outage go through
			share := (len(owed) + 2) / 3
			for j := 0; j < share && len(owed) > 0; j++ {
				e := owed[0]
				owed = owed[1:]
				final(e, call(m, j, base*(0.8+0.1*float64(j%5)), "confirmed"), store.StateConfirmed, &second)
			}
		default:
			for j := range n {
				e := newEvent()
				outcome, state := "confirmed", store.StateConfirmed
				if (m+j)%9 == 0 { // a redelivery: the vendor had it already
					outcome, state = "already_confirmed", store.StateAlreadyConfirmed
				}
				ms := base * (0.7 + 0.15*float64(j))
				if j == n-1 && m%4 == 0 {
					ms *= 2.5 // the slow tail p95 shows
				}
				final(e, call(m, j, ms, outcome), state, &first)
			}
		}
	}
	for _, r := range first {
		finals[r.State]++
	}
	if _, err := st.UpsertEvents(ctx, nil, evs); err != nil {
		t.Fatal(err)
	}
	for _, batch := range [][]store.Result{first, second} {
		if _, err := outbound.RecordResults(ctx, st, batch); err != nil {
			t.Fatal(err)
		}
	}
	return want, finals
}

// TestConsoleReplaysAFailedEvent drives the ops console in headless
// Chromium: sign in, see the counts and the vendor-call trends, filter the
// failed events, open one, replay it after the vendor recovered (dry-run
// preview, confirmation) and watch it become confirmed.
func TestConsoleReplaysAFailedEvent(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	var recovered atomic.Bool
	// Twilio is enabled without credentials: the vendors panel shows it
	// not configured.
	r := startRelay(t, liasmarttest.Options{Script: outage(&recovered)}, func(c *config.Config) {
		c.AdminToken = opsAdminToken
		c.MaxAttempts = 2
		c.BreakerThreshold = 0
		c.ConfirmVendors = []string{"liasmart", "twilio"}
	})
	for i := range 5 {
		if code, _, body := r.do(t, "POST", "/v1/registrations", fmt.Sprintf(`{"vendor":"liasmart","message_id":"signup-%d","status":true}`, 1001+i)); code != 202 {
			t.Fatalf("POST: %d %v", code, body)
		}
	}
	r.waitStates(t, 20*time.Second, map[string]int64{"failed": 5})
	recovered.Store(true)
	for i := range 12 {
		if code, _, body := r.do(t, "POST", "/v1/registrations", fmt.Sprintf(`{"vendor":"liasmart","message_id":"signup-%d","status":true}`, 2001+i)); code != 202 {
			t.Fatalf("POST: %d %v", code, body)
		}
	}
	r.waitStates(t, 20*time.Second, map[string]int64{"failed": 5, "confirmed": 12})
	target := inbound.EventID("liasmart", "signup-1003").String()
	// The live calls: each failed event was called RELAY_MAX_ATTEMPTS = 2
	// times (503: retry, then fail), each confirmed one once.
	if n := len(r.fake.Calls()); n != 5*2+12 {
		t.Fatalf("the vendor got %d calls, want 22", n)
	}
	earlier, finals := earlierTraffic(t, r.main.Store, time.Now())
	var earlierCounts minuteCounts
	for _, c := range earlier {
		for i := range c {
			earlierCounts[i] += c[i]
		}
	}
	confirmedEvents := 12 + finals[store.StateConfirmed]

	// The first Run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate(r.url+"/admin/")); err != nil {
		t.Fatalf("start chromium and load the console: %v", err)
	}
	steps, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(steps, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// Anything the Content-Security-Policy blocks (an inline style set from
	// a string, say) is reported to the page: collect it.
	step("listen for CSP violations", chromedp.Evaluate[chromedp.Void](
		`window.cspViolations = []; document.addEventListener("securitypolicyviolation", e => window.cspViolations.push(e.violatedDirective + " " + e.blockedURI))`))
	step("sign in",
		chromedp.WaitVisible(chromedp.ID("login-token")),
		chromedp.SendKeys(chromedp.ID("login-token"), opsAdminToken),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("app")),
	)
	step("counts by state", until(fmt.Sprintf(`document.querySelector("#stat-failed .count").textContent === "5" &&
		document.querySelector("#stat-confirmed .count").textContent === "%d"`, confirmedEvents)))
	step("vendor-call trends: the test's calls and the earlier hour's", until(fmt.Sprintf(
		`%s === "%d" && %s === "%d" && %s === "%d" && %s === "%d" && document.querySelectorAll("#trend-outcomes g.bucket").length === 60`,
		text("trend-calls"), earlierCounts[0]+earlierCounts[1]+earlierCounts[2]+22,
		text("trend-confirmed"), earlierCounts[0]+12, text("trend-already"), earlierCounts[1],
		text("trend-failures"), earlierCounts[2]+10)))
	// The vendors panel: liasmart's calls of the last five minutes are the
	// test's 22 and those of the earlier traffic 3 to 5 minutes ago (4, 3
	// and 6 calls), as many of them as the window still holds; nothing
	// older. Twilio, without credentials, made none.
	step("vendors panel", until(`document.querySelectorAll("#enabled-vendors tbody tr").length === 2 &&
		document.querySelector('#enabled-vendors tr[data-vendor="twilio"] .v-state').textContent === "not configured" &&
		document.querySelector('#enabled-vendors tr[data-vendor="liasmart"] .v-state').textContent === "active"`))
	panel, err := chromedp.Run(steps, chromedp.Evaluate[[]string](`(() => {
		const r = document.querySelector('#enabled-vendors tr[data-vendor="liasmart"]');
		const t = document.querySelector('#enabled-vendors tr[data-vendor="twilio"]');
		return [r.dataset.calls, r.querySelector(".v-rate").textContent, r.querySelector(".v-p50").textContent, r.querySelector(".v-p95").textContent,
			t.querySelector(".v-rate").textContent, t.querySelector(".v-p95").textContent, t.querySelector(".v-reason").textContent,
			document.getElementById("vendor-window").textContent]
	})()`))
	if err != nil || len(panel) != 8 {
		t.Fatalf("vendors panel: %v %v", panel, err)
	}
	calls, _ := strconv.Atoi(panel[0])
	rate, _ := strconv.ParseFloat(panel[1], 64)
	p50, err50 := strconv.ParseFloat(panel[2], 64)
	p95, err95 := strconv.ParseFloat(panel[3], 64)
	if calls < 22 || calls > 22+4+3+6 || rate != math.Round(float64(calls)/5*100)/100 || err50 != nil || err95 != nil || p50 <= 0 || p95 < p50 {
		t.Errorf("liasmart in the vendors panel: %d calls, %q per minute, p50 %q, p95 %q", calls, panel[1], panel[2], panel[3])
	}
	if panel[4] != "0" || panel[5] != "—" || panel[6] != "credentials not set" || panel[7] != "calls of the last 5 minutes, every replica" {
		t.Errorf("twilio in the vendors panel, and its caption: %q", panel[4:])
	}
	// Every earlier minute in its own bar, with its own counts.
	perMinute, err := chromedp.Run(steps, chromedp.Evaluate[string](`JSON.stringify(Object.fromEntries(
		Array.from(document.querySelectorAll("#trend-outcomes g.bucket")).filter(g => g.dataset.calls !== "0").map(g =>
			[g.dataset.at, [+g.dataset.confirmed, +g.dataset.alreadyConfirmed, +g.dataset.failures]])))`))
	if err != nil {
		t.Fatal(err)
	}
	var shown map[string]minuteCounts
	if err := json.Unmarshal([]byte(perMinute), &shown); err != nil {
		t.Fatalf("%v: %s", err, perMinute)
	}
	var liveMinutes minuteCounts
	for at, c := range shown {
		if _, ok := earlier[at]; ok {
			continue
		}
		for i := range c {
			liveMinutes[i] += c[i]
		}
		delete(shown, at)
	}
	if !reflect.DeepEqual(shown, earlier) || liveMinutes != (minuteCounts{12, 0, 10}) {
		t.Errorf("trends per minute:\n shown %v\n  want %v\nthe test's own minutes: %v, want [12 0 10]", shown, earlier, liveMinutes)
	}
	if dots, err := chromedp.Run(steps, chromedp.Evaluate[int](`document.querySelectorAll("#trend-latency-chart circle.dot-p95").length`)); err != nil || dots != len(earlier)+1 && dots != len(earlier)+2 {
		t.Errorf("latency chart: %d p95 dots (%v), want one per minute with calls: %d earlier, 1 or 2 live", dots, err, len(earlier))
	}
	// The token is in sessionStorage, never in the address.
	loc, err := chromedp.Run(steps, chromedp.Evaluate[string](`location.href + "|" + (sessionStorage.getItem("relay.adminToken") === `+strconv.Quote(opsAdminToken)+`)`))
	if err != nil || loc != r.url+"/admin/|true" {
		t.Errorf("location and storage: %q %v", loc, err)
	}

	step("filter failed events",
		chromedp.SetValue(chromedp.ID("f-state"), "failed"),
		chromedp.Click(chromedp.ID("f-apply")),
		until(`document.querySelectorAll("#events tbody tr").length === 5`),
	)
	lastError, err := chromedp.Run(steps, chromedp.Evaluate[string](
		`document.querySelector('#events tbody tr[data-id="`+target+`"] td.err').textContent`))
	if err != nil || lastError == "" || lastError == "—" {
		t.Errorf("failed event's last error in the table: %q %v", lastError, err)
	}

	step("open the event's attempt history",
		// A click through the DOM at the moment it runs: the table may be
		// re-rendered between finding the row and a CDP click on it.
		until(`(() => { const r = document.querySelector('#events tbody tr[data-id="`+target+`"]'); if (r) r.click(); return !!r })()`),
		chromedp.WaitVisible(chromedp.ID("detail")),
		until(text("detail-state")+` === "failed" && document.querySelectorAll("#history tbody tr").length === 2`),
	)
	step("replay with a dry-run preview",
		chromedp.Click(chromedp.ID("detail-replay")),
		chromedp.WaitVisible(chromedp.ID("modal")),
		until(text("replay-preview")+`.includes("1 matched · 1 would be replayed")`),
		chromedp.WaitEnabled(chromedp.ID("replay-confirm")),
	)
	if n := r.fake.CallsFor("signup-1003"); n != 2 {
		t.Fatalf("the preview called the vendor: %d calls", n)
	}
	step("confirm the replay",
		chromedp.Click(chromedp.ID("replay-confirm")),
		until(text("replay-result")+`.startsWith("Replayed 1 of 1")`),
		chromedp.Click(chromedp.ID("replay-cancel")),
		chromedp.WaitNotVisible(chromedp.ID("modal")),
	)
	step("see it confirmed",
		until(text("detail-state")+` === "confirmed" && document.querySelectorAll("#history tbody tr").length === 3`),
		until(fmt.Sprintf(`document.querySelectorAll("#events tbody tr").length === 4 && document.querySelector("#stat-confirmed .count").textContent === "%d"`, confirmedEvents+1)),
		// The replay's call, a confirmation, reaches the trends too.
		until(fmt.Sprintf(`%s === "%d"`, text("trend-confirmed"), earlierCounts[0]+13)),
	)
	if n := r.fake.Confirmations("signup-1003"); n != 1 {
		t.Errorf("signup-1003 confirmed %d times at the vendor", n)
	}

	if v, err := chromedp.Run(steps, chromedp.Evaluate[[]string](`window.cspViolations`)); err != nil || len(v) != 0 {
		t.Errorf("CSP violations: %v %v", v, err)
	}

	png, err := chromedp.Run(steps, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("RELAY_ARTIFACTS_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.WriteFile(filepath.Join(dir, "console.png"), png, 0o644); err != nil {
		t.Errorf("saving the screenshot: %v", err)
	}
	// RELAY_CONSOLE_SCREENSHOT=docs/console.png refreshes the README's
	// picture; a relative path is taken from the repository root.
	if out := os.Getenv("RELAY_CONSOLE_SCREENSHOT"); out != "" {
		if !filepath.IsAbs(out) {
			out = filepath.Join("..", "..", out)
		}
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Errorf("saving the screenshot: %v", err)
		}
	}
}
