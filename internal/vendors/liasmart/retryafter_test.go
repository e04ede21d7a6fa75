package liasmart_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"relay/internal/vendors/liasmart"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"120", 2 * time.Minute}, {" 5 ", 5 * time.Second}, {"0", 0}, {"-3", 0}, {"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	} {
		if got := liasmart.ParseRetryAfter(c.in, now); got != c.want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestConfirmReportsRetryAfter(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	t.Cleanup(srv.Close)
	c := liasmart.New(liasmart.Config{BaseURL: srv.URL, APIID: "id", APIPassword: "pw", Timeout: 5 * time.Second})
	_, err := c.Call(context.Background(), "m1")
	var he *liasmart.HTTPError
	if !errors.As(err, &he) || he.StatusCode != 429 || he.RetryAfter != 7*time.Second {
		t.Fatalf("Confirm error = %#v, want HTTP 429 with RetryAfter 7s", err)
	}
}
