//go:build linux

package chaos

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"relay/internal/vendors/liasmart/liasmarttest"
)

// The public names of relay's stream and consumers (README: NATS
// subjects): one consumer per confirm vendor, consumerPrefix + its name.
const (
	streamName     = "RELAY_REGISTRATIONS"
	consumerPrefix = "relay-workers-"
	consumerName   = consumerPrefix + "liasmart"
)

// plan sizes a scenario for the mode.
type plan struct {
	load   time.Duration // load before and around the faults
	rate   int           // load requests per second (15 % of them batches of 2-20)
	kills  int           // scenario 1: kill -9 of relay
	rounds int           // scenario 2: rounds of "kill one replica, then the other"
	outage time.Duration // scenarios 3 and 4: NATS / PostgreSQL down
	pause  time.Duration // longest pause between a kill and the restart
	down   time.Duration // scenario 2: how long one replica stays down
	drain  time.Duration // deadline for the invariant once the load stops
}

func currentPlan() plan {
	if suite.full {
		return plan{load: 30 * time.Second, rate: 100, kills: 6, rounds: 2, outage: 10 * time.Second,
			pause: time.Second, down: 3 * time.Second, drain: 90 * time.Second}
	}
	return plan{load: 6 * time.Second, rate: 60, kills: 2, rounds: 1, outage: 3 * time.Second,
		pause: 300 * time.Millisecond, down: time.Second, drain: 60 * time.Second}
}

// relay's settings for every scenario: small retry steps, a vendor timeout
// short enough for timeouts to happen, an ack wait short enough for kill -9
// redeliveries to come back within the scenario (it must exceed the vendor
// timeout by 5 s), and an attempt budget the vendor faults cannot exhaust.
var relaySettings = []string{
	"RELAY_ROLE=all",
	"RELAY_VENDOR_TIMEOUT=500ms",
	"RELAY_ACK_WAIT=6s",
	"RELAY_RETRY_BASE=50ms",
	"RELAY_RETRY_MAX=1s",
	"RELAY_MAX_ATTEMPTS=50",
	"RELAY_SHUTDOWN_TIMEOUT=10s",
	"RELAY_LOG_FORMAT=json",
	"RELAY_LOG_LEVEL=info",
	"RELAY_RATE_LIMIT=0", // the per-key limiter is not under test: a 429 would only blur the counts
	// A burst against the in-process fake on a starved machine can time
	// out 20 calls in a row and trip the breaker (as it should): probe
	// soon, so the scenario's drain does not wait out the default minute.
	"RELAY_PAUSE_PROBE=1s",
}

const shutdownLimit = 20 * time.Second // RELAY_SHUTDOWN_TIMEOUT + margin

// chaosAdminToken opens every replica's admin API to the scenarios that
// act as operators (replays).
const chaosAdminToken = "chaos-admin-token"

// scenario is one chaos run: its own database in the private cluster, its
// own nats-server, fake CTrack, relay replicas and load.
type scenario struct {
	t        *testing.T
	name     string
	plan     plan
	seed     uint64
	rng      *mrand.Rand
	dir      string
	db       string
	secret   string // ingest API key
	vendorPW string
	nats     *natsServer   // the only nats-server, or the cluster's first node
	natsAll  []*natsServer // every nats-server of the scenario
	fake     *liasmarttest.Fake
	// taps are the other confirm vendors of a multi-vendor scenario;
	// vendors names every vendor relay confirms with, liasmart first.
	taps    []*vendorTap
	vendors []string
	relays  []*relayProc
	gen     *loadGen
	started time.Time // load start

	kills, restarts int
	recoveries      []recovery
	extra           []string // scenario-specific summary
	// final, when set, reads the last snapshot (taken once the replicas
	// stopped) before the summary is written; it may add to extra.
	final func(*snapshot)
}

