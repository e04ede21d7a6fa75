package inbound_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"relay/internal/inbound"
)

// TestReadyzNamesTheFailingCheckOnly: /readyz needs no credentials, so a
// failing check is named with "unavailable" and its error, which a
// driver fills with host, user and database, goes to the log only.
func TestReadyzNamesTheFailingCheckOnly(t *testing.T) {
	t.Parallel()
	const cause = "failed to connect to host=10.0.0.1 user=secret dbname=x: connection refused"
	var logs logBuffer
	e := newEnv(t, nil, func(c *inbound.Config) {
		c.Logger = logs.logger()
		c.Ready = map[string]inbound.Check{
			"postgres": func(context.Context) error { return errors.New(cause) },
			"nats":     func(context.Context) error { return nil },
		}
	})
	resp, out := e.do(t, http.MethodGet, "/readyz", nil, nil)
	p := checkProblem(t, resp, out, http.StatusServiceUnavailable, "")
	if p.Type != "urn:relay:problem:not-ready" {
		t.Errorf("type %q, want urn:relay:problem:not-ready", p.Type)
	}
	var checks map[string]string
	if err := json.Unmarshal([]byte(p.Detail), &checks); err != nil {
		t.Fatalf("detail %q is not a JSON object: %v", p.Detail, err)
	}
	if want := map[string]string{"postgres": "unavailable", "nats": "ok"}; len(checks) != 2 ||
		checks["postgres"] != want["postgres"] || checks["nats"] != want["nats"] {
		t.Errorf("checks %v, want %v", checks, want)
	}
	for _, leak := range []string{"10.0.0.1", "secret", "dbname", "connection refused"} {
		if strings.Contains(string(out), leak) {
			t.Errorf("the answer shows %q: %s", leak, out)
		}
	}
	logged := false
	for _, r := range logs.records(t) {
		if r["level"] == "WARN" && r["check"] == "postgres" && r["err"] == cause {
			logged = true
		}
	}
	if !logged {
		t.Errorf("no WARN record with check=postgres and the cause; log: %v", logs.records(t))
	}

	// All well: 200 with each check ok.
	e = newEnv(t, nil, func(c *inbound.Config) {
		c.Ready = map[string]inbound.Check{"nats": func(context.Context) error { return nil }}
	})
	resp, out = e.do(t, http.MethodGet, "/readyz", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(out), `"nats":"ok"`) {
		t.Errorf("ready: %d %s", resp.StatusCode, out)
	}
}
