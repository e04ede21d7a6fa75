package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"relay/internal/inbound"
)

const chromiumPath = "/usr/bin/chromium"

// browser starts a headless Chromium for the test, in a profile of its own.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("%s is absent: console test skipped", chromiumPath)
	}
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

// TestConsoleReplaysAFailedEvent drives the ops console in headless
// Chromium: sign in, see the counts, filter the failed events, open one,
// replay it after the vendor recovered (dry-run preview, confirmation) and
// watch it become confirmed.
func TestConsoleReplaysAFailedEvent(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	var recovered atomic.Bool
	r := opsRelay(t, 2, outage(&recovered))
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

	step("sign in",
		chromedp.WaitVisible(chromedp.ID("login-token")),
		chromedp.SendKeys(chromedp.ID("login-token"), opsAdminToken),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("app")),
	)
	step("counts by state", until(`document.querySelector("#stat-failed .count").textContent === "5" &&
		document.querySelector("#stat-confirmed .count").textContent === "12"`))
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
		until(`document.querySelectorAll("#events tbody tr").length === 4 && document.querySelector("#stat-confirmed .count").textContent === "13"`),
	)
	if n := r.fake.Confirmations("signup-1003"); n != 1 {
		t.Errorf("signup-1003 confirmed %d times at the vendor", n)
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
