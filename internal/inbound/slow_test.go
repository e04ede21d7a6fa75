package inbound_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"relay/internal/inbound"
	"relay/internal/inbound/openapitest"
)

// TestSlowlorisIsCutOff sends a request head a byte at a time, slower than
// the read timeout allows: the server must drop the connection (or answer
// 408) instead of holding it open.
func TestSlowlorisIsCutOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, func(c *inbound.Config) { c.ReadTimeout = 300 * time.Millisecond })
	base := e.listen(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := "POST /v1/registrations HTTP/1.1\r\nHost: x\r\nAuthorization: " + testBearer + "\r\nX-Slow: "
	start := time.Now()
	closed := false
	for i := 0; i < 200 && !closed; i++ {
		if _, err := conn.Write([]byte{head[i%len(head)]}); err != nil {
			closed = true
			break
		}
		_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		buf := make([]byte, 512)
		n, err := conn.Read(buf)
		if n > 0 {
			if !strings.Contains(string(buf[:n]), " 408 ") {
				t.Fatalf("answer to a slow head: %q, want 408 or a closed connection", buf[:n])
			}
			closed = true
		}
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			closed = true // EOF or reset: the server hung up
		}
	}
	if !closed {
		t.Fatalf("connection still open after %s of a slow head (read timeout 300ms)", time.Since(start))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cut off after %s, want about the read timeout", d)
	}
}

// TestHeaderFloodIs431 sends more header bytes than the server reads.
func TestHeaderFloodIs431(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	base := e.listen(t)
	headers := map[string]string{"Authorization": testBearer, "Content-Type": "application/json"}
	for i := range 400 {
		headers["X-Flood-"+strings.Repeat("a", 10)+string(rune('a'+i%26))+string(rune('a'+i/26))] = strings.Repeat("v", 60)
	}
	// The server answers 431 and closes with our surplus bytes unread, so
	// the kernel may reset the connection before the client reads the
	// answer: a reset is a refusal too, but the 431 must be seen at least
	// once in a few tries.
	seen := false
	for try := 0; try < 5 && !seen; try++ {
		req, err := http.NewRequest(http.MethodPost, base+single, strings.NewReader(event("flood")))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		client := openapitest.Client(t, &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}})
		resp, err := client.Do(req)
		if err != nil {
			t.Logf("try %d: %v", try, err)
			continue
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		checkProblem(t, resp, out, http.StatusRequestHeaderFieldsTooLarge, "")
		seen = true
	}
	if !seen {
		t.Error("no 431 answer in 5 tries")
	}
	if n := e.msgs(t); n != 0 {
		t.Errorf("stream holds %d messages, want 0", n)
	}
}

// TestChunkedBodyOverLimitIs413 streams a body without Content-Length
// (chunked) past the single route's 64 KiB.
func TestChunkedBodyOverLimitIs413(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	base := e.listen(t)
	body := event("chunked", `"metadata":{"pad":"`+strings.Repeat("x", inbound.MaxSingleBody)+`"}`)
	req, err := http.NewRequest(http.MethodPost, base+single, io.NopCloser(bufio.NewReader(strings.NewReader(body))))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1 // unknown: net/http sends it chunked
	req.Header.Set("Authorization", testBearer)
	req.Header.Set("Content-Type", "application/json")
	client := openapitest.Client(t, &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}})
	resp, err := client.Do(req)
	if err != nil {
		// The server may answer and close before the client finished
		// writing; that is a refusal too, but then no 2xx was sent.
		t.Logf("client: %v", err)
		if n := e.msgs(t); n != 0 {
			t.Errorf("stream holds %d messages, want 0", n)
		}
		return
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	checkProblem(t, resp, out, http.StatusRequestEntityTooLarge, "")
	if n := e.msgs(t); n != 0 {
		t.Errorf("stream holds %d messages, want 0", n)
	}
}
