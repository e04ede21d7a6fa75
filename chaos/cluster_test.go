//go:build linux

package chaos

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// failoverBound is the longest ingest may go on refusing events (503)
// after the node leading RELAY_REGISTRATIONS dies. The cluster needs one
// raft election: a follower campaigns once it has heard nothing from the
// leader for its election timeout (randomized per node, 4-9 s in
// nats-server's raft since 2.10, counted from the last heartbeat, sent
// every second), after a campaign delay of 0.1-0.8 s; then the new leader
// takes the stream's subjects. relay adds a reconnect (ReconnectWait
// 250 ms) when it was connected to the dead node. So about 10 s at worst,
// plus 2 s for a 2-core machine shared with race-built relays, PostgreSQL
// and the load: a refusal that starts later than that is not the
// election any more but relay stuck on a dead server.
const failoverBound = 12 * time.Second

// TestChaosCluster: three nats-servers form a JetStream cluster, the
// streams have three replicas (RELAY_STREAM_REPLICAS=3) and two relay
// replicas are each given the three client URLs. Under load the node
// leading RELAY_REGISTRATIONS is killed -9 and, once a new leader is
// elected, restarted (twice in full mode, the second time whichever node
// leads then). Besides the suite's invariants: ingest refuses events
// (503) for no longer than failoverBound after each kill, and never
// hangs.
func TestChaosCluster(t *testing.T) {
	s := newScenarioOn(t, "cluster", 3, 2, slowVendor, "RELAY_STREAM_REPLICAS=3")
	p := s.plan
	// Room after each kill for the election (6-8 s measured), the restart
	// and a stretch of load on the healed cluster; a round that needs
	// longer runs longer.
	load := p.load + time.Duration(p.rounds)*6*time.Second
	s.startLoad()
	var windows []string
	for i := range p.rounds {
		sleepUntil(s.at(load, 0.15+0.8*float64(i)/float64(p.rounds)))
		s.checkProcs()
		leader := s.streamLeader()
		if leader == nil {
			t.Fatalf("no node leads %s", streamName)
		}
		leader.p.kill9()
		s.kills++
		killed := time.Now()
		s.logf("nats-server %s (leader of %s) killed -9", leader.name, streamName)

		// A new leader, seen from the surviving nodes.
		var elected time.Duration
		deadline := killed.Add(30 * time.Second)
		for {
			if nl := s.streamLeader(); nl != nil && nl != leader {
				elected = time.Since(killed)
				s.logf("%s now led by %s, %.2fs after the kill", streamName, nl.name, elected.Seconds())
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no new leader of %s 30s after %s was killed", streamName, leader.name)
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(max(0, p.down-time.Since(killed)))
		if err := leader.start(); err != nil {
			t.Fatal(err)
		}
		s.restarts++
		s.recoveries = append(s.recoveries, recovery{what: "nats " + leader.name + " restart", restart: leader.p.started, url: -1})
		restarted := time.Now()
		current := s.waitCurrent(leader.name, restarted.Add(30*time.Second))
		s.logf("nats-server %s restarted; current again after %.2fs", leader.name, current.Seconds())

		// The whole disturbance: from the kill to the next round's kill
		// (or the end of the load), the restart included, and at least 2 s
		// of load on the healed cluster.
		to := s.at(load, 0.15+0.8*float64(i+1)/float64(p.rounds))
		if i == p.rounds-1 {
			to = s.at(load, 1)
		}
		to = later(to, time.Now().Add(2*time.Second))
		sleepUntil(to)
		w := s.gen.refusals(killed, to)
		windows = append(windows, fmt.Sprintf("%.2fs", w.window.Seconds()))
		s.extra = append(s.extra, fmt.Sprintf(
			"kill -9 of %s (leader of %s): new leader after %.2fs; 503 window (kill -> start of the last refused request) %.2fs, last 503 answered %.2fs after the kill: %d events 503 in %d requests, longest refused answer %.2fs; %d events accepted in the round; restarted after %.1fs, current after %.2fs",
			leader.name, streamName, elected.Seconds(), w.window.Seconds(), w.lastEnd.Seconds(), w.events503, w.refused, w.longest.Seconds(),
			w.accepted, restarted.Sub(killed).Seconds(), current.Seconds()))
		if w.window > failoverBound {
			t.Errorf("ingest refused events (503) until %.2fs after %s was killed; the bound is %s", w.window.Seconds(), leader.name, failoverBound)
		}
		if w.accepted == 0 {
			t.Errorf("no event accepted between the kill of %s and %s", leader.name, to.Format("15:04:05.000"))
		}
	}
	s.extra = append(s.extra, fmt.Sprintf("503 windows after each leader kill: %s (bound %s)", strings.Join(windows, " "), failoverBound))
	s.finish()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// streamLeader is the node leading the registrations stream, asked of
// the cluster (any live node); nil while there is none.
func (s *scenario) streamLeader() *natsServer {
	info := s.streamInfo()
	if info == nil || info.Cluster == nil {
		return nil
	}
	for _, n := range s.natsAll {
		if n.name == info.Cluster.Leader {
			return n
		}
	}
	return nil
}

func (s *scenario) streamInfo() *jetstream.StreamInfo {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	nc, err := nats.Connect(s.natsURL(), nats.Timeout(time.Second), nats.NoReconnect())
	if err != nil {
		return nil
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil
	}
	st, err := js.Stream(ctx, streamName)
	if err != nil {
		return nil
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil
	}
	return info
}

// waitCurrent waits until node is a current replica (or the leader) of
// the registrations stream, and returns how long that took.
func (s *scenario) waitCurrent(node string, deadline time.Time) time.Duration {
	s.t.Helper()
	t0 := time.Now()
	for {
		if info := s.streamInfo(); info != nil && info.Cluster != nil {
			if info.Cluster.Leader == node {
				return time.Since(t0)
			}
			for _, r := range info.Cluster.Replicas {
				if r.Name == node && r.Current {
					return time.Since(t0)
				}
			}
		}
		if time.Now().After(deadline) {
			s.t.Errorf("nats-server %s not a current replica of %s %.0fs after its restart", node, streamName, time.Since(t0).Seconds())
			return time.Since(t0)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// refusalWindow is what the load saw between two instants.
type refusalWindow struct {
	// window runs from the start of the period to the start of the last
	// request answered 503 in it (0 without any): the time ingest kept
	// refusing new requests. A request in flight at the kill that waited
	// out the publish timeout does not stretch it.
	window    time.Duration
	longest   time.Duration // the slowest 503 answer
	lastEnd   time.Duration // from the start of the period to the last 503 answer
	refused   int           // requests with at least one event answered 503
	events503 int
	accepted  int // events answered 2xx
}

// refusals summarises the requests answered between from and to.
func (g *loadGen) refusals(from, to time.Time) refusalWindow {
	g.mu.Lock()
	defer g.mu.Unlock()
	var w refusalWindow
	for _, r := range g.recs {
		if r.end.Before(from) || r.start.After(to) {
			continue
		}
		w.accepted += r.accepted
		if r.got503 == 0 {
			continue
		}
		w.refused++
		w.events503 += r.got503
		w.window = max(w.window, r.start.Sub(from))
		w.lastEnd = max(w.lastEnd, r.end.Sub(from))
		w.longest = max(w.longest, r.end.Sub(r.start))
	}
	return w
}