// recovery is a restart and how long until it answered 202 again.
type recovery struct {
	what    string
	restart time.Time
	url     int // replica index; -1: any
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newScenario starts NATS, the fake CTrack (with script) and the replicas,
// and prepares the load; it does not start the load.
func newScenario(t *testing.T, name string, replicas int, script func(messageID string, n int) *liasmarttest.Reply, extraEnv ...string) *scenario {
	t.Helper()
	return newScenarioOn(t, name, 1, replicas, script, extraEnv...)
}

// newScenarioOn is newScenario on natsNodes nats-servers: one standalone
// server, or a JetStream cluster of natsNodes whose client URLs every
// replica gets in RELAY_NATS_URL, comma separated.
func newScenarioOn(t *testing.T, name string, natsNodes, replicas int, script func(messageID string, n int) *liasmarttest.Reply, extraEnv ...string) *scenario {
	t.Helper()
	return newScenarioWith(t, name, scenarioOpts{natsNodes: natsNodes, replicas: replicas, script: script, env: extraEnv})
}

// scenarioOpts is what sets one scenario apart from another.
type scenarioOpts struct {
	natsNodes, replicas int
	script              func(messageID string, n int) *liasmarttest.Reply
	env                 []string
	// taps are confirm vendors besides liasmart (started, not yet
	// serving): relay gets RELAY_CONFIRM_VENDORS naming them all and each
	// one's variables; load is the share of new events of each vendor
	// (nil: liasmart alone).
	taps []*vendorTap
	load []loadVendor
	plan *plan // nil: currentPlan()
}

func newScenarioWith(t *testing.T, name string, o scenarioOpts) *scenario {
	t.Helper()
	needSuite(t)
	natsNodes, replicas, script, extraEnv := o.natsNodes, max(1, o.replicas), o.script, o.env
	s := &scenario{t: t, name: name, plan: currentPlan(), db: "chaos_" + name,
		secret: "ck_" + randHex(12), vendorPW: "vp_" + randHex(12), taps: o.taps, vendors: []string{"liasmart"}}
	if o.plan != nil {
		s.plan = *o.plan
	}
	for _, tap := range o.taps {
		s.vendors = append(s.vendors, tap.name)
	}
	s.seed = uint64(*seedFlag)
	if s.seed == 0 {
		s.seed = uint64(time.Now().UnixNano())
	}
	s.rng = mrand.New(mrand.NewPCG(s.seed, 1))
	t.Logf("%s: seed %d (replay with -args -chaos.seed=%d)", name, s.seed, s.seed)
	s.dir = filepath.Join(suite.runDir, name)
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var err error
	if natsNodes <= 1 {
		s.nats, err = newNATS(s.dir)
		s.natsAll = []*natsServer{s.nats}
	} else {
		s.natsAll, err = newNATSCluster(s.dir, natsNodes)
		s.nats = s.natsAll[0]
	}
	t.Cleanup(func() {
		for _, n := range s.natsAll {
			_ = n.stop(syscall.SIGTERM)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var srvURL string
	fake, srv := liasmarttest.NewServer(t, liasmarttest.Options{APIID: "chaos", APIPassword: s.vendorPW, Script: script})
	s.fake, srvURL = fake, srv.URL
	for _, tap := range s.taps {
		tap.serve(t)
	}
	// Registered after the fake's cleanup, so it runs before it: no relay
	// outlives a failed test.
	t.Cleanup(func() {
		for _, r := range s.relays {
			if r.p != nil && !r.p.exited() {
				r.p.kill9()
			}
		}
	})
	var urls []string
	for i := range replicas {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		r := &relayProc{name: fmt.Sprintf("relay-%c", 'a'+i), port: port, dir: s.dir}
		r.env = append(baseEnv(), relaySettings...)
		r.env = append(r.env,
			fmt.Sprintf("RELAY_HTTP_ADDR=127.0.0.1:%d", port),
			"RELAY_DATABASE_URL="+suite.pg.url(s.db),
			"RELAY_NATS_URL="+s.natsURL(),
			"RELAY_DATA_DIR="+filepath.Join(s.dir, "unused-data"),
			"RELAY_API_KEYS=chaos:"+s.secret,
			"RELAY_ADMIN_TOKEN="+chaosAdminToken,
			"RELAY_LIASMART_URL="+srvURL,
			"RELAY_LIASMART_API_ID=chaos",
			"RELAY_LIASMART_API_PASSWORD="+s.vendorPW,
		)
		if len(s.taps) > 0 {
			r.env = append(r.env, "RELAY_CONFIRM_VENDORS="+strings.Join(s.vendors, ","))
			for _, tap := range s.taps {
				r.env = append(r.env, tap.env...)
			}
		}
		// A scenario's own settings come last: os/exec keeps the last value.
		r.env = append(r.env, extraEnv...)
		s.relays = append(s.relays, r)
		urls = append(urls, r.url())
		// One after the other: the first creates the database and migrates.
		if _, err := r.start(); err != nil {
			t.Fatal(err)
		}
	}
	s.gen = newLoadGen(urls, s.secret, name, s.plan.rate, s.seed)
	if len(o.load) > 0 {
		s.gen.mix = o.load
	}
	return s
}

// natsURL is every nats-server's client URL, comma separated: the client
// connects to any one that answers.
func (s *scenario) natsURL() string {
	var urls []string
	for _, n := range s.natsAll {
		urls = append(urls, n.url())
	}
	return strings.Join(urls, ",")
}

func (s *scenario) logf(format string, args ...any) {
	s.t.Helper()
	off := ""
	if !s.started.IsZero() {
		off = fmt.Sprintf("+%5.1fs ", time.Since(s.started).Seconds())
	}
	s.t.Logf("%s: %s%s", s.name, off, fmt.Sprintf(format, args...))
}

func (s *scenario) startLoad() {
	s.started = time.Now()
	s.gen.start()
	s.logf("load started: %d requests/s on %d replica(s)", s.plan.rate, len(s.relays))
}

// at is the instant frac of the way through d after the load started.
func (s *scenario) at(d time.Duration, frac float64) time.Time {
	return s.started.Add(time.Duration(float64(d) * frac))
}

func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

// jitter is a random duration in [0, d).
func (s *scenario) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(s.rng.Int64N(int64(d)))
}

func (s *scenario) kill9(r *relayProc) {
	pid := r.p.pid()
	r.p.kill9()
	s.kills++
	s.logf("kill -9 %s (pid %d)", r.name, pid)
}

// restart starts r again and records the recovery to measure.
func (s *scenario) restart(r *relayProc, idx int) {
	s.t.Helper()
	at, err := r.start()
	if err != nil {
		s.t.Fatal(err)
	}
	s.restarts++
	s.recoveries = append(s.recoveries, recovery{what: r.name + " restart", restart: at, url: idx})
	s.logf("%s restarted (pid %d), ready after %.2fs", r.name, r.p.pid(), time.Since(at).Seconds())
}

// checkProcs fails the test for any process that exited on its own.
func (s *scenario) checkProcs() {
	s.t.Helper()
	for _, r := range s.relays {
		if r.p != nil {
			if err := r.p.unexpectedExit(); err != nil {
				s.t.Errorf("relay crashed: %v", err)
			}
		}
	}
	for _, n := range s.natsAll {
		if err := n.p.unexpectedExit(); err != nil {
			s.t.Errorf("%v", err)
		}
	}
	if err := suite.pg.p.unexpectedExit(); err != nil {
		s.t.Errorf("%v", err)
	}
}

// finish stops the load, checks the invariant, stops the replicas
// gracefully, scans their logs and prints the summary.
func (s *scenario) finish() {
	s.t.Helper()
	loadTime := time.Since(s.started)
	s.gen.halt()
	stopped := time.Now()
	s.logf("load stopped")
	s.checkProcs()
	drained := s.verify(stopped)
	var stops []string
	for _, r := range s.relays {
		d, err := r.stopGracefully(shutdownLimit)
		if err != nil {
			s.t.Errorf("graceful stop: %v", err)
		}
		stops = append(stops, fmt.Sprintf("%.1fs", d.Seconds()))
	}
	warnings := s.scanLogs()
	snap, _ := s.snapshot()
	if s.final != nil && snap != nil {
		s.final(snap)
	}
	s.summary(loadTime, drained, stops, warnings, snap)
}

// snapshot is PostgreSQL's and the consumers' state at one instant.
type snapshot struct {
	rows map[string]dbRow // by message_id (unique across the scenario's vendors)
	// pending, ackPending and redeliv are summed over the consumers.
	pending    uint64
	ackPending int
	redeliv    int
	consumers  map[string]consumerState // by consumer name
}

// consumerState is one vendor consumer's backlog.
type consumerState struct {
	pending    uint64
	ackPending int
}

type dbRow struct {
	vendor   string
	state    string
	attempts int
	// confirmedAt is when the event turned final (zero if it has not).
	confirmedAt time.Time
	// answered counts the recorded calls that got a response (an HTTP
	// status): those certainly reached the vendor.
	answered int
}

func (s *scenario) snapshot() (*snapshot, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, suite.pg.url(s.db))
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT e.message_id, e.vendor, e.state, e.attempts, e.confirmed_at,
		(SELECT count(*) FROM attempts a WHERE a.event_id = e.id AND a.http_status IS NOT NULL)
		FROM events e WHERE e.vendor = ANY($1)`, s.vendors)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	snap := &snapshot{rows: map[string]dbRow{}, consumers: map[string]consumerState{}}
	for rows.Next() {
		var id string
		var r dbRow
		var at *time.Time
		if err := rows.Scan(&id, &r.vendor, &r.state, &r.attempts, &at, &r.answered); err != nil {
			return nil, err
		}
		if at != nil {
			r.confirmedAt = *at
		}
		snap.rows[id] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	nc, err := nats.Connect(s.natsURL(), nats.Timeout(2*time.Second), nats.NoReconnect())
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	for _, v := range s.vendors {
		name := consumerPrefix + v
		c, err := js.Consumer(ctx, streamName, name)
		if err != nil {
			return nil, fmt.Errorf("nats consumer %s: %w", name, err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("nats consumer %s info: %w", name, err)
		}
		snap.consumers[name] = consumerState{info.NumPending, info.NumAckPending}
		snap.pending += info.NumPending
		snap.ackPending += info.NumAckPending
		snap.redeliv += info.NumRedelivered
	}
	return snap, nil
}

// tap is the scenario's fake of vendor other than liasmart; nil for none.
func (s *scenario) tap(vendor string) *vendorTap {
	for _, t := range s.taps {
		if t.name == vendor {
			return t
		}
	}
	return nil
}

// tapSecretIn reports whether text holds a credential of any tap.
func (s *scenario) tapSecretIn(text string) bool {
	for _, t := range s.taps {
		for _, secret := range t.secrets {
			if secret != "" && strings.Contains(text, secret) {
				return true
			}
		}
	}
	return false
}

// liasmartLabel names CTrack in the summary when it is one vendor of
// several.
func (s *scenario) liasmartLabel() string {
	if len(s.taps) == 0 {
		return ""
	}
	return "liasmart "
}

func succeeded(state string) bool { return state == "confirmed" || state == "already_confirmed" }

// problems lists how snap falls short of the invariant for accepted.
func (snap *snapshot) problems(accepted map[string]time.Time) (out []string, missing []string) {
	byState := map[string][]string{}
	for id := range accepted {
		r, ok := snap.rows[id]
		switch {
		case !ok:
			missing = append(missing, id)
		case !succeeded(r.state):
			byState[r.state] = append(byState[r.state], id)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		out = append(out, fmt.Sprintf("%d accepted events missing from PostgreSQL, e.g. %s", len(missing), sample(missing)))
	}
	for state, ids := range byState {
		sort.Strings(ids)
		out = append(out, fmt.Sprintf("%d accepted events %s, e.g. %s", len(ids), state, sample(ids)))
	}
	var others []string
	for id, r := range snap.rows {
		if _, ok := accepted[id]; !ok && !succeeded(r.state) {
			others = append(others, id+"="+r.state)
		}
	}
	if len(others) > 0 {
		sort.Strings(others)
		out = append(out, fmt.Sprintf("%d events recorded (never answered 2xx) but not final: %s", len(others), sample(others)))
	}
	names := make([]string, 0, len(snap.consumers))
	for name := range snap.consumers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if c := snap.consumers[name]; c.pending > 0 || c.ackPending > 0 {
			out = append(out, fmt.Sprintf("consumer %s not drained: %d pending, %d awaiting ack", name, c.pending, c.ackPending))
		}
	}
	return out, missing
}

func sample(ids []string) string {
	if len(ids) > 8 {
		return strings.Join(ids[:8], ", ") + ", ..."
	}
	return strings.Join(ids, ", ")
}

// verify waits (up to plan.drain after from) for the invariant and reports
// what breaks it; it returns the drain time.
func (s *scenario) verify(from time.Time) time.Duration {
	s.t.Helper()
	accepted := s.gen.acceptedIDs()
	deadline := from.Add(s.plan.drain)
	var snap *snapshot
	var probs, missing []string
	var err error
	for {
		snap, err = s.snapshot()
		if err == nil {
			probs, missing = snap.problems(accepted)
			if len(probs) == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			if err != nil {
				s.t.Errorf("INVARIANT not checked: %v", err)
				return time.Since(from)
			}
			for _, p := range probs {
				s.t.Errorf("INVARIANT broken %s after the load stopped: %s", s.plan.drain, p)
			}
			if len(missing) > 0 {
				s.t.Errorf("missing events vs the JetStream stream: %s", s.streamEvidence(missing))
			}
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	drain := time.Since(from)
	if snap != nil && len(probs) == 0 {
		s.logf("invariant holds %.1fs after the load stopped: %d accepted events final in PostgreSQL (%d rows), consumer drained",
			drain.Seconds(), len(accepted), len(snap.rows))
	}

	if snap != nil && len(probs) == 0 {
		s.historyChecks()
	}
	s.readableErrors()
	// PostgreSQL records each vendor call once: an event cannot show more
	// answered calls than the vendor answered for it. (A call that timed
	// out or never connected is recorded too, but may never have reached
	// the vendor: the fake cannot count what it never received.)
	if snap != nil && len(probs) == 0 {
		calls := map[string]int{}
		for _, c := range s.fake.Calls() {
			if c.Status != 0 {
				calls[c.MessageID]++
			}
		}
		var over []string
		for id, r := range snap.rows {
			got := calls[id]
			if tap := s.tap(r.vendor); tap != nil {
				got = tap.answered(id)
			}
			if r.answered > got {
				over = append(over, fmt.Sprintf("%s (%s) answered attempts=%d answered calls=%d", id, r.vendor, r.answered, got))
			}
		}
		if len(over) > 0 {
			sort.Strings(over)
			s.t.Errorf("ATTEMPTS OVERCOUNTED: %d events record more answered vendor calls than the vendor answered (the same call recorded twice): %s",
				len(over), sample(over))
		}
	}
	// PostgreSQL's claim: never two vendor calls in flight for one event,
	// across replicas and however many messages name it.
	if o := s.fake.Overlaps(); len(o) > 0 {
		var list []string
		for id, n := range o {
			list = append(list, fmt.Sprintf("%s×%d", id, n))
		}
		sort.Strings(list)
		s.t.Errorf("OVERLAPPING CALLS: %d message_ids had two or more vendor calls in flight at once: %s", len(list), sample(list))
	}
	for _, tap := range s.taps {
		tap.verify(s.t, s.gen.acceptedFor(tap.name))
	}

	// The vendor: exactly one 1000 per accepted message_id, never two for any.
	conf := s.fake.ConfirmedIDs()
	var doubles, none []string
	for id, n := range conf {
		if n > 1 {
			doubles = append(doubles, fmt.Sprintf("%s×%d", id, n))
		}
	}
	for id := range s.gen.acceptedFor("liasmart") {
		if conf[id] == 0 {
			none = append(none, id)
		}
	}
	sort.Strings(doubles)
	sort.Strings(none)
	if len(doubles) > 0 {
		s.t.Errorf("DOUBLE 1000: the vendor confirmed %d message_ids more than once: %s", len(doubles), sample(doubles))
	}
	if len(none) > 0 {
		s.t.Errorf("%d accepted message_ids never got a 1000 from the vendor: %s", len(none), sample(none))
	}
	st := s.gen.stats()
	if len(st.unexpected) > 0 {
		s.t.Errorf("unexpected answers to the load (%s); first: %s", st.unexpectedString(), strings.Join(s.gen.bad, " | "))
	}
	if st.timeouts > 0 {
		s.t.Errorf("HANG: %d requests got no answer within the client timeout (10s)", st.timeouts)
	}
	if st.noRetryAfter > 0 {
		s.t.Errorf("%d answers 503 without Retry-After", st.noRetryAfter)
	}
	return drain
}

// historyChecks compares each event's state with its recorded vendor calls:
// an event whose recorded answers include a 1000 must be confirmed (README:
// "a final state is never undone by a late result"). It also counts events
// whose first attempt was recorded twice, the trace of two batches holding
// the same event at once.
func (s *scenario) historyChecks() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, suite.pg.url(s.db))
	if err != nil {
		s.t.Errorf("history check: %v", err)
		return
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
		SELECT e.message_id, e.state, e.attempts,
		       string_agg(a.attempt || ':' || coalesce(a.vendor_code::text, a.outcome) || '@' ||
		                  to_char(a.started_at, 'HH24:MI:SS.MS'), ' ' ORDER BY a.id)
		FROM events e JOIN attempts a ON a.event_id = e.id
		WHERE e.state <> 'confirmed'
		  AND EXISTS (SELECT 1 FROM attempts c WHERE c.event_id = e.id AND c.vendor_code = 1000)
		GROUP BY e.id ORDER BY e.message_id`)
	if err != nil {
		s.t.Errorf("history check: %v", err)
		return
	}
	var overwritten []string
	for rows.Next() {
		var id, state, hist string
		var attempts int
		if err := rows.Scan(&id, &state, &attempts, &hist); err != nil {
			s.t.Errorf("history check: %v", err)
			return
		}
		overwritten = append(overwritten, fmt.Sprintf("%s is %s (attempts=%d, calls %s)", id, state, attempts, hist))
	}
	if err := rows.Err(); err != nil {
		s.t.Errorf("history check: %v", err)
		return
	}
	if len(overwritten) > 0 {
		s.t.Errorf("FINAL STATE OVERWRITTEN: %d events have a recorded 1000 (confirmed) but another state now: %s",
			len(overwritten), sample(overwritten))
	}
	var twice int
	if err := conn.QueryRow(ctx, `SELECT count(DISTINCT event_id) FROM
		(SELECT event_id FROM attempts GROUP BY event_id, attempt HAVING count(*) > 1) d`).Scan(&twice); err != nil {
		s.t.Errorf("history check: %v", err)
		return
	}
	if twice > 0 {
		s.extra = append(s.extra, fmt.Sprintf("%d events have one attempt number recorded twice (two batches held the event at once, or a commit was retried)", twice))
	}
}

// maxErrorText bounds a recorded error: relay's own words around a vendor
// snippet of at most 200 bytes.
const maxErrorText = 1024

// readableErrors holds every error text PostgreSQL recorded (attempts and
// events' last_error) to what an operator must be able to read whatever
// the vendor sent: valid UTF-8, no NUL or other control character, bounded,
// no vendor password; and none stands for a row PostgreSQL refused.
func (s *scenario) readableErrors() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, suite.pg.url(s.db))
	if err != nil {
		s.t.Errorf("error texts check: %v", err)
		return
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
		SELECT e.message_id, a.error FROM attempts a JOIN events e ON e.id = a.event_id WHERE a.error IS NOT NULL
		UNION ALL
		SELECT message_id, last_error FROM events WHERE last_error IS NOT NULL`)
	if err != nil {
		s.t.Errorf("error texts check: %v", err)
		return
	}
	var bad []string
	n := 0
	for rows.Next() {
		var id, text string
		if err := rows.Scan(&id, &text); err != nil {
			s.t.Errorf("error texts check: %v", err)
			return
		}
		n++
		why := unreadable(text, s.vendorPW)
		if why == "" && s.tapSecretIn(text) {
			why = "a vendor credential"
		}
		if why != "" {
			bad = append(bad, fmt.Sprintf("%s: %s in %.120q", id, why, text))
		}
	}
	if err := rows.Err(); err != nil {
		s.t.Errorf("error texts check: %v", err)
		return
	}
	if len(bad) > 0 {
		s.t.Errorf("UNREADABLE ERRORS: %d of %d recorded error texts: %s", len(bad), n, sample(bad))
	}
}

// unreadable says what is wrong with a recorded error text, "" for
// nothing.
func unreadable(text, secret string) string {
	switch {
	case !utf8.ValidString(text):
		return "invalid UTF-8"
	case strings.ContainsFunc(text, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "a control character"
	case len(text) > maxErrorText:
		return fmt.Sprintf("%d bytes", len(text))
	case strings.Contains(text, secret):
		return "the vendor password"
	case strings.Contains(text, "could not be stored"):
		return "a row PostgreSQL refused"
	}
	return ""
}

// streamEvidence tells, for missing events, whether the stream holds them:
// lost by NATS, or stored but never recorded by a worker.
func (s *scenario) streamEvidence(missing []string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nc, err := nats.Connect(s.natsURL(), nats.Timeout(2*time.Second))
	if err != nil {
		return err.Error()
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(ctx, streamName)
	if err != nil {
		return err.Error()
	}
	info, err := st.Info(ctx)
	if err != nil {
		return err.Error()
	}
	want := map[string]bool{}
	for _, id := range missing {
		want[id] = false
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil || !strings.HasPrefix(m.Subject, "relay.registrations.") {
			continue
		}
		var reg struct {
			MessageID string `json:"message_id"`
		}
		if json.Unmarshal(m.Data, &reg) == nil {
			if _, ok := want[reg.MessageID]; ok {
				want[reg.MessageID] = true
			}
		}
	}
	var in, out []string
	for id, found := range want {
		if found {
			in = append(in, id)
		} else {
			out = append(out, id)
		}
	}
	sort.Strings(in)
	sort.Strings(out)
	return fmt.Sprintf("%d in the stream (stored, never recorded: a worker bug): %s; %d NOT in the stream (lost although acknowledged 2xx): %s",
		len(in), sample(in), len(out), sample(out))
}

// scanLogs fails the test for a panic, a fatal error, a data race or a
// secret in any relay log, and counts the warnings and errors by message.
func (s *scenario) scanLogs() map[string]int {
	s.t.Helper()
	counts := map[string]int{}
	reported := 0
	for _, r := range s.relays {
		r.grepLogs(func(path string, n int, line []byte) {
			bad := ""
			switch {
			case bytes.Contains(line, []byte("panic")):
				bad = "panic"
			case bytes.Contains(line, []byte("fatal error")):
				bad = "fatal error"
			case bytes.Contains(line, []byte("DATA RACE")):
				bad = "data race"
			case bytes.Contains(line, []byte(s.secret)) || bytes.Contains(line, []byte(s.vendorPW)) || s.tapSecretIn(string(line)):
				bad = "secret in the log"
			}
			if bad != "" {
				if reported < 10 {
					s.t.Errorf("%s in %s:%d: %.400s", bad, path, n, line)
				}
				reported++
			}
			var l struct {
				Level string `json:"level"`
				Msg   string `json:"msg"`
			}
			if json.Unmarshal(line, &l) == nil && (l.Level == "WARN" || l.Level == "ERROR") {
				counts[l.Level+" "+l.Msg]++
			}
		})
	}
	return counts
}

func (s *scenario) summary(load, drain time.Duration, stops []string, warnings map[string]int, snap *snapshot) {
	st := s.gen.stats()
	accepted := len(s.gen.acceptedIDs())
	calls := s.fake.Calls()
	perAccepted := len(s.gen.acceptedFor("liasmart"))
	codes := map[int]int{}
	for _, c := range calls {
		codes[c.Code]++
	}
	maxRec, worst := time.Duration(0), ""
	var recs []string
	for _, r := range s.recoveries {
		d, ok := s.gen.firstAcceptAfter(r.restart, r.url)
		if !ok {
			s.t.Errorf("no 202 after %s: ingest did not recover", r.what)
			continue
		}
		recs = append(recs, fmt.Sprintf("%.2f", d.Seconds()))
		if d > maxRec {
			maxRec, worst = d, r.what
		}
	}
	mode := "short"
	if suite.full {
		mode = "full"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s mode, seed %d, load %.0fs at %d req/s on %d replica(s)\n", s.name, mode, s.seed, load.Seconds(), s.plan.rate, len(s.relays))
	p50, p99, maxLat := s.gen.latency()
	fmt.Fprintf(&b, "    events accepted %d (posted %d in %d requests, %d batches): 202 new %d, 200 duplicate %d, repeat answered as new %d; 503 %d; no answer %d requests (%d timeouts); unexpected %s\n",
		accepted, st.posted, st.requests, st.batches, st.new202, st.dup200, st.dupAsNew, st.s503, st.connErr, st.timeouts, st.unexpectedString())
	fmt.Fprintf(&b, "    answer latency p50 %s, p99 %s, max %s\n", p50.Round(100*time.Microsecond), p99.Round(100*time.Microsecond), maxLat.Round(time.Millisecond))
	if len(recs) > 0 {
		fmt.Fprintf(&b, "    kills %d, restarts %d; restart -> first 202: %ss (max %.2fs, %s)\n", s.kills, s.restarts, strings.Join(recs, " "), maxRec.Seconds(), worst)
	}
	for _, e := range s.extra {
		fmt.Fprintf(&b, "    %s\n", e)
	}
	perEvent := 0.0
	if perAccepted > 0 {
		perEvent = float64(len(calls)) / float64(perAccepted)
	}
	fmt.Fprintf(&b, "    load stop -> invariant holds (all final, consumer drained): %.1fs; graceful stops %s\n", drain.Seconds(), strings.Join(stops, " "))
	fmt.Fprintf(&b, "    %svendor calls %d = %.2f per accepted event: 1000 answers %d, 1009 answers %d, others %d; message_ids with overlapping calls %d\n",
		s.liasmartLabel(), len(calls), perEvent, codes[1000], codes[1009], len(calls)-codes[1000]-codes[1009], len(s.fake.Overlaps()))
	for _, tap := range s.taps {
		fmt.Fprintf(&b, "    %s\n", tap.summary(len(s.gen.acceptedFor(tap.name))))
	}
	if snap != nil {
		states := map[string]int{}
		multi, recorded, answered := 0, 0, 0
		for _, r := range snap.rows {
			states[r.state]++
			recorded += r.attempts
			answered += r.answered
			if r.attempts > 1 {
				multi++
			}
		}
		tapCalls := 0
		for _, tap := range s.taps {
			tapCalls += tap.totalCalls()
		}
		fmt.Fprintf(&b, "    attempts recorded %d (%d answered, %d without an answer) against vendor calls received %d\n",
			recorded, answered, recorded-answered, len(calls)+tapCalls)
		fmt.Fprintf(&b, "    PostgreSQL: %d confirmed, %d already_confirmed (a repeat after a lost answer), %d other; %d events with more than one recorded call\n",
			states["confirmed"], states["already_confirmed"], len(snap.rows)-states["confirmed"]-states["already_confirmed"], multi)
	}
	if len(warnings) > 0 {
		type kv struct {
			k string
			v int
		}
		var list []kv
		for k, v := range warnings {
			list = append(list, kv{k, v})
		}
		sort.Slice(list, func(i, j int) bool { return list[i].v > list[j].v || list[i].v == list[j].v && list[i].k < list[j].k })
		var parts []string
		for i, e := range list {
			if i == 6 {
				parts = append(parts, "...")
				break
			}
			parts = append(parts, fmt.Sprintf("%d× %q", e.v, e.k))
		}
		fmt.Fprintf(&b, "    relay log warnings/errors: %s\n", strings.Join(parts, ", "))
	}
	out := strings.TrimRight(b.String(), "\n")
	s.t.Log("summary\n" + out)
	addSummary(out)
}
