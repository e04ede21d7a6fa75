package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"relay/bench/internal/load"
	"relay/bench/internal/proc"
	"relay/internal/bus"
)

// The "More than one replica" phases: does a second replica add vendor
// throughput when the vendor is the limit, and does the footprint on the
// bus and in PostgreSQL stay flat at a steady rate.

// scaleSettings size the two phases (flags in main.go).
type scaleSettings struct {
	events      int           // scale: backlog drained by one, then two replicas
	latency     time.Duration // scale: fake CTrack latency
	concurrency int           // scale: RELAY_WORKER_CONCURRENCY per replica
	rate        float64       // footprint: steady events/s
	window      time.Duration // footprint: how long
	retention   time.Duration // footprint: RELAY_RETENTION and RELAY_EVENTS_MAX_AGE
}

// externalNATS starts the machine's nats-server (-nats-server, else
// Debian's /usr/sbin/nats-server) with JetStream on a free port and its
// own store dir: two relay processes need a NATS outside both.
func (h *harness) externalNATS(ctx context.Context, name string) (*proc.Process, string, error) {
	bin := h.natsServerBin
	if _, err := exec.LookPath(bin); err != nil {
		bin = debianNATSServer
	}
	if natsServerVersion(bin) == "" {
		return nil, "", fmt.Errorf("no nats-server (-nats-server %s, nor %s)", h.natsServerBin, debianNATSServer)
	}
	addr, err := proc.FreeAddr()
	if err != nil {
		return nil, "", err
	}
	host, port, _ := strings.Cut(addr, ":")
	// Named nats-server: its exit status 1 after our SIGTERM is then a
	// normal stop (proc.Process.Stop).
	ns, err := proc.Spawn("nats-server", bin, []string{"-js", "-sd", filepath.Join(h.tmp, name), "-a", host, "-p", port},
		nil, filepath.Join(h.tmp, name+".log"))
	if err != nil {
		return nil, "", err
	}
	if err := ns.WaitTCP(ctx, addr, 30*time.Second); err != nil {
		_ = ns.Stop(5 * time.Second)
		return nil, "", err
	}
	h.track(ns)
	return ns, "nats://" + addr, nil
}

const debianNATSServer = "/usr/sbin/nats-server"

// scaleRun is one vendor-bound drain.
type scaleRun struct {
	Replicas      int           `json:"replicas"`
	Events        int           `json:"events"`
	Confirmed     int64         `json:"confirmed"`
	Span          time.Duration `json:"span_ns"`
	Rate          float64       `json:"rate"`
	VendorCalls   int           `json:"vendor_calls"`
	DoubleConfirm int           `json:"double_confirmations"`
	// PerReplica is how many vendor calls each replica made (from its
	// /metrics): whether the second one did its share.
	PerReplica []float64 `json:"per_replica_calls"`
}

type scaleResult struct {
	VendorLatency time.Duration `json:"vendor_latency_ns"`
	Concurrency   int           `json:"concurrency"`
	Ceiling       float64       `json:"ceiling_per_replica"`
	One           *scaleRun     `json:"one"`
	Two           *scaleRun     `json:"two"`
	Ratio         float64       `json:"ratio"`
}

// phaseScale drains the same backlog with one replica, then with two
// (same PostgreSQL database, same nats-server, both RELAY_ROLE=all) while
// the vendor is the limit: the fake CTrack answers after -scale-latency
// and each replica makes at most -scale-concurrency calls at once, so one
// replica's ceiling is concurrency / latency.
func (h *harness) phaseScale(ctx context.Context) error {
	s := h.scale
	res := &scaleResult{VendorLatency: s.latency, Concurrency: s.concurrency, Ceiling: float64(s.concurrency) / s.latency.Seconds()}
	var err error
	if res.One, err = h.scaleDrain(ctx, 1); err != nil {
		return err
	}
	if res.Two, err = h.scaleDrain(ctx, 2); err != nil {
		return err
	}
	res.Ratio = res.Two.Rate / res.One.Rate
	h.res.scale = res
	h.report.Runs["scale_two_replicas"] = res
	h.logf("  two replicas / one: %.2f× (target ≥ 1.6×)", res.Ratio)
	return nil
}

