package jpush_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"relay/internal/vendors/jpush"
	"relay/internal/vendors/jpush/jpushtest"
)

// setup starts a fake with opts and returns a client configured for it.
func setup(t *testing.T, opts jpushtest.Options) (*jpush.Client, *jpushtest.Server) {
	t.Helper()
	srv := jpushtest.NewServer(t, opts)
	return jpush.New(srv.Config()), srv
}

// secrets are the strings no error may contain when the fake's default
// credentials are in use.
var secrets = []string{
	jpushtest.DevSecret,
	jpushtest.MasterSecret,
	base64.StdEncoding.EncodeToString([]byte(jpushtest.DevKey + ":" + jpushtest.DevSecret)),
	base64.StdEncoding.EncodeToString([]byte(jpushtest.AppKey + ":" + jpushtest.MasterSecret)),
	"Basic ",
	"Authorization",
}

func assertNoSecret(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains secret %q", err, s)
		}
	}
}

func TestSamples(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, jpushtest.Options{})
	dev, err := c.DevBalance(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (jpush.DevBalance{Balance: jpush.QuotaOf(9), Voice: jpush.QuotaOf(702), Industry: jpush.QuotaOf(121981), Market: jpush.QuotaOf(11683)}); dev != want {
		t.Errorf("DevBalance = %+v, want %+v", dev, want)
	}
	app, err := c.AppBalance(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (jpush.AppBalance{Balance: jpush.QuotaOf(1), Voice: jpush.QuotaOf(22), Industry: jpush.QuotaOf(44), Market: jpush.QuotaOf(14)}); app != want {
		t.Errorf("AppBalance = %+v, want %+v", app, want)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("requests = %+v, want 2", reqs)
	}
	for i, want := range []struct{ path, user string }{{jpush.DevPath, jpushtest.DevKey}, {jpush.AppPath, jpushtest.AppKey}} {
		r := reqs[i]
		if r.Method != http.MethodGet || r.Path != want.path || r.User != want.user || !r.AuthOK ||
			r.ContentType != "application/json" || len(r.Problems) > 0 {
			t.Errorf("request %d = %+v, want GET %s as %s with application/json", i, r, want.path, want.user)
		}
	}
}

// TestFakeServesSeedVerbatim keeps the fake's default answers identical
// to the seed's samples copied into testdata.
func TestFakeServesSeedVerbatim(t *testing.T) {
	t.Parallel()
	for file, sample := range map[string]string{"dev_balance.json": jpushtest.DevSample, "app_balance.json": jpushtest.AppSample} {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSuffix(string(b), "\n") != sample {
			t.Errorf("jpushtest sample %q differs from testdata/%s %q", sample, file, b)
		}
	}
}

func TestReadings(t *testing.T) {
	t.Parallel()
	dev := jpush.DevBalance{Balance: jpush.QuotaOf(1), Industry: jpush.QuotaOf(0)}
	app := jpush.AppBalance{Balance: jpush.QuotaOf(1), Industry: jpush.QuotaOf(0)}
	for _, rs := range [][]jpush.Reading{dev.Readings(), app.Readings()} {
		want := []jpush.Reading{
			{Kind: jpush.KindBalance, Quota: jpush.QuotaOf(1)},
			{Kind: jpush.KindVoice},
			{Kind: jpush.KindIndustry, Quota: jpush.QuotaOf(0)},
			{Kind: jpush.KindMarket},
		}
		if len(rs) != len(want) {
			t.Fatalf("readings = %v", rs)
		}
		for i := range want {
			if rs[i] != want[i] {
				t.Errorf("reading %d = %+v, want %+v", i, rs[i], want[i])
			}
		}
	}
	if jpush.KindBalance != "balance" || jpush.KindVoice != "voice" || jpush.KindIndustry != "industry" || jpush.KindMarket != "market" {
		t.Error("kinds must be the seed's field names without prefix")
	}
}

func TestNullIsNotZero(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, jpushtest.Options{
		Dev: jpushtest.Response{Quotas: &jpushtest.Quotas{}},
		App: jpushtest.Response{Quotas: &jpushtest.Quotas{Balance: jpushtest.Int(0), Market: jpushtest.Int(5)}},
	})
	dev, err := c.DevBalance(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range dev.Readings() {
		if r.Quota.Allocated || r.Quota.String() != "not allocated" {
			t.Errorf("dev %s = %+v (%s), want not allocated", r.Kind, r.Quota, r.Quota)
		}
	}
	app, err := c.AppBalance(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if app.Balance != jpush.QuotaOf(0) || app.Balance.String() != "0" {
		t.Errorf("app balance = %+v, want allocated 0", app.Balance)
	}
	if app.Voice.Allocated || app.Industry.Allocated {
		t.Errorf("app voice/industry = %+v/%+v, want not allocated", app.Voice, app.Industry)
	}
	if app.Market != jpush.QuotaOf(5) {
		t.Errorf("app market = %+v, want 5", app.Market)
	}
	if app.Balance == app.Voice {
		t.Error("0 and null compare equal")
	}
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		resp         jpushtest.Response
		status, code int
		retryable    bool
		unauthorized bool
	}{
		{"401 auth failed", jpushtest.Response{Status: 401, Error: &jpushtest.Error{Code: 50001, Message: "auth failed"}}, 401, 50001, false, true},
		{"403 any code", jpushtest.Response{Status: 403, Error: &jpushtest.Error{Code: 12345, Message: "forbidden"}}, 403, 12345, false, true},
		{"403 bare", jpushtest.Response{Status: 403}, 403, 0, false, true},
		{"auth code under 400", jpushtest.Response{Error: &jpushtest.Error{Code: 50001, Message: "auth failed"}}, 400, 50001, false, true},
		{"auth code under 200", jpushtest.Response{Status: 200, Error: &jpushtest.Error{Code: 50001, Message: "auth failed"}}, 200, 50001, false, true},
		{"unknown code under 200", jpushtest.Response{Status: 200, Error: &jpushtest.Error{Code: 59999, Message: "?"}}, 200, 59999, true, false},
		{"400 other code", jpushtest.Response{Error: &jpushtest.Error{Code: 50002, Message: "bad"}}, 400, 50002, false, false},
		{"404", jpushtest.Response{Status: 404, Body: "not found"}, 404, 0, false, false},
		{"408", jpushtest.Response{Status: 408}, 408, 0, true, false},
		{"429", jpushtest.Response{Status: 429, Error: &jpushtest.Error{Code: 50009, Message: "over frequency"}}, 429, 50009, true, false},
		{"500 with error object", jpushtest.Response{Status: 500, Error: &jpushtest.Error{Code: 50019, Message: "server error"}}, 500, 50019, true, false},
		{"502 html", jpushtest.Response{Status: 502, Body: "<html>bad gateway</html>"}, 502, 0, true, false},
		{"503 empty", jpushtest.Response{Status: 503}, 503, 0, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _ := setup(t, jpushtest.Options{Dev: tc.resp, App: tc.resp})
			_, devErr := c.DevBalance(context.Background())
			_, appErr := c.AppBalance(context.Background())
			for _, err := range []error{devErr, appErr} {
				var apiErr *jpush.APIError
				if !errors.As(err, &apiErr) {
					t.Fatalf("err = %v (%T), want *APIError", err, err)
				}
				if apiErr.HTTPStatus != tc.status || apiErr.Code != tc.code {
					t.Errorf("APIError = %+v, want status %d code %d", apiErr, tc.status, tc.code)
				}
				if tc.resp.Error != nil && apiErr.Message != tc.resp.Error.Message {
					t.Errorf("Message = %q, want %q", apiErr.Message, tc.resp.Error.Message)
				}
				if got := jpush.Retryable(err); got != tc.retryable {
					t.Errorf("Retryable(%v) = %t, want %t", err, got, tc.retryable)
				}
				if got := errors.Is(err, jpush.ErrUnauthorized); got != tc.unauthorized {
					t.Errorf("errors.Is(%v, ErrUnauthorized) = %t, want %t", err, got, tc.unauthorized)
				}
				assertNoSecret(t, err)
			}
		})
	}
}

