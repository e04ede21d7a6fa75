package signedapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"relay/internal/vendors/signedapi"
	"relay/internal/vendors/signedapi/signedapitest"
)

const (
	testKey    = "key-Zq81"
	testSecret = "secret-Pw93xx"
)

func newClient(baseURL string) *signedapi.Client {
	return signedapi.New(signedapi.Config{
		BaseURL: baseURL, APIKey: testKey, APISecret: testSecret,
		Now: signedapitest.SteppingClock(time.Unix(1630468800, 0), time.Second),
	})
}

// TestContract runs the family's contract against the bare transport, so
// that a regression there is found before the vendor packages run it.
func TestContract(t *testing.T) {
	t.Parallel()
	signedapitest.RunContract(t, signedapitest.Target{
		Vendor: signedapitest.Laaffic,
		Ops: []signedapitest.Op{{
			Name: "GetBalance",
			Path: "/v3/getBalance",
			Call: func(ctx context.Context, cfg signedapi.Config) error {
				_, err := signedapi.New(cfg).GetBalance(ctx, "/v3/getBalance")
				return err
			},
		}},
	})
}

func TestGetBalanceFromFake(t *testing.T) {
	t.Parallel()
	srv := signedapitest.NewServer(t, signedapitest.Options{APIKey: testKey, APISecret: testSecret})
	srv.SetBalance("0.000001", "12.5", "-100")
	b, err := newClient(srv.URL).GetBalance(context.Background(), "/v3/getBalance")
	if err != nil {
		t.Fatal(err)
	}
	if b.Balance.String() != "0.000001" || b.Gift.String() != "12.5" || b.Credit.String() != "-100" {
		t.Errorf("balance %+v", b)
	}
}

func TestBaseURLTrailingSlash(t *testing.T) {
	t.Parallel()
	srv := signedapitest.NewServer(t, signedapitest.Options{APIKey: testKey, APISecret: testSecret})
	if _, err := newClient(srv.URL+"/").GetBalance(context.Background(), "/v3/getBalance"); err != nil {
		t.Fatal(err)
	}
}

// A -16 refusal from a vendor that sends no Date cannot report a skew; the
// plain status error must still come back.
func TestTimestampExpiredWithoutDate(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header()["Date"] = nil // suppresses net/http's automatic Date
		fmt.Fprint(w, `{"status":"-16","reason":"Timestamp expires"}`)
	}))
	t.Cleanup(srv.Close)
	_, err := newClient(srv.URL).Get(context.Background(), "/v3/getBalance", "")
	var skew *signedapi.SkewError
	if !errors.Is(err, signedapi.ErrTimestampExpired) || errors.As(err, &skew) {
		t.Fatalf("error %v, want a bare ErrTimestampExpired", err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
}

// The signed headers must not follow a redirect to another host.
func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("redirect followed: got Sign %q", r.Header.Get("Sign"))
	}))
	t.Cleanup(other.Close)
	srv := httptest.NewServer(http.RedirectHandler(other.URL+"/v3/getBalance", http.StatusFound))
	t.Cleanup(srv.Close)
	_, err := newClient(srv.URL).Get(context.Background(), "/v3/getBalance", "")
	var he *signedapi.HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusFound || !signedapi.Permanent(err) {
		t.Fatalf("error %v, want a permanent HTTP 302", err)
	}
}

func TestOversizedAnswer(t *testing.T) {
	t.Parallel()
	srv := signedapitest.NewServer(t, signedapitest.Options{APIKey: testKey, APISecret: testSecret})
	srv.Enqueue(signedapitest.Fault{Body: `{"status":"0","reason":"` + strings.Repeat("x", 1<<20) + `"}`})
	_, err := newClient(srv.URL).Get(context.Background(), "/v3/getBalance", "")
	if !errors.Is(err, signedapi.ErrMalformedResponse) {
		t.Fatalf("error %v, want ErrMalformedResponse", err)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	for header, want := range map[string]time.Duration{
		"120":                  2 * time.Minute,
		"":                     0,
		"soon":                 0,
		"99999999999999999999": 0,
		"9999999999":           24 * time.Hour,
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if header != "" {
				w.Header().Set("Retry-After", header)
			}
			w.WriteHeader(http.StatusTooManyRequests)
		}))
		_, err := newClient(srv.URL).Get(context.Background(), "/v3/getBalance", "")
		srv.Close()
		var he *signedapi.HTTPError
		if !errors.As(err, &he) || he.RetryAfter != want {
			t.Errorf("Retry-After %q: error %v (%+v), want RetryAfter %s", header, err, he, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	good := signedapi.Config{BaseURL: "https://api.laaffic.com", APIKey: "k", APISecret: "s"}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for name, mutate := range map[string]func(*signedapi.Config){
		"empty BaseURL":    func(c *signedapi.Config) { c.BaseURL = "" },
		"path":             func(c *signedapi.Config) { c.BaseURL = "https://api.laaffic.com/v3" },
		"query":            func(c *signedapi.Config) { c.BaseURL = "https://api.laaffic.com?x=1" },
		"no scheme":        func(c *signedapi.Config) { c.BaseURL = "api.laaffic.com" },
		"user info":        func(c *signedapi.Config) { c.BaseURL = "https://u:" + testSecret + "@api.laaffic.com" },
		"unparseable":      func(c *signedapi.Config) { c.BaseURL = "https://" + testSecret + "%zz" },
		"empty key":        func(c *signedapi.Config) { c.APIKey = "" },
		"empty secret":     func(c *signedapi.Config) { c.APISecret = "" },
		"negative timeout": func(c *signedapi.Config) { c.Timeout = -time.Second },
	} {
		c := good
		mutate(&c)
		err := c.Validate()
		if !errors.Is(err, signedapi.ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
			continue
		}
		if strings.Contains(err.Error(), testSecret) {
			t.Errorf("%s: error %q holds the secret", name, err)
		}
	}
}

// A Config printed or logged by mistake must not show the credentials.
func TestConfigRedacted(t *testing.T) {
	t.Parallel()
	cfg := signedapi.Config{BaseURL: "https://api.laaffic.com", APIKey: testKey, APISecret: testSecret}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "cfg", cfg)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "cfg", cfg)
	for _, out := range []string{
		fmt.Sprint(cfg), fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg), fmt.Sprintf("%v", &cfg), logged.String(),
	} {
		if strings.Contains(out, testSecret) || strings.Contains(out, testKey) {
			t.Errorf("credentials printed: %s", out)
		}
		if !strings.Contains(out, "api.laaffic.com") {
			t.Errorf("base URL not printed: %s", out)
		}
	}
}
