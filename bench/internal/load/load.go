// Package load drives HTTP load at a server: closed loop (N clients, each
// sending its next request when the previous one is answered) to find the
// maximum rate, and open loop (requests sent on a fixed schedule whatever
// the answers do) to measure latency at a given rate without coordinated
// omission: an open-loop latency runs from the moment the request was due,
// so a stall also delays, and is charged to, the requests queued behind it.
package load

import (
	"bytes"
	"cmp"
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"relay/bench/internal/stats"
)

// Target is what to send.
type Target struct {
	URL string
	// Header is set on every request (Authorization, Content-Type).
	Header http.Header
	// Body appends the body of request n to buf. n is unique across every
	// run that shares the Target's Seq.
	Body func(buf []byte, n int64) []byte
	// OK judges an answer; nil accepts 2xx.
	OK func(status int, body []byte) bool
	// Seq numbers the requests (message ids derive from it).
	Seq *atomic.Int64
	// Done, when set, is called for every answered request with its
	// number, when it was due (open loop) or sent (closed loop), when the
	// answer arrived, and whether it was OK.
	Done func(n int64, due, answered time.Time, ok bool)
}

// Result is one run.
type Result struct {
	// Requests answered OK inside the measurement window.
	Requests int64 `json:"requests"`
	// Errors: transport errors and answers OK rejected, inside the window.
	Errors   int64         `json:"errors"`
	Statuses map[int]int64 `json:"statuses"`
	Window   time.Duration `json:"window_ns"`
	// Rate is Requests per second of Window.
	Rate    float64       `json:"rate"`
	Latency stats.Summary `json:"latency"`
	// Offered is the scheduled rate of an open-loop run.
	Offered float64 `json:"offered,omitempty"`
	// Total counts every request answered OK, warmup included (for CPU
	// per request over the whole run).
	Total int64 `json:"total"`
	// Stalls lists, for an open-loop run, the 100 ms slices of the window
	// whose requests saw a latency over 20 ms: offset from the window's
	// start and the worst latency, to tell a steady tail from pauses.
	Stalls []Stall `json:"stalls,omitempty"`
}

// Stall is one 100 ms slice of an open-loop run with a slow request.
type Stall struct {
	At    time.Duration `json:"at_ns"`
	Worst time.Duration `json:"worst_ns"`
	Slow  int           `json:"slow"`
}

// NewClient returns a keep-alive HTTP/1.1 client keeping up to conns idle
// connections to one host: each concurrent client then reuses its own.
func NewClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        4 * conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
			ForceAttemptHTTP2:   false,
			WriteBufferSize:     32 << 10,
			ReadBufferSize:      32 << 10,
		},
	}
}

type sample struct {
	lat    time.Duration
	ok     bool
	status int
	at     time.Duration // open loop: due time from the window's start
}

type collector struct {
	mu       sync.Mutex
	lats     []time.Duration
	ok, errs int64
	total    int64
	statuses map[int]int64
}

func (c *collector) merge(local []sample, total int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total += total
	if c.statuses == nil {
		c.statuses = map[int]int64{}
	}
	for _, s := range local {
		c.statuses[s.status]++
		if s.ok {
			c.ok++
			c.lats = append(c.lats, s.lat)
		} else {
			c.errs++
		}
	}
}

func (c *collector) result(window time.Duration) Result {
	return Result{
		Requests: c.ok, Errors: c.errs, Statuses: c.statuses, Window: window,
		Rate:    float64(c.ok) / window.Seconds(),
		Latency: stats.Summarize(c.lats),
		Total:   c.total,
	}
}

// sender sends requests of one client goroutine, reusing its buffers.
type sender struct {
	client *http.Client
	t      *Target
	body   []byte
	resp   bytes.Buffer
}

func (s *sender) send(ctx context.Context, n int64) (status int, ok bool) {
	s.body = s.t.Body(s.body[:0], n)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.t.URL, bytes.NewReader(s.body))
	if err != nil {
		return 0, false
	}
	req.Header = s.t.Header
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, false
	}
	s.resp.Reset()
	_, err = io.Copy(&s.resp, resp.Body)
	resp.Body.Close()
	if err != nil {
		return resp.StatusCode, false
	}
	if s.t.OK != nil {
		return resp.StatusCode, s.t.OK(resp.StatusCode, s.resp.Bytes())
	}
	return resp.StatusCode, resp.StatusCode >= 200 && resp.StatusCode < 300
}