func TestBadBodies(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"garbage":      "\x00\xffnot json",
		"html":         "<html>maintenance</html>",
		"truncated":    `{ "dev_balance": 9, "dev_vo`,
		"wrong shape":  `{"status":"ok"}`,
		"not integer":  `{"dev_balance":"lots","app_balance":"lots"}`,
		"array":        `[9,702,121981,11683]`,
		"huge":         `{"dev_balance":` + strings.Repeat("9", 70<<10) + `}`,
		"seed's error": "{\n\"error\": {\n\"code\": *****,\n\"message\": \"*****\"\n}\n}\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, _ := setup(t, jpushtest.Options{Dev: jpushtest.Response{Body: body}, App: jpushtest.Response{Body: body}})
			_, devErr := c.DevBalance(context.Background())
			_, appErr := c.AppBalance(context.Background())
			for _, err := range []error{devErr, appErr} {
				if !errors.Is(err, jpush.ErrBadResponse) || !jpush.Retryable(err) {
					t.Errorf("err = %v, want retryable ErrBadResponse", err)
				}
				assertNoSecret(t, err)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	srv := jpushtest.NewServer(t, jpushtest.Options{Dev: jpushtest.Response{Hang: true}})
	cfg := srv.Config()
	cfg.Timeout = 50 * time.Millisecond
	c := jpush.New(cfg)
	start := time.Now()
	_, err := c.DevBalance(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) || !jpush.Retryable(err) {
		t.Errorf("err = %v, want retryable DeadlineExceeded", err)
	}
	// Far below the 10s default: the configured timeout, not luck, ended it.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("call took %v with a 50ms timeout", d)
	}
	assertNoSecret(t, err)
	if srv.Count(jpush.DevPath) != 1 {
		t.Errorf("requests = %+v", srv.Requests())
	}
	// The other endpoint is unaffected by the hang. Asked with the default
	// timeout: 50 ms is for the hang, not for a loaded machine's answer.
	if _, err := jpush.New(srv.Config()).AppBalance(context.Background()); err != nil {
		t.Errorf("AppBalance: %v", err)
	}
}

