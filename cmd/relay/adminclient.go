package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"relay/internal/config"
	"relay/internal/inbound"
	"relay/internal/ops"
)

// The replay and resume commands talk to the running relay's admin API
// rather than to PostgreSQL and NATS: relay may run an embedded NATS the
// CLI cannot reach, and the API is where replays are recorded and made
// idempotent. One code path, whoever asks. adminClient is the one place
// that knows that API: its paths and parameters, the token, problem+json
// errors, and which calls may be repeated.

// adminRetryWait is the first pause before a transient failure is
// retried; it doubles up to 4s, for 5 tries in all (tests shorten it).
var adminRetryWait = 250 * time.Millisecond

// adminClient calls the admin API with the admin token.
type adminClient struct {
	base  string
	token string
	actor string
	hc    *http.Client
	retry retrier
}

// newAdminClient reads the token (RELAY_ADMIN_TOKEN) and, when base is
// empty, the address (RELAY_HTTP_ADDR) from the environment.
func newAdminClient(base string, getenv func(string) string) (*adminClient, error) {
	token := strings.TrimSpace(getenv("RELAY_ADMIN_TOKEN"))
	if token == "" {
		return nil, usageError{errors.New("RELAY_ADMIN_TOKEN must be set to the running relay's admin token")}
	}
	if base == "" {
		addr := strings.TrimSpace(getenv("RELAY_HTTP_ADDR"))
		if addr == "" {
			addr = config.Defaults().HTTPAddr
		}
		base = "http://" + dialable(addr)
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError{fmt.Errorf("--url %q: want http(s)://host:port", base)}
	}
	actor := "cli"
	if user := getenv("USER"); user != "" && len(user) <= 40 {
		actor = "cli:" + user
	}
	return &adminClient{base: strings.TrimRight(base, "/"), token: token, actor: actor,
		hc: &http.Client{Timeout: 2 * time.Minute}, retry: retrier{first: adminRetryWait, max: 4 * time.Second, tries: 5}}, nil
}

// dialable turns a listen address into one to connect to: a wildcard host
// (":8080", "0.0.0.0:8080") means this machine.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

// eventPage is one page of GET /admin/v1/registrations.
type eventPage struct {
	Items      []inbound.EventView `json:"items"`
	NextCursor string              `json:"next_cursor"`
}

// list reads one page of the events matching f, after cursor (empty: the
// first page).
func (c *adminClient) list(ctx context.Context, f ops.ReplayFilter, limit int, cursor string) (eventPage, error) {
	q := url.Values{}
	if len(f.State) > 0 {
		q.Set("state", strings.Join(f.State, ","))
	}
	for k, v := range map[string]string{"vendor": f.Vendor, "message_id": f.MessageID, "since": f.Since, "until": f.Until, "cursor": cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	q.Set("limit", strconv.Itoa(limit))
	var page eventPage
	err := c.call(ctx, http.MethodGet, "/admin/v1/registrations?"+q.Encode(), nil, "", true, &page)
	return page, err
}

// replay sends one replay request. Only with a key (Idempotency-Key) is it
// retried: relay answers a repeat from its record instead of replaying
// again (and a repeated dry run would be recorded twice).
func (c *adminClient) replay(ctx context.Context, req ops.ReplayRequest, key string) (ops.ReplayResult, error) {
	var res ops.ReplayResult
	err := c.call(ctx, http.MethodPost, "/admin/v1/replays", req, key, key != "", &res)
	return res, err
}

// resume lifts vendor's pause; it is idempotent, so it is retried.
func (c *adminClient) resume(ctx context.Context, vendor string) (ops.ResumeResult, error) {
	var res ops.ResumeResult
	err := c.call(ctx, http.MethodPost, "/admin/v1/vendors/"+url.PathEscape(vendor)+"/resume", nil, "", true, &res)
	return res, err
}

// call sends one request; when retryable (safe to repeat), transient
// failures are retried.
func (c *adminClient) call(ctx context.Context, method, path string, body any, key string, retryable bool, out any) error {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return err
		}
	}
	send := func() error { return c.once(ctx, method, path, raw, key, out) }
	if !retryable {
		return send()
	}
	return c.retry.do(ctx, send, transient)
}

func (c *adminClient) once(ctx context.Context, method, path string, body []byte, key string, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Relay-Actor", c.actor)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return problemError(resp.StatusCode, path, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: unexpected answer: %w", method, path, err)
	}
	return nil
}

// httpError is an answer other than 2xx, with its problem detail.
type httpError struct {
	status int
	detail string
}

func (e *httpError) Error() string {
	if e.detail == "" {
		return "HTTP " + strconv.Itoa(e.status)
	}
	return fmt.Sprintf("HTTP %d: %s", e.status, e.detail)
}

// problemError reads an RFC 9457 problem answer (its detail, else its
// title) into an httpError.
func problemError(status int, path string, body []byte) *httpError {
	var p struct {
		Detail string `json:"detail"`
		Title  string `json:"title"`
	}
	_ = json.Unmarshal(body, &p)
	he := &httpError{status: status, detail: p.Detail}
	if he.detail == "" {
		he.detail = p.Title
	}
	if status == http.StatusNotFound && strings.HasPrefix(path, "/admin/") && p.Detail != "" {
		he.detail += " (is RELAY_ADMIN_TOKEN set on the server?)"
	}
	return he
}

// transient reports whether a retry may succeed: the server was busy, gone
// for a moment, or the replay under this key is still running.
func transient(err error) bool {
	var he *httpError
	if errors.As(err, &he) {
		switch he.status {
		case http.StatusConflict, http.StatusTooManyRequests, http.StatusBadGateway,
			http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	return true // the request did not get an answer
}

// refused reports whether the server refused the token or has no admin
// API: every further call would fail the same way.
func refused(err error) bool {
	var he *httpError
	return errors.As(err, &he) && (he.status == http.StatusUnauthorized || he.status == http.StatusNotFound)
}

// retrier repeats a call while it fails transiently: tries in all, the
// first wait doubling up to max.
type retrier struct {
	first, max time.Duration
	tries      int
}

// do calls f until it succeeds, fails for good (not retry(err)), the tries
// are spent or ctx ends; it returns f's last error (ctx's when it ended
// during a wait).
func (r retrier) do(ctx context.Context, f func() error, retry func(error) bool) error {
	wait := r.first
	for try := 1; ; try++ {
		err := f()
		if err == nil || !retry(err) || try >= r.tries || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		wait = min(2*wait, r.max)
	}
}