// scaleDrain starts replicas relays on a fresh database and nats-server,
// posts the backlog once all are ready (so none drains alone) and waits
// until every event is final.
func (h *harness) scaleDrain(ctx context.Context, replicas int) (*scaleRun, error) {
	s := h.scale
	name := fmt.Sprintf("scale%d", replicas)
	ns, natsURL, err := h.externalNATS(ctx, name+"-nats")
	if err != nil {
		return nil, err
	}
	defer h.stop(ns)
	fakeCtx, stopFake := context.WithCancel(ctx)
	defer stopFake()
	fake, ctrackURL, err := fakeCTrack(fakeCtx, s.latency)
	if err != nil {
		return nil, err
	}
	o := relayOpts{role: "all", dbURL: h.newDB(name), dataDir: filepath.Join(h.tmp, name+"-unused"), natsURL: natsURL, ctrackURL: ctrackURL,
		// A worker takes up to RELAY_WORKER_BATCH messages per batch and
		// runs 4 batches: with the default 500 the replica that pulls first
		// holds more of a small backlog than its vendor slots can serve
		// (measured: 1.79× instead of 1.91×, calls split 1077/923). A batch
		// the size of the vendor concurrency keeps the work where the
		// vendor slots are.
		env: []string{fmt.Sprintf("RELAY_WORKER_CONCURRENCY=%d", s.concurrency), fmt.Sprintf("RELAY_WORKER_BATCH=%d", s.concurrency)}}
	var insts []*relayInst
	defer func() {
		for _, in := range insts {
			h.stop(in.Process)
		}
	}()
	// One after the other: the first creates the database and migrates.
	for i := range replicas {
		in, err := h.startRelay(ctx, fmt.Sprintf("replica-%s-%c", name, 'a'+i), o)
		if err != nil {
			return nil, err
		}
		insts = append(insts, in)
	}
	client := load.NewClient(h.batchClients)
	requests := int64(s.events / h.batchSize)
	r := load.Fixed(ctx, client, h.batchTarget(insts[0].base, name), h.batchClients, requests)
	client.CloseIdleConnections()
	if r.Errors > 0 || r.Requests != requests {
		return nil, fmt.Errorf("%s: %d of %d batches failed (statuses %v)", name, requests-r.Requests, requests, r.Statuses)
	}
	events := int(requests) * h.batchSize
	conn, err := pgx.Connect(ctx, o.dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	deadline := time.Now().Add(max(2*time.Minute, 3*time.Duration(float64(events)/(float64(s.concurrency)/s.latency.Seconds()))*time.Second))
	for {
		_, final, _, err := countFinal(ctx, conn)
		if err != nil {
			return nil, err
		}
		if final >= int64(events) {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: only %d of %d events final by the deadline", name, final, events)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	ds, err := readDrain(ctx, conn)
	if err != nil {
		return nil, err
	}
	run := &scaleRun{Replicas: replicas, Events: events, Confirmed: ds.Confirmed, Span: ds.LastFinal.Sub(ds.FirstSeen), VendorCalls: len(fake.Calls())}
	run.Rate = float64(ds.Confirmed) / run.Span.Seconds()
	for _, n := range fake.ConfirmedIDs() {
		if n > 1 {
			run.DoubleConfirm++
		}
	}
	for _, in := range insts {
		run.PerReplica = append(run.PerReplica, promSums(in.base, "relay_vendor_call_duration_seconds_count")["relay_vendor_call_duration_seconds_count"])
	}
	h.logf("  %d replica(s): %d confirmed in %s = %.0f/s (ceiling %d × %.0f/s); vendor calls %d, per replica %v, double confirmations %d",
		replicas, run.Confirmed, run.Span.Round(time.Millisecond), run.Rate, replicas, float64(s.concurrency)/s.latency.Seconds(),
		run.VendorCalls, run.PerReplica, run.DoubleConfirm)
	if run.Confirmed != int64(events) || run.DoubleConfirm > 0 {
		h.errorf("%s: %d of %d confirmed, %d double confirmations", name, run.Confirmed, events, run.DoubleConfirm)
	}
	return run, nil
}

// footSample is the footprint at one instant of the steady run.
type footSample struct {
	At       float64 `json:"at_s"`
	Posted   int64   `json:"posted"`
	RegMsgs  uint64  `json:"registrations_msgs"`
	RegBytes uint64  `json:"registrations_bytes"`
	EvMsgs   uint64  `json:"events_msgs"`
	EvBytes  uint64  `json:"events_bytes"`
	// PGBytes is pg_total_relation_size (heap, indexes, TOAST) of events,
	// attempts and outbox; PGEvents the rows of events.
	PGBytes  int64   `json:"pg_bytes"`
	PGEvents int64   `json:"pg_events"`
	Deleted  float64 `json:"janitor_deleted_rows"`
	// DeadRows and Vacuums (autovacuum runs) of the three tables, from
	// pg_stat_user_tables: a deleted row's space is reused only after a
	// VACUUM has passed over it.
	DeadRows int64 `json:"pg_dead_rows"`
	Vacuums  int64 `json:"pg_autovacuums"`
	// Vacuumed: the harness ran VACUUM after this sample (standing in for
	// autovacuum when the server has it off).
	Vacuumed bool `json:"harness_vacuum,omitempty"`
}

type footprintResult struct {
	Rate      float64       `json:"rate"`
	Window    time.Duration `json:"window_ns"`
	Retention time.Duration `json:"retention_ns"`
	Samples   []footSample  `json:"samples"`
	// The two points compared (mid-run and the end) and the verdicts.
	Mid, End          footSample `json:"-"`
	BusRegBytes       float64    `json:"registrations_bytes_per_msg"`
	BusEventBytes     float64    `json:"bus_bytes_per_event"`
	PGEventBytes      float64    `json:"pg_bytes_per_event"`
	PeakPGBytes       int64      `json:"peak_pg_bytes"`
	PeakPGEvents      int64      `json:"peak_pg_events"`
	RegVerdict        string     `json:"registrations_verdict"`
	EventsVerdict     string     `json:"events_verdict"`
	PostgresVerdict   string     `json:"postgres_verdict"`
	HTTPErrors        int64      `json:"http_errors"`
	Autovacuum        bool       `json:"server_autovacuum"`
	EventsMaxAgeBound float64    `json:"events_msgs_bound"`
}

// phaseFootprint posts single events at a steady rate to one relay (the
// machine's nats-server outside it) with a short RELAY_RETENTION and
// RELAY_EVENTS_MAX_AGE, and samples every 5 s what the two streams and
// PostgreSQL hold. The janitor passes at relay's start and then every
// minute (±10 %), so the window must exceed 66 s for a pass to fall in it.
func (h *harness) phaseFootprint(ctx context.Context) error {
	s := h.scale
	ns, natsURL, err := h.externalNATS(ctx, "footprint-nats")
	if err != nil {
		return err
	}
	defer h.stop(ns)
	fakeCtx, stopFake := context.WithCancel(ctx)
	defer stopFake()
	_, ctrackURL, err := fakeCTrack(fakeCtx, h.vendorLatency)
	if err != nil {
		return err
	}
	ret := s.retention.String()
	o := relayOpts{role: "all", dbURL: h.newDB("footprint"), dataDir: filepath.Join(h.tmp, "footprint-unused"), natsURL: natsURL, ctrackURL: ctrackURL,
		env: []string{"RELAY_RETENTION=" + ret, "RELAY_EVENTS_MAX_AGE=" + ret}}
	inst, err := h.startRelay(ctx, "replica-footprint", o)
	if err != nil {
		return err
	}
	defer h.stop(inst.Process)
	nc, err := nats.Connect(natsURL, nats.Name("relaybench"))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, o.dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())

	t := h.singleTarget(inst.base, "footprint")
	res := &footprintResult{Rate: s.rate, Window: s.window, Retention: s.retention}
	var av string
	if err := conn.QueryRow(ctx, `SHOW autovacuum`).Scan(&av); err != nil {
		return err
	}
	// relay's deletes leave dead rows whose space only a VACUUM makes
	// reusable; PostgreSQL's default is autovacuum on. On a server that
	// has it off (the dev machine's, for test speed) the harness runs
	// VACUUM after each janitor pass instead, so the figures show what a
	// server with the default does; the report says so.
	res.Autovacuum = av == "on"
	start := time.Now()
	sample := func() (footSample, error) {
		f := footSample{At: time.Since(start).Seconds(), Posted: t.Seq.Load()}
		for _, st := range []struct {
			name        string
			msgs, bytes *uint64
		}{{bus.RegistrationsStream, &f.RegMsgs, &f.RegBytes}, {bus.EventsStream, &f.EvMsgs, &f.EvBytes}} {
			c, cancel := context.WithTimeout(ctx, 5*time.Second)
			stream, err := js.Stream(c, st.name)
			if err != nil {
				cancel()
				return f, fmt.Errorf("stream %s: %w", st.name, err)
			}
			info := stream.CachedInfo()
			cancel()
			*st.msgs, *st.bytes = info.State.Msgs, info.State.Bytes
		}
		if err := conn.QueryRow(ctx, `SELECT pg_total_relation_size('events') + pg_total_relation_size('attempts') + pg_total_relation_size('outbox'),
			(SELECT count(*) FROM events)`).Scan(&f.PGBytes, &f.PGEvents); err != nil {
			return f, err
		}
		if err := conn.QueryRow(ctx, `SELECT coalesce(sum(n_dead_tup), 0)::bigint, coalesce(sum(autovacuum_count), 0)::bigint
			FROM pg_stat_user_tables WHERE relname IN ('events', 'attempts', 'outbox')`).Scan(&f.DeadRows, &f.Vacuums); err != nil {
			return f, err
		}
		f.Deleted = promSums(inst.base, "relay_retention_deleted_rows_total")["relay_retention_deleted_rows_total"]
		return f, nil
	}
	var wg sync.WaitGroup
	var sampleErr error
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				f, err := sample()
				if err != nil {
					sampleErr = errors.Join(sampleErr, err)
					continue
				}
				if !res.Autovacuum && len(res.Samples) > 0 && f.Deleted > res.Samples[len(res.Samples)-1].Deleted {
					if _, err := conn.Exec(ctx, `VACUUM events, attempts, outbox`); err != nil {
						sampleErr = errors.Join(sampleErr, fmt.Errorf("vacuum: %w", err))
					}
					f.Vacuumed = true
				}
				res.Samples = append(res.Samples, f)
				h.logf("  +%3.0fs posted %6d | registrations %5d msgs %8d B | events %6d msgs %9d B | PostgreSQL %6d events %10d B | janitor deleted %.0f rows; %d dead, %d autovacuums%s",
					f.At, f.Posted, f.RegMsgs, f.RegBytes, f.EvMsgs, f.EvBytes, f.PGEvents, f.PGBytes, f.Deleted, f.DeadRows, f.Vacuums,
					map[bool]string{true: "; harness VACUUM (autovacuum is off)"}[f.Vacuumed])
			}
		}
	}()
	client := load.NewClient(32)
	r := load.Open(ctx, client, t, s.rate, 32, 0, s.window)
	client.CloseIdleConnections()
	close(done)
	wg.Wait()
	if sampleErr != nil {
		return sampleErr
	}
	res.HTTPErrors = r.Errors
	if r.Errors > 0 {
		h.errorf("footprint: %d failed requests (statuses %v)", r.Errors, r.Statuses)
	}
	if len(res.Samples) < 4 {
		return fmt.Errorf("footprint: only %d samples", len(res.Samples))
	}
	h.footprintVerdicts(res)
	h.res.footprint = res
	h.report.Runs["footprint"] = res
	return nil
}