func TestCallerDeadlineShorterThanTimeout(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, jpushtest.Options{App: jpushtest.Response{Hang: true}})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.AppBalance(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !jpush.Retryable(err) {
		t.Errorf("err = %v, want retryable DeadlineExceeded", err)
	}
}

func TestCallerCancelled(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, jpushtest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.DevBalance(ctx)
	if !errors.Is(err, context.Canceled) || jpush.Retryable(err) {
		t.Errorf("err = %v, want non-retryable Canceled", err)
	}
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	srv := jpushtest.Start(jpushtest.Options{})
	cfg := srv.Config()
	srv.Close()
	_, err := jpush.New(cfg).DevBalance(context.Background())
	if err == nil || !jpush.Retryable(err) {
		t.Errorf("err = %v, want retryable transport error", err)
	}
	assertNoSecret(t, err)
}

func TestNotConfigured(t *testing.T) {
	t.Parallel()
	srv := jpushtest.NewServer(t, jpushtest.Options{})
	full := srv.Config()
	cases := []struct {
		name           string
		edit           func(*jpush.Config)
		devOK, appOK   bool
		devErr, appErr string
	}{
		{"both pairs", func(*jpush.Config) {}, true, true, "", ""},
		{"none", func(c *jpush.Config) { *c = jpush.Config{BaseURL: c.BaseURL} }, false, false, "DevKey and DevSecret are empty", "AppKey and MasterSecret are empty"},
		{"dev secret missing", func(c *jpush.Config) { c.DevSecret = "" }, false, true, "DevSecret is empty", ""},
		{"dev key missing", func(c *jpush.Config) { c.DevKey = "" }, false, true, "DevKey is empty", ""},
		{"master secret missing", func(c *jpush.Config) { c.MasterSecret = "" }, true, false, "", "MasterSecret is empty"},
		{"app key missing", func(c *jpush.Config) { c.AppKey = "" }, true, false, "", "AppKey is empty"},
	}
	for _, tc := range cases {
		cfg := full
		tc.edit(&cfg)
		c := jpush.New(cfg)
		if c.DevConfigured() != tc.devOK || c.AppConfigured() != tc.appOK {
			t.Errorf("%s: DevConfigured %t AppConfigured %t, want %t %t", tc.name, c.DevConfigured(), c.AppConfigured(), tc.devOK, tc.appOK)
		}
		_, devErr := c.DevBalance(context.Background())
		_, appErr := c.AppBalance(context.Background())
		for _, x := range []struct {
			err  error
			want string
		}{{devErr, tc.devErr}, {appErr, tc.appErr}} {
			if x.want == "" {
				if x.err != nil {
					t.Errorf("%s: unexpected error %v", tc.name, x.err)
				}
				continue
			}
			if !errors.Is(x.err, jpush.ErrNotConfigured) || !strings.Contains(x.err.Error(), x.want) || jpush.Retryable(x.err) {
				t.Errorf("%s: err = %v, want non-retryable ErrNotConfigured naming %q", tc.name, x.err, x.want)
			}
			assertNoSecret(t, x.err)
		}
	}
	// Unconfigured calls never reach the vendor: only the complete pairs
	// above made requests.
	if got := len(srv.Requests()); got != 6 {
		t.Errorf("server saw %d requests, want 6", got)
	}
}

