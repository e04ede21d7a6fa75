//go:build linux

package chaos

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// loadGen posts a steady stream of events to the relay replicas: new events
// one by one and in batches, repeats of accepted events, and client retries
// of events that were answered 503 or not answered at all. It records every
// answer. A request that fails in transport is retried at once on the next
// replica, as a load balancer would.
type loadGen struct {
	urls    []string
	key     string
	prefix  string
	rate    int // requests per second
	workers int
	seed    uint64
	client  *http.Client

	// mix is the vendors the new events are for, and how many of each;
	// by default liasmart alone.
	mix []loadVendor

	mu       sync.Mutex
	seq      int
	vendorOf map[string]string    // message_id -> its vendor
	next     int                  // round robin over urls
	accepted map[string]time.Time // message_id -> first 2xx answer
	accList  []string
	retry    []string // answered 503 or unanswered, not yet accepted
	recs     []rec
	st       loadStats
	bad      []string // first unexpected answers

	stop chan struct{}
	wg   sync.WaitGroup

	haltOnce sync.Once
}

// loadVendor is one vendor of the load: weight of every sum of the
// weights of new events are its, with message ids made by id (nil: the
// scenario's prefix and a sequence number).
type loadVendor struct {
	name   string
	weight int
	id     func(n int) string
}

// rec is one request and its answer.
type rec struct {
	start, end time.Time
	url        int // replica that answered; -1: none
	accepted   int // events answered 202 or 200
	got503     int // events answered 503
}

type loadStats struct {
	requests, batches int
	posted            int // events submitted (single and batch items)
	new202            int // events answered "accepted, not a duplicate"
	dup200            int // events answered duplicate
	dupAsNew          int // a repeat of an accepted event answered as new
	s503              int // events answered 503 (whole request or batch item)
	noRetryAfter      int // 503 answers without Retry-After
	connErr           int // requests no replica answered
	timeouts          int // of which: no answer within the client timeout (a hang)
	unexpected        map[int]int
}

func newLoadGen(urls []string, key, prefix string, rate int, seed uint64) *loadGen {
	return &loadGen{
		urls: urls, key: key, prefix: prefix, rate: rate, workers: 8, seed: seed,
		client: &http.Client{
			Timeout:   10 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second},
		},
		mix:      []loadVendor{{name: "liasmart", weight: 1}},
		accepted: map[string]time.Time{}, vendorOf: map[string]string{},
		st:   loadStats{unexpected: map[int]int{}},
		stop: make(chan struct{}),
	}
}

func (g *loadGen) start() {
	tokens := make(chan struct{})
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		t := time.NewTicker(time.Second / time.Duration(g.rate))
		defer t.Stop()
		for {
			select {
			case <-g.stop:
				close(tokens)
				return
			case <-t.C:
				select {
				case tokens <- struct{}{}:
				default: // every worker busy: the load does not pile up
				}
			}
		}
	}()
	for w := range g.workers {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			rng := rand.New(rand.NewPCG(g.seed, uint64(w)))
			for range tokens {
				g.step(rng)
			}
		}()
	}
}

// halt stops the load and waits for requests in flight; again is a no-op.
func (g *loadGen) halt() {
	g.haltOnce.Do(func() {
		close(g.stop)
		g.wg.Wait()
		g.client.CloseIdleConnections()
	})
}

// newID returns the id of a new event; the sequence number decides its
// vendor, so that the mix holds to its weights whatever the timing.
func (g *loadGen) newID() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seq++
	total := 0
	for _, v := range g.mix {
		total += v.weight
	}
	v, k := g.mix[0], g.seq%total
	for _, c := range g.mix {
		if k < c.weight {
			v = c
			break
		}
		k -= c.weight
	}
	id := fmt.Sprintf("%s-%06d", g.prefix, g.seq)
	if v.id != nil {
		id = v.id(g.seq)
	}
	g.vendorOf[id] = v.name
	return id
}

// vendor is the vendor of a message id the generator made.
func (g *loadGen) vendor(id string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.vendorOf[id]
}

func (g *loadGen) pick(rng *rand.Rand, from *[]string, skipAccepted bool) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for len(*from) > 0 {
		i := rng.IntN(len(*from))
		id := (*from)[i]
		if !skipAccepted {
			return id, true
		}
		// A retry: take it off the list; drop it if it got accepted since.
		(*from)[i] = (*from)[len(*from)-1]
		*from = (*from)[:len(*from)-1]
		if _, ok := g.accepted[id]; !ok {
			return id, true
		}
	}
	return "", false
}