// footprintVerdicts compares the sample nearest the middle of the run
// with the last one.
func (h *harness) footprintVerdicts(res *footprintResult) {
	res.Mid, res.End = res.Samples[len(res.Samples)/2], res.Samples[len(res.Samples)-1]
	mid, end := res.Mid, res.End
	for _, f := range res.Samples {
		if f.PGBytes > res.PeakPGBytes {
			res.PeakPGBytes = f.PGBytes
		}
		res.PeakPGEvents = max(res.PeakPGEvents, f.PGEvents)
	}
	if end.EvMsgs > 0 {
		res.BusEventBytes = float64(end.EvBytes) / float64(end.EvMsgs)
	}
	var regMsgs, regBytes uint64
	for _, f := range res.Samples {
		regMsgs += f.RegMsgs
		regBytes += f.RegBytes
	}
	if regMsgs > 0 {
		res.BusRegBytes = float64(regBytes) / float64(regMsgs)
	}
	// Before the janitor's first deletion every row is live: the bytes
	// per event are the table's own, with no dead tuples in them.
	for _, f := range res.Samples {
		if f.Deleted == 0 && f.PGEvents > 0 {
			res.PGEventBytes = float64(f.PGBytes) / float64(f.PGEvents)
		}
	}
	// The registrations stream is a work queue: it holds the backlog only.
	backlog := uint64(res.Rate) // a second's worth
	if end.RegMsgs <= backlog && mid.RegMsgs <= backlog {
		res.RegVerdict = fmt.Sprintf("flat: %d then %d messages (%d then %d B) — only the backlog; %d events posted meanwhile",
			mid.RegMsgs, end.RegMsgs, mid.RegBytes, end.RegBytes, end.Posted-mid.Posted)
	} else {
		res.RegVerdict = fmt.Sprintf("GROWING: %d then %d messages", mid.RegMsgs, end.RegMsgs)
	}
	// The events stream keeps RELAY_EVENTS_MAX_AGE of outcomes: about
	// rate × max age messages, plus JetStream's expiry granularity.
	res.EventsMaxAgeBound = res.Rate * res.Retention.Seconds() * 1.5
	grow := float64(end.EvMsgs) / max(1, float64(mid.EvMsgs))
	if float64(end.EvMsgs) <= res.EventsMaxAgeBound && grow < 1.25 {
		res.EventsVerdict = fmt.Sprintf("flat: %d then %d messages (%.0f B each), bound rate × max age × 1.5 = %.0f", mid.EvMsgs, end.EvMsgs, res.BusEventBytes, res.EventsMaxAgeBound)
	} else {
		res.EventsVerdict = fmt.Sprintf("GROWING: %d then %d messages (bound %.0f)", mid.EvMsgs, end.EvMsgs, res.EventsMaxAgeBound)
	}
	// PostgreSQL: the janitor deletes what has been final for longer than
	// RELAY_RETENTION, once a minute, so live rows stay under
	// rate × (retention + interval). The files stop growing only once a
	// VACUUM (autovacuum) has made the deleted rows' space reusable: until
	// then they grow with every event.
	bound := int64(res.Rate * (res.Retention + 66*time.Second).Seconds() * 1.2)
	rows := "not shown"
	switch {
	case end.Deleted == 0:
		rows = fmt.Sprintf("not shown: no janitor pass deleted anything within %s", res.Window)
	case res.PeakPGEvents <= bound && end.PGEvents < res.PeakPGEvents:
		rows = fmt.Sprintf("bounded: the janitor deleted %.0f rows; events rows peaked at %d (bound rate × (retention + 66 s) × 1.2 = %d) and ended at %d",
			end.Deleted, res.PeakPGEvents, bound, end.PGEvents)
	default:
		rows = fmt.Sprintf("GROWING: %d rows at the end, peak %d, bound %d, janitor deleted %.0f", end.PGEvents, res.PeakPGEvents, bound, end.Deleted)
	}
	// The files: after the second pass the space the first one freed
	// (once vacuumed) holds what arrives until the next, so from the last
	// pass on they stay at their size.
	// A pass may span two samples: increases in consecutive samples are
	// one pass.
	passes, last := 0, -1
	for i := 1; i < len(res.Samples); i++ {
		if res.Samples[i].Deleted > res.Samples[i-1].Deleted {
			if last != i-1 {
				passes++
			}
			last = i
		}
	}
	var files string
	switch {
	case passes < 2:
		files = fmt.Sprintf("not shown: %d janitor pass(es) with deletions in %s, two are needed (-footprint-window 150s); %d then %d B, %d dead rows at the end",
			passes, res.Window, mid.PGBytes, end.PGBytes, end.DeadRows)
	case float64(end.PGBytes) <= 1.05*float64(res.Samples[last].PGBytes):
		files = fmt.Sprintf("flat after the second pass: %d B at it, %d B at the end (%.0f s later)",
			res.Samples[last].PGBytes, end.PGBytes, end.At-res.Samples[last].At)
	default:
		files = fmt.Sprintf("still GROWING after the second pass: %d B at it, %d B at the end, %d dead rows, %d autovacuums",
			res.Samples[last].PGBytes, end.PGBytes, end.DeadRows, end.Vacuums)
	}
	res.PostgresVerdict = "live rows " + rows + "; files " + files
	if !res.Autovacuum {
		res.PostgresVerdict += "; the server has autovacuum off: the harness ran VACUUM after each janitor pass"
	}
	h.logf("  registrations: %s", res.RegVerdict)
	h.logf("  events stream: %s", res.EventsVerdict)
	h.logf("  PostgreSQL: %.0f B per event (events + attempts + outbox, indexes included); %s", res.PGEventBytes, res.PostgresVerdict)
}