// Closed runs clients concurrent clients for warmup+window and reports the
// requests answered inside the window (after warmup).
func Closed(ctx context.Context, client *http.Client, t *Target, clients int, warmup, window time.Duration) Result {
	start := time.Now()
	from, to := start.Add(warmup), start.Add(warmup+window)
	var c collector
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &sender{client: client, t: t}
			local := make([]sample, 0, 1<<14)
			var total int64
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(to) {
					break
				}
				n := t.Seq.Add(1)
				status, ok := s.send(ctx, n)
				t1 := time.Now()
				if t.Done != nil {
					t.Done(n, t0, t1, ok)
				}
				if ok {
					total++
				}
				if t1.Before(from) || t1.After(to) {
					continue
				}
				local = append(local, sample{lat: t1.Sub(t0), ok: ok, status: status})
			}
			c.merge(local, total)
		}()
	}
	wg.Wait()
	return c.result(window)
}

// Open sends rate requests per second for window on a fixed schedule,
// through workers concurrent connections, after a warmup at the same rate
// whose requests are not counted. Latency is measured from each request's
// due time.
func Open(ctx context.Context, client *http.Client, t *Target, rate float64, workers int, warmup, window time.Duration) Result {
	type job struct {
		n   int64
		due time.Time
	}
	total := int64(rate * (warmup + window).Seconds())
	jobs := make(chan job, 1<<16)
	start := time.Now()
	from := start.Add(warmup)
	var c collector
	var wg sync.WaitGroup
	var stallMu sync.Mutex
	stalls := map[time.Duration]Stall{}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &sender{client: client, t: t}
			local := make([]sample, 0, 1<<14)
			var total int64
			for j := range jobs {
				status, ok := s.send(ctx, j.n)
				t1 := time.Now()
				if t.Done != nil {
					t.Done(j.n, j.due, t1, ok)
				}
				if ok {
					total++
				}
				if j.due.Before(from) {
					continue
				}
				local = append(local, sample{lat: t1.Sub(j.due), ok: ok, status: status, at: j.due.Sub(from)})
			}
			c.merge(local, total)
			stallMu.Lock()
			for _, s := range local {
				if s.lat > 20*time.Millisecond {
					b := s.at / (100 * time.Millisecond)
					st := stalls[b]
					st.At, st.Slow, st.Worst = b*100*time.Millisecond, st.Slow+1, max(st.Worst, s.lat)
					stalls[b] = st
				}
			}
			stallMu.Unlock()
		}()
	}
	interval := float64(time.Second) / rate
	for i := int64(0); i < total && ctx.Err() == nil; {
		due := int64(float64(time.Since(start)) / interval)
		for ; i < total && i <= due; i++ {
			jobs <- job{n: t.Seq.Add(1), due: start.Add(time.Duration(float64(i) * interval))}
		}
		time.Sleep(200 * time.Microsecond)
	}
	close(jobs)
	wg.Wait()
	// Every request due in the window counts, even when answered after it:
	// Requests/Window is then the rate sustained, not one inflated by a
	// backlog drained late.
	r := c.result(window)
	r.Offered = rate
	for _, st := range stalls {
		r.Stalls = append(r.Stalls, st)
	}
	slices.SortFunc(r.Stalls, func(a, b Stall) int { return cmp.Compare(a.At, b.At) })
	return r
}

// Fixed sends exactly requests requests, numbered 0 to requests-1 (t.Seq
// is not used), from clients concurrent clients as fast as they are
// answered. The window is the whole run.
func Fixed(ctx context.Context, client *http.Client, t *Target, clients int, requests int64) Result {
	var next atomic.Int64
	var c collector
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &sender{client: client, t: t}
			var local []sample
			var total int64
			for ctx.Err() == nil {
				n := next.Add(1) - 1
				if n >= requests {
					break
				}
				t0 := time.Now()
				status, ok := s.send(ctx, n)
				t1 := time.Now()
				if t.Done != nil {
					t.Done(n, t0, t1, ok)
				}
				if ok {
					total++
				}
				local = append(local, sample{lat: t1.Sub(t0), ok: ok, status: status})
			}
			c.merge(local, total)
		}()
	}
	wg.Wait()
	return c.result(time.Since(start))
}
