package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"relay/internal/inbound"
	"relay/internal/vendors/liasmart/liasmarttest"
)

func init() {
	// The CLI's retries wait milliseconds here, not seconds.
	adminRetryWait = 5 * time.Millisecond
}

// flakyProxy stands between the CLI and relay. In mode "refuse" every
// replay (not a dry run) is answered 503 without reaching relay; in mode
// "lose" each Idempotency-Key's first replay reaches relay but its answer
// is lost (503), as after a timeout.
type flakyProxy struct {
	mode   atomic.Value // string
	mu     sync.Mutex
	seen   map[string]bool
	posted atomic.Int32
}

func newFlakyProxy(t *testing.T, target string) (*flakyProxy, string) {
	t.Helper()
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &flakyProxy{seen: map[string]bool{}}
	p.mode.Store("")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		replay := r.Method == "POST" && r.URL.Path == "/admin/v1/replays" && !bytes.Contains(body, []byte(`"dry_run":true`))
		if replay {
			p.posted.Add(1)
		}
		switch mode := p.mode.Load().(string); {
		case replay && mode == "refuse":
			http.Error(w, `{"title":"Service unavailable","status":503}`, http.StatusServiceUnavailable)
			return
		case replay && mode == "lose":
			key := r.Header.Get("Idempotency-Key")
			p.mu.Lock()
			first := !p.seen[key]
			p.seen[key] = true
			p.mu.Unlock()
			if first {
				rec := httptest.NewRecorder()
				rp.ServeHTTP(rec, r)
				http.Error(w, `{"title":"Bad gateway","status":502}`, http.StatusBadGateway)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return p, srv.URL
}

func TestReplayCLI(t *testing.T) {
	t.Parallel()
	var recovered atomic.Bool
	r := opsRelay(t, 1, func(msg string, n int) *liasmarttest.Reply {
		if strings.HasPrefix(msg, "bad-") && !recovered.Load() {
			return &liasmarttest.Reply{Status: http.StatusServiceUnavailable}
		}
		return nil
	})
	for _, msg := range []string{"bad-1", "bad-2", "bad-3", "bad-4", "bad-5", "bad-6", "good-1"} {
		if code, _, body := r.do(t, "POST", "/v1/registrations", fmt.Sprintf(`{"vendor":"liasmart","message_id":%q,"status":true}`, msg)); code != 202 {
			t.Fatalf("POST %s: %d %v", msg, code, body)
		}
	}
	r.waitStates(t, 20*time.Second, map[string]int64{"failed": 6, "confirmed": 1})
	proxy, proxyURL := newFlakyProxy(t, r.url)

	env := func(k string) string {
		switch k {
		case "RELAY_ADMIN_TOKEN":
			return opsAdminToken
		case "USER":
			return "tester"
		}
		return ""
	}
	cli := func(getenv func(string) string, args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(context.Background(), append([]string{"replay"}, args...), getenv, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	row := func(out, name string, n int) bool {
		return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s+` + fmt.Sprint(n) + `$`).MatchString(out)
	}

	t.Run("dry run", func(t *testing.T) {
		code, out, errOut := cli(env, "--url", r.url, "--dry-run", "--since", "1h")
		if code != 0 || !strings.Contains(out, "DRY RUN") || !row(out, "matched", 6) || !row(out, "would replay", 6) || !row(out, "failed", 0) {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		if st := r.stats(t); st.ByState["failed"] != 6 {
			t.Errorf("a dry run changed states: %v", st.ByState)
		}
	})

	t.Run("dry run summary as JSON", func(t *testing.T) {
		code, out, errOut := cli(env, "--url", r.url, "--dry-run", "--since", "1h", "--json")
		var got map[string]any
		if err := json.Unmarshal([]byte(out), &got); err != nil || code != 0 {
			t.Fatalf("exit %d, %v\n%s%s", code, err, out, errOut)
		}
		want := map[string]any{"dry_run": true, "matched": 6.0, "would_replay": 6.0, "replayed": 0.0, "skipped_total": 0.0,
			"skipped_by_reason": map[string]any{}, "failed": 0.0}
		if !reflect.DeepEqual(got, want) || !strings.Contains(errOut, "6 events match") {
			t.Errorf("summary %v, want %v; stderr %q", got, want, errOut)
		}
	})

	t.Run("usage and auth errors", func(t *testing.T) {
		if code, _, errOut := cli(func(string) string { return "" }, "--url", r.url); code != 2 || !strings.Contains(errOut, "RELAY_ADMIN_TOKEN") {
			t.Errorf("no token: exit %d %q", code, errOut)
		}
		wrong := func(k string) string {
			if k == "RELAY_ADMIN_TOKEN" {
				return "wrong"
			}
			return ""
		}
		if code, _, errOut := cli(wrong, "--url", r.url); code != 1 || !strings.Contains(errOut, "401") {
			t.Errorf("wrong token: exit %d %q", code, errOut)
		}
		if code, _, _ := cli(env, "--url", r.url, "--ids-file", "x", "--state", "failed"); code != 2 {
			t.Errorf("--ids-file with a filter: exit %d, want 2", code)
		}
		if code, _, _ := cli(env, "--url", r.url, "--since", "soon"); code != 2 {
			t.Errorf("bad --since: exit %d, want 2", code)
		}
	})

	t.Run("refused chunks fail the run", func(t *testing.T) {
		proxy.mode.Store("refuse")
		code, out, errOut := cli(env, "--url", proxyURL, "--chunk", "4")
		if code != 1 || !row(out, "failed", 6) || !row(out, "replayed", 0) || !strings.Contains(out, "chunk 1 failed") ||
			!strings.Contains(errOut, "could not be replayed") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		if st := r.stats(t); st.ByState["failed"] != 6 {
			t.Errorf("refused chunks changed states: %v", st.ByState)
		}
	})

	t.Run("lost answers are retried without replaying twice", func(t *testing.T) {
		recovered.Store(true)
		proxy.mode.Store("lose")
		before := proxy.posted.Load()
		code, out, errOut := cli(env, "--url", proxyURL, "--chunk", "4", "--vendor", "liasmart")
		if code != 0 || !row(out, "matched", 6) || !row(out, "replayed", 6) || !row(out, "failed", 0) ||
			!strings.Contains(out, "replay: 4/6 events processed") || !strings.Contains(out, "replay: 6/6 events processed") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		if n := proxy.posted.Load() - before; n != 4 {
			t.Errorf("%d replay requests, want 4 (2 chunks, each retried once)", n)
		}
		r.waitStates(t, 20*time.Second, map[string]int64{"confirmed": 7})
		for i := 1; i <= 6; i++ {
			if n := r.fake.CallsFor(fmt.Sprintf("bad-%d", i)); n != 2 {
				t.Errorf("bad-%d called %d times, want 2", i, n)
			}
		}
		var list struct {
			Items []struct {
				Actor  string `json:"actor"`
				DryRun bool   `json:"dry_run"`
				IDs    int    `json:"ids"`
			} `json:"items"`
		}
		r.admin(t, "GET", "/admin/v1/replays?limit=3", "", &list)
		if len(list.Items) != 3 || list.Items[0].DryRun || list.Items[0].Actor != "cli:tester" || list.Items[0].IDs != 2 ||
			list.Items[1].IDs != 4 || !list.Items[2].DryRun {
			t.Errorf("recorded replays %+v, want 2 chunks after a dry run", list.Items)
		}
	})

	t.Run("ids file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "ids")
		unknown := inbound.EventID("liasmart", "never").String()
		if err := os.WriteFile(file, []byte("# to retry\nliasmart:good-1\n\n"+unknown+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := cli(env, "--url", r.url, "--ids-file", file)
		if code != 0 || !row(out, "matched", 1) || !row(out, "replayed", 0) || !row(out, "  unknown id", 1) ||
			!row(out, "  state confirmed (force to replay)", 1) {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		if err := os.WriteFile(file, []byte("liasmart\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, _, errOut := cli(env, "--url", r.url, "--ids-file", file); code != 2 || !strings.Contains(errOut, ":1:") {
			t.Errorf("bad ids file: exit %d %q", code, errOut)
		}
	})

	t.Run("resume", func(t *testing.T) {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), []string{"resume", "--url", r.url, "liasmart"}, env, &out, &errOut); code != 0 ||
			!strings.Contains(out.String(), "was not paused") {
			t.Errorf("resume: exit %d %q %q", code, out.String(), errOut.String())
		}
		if code := run(context.Background(), []string{"resume", "--url", r.url}, env, &out, &errOut); code != 2 {
			t.Errorf("resume without a vendor: exit %d, want 2", code)
		}
	})
}