// scaleFigures adds the phases' figures to the report.
func (h *harness) scaleFigures() {
	r := h.report
	if h.res.scale != nil || h.res.footprint != nil {
		h.note("The scale and footprint phases run relay (processes named replica-*) against the machine's nats-server, not embedded NATS.")
	}
	if s := h.res.scale; s != nil {
		label := fmt.Sprintf("two replicas drain %d events, vendor-bound (fake CTrack %s, %d calls per replica)", s.Two.Events, s.VendorLatency, s.Concurrency)
		r.add("scale_two_replicas", label, s.Two.Rate, "conf/s", s.One.Rate, "one replica", "≥ 1.6 × one replica", ratioAtLeast(1.6))
	}
	if f := h.res.footprint; f != nil {
		r.add("footprint_registrations_bytes_per_msg", "RELAY_REGISTRATIONS bytes per queued registration", f.BusRegBytes, "B", 0, "", "", nil)
		r.add("footprint_bus_bytes_per_event", "RELAY_EVENTS bytes per stored outcome event", f.BusEventBytes, "B", 0, "", "", nil)
		r.add("footprint_pg_bytes_per_event", "PostgreSQL bytes per event (events + attempts + outbox, indexes)", f.PGEventBytes, "B", 0, "", "", nil)
		h.note("footprint at %.0f events/s for %s, RELAY_RETENTION = RELAY_EVENTS_MAX_AGE = %s: RELAY_REGISTRATIONS %s; RELAY_EVENTS %s; PostgreSQL %s",
			f.Rate, f.Window, f.Retention, f.RegVerdict, f.EventsVerdict, f.PostgresVerdict)
	}
}