func (g *loadGen) step(rng *rand.Rand) {
	r := rng.Float64()
	switch {
	case r < 0.15:
		n := 2 + rng.IntN(19)
		ids := make([]string, n)
		for i := range ids {
			if rng.Float64() < 0.2 {
				if id, ok := g.pick(rng, &g.accList, false); ok {
					ids[i] = id
					continue
				}
			}
			ids[i] = g.newID()
		}
		g.postBatch(ids)
	case r < 0.30:
		if id, ok := g.pick(rng, &g.accList, false); ok {
			g.postSingle(id)
			return
		}
		g.postSingle(g.newID())
	case r < 0.38:
		if id, ok := g.pick(rng, &g.retry, true); ok {
			g.postSingle(id)
			return
		}
		g.postSingle(g.newID())
	default:
		g.postSingle(g.newID())
	}
}

func eventJSON(vendor, id string) string {
	return fmt.Sprintf(`{"vendor":%q,"message_id":%q,"status":true,"metadata":{"source":"chaos"}}`, vendor, id)
}

// post sends body, moving on to the next replica when one does not answer.
func (g *loadGen) post(path, body string) (status int, hdr http.Header, resp []byte, url int, err error) {
	g.mu.Lock()
	first := g.next
	g.next = (g.next + 1) % len(g.urls)
	g.mu.Unlock()
	for i := range g.urls {
		u := (first + i) % len(g.urls)
		req, _ := http.NewRequest(http.MethodPost, g.urls[u]+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+g.key)
		req.Header.Set("Content-Type", "application/json")
		r, e := g.client.Do(req)
		if e != nil {
			err = e
			continue
		}
		b, e := io.ReadAll(r.Body)
		r.Body.Close()
		if e != nil {
			err = e
			continue
		}
		return r.StatusCode, r.Header, b, u, nil
	}
	return 0, nil, nil, -1, err
}

type answer struct {
	ID        string       `json:"id"`
	Status    string       `json:"status"`
	Duplicate bool         `json:"duplicate"`
	Error     *problemBody `json:"error"`
	Results   []answer     `json:"results"`
}

