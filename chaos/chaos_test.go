//go:build linux

package chaos

import (
	"fmt"
	mrand "math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"relay/internal/vendors/liasmart/liasmarttest"
)

// The scenarios run one after the other: on a 2-core machine, two at once
// starve each other's relay, PostgreSQL and NATS, and recovery times stop
// meaning anything.

// TestChaosKillRelay: kill -9 of the only relay at random instants under
// load, restarted each time after a random pause.
func TestChaosKillRelay(t *testing.T) {
	s := newScenario(t, "kill9", 1, slowVendor)
	p := s.plan
	s.startLoad()
	for i := range p.kills {
		lo := 0.1 + 0.75*float64(i)/float64(p.kills)
		hi := 0.1 + 0.75*float64(i+1)/float64(p.kills)
		sleepUntil(s.at(p.load, lo+s.rng.Float64()*(hi-lo)))
		s.checkProcs()
		s.kill9(s.relays[0])
		time.Sleep(s.jitter(p.pause))
		s.restart(s.relays[0], 0)
	}
	sleepUntil(s.at(p.load, 1))
	s.finish()
}

// slowVendor answers every call after 20-150 ms, so that a kill -9 of relay
// often lands between a vendor call and the PostgreSQL commit of its
// result: the case where the vendor acted and relay does not know it.
func slowVendor(string, int) *liasmarttest.Reply {
	return &liasmarttest.Reply{Delay: time.Duration(20+mrand.IntN(131)) * time.Millisecond}
}

// TestChaosReplicas: two replicas share the consumer (same PostgreSQL and
// NATS, different HTTP ports); kill -9 one, restart it, then the other, under
// load. The client fails over to the live replica.
func TestChaosReplicas(t *testing.T) {
	s := newScenario(t, "replicas", 2, slowVendor)
	p := s.plan
	s.startLoad()
	steps := 2 * p.rounds
	for i := range steps {
		idx, other := i%2, 1-i%2
		sleepUntil(s.at(p.load, 0.1+0.8*(float64(i)+0.2*s.rng.Float64())/float64(steps)))
		s.checkProcs()
		r := s.relays[idx]
		s.kill9(r)
		down := time.Now()
		time.Sleep(p.down)
		acc, got503, reqs := s.gen.between(down, time.Now(), other)
		s.extra = append(s.extra, fmt.Sprintf("%s down %.1fs: %s answered %d requests, %d events accepted, %d 503",
			r.name, time.Since(down).Seconds(), s.relays[other].name, reqs, acc, got503))
		if acc == 0 {
			t.Errorf("while %s was down, %s accepted nothing (%d requests)", r.name, s.relays[other].name, reqs)
		}
		s.restart(r, idx)
	}
	sleepUntil(s.at(p.load, 1))
	s.finish()
}

// TestChaosNATS: nats-server restarted (SIGTERM, started again at once),
// then killed -9 and kept down for plan.outage. While it is down ingest
// answers 503 with Retry-After and never 2xx; it recovers by itself.
func TestChaosNATS(t *testing.T) {
	s := newScenario(t, "nats", 1, nil)
	p := s.plan
	load := p.load + p.outage
	s.startLoad()

	sleepUntil(s.at(load, 0.2))
	t0 := time.Now()
	if err := s.nats.stop(syscall.SIGTERM); err != nil {
		t.Error(err)
	}
	if err := s.nats.start(); err != nil {
		t.Fatal(err)
	}
	s.restarts++
	s.recoveries = append(s.recoveries, recovery{what: "nats restart", restart: s.nats.p.started, url: -1})
	s.logf("nats-server restarted (SIGTERM) in %.2fs", time.Since(t0).Seconds())

	sleepUntil(s.at(load, 0.35))
	s.nats.p.kill9()
	s.kills++
	down := time.Now()
	s.logf("nats-server killed -9; down for %s", p.outage)
	time.Sleep(p.outage)
	up := time.Now()
	acc, got503, reqs := s.gen.between(down, up, -1)
	if acc > 0 {
		t.Errorf("while NATS was down, %d events were answered 2xx (want 503 only)", acc)
	}
	if got503 == 0 {
		t.Errorf("while NATS was down, no event was answered 503 (%d requests answered in the window)", reqs)
	}
	if err := s.nats.start(); err != nil {
		t.Fatal(err)
	}
	s.restarts++
	s.recoveries = append(s.recoveries, recovery{what: "nats back after outage", restart: s.nats.p.started, url: -1})
	s.logf("nats-server started again")
	s.extra = append(s.extra, fmt.Sprintf("NATS down (kill -9) %.1fs: %d requests answered in the window, %d events 503, %d 2xx",
		up.Sub(down).Seconds(), reqs, got503, acc))

	sleepUntil(s.at(load, 1))
	s.finish()
}

