package jpushtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"relay/internal/vendors/jpush"
	"relay/internal/vendors/jpush/jpushtest"
)

// recordingTB captures Errorf so that a test can check the fake reports
// mismatches, without failing itself.
type recordingTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recordingTB) reported() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// do sends a raw request, returning status and body.
func do(t *testing.T, srv *jpushtest.Server, method, path, contentType, user, pass string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestChecksRequests(t *testing.T) {
	t.Parallel()
	const appJSON = "application/json"
	cases := []struct {
		name             string
		method, path, ct string
		user, pass       string
		status           int
		problem          string
		code             int
	}{
		{"seed's dev request", "GET", jpush.DevPath, appJSON, jpushtest.DevKey, jpushtest.DevSecret, 200, "", 0},
		{"seed's app request", "GET", jpush.AppPath, appJSON, jpushtest.AppKey, jpushtest.MasterSecret, 200, "", 0},
		{"charset parameter is fine", "GET", jpush.DevPath, "application/json; charset=utf-8", jpushtest.DevKey, jpushtest.DevSecret, 200, "", 0},
		{"unknown path", "GET", "/v1/accounts", appJSON, jpushtest.DevKey, jpushtest.DevSecret, 404, "path", 0},
		{"trailing slash", "GET", jpush.DevPath + "/", appJSON, jpushtest.DevKey, jpushtest.DevSecret, 404, "path", 0},
		{"POST", "POST", jpush.DevPath, appJSON, jpushtest.DevKey, jpushtest.DevSecret, 405, "method POST", 0},
		{"no content type", "GET", jpush.AppPath, "", jpushtest.AppKey, jpushtest.MasterSecret, 415, "Content-Type", 0},
		{"form content type", "GET", jpush.AppPath, "application/x-www-form-urlencoded", jpushtest.AppKey, jpushtest.MasterSecret, 415, "Content-Type", 0},
		{"no auth", "GET", jpush.DevPath, appJSON, "", "", 401, "credentials", jpushtest.AuthFailedCode},
		{"wrong secret", "GET", jpush.DevPath, appJSON, jpushtest.DevKey, "nope", 401, "credentials", jpushtest.AuthFailedCode},
		{"app pair on dev", "GET", jpush.DevPath, appJSON, jpushtest.AppKey, jpushtest.MasterSecret, 401, "not the dev pair", jpushtest.AuthFailedCode},
		{"dev pair on app", "GET", jpush.AppPath, appJSON, jpushtest.DevKey, jpushtest.DevSecret, 401, "not the app pair", jpushtest.AuthFailedCode},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tb := &recordingTB{TB: t}
			srv := jpushtest.NewServer(tb, jpushtest.Options{})
			status, body := do(t, srv, tc.method, tc.path, tc.ct, tc.user, tc.pass)
			if status != tc.status {
				t.Errorf("status %d, want %d (body %s)", status, tc.status, body)
			}
			reqs := srv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("requests %+v", reqs)
			}
			problems := strings.Join(reqs[0].Problems, "; ")
			reported := strings.Join(tb.reported(), "; ")
			if tc.problem == "" {
				if problems != "" || reported != "" {
					t.Errorf("problems %q, reported %q, want none", problems, reported)
				}
				return
			}
			if !strings.Contains(problems, tc.problem) || !strings.Contains(reported, tc.problem) {
				t.Errorf("problems %q, reported %q, want %q in both", problems, reported, tc.problem)
			}
			if strings.Contains(reported, jpushtest.DevSecret) || strings.Contains(reported, jpushtest.MasterSecret) {
				t.Errorf("report %q prints a secret", reported)
			}
			var env struct {
				Error *struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &env); err != nil || env.Error == nil || env.Error.Code != tc.code {
				t.Errorf("body %s: want the vendor's error object with code %d", body, tc.code)
			}
		})
	}
}