type problemBody struct {
	Type   string `json:"type"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

func (g *loadGen) postSingle(id string) {
	start := time.Now()
	status, hdr, body, url, err := g.post("/v1/registrations", eventJSON(g.vendor(id), id))
	end := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.st.requests++
	g.st.posted++
	r := rec{start: start, end: end, url: url}
	switch {
	case err != nil:
		g.transportError(err)
		g.noAnswer(id)
	case status == http.StatusAccepted || status == http.StatusOK:
		var a answer
		if e := json.Unmarshal(body, &a); e != nil || a.Status != "accepted" || a.Duplicate != (status == http.StatusOK) {
			g.unexpected(status, "single", body)
			break
		}
		g.acceptedOne(id, a.Duplicate, end)
		r.accepted = 1
	case status == http.StatusServiceUnavailable:
		g.answered503(id, hdr)
		r.got503 = 1
	default:
		g.unexpected(status, "single", body)
	}
	g.recs = append(g.recs, r)
}

func (g *loadGen) postBatch(ids []string) {
	var b bytes.Buffer
	b.WriteString(`{"events":[`)
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(eventJSON(g.vendor(id), id))
	}
	b.WriteString(`]}`)
	start := time.Now()
	status, hdr, body, url, err := g.post("/v1/registrations/batch", b.String())
	end := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.st.requests++
	g.st.batches++
	g.st.posted += len(ids)
	r := rec{start: start, end: end, url: url}
	switch {
	case err != nil:
		g.transportError(err)
		for _, id := range ids {
			g.noAnswer(id)
		}
	case status == http.StatusOK:
		var a answer
		if e := json.Unmarshal(body, &a); e != nil || len(a.Results) != len(ids) {
			g.unexpected(status, "batch", body)
			break
		}
		for i, it := range a.Results {
			switch {
			case it.Error != nil && it.Error.Status == http.StatusServiceUnavailable:
				g.st.s503++
				g.noAnswer(ids[i])
				r.got503++
			case it.Error != nil:
				g.unexpected(it.Error.Status, "batch item", body)
			case it.Status == "accepted":
				g.acceptedOne(ids[i], it.Duplicate, end)
				r.accepted++
			default:
				g.unexpected(status, "batch item", body)
			}
		}
	case status == http.StatusServiceUnavailable:
		for _, id := range ids {
			g.answered503(id, hdr)
		}
		r.got503 = len(ids)
	default:
		g.unexpected(status, "batch", body)
	}
	g.recs = append(g.recs, r)
}

// The helpers below run with g.mu held.

func (g *loadGen) acceptedOne(id string, dup bool, at time.Time) {
	_, before := g.accepted[id]
	if dup {
		g.st.dup200++
	} else {
		g.st.new202++
		if before {
			g.st.dupAsNew++
		}
	}
	if !before {
		g.accepted[id] = at
		g.accList = append(g.accList, id)
	}
}

func (g *loadGen) transportError(err error) {
	g.st.connErr++
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		g.st.timeouts++
		if len(g.bad) < 10 {
			g.bad = append(g.bad, "no answer within the client timeout: "+err.Error())
		}
	}
}

func (g *loadGen) answered503(id string, hdr http.Header) {
	g.st.s503++
	if hdr.Get("Retry-After") == "" {
		g.st.noRetryAfter++
	}
	g.noAnswer(id)
}

func (g *loadGen) noAnswer(id string) {
	if _, ok := g.accepted[id]; !ok && len(g.retry) < 10000 {
		g.retry = append(g.retry, id)
	}
}

func (g *loadGen) unexpected(status int, what string, body []byte) {
	g.st.unexpected[status]++
	if len(g.bad) < 10 {
		g.bad = append(g.bad, fmt.Sprintf("%s answered %d: %.300s", what, status, body))
	}
}

// acceptedFor returns the accepted message ids of vendor with the time of
// their first 2xx answer.
func (g *loadGen) acceptedFor(vendor string) map[string]time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := map[string]time.Time{}
	for k, v := range g.accepted {
		if g.vendorOf[k] == vendor {
			m[k] = v
		}
	}
	return m
}

// acceptedIDs returns the accepted message ids with the time of their first
// 2xx answer.
func (g *loadGen) acceptedIDs() map[string]time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := make(map[string]time.Time, len(g.accepted))
	for k, v := range g.accepted {
		m[k] = v
	}
	return m
}

func (g *loadGen) stats() loadStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.st
	st.unexpected = map[int]int{}
	for k, v := range g.st.unexpected {
		st.unexpected[k] = v
	}
	return st
}

// between sums the accepted and 503 answers of requests that started at or
// after from and were answered by to (url -1: any replica).
func (g *loadGen) between(from, to time.Time, url int) (accepted, got503, requests int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.recs {
		if r.start.Before(from) || r.end.After(to) || (url >= 0 && r.url != url) {
			continue
		}
		requests++
		accepted += r.accepted
		got503 += r.got503
	}
	return
}

// latency returns the median, 99th percentile and maximum time to an
// answer (requests no replica answered left out).
func (g *loadGen) latency() (p50, p99, maxLat time.Duration) {
	g.mu.Lock()
	var ds []time.Duration
	for _, r := range g.recs {
		if r.url >= 0 {
			ds = append(ds, r.end.Sub(r.start))
		}
	}
	g.mu.Unlock()
	if len(ds) == 0 {
		return 0, 0, 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2], ds[len(ds)*99/100], ds[len(ds)-1]
}

// firstAcceptAfter is how long after t0 the first 2xx came to a request
// sent at or after t0 (url -1: any replica).
func (g *loadGen) firstAcceptAfter(t0 time.Time, url int) (time.Duration, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	best := time.Duration(-1)
	for _, r := range g.recs {
		if r.accepted == 0 || r.start.Before(t0) || (url >= 0 && r.url != url) {
			continue
		}
		if d := r.end.Sub(t0); best < 0 || d < best {
			best = d
		}
	}
	return best, best >= 0
}

func (st loadStats) unexpectedString() string {
	if len(st.unexpected) == 0 {
		return "0"
	}
	var parts []string
	for code, n := range st.unexpected {
		parts = append(parts, fmt.Sprintf("%d×%d", n, code))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