func TestInvalidBaseURL(t *testing.T) {
	t.Parallel()
	for _, base := range []string{
		"api.sms.jpush.cn",
		"ftp://api.sms.jpush.cn",
		"https://",
		"https://user:hunter2@api.sms.jpush.cn",
		"https://api.sms.jpush.cn/v1",
		"https://api.sms.jpush.cn?x=1",
		"https://api.sms.jpush.cn/#frag",
		"https://hunter2\x7f.example",
		"://hunter2",
	} {
		cfg := jpush.Config{BaseURL: base, DevKey: "k", DevSecret: "s", AppKey: "k", MasterSecret: "s"}
		_, err := jpush.New(cfg).DevBalance(context.Background())
		if !errors.Is(err, jpush.ErrInvalidConfig) || jpush.Retryable(err) {
			t.Errorf("BaseURL %q: err = %v, want non-retryable ErrInvalidConfig", base, err)
		}
		if err := cfg.Validate(); !errors.Is(err, jpush.ErrInvalidConfig) {
			t.Errorf("BaseURL %q: Validate = %v", base, err)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("BaseURL %q: Validate error %q quotes the URL", base, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("BaseURL %q: error %q quotes the URL", base, err)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  jpush.Config
		want string // "" means valid
	}{
		{jpush.Config{}, ""},
		{jpush.Config{BaseURL: "http://127.0.0.1:8080/", DevKey: "k", DevSecret: "s"}, ""},
		{jpush.Config{AppKey: "k"}, "MasterSecret is empty"},
		{jpush.Config{DevSecret: "s"}, "DevKey is empty"},
		{jpush.Config{Timeout: -time.Second}, "Timeout is negative"},
	} {
		err := tc.cfg.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (!errors.Is(err, jpush.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// TestNoSecretInErrors makes the vendor echo the credentials back in its
// error message, the worst case for a log line.
func TestNoSecretInErrors(t *testing.T) {
	t.Parallel()
	echo := "got Authorization: Basic " + secrets[2] + " / " + secrets[3] +
		" devSecret=" + jpushtest.DevSecret + " masterSecret=" + jpushtest.MasterSecret
	c, _ := setup(t, jpushtest.Options{
		Dev: jpushtest.Response{Status: 401, Error: &jpushtest.Error{Code: 50001, Message: echo}},
		App: jpushtest.Response{Status: 500, Error: &jpushtest.Error{Code: 50019, Message: echo}},
	})
	_, devErr := c.DevBalance(context.Background())
	_, appErr := c.AppBalance(context.Background())
	for _, err := range []error{devErr, appErr} {
		var apiErr *jpush.APIError
		if !errors.As(err, &apiErr) {
			t.Fatalf("err = %v", err)
		}
		for _, s := range secrets[:4] {
			if strings.Contains(apiErr.Message, s) {
				t.Errorf("APIError.Message %q keeps %q", apiErr.Message, s)
			}
		}
		if !strings.Contains(apiErr.Message, "[redacted]") {
			t.Errorf("Message %q: expected redaction marks", apiErr.Message)
		}
		for _, s := range secrets[:4] {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error %q contains %q", err, s)
			}
		}
	}
}

func TestCredentialsPerEndpoint(t *testing.T) {
	t.Parallel()
	srv := jpushtest.NewServer(t, jpushtest.Options{Lenient: true})
	cfg := srv.Config()
	// Each pair sent to the other endpoint: the fake must refuse both.
	cfg.DevKey, cfg.DevSecret, cfg.AppKey, cfg.MasterSecret = cfg.AppKey, cfg.MasterSecret, cfg.DevKey, cfg.DevSecret
	c := jpush.New(cfg)
	_, devErr := c.DevBalance(context.Background())
	_, appErr := c.AppBalance(context.Background())
	for _, err := range []error{devErr, appErr} {
		if !errors.Is(err, jpush.ErrUnauthorized) || jpush.Retryable(err) {
			t.Errorf("err = %v, want permanent ErrUnauthorized", err)
		}
		assertNoSecret(t, err)
	}
	for _, r := range srv.Requests() {
		if r.AuthOK || len(r.Problems) != 1 {
			t.Errorf("request %+v: want one credentials problem", r)
		}
	}
}

func TestRetryThenSuccess(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, jpushtest.Options{})
	srv.Enqueue(jpush.DevPath, jpushtest.Response{Status: 503}, jpushtest.Response{Body: "<html>"})
	for i := 0; i < 2; i++ {
		if _, err := c.DevBalance(context.Background()); !jpush.Retryable(err) {
			t.Fatalf("call %d: err = %v, want retryable", i, err)
		}
	}
	dev, err := c.DevBalance(context.Background())
	if err != nil || dev.Balance != jpush.QuotaOf(9) {
		t.Fatalf("third call = %+v, %v", dev, err)
	}
	srv.SetResponse(jpush.DevPath, jpushtest.Response{Quotas: &jpushtest.Quotas{Balance: jpushtest.Int(3)}})
	if dev, err := c.DevBalance(context.Background()); err != nil || dev.Balance != jpush.QuotaOf(3) || dev.Voice.Allocated {
		t.Fatalf("after SetResponse = %+v, %v", dev, err)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	fake := jpushtest.NewServer(t, jpushtest.Options{})
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, fake.URL+r.URL.Path, http.StatusFound)
	}))
	t.Cleanup(redirect.Close)
	cfg := fake.Config()
	cfg.BaseURL, cfg.HTTPClient = redirect.URL, nil
	_, err := jpush.New(cfg).DevBalance(context.Background())
	var apiErr *jpush.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus != http.StatusFound || jpush.Retryable(err) {
		t.Errorf("err = %v, want permanent APIError 302", err)
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("redirect followed: fake saw %d requests", n)
	}
}

func TestRetryable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("other"), false},
		{jpush.ErrNotConfigured, false},
		{jpush.ErrInvalidConfig, false},
		{jpush.ErrBadResponse, true},
		{&jpush.APIError{HTTPStatus: 500}, true},
		{&jpush.APIError{HTTPStatus: 401}, false},
		{&jpush.APIError{HTTPStatus: 500, Code: 50001}, false},
		{&jpush.APIError{HTTPStatus: 400}, false},
		{context.Canceled, false},
	} {
		if got := jpush.Retryable(tc.err); got != tc.want {
			t.Errorf("Retryable(%v) = %t, want %t", tc.err, got, tc.want)
		}
	}
}

// TestConcurrent runs both calls from many goroutines, for the race
// detector and for the fake's bookkeeping.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, jpushtest.Options{})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Go(func() {
			if _, err := c.DevBalance(context.Background()); err != nil {
				t.Error(err)
			}
			if _, err := c.AppBalance(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if srv.Count(jpush.DevPath) != 20 || srv.Count(jpush.AppPath) != 20 {
		t.Errorf("counts %d/%d, want 20/20", srv.Count(jpush.DevPath), srv.Count(jpush.AppPath))
	}
}
