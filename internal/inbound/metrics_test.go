package inbound_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"relay/internal/inbound"
	"relay/internal/metrics"
)

// TestMetricsElsewhere: with MetricsElsewhere the API has no /metrics,
// and MetricsHandler serves the same metrics on a listener of its own,
// where nothing else is.
func TestMetricsElsewhere(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	e := newEnv(t, nil, func(c *inbound.Config) {
		c.Metrics = m
		c.MetricsElsewhere = true
	})
	resp, out := e.do(t, http.MethodGet, "/metrics", nil, nil)
	checkProblem(t, resp, out, http.StatusNotFound, "")
	// A request the API counts, to find on the other listener.
	resp, out = e.do(t, http.MethodGet, "/healthz", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %d %s", resp.StatusCode, out)
	}

	ms := httptest.NewServer(inbound.MetricsHandler(m))
	t.Cleanup(ms.Close)
	get := func(method, path string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, ms.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := ms.Client().Do(req)
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
	code, body := get(http.MethodGet, "/metrics")
	if code != http.StatusOK || !strings.Contains(body, `relay_ingest_requests_total{code="200",route="/healthz"} 1`) {
		t.Errorf("metrics listener: %d, want 200 with the API's request counted; body %.600s", code, body)
	}
	for _, c := range [][2]string{{http.MethodGet, "/healthz"}, {http.MethodGet, "/"}, {http.MethodGet, "/metrics/x"}, {http.MethodPost, "/metrics"}} {
		if code, _ := get(c[0], c[1]); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
			t.Errorf("metrics listener, %s %s: %d, want 404 or 405", c[0], c[1], code)
		}
	}
}

// TestMetricsOnTheAPIByDefault: without MetricsElsewhere the API serves
// /metrics without credentials.
func TestMetricsOnTheAPIByDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	if resp, out := e.do(t, http.MethodGet, "/healthz", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %d %s", resp.StatusCode, out)
	}
	resp, out := e.do(t, http.MethodGet, "/metrics", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(out), `relay_ingest_requests_total{code="200",route="/healthz"} 1`) {
		t.Errorf("/metrics: %d %.300s", resp.StatusCode, out)
	}
}
