package inbound_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"relay/internal/inbound"
)

// signedEnv is a server whose key app1 must sign its requests.
func signedEnv(t *testing.T, mod func(*inbound.Config)) *env {
	t.Helper()
	return newEnv(t, nil, func(c *inbound.Config) {
		c.SignedKeys = map[string]string{"app1": testKey}
		if mod != nil {
			mod(c)
		}
	})
}

// signedHeaders are the headers of body signed now with app1's secret.
func signedHeaders(body []byte, sig string) map[string]string {
	if sig == "" {
		sig = inbound.Sign(testKey, time.Now(), body)
	}
	return map[string]string{
		"Authorization": testBearer, "Content-Type": "application/json", inbound.SignatureHeader: sig,
	}
}

// TestSignatureReplayInAnotherCase: hex is case-insensitive, so the same
// MAC written in upper case is the same signature and must be refused as
// a replay.
func TestSignatureReplayInAnotherCase(t *testing.T) {
	t.Parallel()
	e := signedEnv(t, nil)
	body := []byte(event("upper-replay"))
	sig := inbound.Sign(testKey, time.Now(), body)
	resp, out := e.do(t, http.MethodPost, single, body, signedHeaders(body, sig))
	checkAccepted(t, resp, out, http.StatusAccepted, "upper-replay", false)

	ts, mac, ok := strings.Cut(sig, ",v1=")
	if !ok {
		t.Fatalf("signature %q has no v1", sig)
	}
	for _, replay := range []string{ts + ",v1=" + strings.ToUpper(mac), ts + ",v1=" + strings.ToUpper(mac[:1]) + mac[1:]} {
		resp, out = e.do(t, http.MethodPost, single, body, signedHeaders(body, replay))
		p := checkProblem(t, resp, out, http.StatusUnauthorized, "")
		if !strings.Contains(p.Detail, "used before") {
			t.Errorf("replay as %q: detail %q, want a replay refusal", replay, p.Detail)
		}
	}
	if n := e.msgs(t); n != 1 {
		t.Errorf("stream holds %d messages, want 1", n)
	}
}

// TestDistinctSignaturesUnderLoad: fresh, distinct signed requests from
// many keep-alive connections must all pass. The replay memory must not
// keep strings that share fasthttp's request buffers: those are reused
// for later requests, whose signatures then appear to be "used before".
func TestDistinctSignaturesUnderLoad(t *testing.T) {
	t.Parallel()
	e := signedEnv(t, nil)
	base := e.listen(t)
	const workers, each = 32, 30
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: workers, MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers,
	}}
	t.Cleanup(client.CloseIdleConnections)
	type refusal struct {
		status int
		body   string
	}
	var (
		mu       sync.Mutex
		refused  []refusal
		accepted int
		wg       sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				body := []byte(event(fmt.Sprintf("load-%02d-%02d", w, i)))
				req, err := http.NewRequest(http.MethodPost, base+single, bytes.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				for k, v := range signedHeaders(body, "") {
					req.Header.Set(k, v)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Errorf("request %d/%d: %v", w, i, err)
					return
				}
				out, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Errorf("reading answer %d/%d: %v", w, i, err)
					return
				}
				mu.Lock()
				if resp.StatusCode == http.StatusAccepted {
					accepted++
				} else {
					refused = append(refused, refusal{resp.StatusCode, string(out)})
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(refused) > 0 {
		t.Errorf("%d of %d distinct signed requests refused; first: %d %s", len(refused), workers*each, refused[0].status, refused[0].body)
	}
	if accepted != workers*each {
		t.Errorf("%d accepted, want %d", accepted, workers*each)
	}
	if n := e.msgs(t); n != workers*each {
		t.Errorf("stream holds %d messages, want %d", n, workers*each)
	}
}
