package jpush_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"relay/internal/vendors/jpush"
	"relay/internal/vendors/jpush/jpushtest"
	"relay/internal/vendors/vendorbody"
)

// hostileServer answers every request with h and returns a client with the
// fake's credentials pointing at it.
func hostileServer(t *testing.T, timeout time.Duration, h http.HandlerFunc) *jpush.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg := jpushtest.NewServer(t, jpushtest.Options{}).Config()
	cfg.BaseURL, cfg.HTTPClient, cfg.Timeout = srv.URL, nil, timeout
	return jpush.New(cfg)
}

func safeText(t *testing.T, what, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("%s: %q is not valid UTF-8", what, s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			t.Errorf("%s: %q holds control character %U", what, s, r)
			break
		}
	}
	for _, secret := range []string{jpushtest.DevSecret, jpushtest.DevSecret[:len(jpushtest.DevSecret)/2], jpushtest.DevSecret[len(jpushtest.DevSecret)/2:]} {
		if strings.Contains(s, secret) {
			t.Errorf("%s: %q holds (a piece of) the secret", what, s)
		}
	}
}

func TestHostileAnswers(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		h     http.HandlerFunc
		check func(error) bool
	}{
		"huge 200": {func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"dev_balance":1`))
			chunk := []byte(strings.Repeat(" ", 32<<10))
			for n := 0; n < 20<<20 && r.Context().Err() == nil; n += len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}, func(err error) bool {
			return errors.Is(err, jpush.ErrBadResponse) && errors.Is(err, vendorbody.ErrTooLarge)
		}},
		"drip": {func(w http.ResponseWriter, r *http.Request) {
			for _, b := range []byte(`{"dev_balance":1}`) {
				_, _ = w.Write([]byte{b})
				w.(http.Flusher).Flush()
				select {
				case <-time.After(100 * time.Millisecond):
				case <-r.Context().Done():
					return
				}
			}
		}, func(err error) bool { return err != nil }},
		"message with NUL, invalid UTF-8 and the secret across the cut": {func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error":{"code":50019,"message":"` + strings.Repeat("m", 195) + jpushtest.DevSecret + `\u0000` + "\xff" + `\n"}}`))
		}, func(err error) bool {
			var apiErr *jpush.APIError
			return errors.As(err, &apiErr) && apiErr.Code == 50019
		}},
		"html 200": {func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html>\x00服务不可用</html>"))
		}, func(err error) bool { return errors.Is(err, jpush.ErrBadResponse) }},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := hostileServer(t, 500*time.Millisecond, tc.h)
			_, err := c.DevBalance(context.Background())
			if !tc.check(err) {
				t.Fatalf("err = %v, not the one expected", err)
			}
			if !jpush.Retryable(err) {
				t.Errorf("err = %v, want retryable", err)
			}
			safeText(t, "error", err.Error())
			var apiErr *jpush.APIError
			if errors.As(err, &apiErr) {
				safeText(t, "message", apiErr.Message)
			}
			assertNoSecret(t, err)
		})
	}
}

// TestRedirectNotFollowedWithTheCallersClient: a client passed in Config
// is copied without its redirect policy, so the Authorization header goes
// nowhere else.
func TestRedirectNotFollowedWithTheCallersClient(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(target.Close)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusFound)
	}))
	t.Cleanup(redirect.Close)
	cfg := jpushtest.NewServer(t, jpushtest.Options{}).Config()
	cfg.BaseURL, cfg.HTTPClient = redirect.URL, &http.Client{}
	_, err := jpush.New(cfg).DevBalance(context.Background())
	var apiErr *jpush.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus != http.StatusFound {
		t.Errorf("err = %v, want APIError 302", err)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("redirect followed: its target saw %d requests", n)
	}
}