func TestLenientDoesNotReport(t *testing.T) {
	t.Parallel()
	tb := &recordingTB{TB: t}
	srv := jpushtest.NewServer(tb, jpushtest.Options{Lenient: true})
	if status, _ := do(t, srv, "GET", jpush.DevPath, "application/json", "x", "y"); status != 401 {
		t.Errorf("status %d, want 401", status)
	}
	if r := tb.reported(); len(r) != 0 {
		t.Errorf("lenient server reported %v", r)
	}
	if reqs := srv.Requests(); len(reqs) != 1 || len(reqs[0].Problems) != 1 || reqs[0].User != "x" {
		t.Errorf("requests %+v, want the problem recorded", reqs)
	}
}

func TestCustomCredentials(t *testing.T) {
	t.Parallel()
	srv := jpushtest.NewServer(t, jpushtest.Options{DevKey: "dk", DevSecret: "ds", AppKey: "ak", MasterSecret: "ms"})
	cfg := srv.Config()
	if cfg.DevKey != "dk" || cfg.DevSecret != "ds" || cfg.AppKey != "ak" || cfg.MasterSecret != "ms" || cfg.BaseURL != srv.URL {
		t.Fatalf("Config() = %+v", cfg)
	}
	c := jpush.New(cfg)
	if _, err := c.DevBalance(context.Background()); err != nil {
		t.Error(err)
	}
	if _, err := c.AppBalance(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestResponses(t *testing.T) {
	t.Parallel()
	srv := jpushtest.NewServer(t, jpushtest.Options{
		Dev: jpushtest.Response{Quotas: &jpushtest.Quotas{Voice: jpushtest.Int(-1)}},
		App: jpushtest.Response{Error: &jpushtest.Error{Code: 7, Message: "m\"\n"}},
	})
	status, body := do(t, srv, "GET", jpush.DevPath, "application/json", jpushtest.DevKey, jpushtest.DevSecret)
	if want := `{"dev_balance":null,"dev_voice":-1,"dev_industry":null,"dev_market":null}`; status != 200 || body != want {
		t.Errorf("quotas: %d %s, want 200 %s", status, body, want)
	}
	status, body = do(t, srv, "GET", jpush.AppPath, "application/json", jpushtest.AppKey, jpushtest.MasterSecret)
	if want := `{"error":{"code":7,"message":"m\"\n"}}`; status != 400 || body != want {
		t.Errorf("error: %d %s, want 400 %s", status, body, want)
	}
	srv.Enqueue(jpush.AppPath, jpushtest.Response{Status: 502, Body: "<html>"}, jpushtest.Response{})
	for _, want := range []struct {
		status int
		body   string
	}{{502, "<html>"}, {200, jpushtest.AppSample}, {400, `{"error":{"code":7,"message":"m\"\n"}}`}} {
		status, body = do(t, srv, "GET", jpush.AppPath, "application/json", jpushtest.AppKey, jpushtest.MasterSecret)
		if status != want.status || body != want.body {
			t.Errorf("queued: %d %s, want %d %s", status, body, want.status, want.body)
		}
	}
	if n := srv.Count(jpush.AppPath); n != 4 {
		t.Errorf("Count(app) = %d, want 4", n)
	}
}

// TestCloseReleasesHang checks a hanging answer does not keep Close (and
// so the test's cleanup) waiting on a client without a deadline.
func TestCloseReleasesHang(t *testing.T) {
	t.Parallel()
	arrived := make(chan jpushtest.Request, 1)
	srv := jpushtest.Start(jpushtest.Options{
		Dev:       jpushtest.Response{Hang: true},
		OnRequest: func(r jpushtest.Request) { arrived <- r },
	})
	done := make(chan error, 1)
	go func() {
		_, err := jpush.New(srv.Config()).DevBalance(context.Background())
		done <- err
	}()
	if r := <-arrived; r.Path != jpush.DevPath || len(r.Problems) != 0 {
		t.Errorf("OnRequest got %+v", r)
	}
	srv.Close()
	err := <-done
	var apiErr *jpush.APIError
	if err == nil || errors.As(err, &apiErr) || errors.Is(err, jpush.ErrBadResponse) || !jpush.Retryable(err) {
		t.Errorf("err = %v, want a retryable transport error", err)
	}
	srv.Close() // idempotent
}