// TestChaosPostgres: PostgreSQL restarted (fast shutdown), then stopped
// immediately (crash recovery at start) and kept down for plan.outage.
// Ingest keeps accepting (JetStream is the buffer); the workers back off
// and catch up.
func TestChaosPostgres(t *testing.T) {
	s := newScenario(t, "postgres", 1, nil)
	p := s.plan
	load := p.load + p.outage
	s.startLoad()

	sleepUntil(s.at(load, 0.2))
	t0 := time.Now()
	if err := suite.pg.stop(syscall.SIGINT); err != nil {
		t.Error(err)
	}
	t1 := time.Now()
	if err := suite.pg.start(); err != nil {
		t.Fatal(err)
	}
	s.restarts++
	s.logf("PostgreSQL restarted (fast shutdown %.2fs, start %.2fs)", t1.Sub(t0).Seconds(), time.Since(t1).Seconds())

	sleepUntil(s.at(load, 0.35))
	if err := suite.pg.stop(syscall.SIGQUIT); err != nil {
		t.Error(err)
	}
	s.kills++
	down := time.Now()
	s.logf("PostgreSQL stopped immediately; down for %s", p.outage)
	time.Sleep(p.outage)
	up := time.Now()
	acc, got503, reqs := s.gen.between(down, up, -1)
	if acc == 0 {
		t.Errorf("while PostgreSQL was down, ingest accepted nothing (%d requests answered in the window)", reqs)
	}
	if got503 > 0 {
		t.Errorf("while PostgreSQL was down, %d events were answered 503: ingest must not need PostgreSQL", got503)
	}
	if err := suite.pg.start(); err != nil {
		t.Fatal(err)
	}
	s.restarts++
	back := time.Now()
	s.logf("PostgreSQL started again (crash recovery) in %.2fs", back.Sub(up).Seconds())
	before := s.gen.acceptedIDs()
	catchUp, ok := s.waitFinal(before, s.at(load, 1).Add(p.drain))
	if !ok {
		t.Errorf("the events accepted before PostgreSQL came back were not all final %.0fs later", catchUp.Seconds())
	}
	s.extra = append(s.extra, fmt.Sprintf("PostgreSQL down (immediate stop) %.1fs: %d requests answered in the window, %d events accepted, %d 503; back -> all %d events accepted so far final: %.1fs",
		up.Sub(down).Seconds(), reqs, acc, got503, len(before), catchUp.Seconds()))

	sleepUntil(s.at(load, 1))
	s.finish()
}

// waitFinal polls PostgreSQL until every id is confirmed or
// already_confirmed, or until the deadline; it returns the time taken.
func (s *scenario) waitFinal(ids map[string]time.Time, deadline time.Time) (time.Duration, bool) {
	t0 := time.Now()
	for {
		snap, err := s.snapshot()
		if err == nil {
			done := true
			for id := range ids {
				if r, ok := snap.rows[id]; !ok || !succeeded(r.state) {
					done = false
					break
				}
			}
			if done {
				return time.Since(t0), true
			}
		}
		if time.Now().After(deadline) {
			return time.Since(t0), false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// vendorFaults is the misbehaving CTrack of TestChaosVendor.
type vendorFaults struct {
	on      atomic.Bool
	mu      sync.Mutex
	rng     *mrand.Rand
	counts  map[string]int
	hostile []string                       // names of hostile, in a fixed order
	answers map[string]*liasmarttest.Reply // liasmarttest.Hostile, with the scenario's vendor password
}

// reply draws the fault for one call: 30 % HTTP 503, 10 % an answer held
// past relay's 500 ms timeout (the vendor still acts on it), 5 % a garbage
// 200 body, 2 % a connection reset, 15 % a slow but timely answer, and 8 %
// a hostile answer (liasmarttest.Hostile: a NUL in the page, a character
// split by the cut, the password echoed across it, 20 MiB, a body
// dripping past the timeout, a redirect, an HTML 200, a code no integer
// holds), mixed into the batches of ordinary answers.
func (f *vendorFaults) reply(string, int) *liasmarttest.Reply {
	if !f.on.Load() {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rng == nil {
		return nil
	}
	r := f.rng.Float64()
	var kind string
	var rep *liasmarttest.Reply
	switch {
	case r < 0.30:
		kind, rep = "http 503", &liasmarttest.Reply{Status: 503}
	case r < 0.40:
		kind, rep = "timeout", &liasmarttest.Reply{Delay: 1500 * time.Millisecond}
	case r < 0.45:
		kind, rep = "garbage", &liasmarttest.Reply{Body: "<html><body><h1>502 Bad Gateway</h1></body></html>"}
	case r < 0.47:
		kind, rep = "reset", &liasmarttest.Reply{Reset: true}
	case r < 0.62:
		kind, rep = "slow", &liasmarttest.Reply{Delay: time.Duration(100+f.rng.IntN(300)) * time.Millisecond}
	case r < 0.70 && len(f.hostile) > 0:
		kind = f.hostile[f.rng.IntN(len(f.hostile))]
		rep = f.answers[kind]
	default:
		kind = "normal"
	}
	f.counts[kind]++
	return rep
}

func (f *vendorFaults) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var parts []string
	for k, v := range f.counts {
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// TestChaosVendor: CTrack misbehaves for the first 75 % of the load (503s,
// timeouts, garbage, resets, slow answers, hostile bodies), then is healthy. Every event
// still ends confirmed once at the vendor.
func TestChaosVendor(t *testing.T) {
	f := &vendorFaults{counts: map[string]int{}}
	f.on.Store(true)
	s := newScenario(t, "vendor", 1, f.reply)
	f.mu.Lock()
	f.rng = mrand.New(mrand.NewPCG(s.seed, 2))
	f.answers = liasmarttest.Hostile(s.vendorPW)
	for name := range f.answers {
		f.hostile = append(f.hostile, name)
	}
	sort.Strings(f.hostile) // the seed replays the same draws
	f.mu.Unlock()
	p := s.plan
	s.startLoad()
	sleepUntil(s.at(p.load, 0.75))
	f.on.Store(false)
	s.logf("vendor healthy again; faults injected: %s", f)
	s.extra = append(s.extra, "vendor faults during the first 75 % of the load: "+f.String())
	sleepUntil(s.at(p.load, 1))
	s.finish()
}
