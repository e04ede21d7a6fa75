// Command relaybench measures relay on this machine, in one run, next to
// the baselines its targets are stated against, and writes the results as
// a markdown table and JSON (bench/results/latest.md, latest.json).
//
// Every relay under test is a child process built from ./cmd/relay with a
// fresh PostgreSQL database and a fresh NATS data directory, so its memory
// and CPU are its own; the load generator, the fake CTrack and the raw
// baselines run in this process. Everything listens on 127.0.0.1.
//
//	go run ./bench/cmd/relaybench            # what `make bench` runs
//	go run ./bench/cmd/relaybench -profile   # also CPU and heap profiles of relay
//	go run ./bench/cmd/relaybench -backlog 1000000
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	natsserver "github.com/nats-io/nats-server/v2/server"

	"relay/bench/internal/baseline"
	"relay/bench/internal/proc"
	"relay/internal/config"
)

type harness struct {
	root, tmp, out string
	relayBin       string
	runID          string
	dbBase         string
	profile        bool
	cpuProfiles    bool
	relayEnv       []string
	keep           bool

	warmup, window   time.Duration
	clients          int
	batchClients     int
	batchSize        int
	events           int
	vendorLatency    time.Duration
	steadyRate       float64
	steadyWindow     time.Duration
	extEvents        int
	natsServerBin    string
	backlog          int
	backlogDrain     time.Duration
	workerConcurrent int
	scale            scaleSettings
	tracingRate      float64
	tracingWindow    time.Duration
	vendorEvents     int

	only map[string]bool

	// Round two: the cold-database phase, the capacity search and the
	// naive worker (phase_cold.go, phase_capacity.go, phase_naive.go).
	coldBurst      int
	coldRate       float64
	coldWindow     time.Duration
	capStart       float64
	capFactor      float64
	capMax         float64
	capWindow      time.Duration
	capP99         time.Duration
	naiveEvents    int
	workerBatch    int
	other          map[string]float64 // run → other processes' cores (noise.go)
	coldRes        map[string]*coldResult
	capRes         *capacityResult
	naiveWorkerRes *naiveWorkerResult

	quietBudget time.Duration // total time the phases may wait for a quiet machine
	quietWaited time.Duration
	background  []float64 // machine busy cores sampled before each phase

	res    results
	report *Report
	mu     sync.Mutex
	procs  []*proc.Process
	dbs    []string
}

func main() {
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "serve-") {
		os.Exit(serveMain(os.Args[1], os.Args[2:]))
	}
	h := &harness{}
	flag.StringVar(&h.out, "out", "bench/results", "results directory (latest.md, latest.json, profiles)")
	flag.StringVar(&h.dbBase, "db", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL server (a database per run is created and dropped)")
	flag.BoolVar(&h.profile, "profile", false, "write CPU and heap profiles and a trace of relay into -out (relay built with a pprof overlay)")
	flag.BoolVar(&h.cpuProfiles, "cpu-profiles", true, "write CPU profiles of relay's ingest and end-to-end runs into -out (relay built with a pprof overlay; the profiler costs about 1 % CPU)")
	flag.DurationVar(&h.warmup, "warmup", time.Second, "warmup before each HTTP measurement")
	flag.DurationVar(&h.window, "window", 6*time.Second, "measurement window of each HTTP throughput run")
	flag.IntVar(&h.clients, "clients", 64, "concurrent keep-alive clients for single events")
	flag.IntVar(&h.batchClients, "batch-clients", 16, "concurrent clients posting batches")
	flag.IntVar(&h.batchSize, "batch-size", 100, "events per batch request")
	flag.IntVar(&h.events, "events", 200_000, "end-to-end backlog drained against the fake CTrack")
	flag.DurationVar(&h.vendorLatency, "vendor-latency", 20*time.Millisecond, "fake CTrack answer latency")
	flag.Float64Var(&h.steadyRate, "steady-rate", 1000, "steady-state events/s")
	flag.DurationVar(&h.steadyWindow, "steady", 20*time.Second, "steady-state window")
	flag.IntVar(&h.extEvents, "external-nats-events", 100_000, "backlog of the external nats-server variant (0: skip it)")
	flag.StringVar(&h.natsServerBin, "nats-server", "nats-server", "external nats-server binary for the separate-RSS variant")
	flag.IntVar(&h.backlog, "backlog", 0, "also measure relay's RSS with this many queued events (e.g. 1000000; about 1 min per million)")
	flag.DurationVar(&h.backlogDrain, "backlog-drain", 30*time.Second, "how long relay drains the -backlog while its RSS is followed")
	flag.IntVar(&h.workerConcurrent, "worker-concurrency", config.Defaults().WorkerConcurrency, "RELAY_WORKER_CONCURRENCY relay runs with (its default), for the vendor-bound ceiling")
	flag.IntVar(&h.coldBurst, "cold-burst", 30_000, "cold phase: single events burst into a freshly migrated relay")
	flag.Float64Var(&h.coldRate, "cold-rate", 1000, "cold phase: steady events/s measured right after the burst")
	flag.DurationVar(&h.coldWindow, "cold-window", 10*time.Second, "cold phase: steady window after the burst")
	flag.Float64Var(&h.capStart, "capacity-start", 1000, "capacity phase: first steady rate (events/s)")
	flag.Float64Var(&h.capFactor, "capacity-factor", 1.5, "capacity phase: each step multiplies the rate by this")
	flag.Float64Var(&h.capMax, "capacity-max", 30_000, "capacity phase: highest rate tried")
	flag.DurationVar(&h.capWindow, "capacity-window", 5*time.Second, "capacity phase: window of each step (after 2 s warmup)")
	flag.DurationVar(&h.capP99, "capacity-p99", 50*time.Millisecond, "capacity phase: highest ingest p99 a step may have")
	flag.IntVar(&h.naiveEvents, "naive-worker-events", 0, "naive worker baseline backlog (0: -events, the end-to-end backlog)")
	flag.IntVar(&h.workerBatch, "worker-batch", config.Defaults().WorkerBatch, "RELAY_WORKER_BATCH relay runs with (its default): the naive worker's batch")
	flag.IntVar(&h.scale.events, "scale-events", 2000, "scale phase: backlog drained by one relay, then by two")
	flag.DurationVar(&h.scale.latency, "scale-latency", 200*time.Millisecond, "scale phase: fake CTrack latency (the vendor is the limit)")
	flag.IntVar(&h.scale.concurrency, "scale-concurrency", 32, "scale phase: RELAY_WORKER_CONCURRENCY of each relay")
	flag.Float64Var(&h.scale.rate, "footprint-rate", 200, "footprint phase: steady events/s")
	flag.DurationVar(&h.scale.window, "footprint-window", 75*time.Second, "footprint phase: how long (over 66 s, so that a retention pass falls in it)")
	flag.DurationVar(&h.scale.retention, "footprint-retention", 15*time.Second, "footprint phase: RELAY_RETENTION and RELAY_EVENTS_MAX_AGE")
	flag.Float64Var(&h.tracingRate, "tracing-rate", 1000, "tracing phase: single events/s posted (open loop) per mode (off, 10%, 100% sampled)")
	flag.DurationVar(&h.tracingWindow, "tracing-window", 10*time.Second, "tracing phase: how long each mode is fed (after 1 s warmup)")
	flag.IntVar(&h.vendorEvents, "vendors-events", 40_000, "fourvendors phase: backlog drained for one vendor, then spread over four")
	flag.BoolVar(&h.keep, "keep", false, "keep the temporary directory (logs, NATS data)")
	flag.DurationVar(&h.quietBudget, "quiet-wait", 60*time.Second, "total time to wait, before phases, for other processes to leave the machine idle (< 0.25 cores busy)")
	only := flag.String("only", "", "run only these phases, comma-separated: http,raw,ingest,naiveworker,e2e,ext,cold,capacity,backlog,scale,fourvendors,footprint,tracing (default all)")
	var env multiFlag
	flag.Var(&env, "relay-env", "extra KEY=VALUE for every relay process (repeatable), e.g. RELAY_WORKER_BATCH=1000")
	flag.Parse()
	h.relayEnv = env
	if *only != "" {
		h.only = map[string]bool{}
		for _, p := range strings.Split(*only, ",") {
			h.only[strings.TrimSpace(p)] = true
		}
	}
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "RELAY_WORKER_CONCURRENCY="); ok {
			_, _ = fmt.Sscan(v, &h.workerConcurrent)
		}
		if v, ok := strings.CutPrefix(kv, "RELAY_WORKER_BATCH="); ok {
			_, _ = fmt.Sscan(v, &h.workerBatch)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := h.run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "relaybench:", err)
		os.Exit(1)
	}
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

func (h *harness) errorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	h.logf("ERROR: %s", msg)
	h.mu.Lock()
	h.report.Errors = append(h.report.Errors, msg)
	h.mu.Unlock()
}

func (h *harness) note(format string, args ...any) {
	h.report.Notes = append(h.report.Notes, fmt.Sprintf(format, args...))
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(b), "module relay\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run relaybench inside the relay module")
		}
		dir = parent
	}
}

func (h *harness) run(ctx context.Context) error {
	started := time.Now()
	var err error
	if h.root, err = moduleRoot(); err != nil {
		return err
	}
	if !filepath.IsAbs(h.out) {
		h.out = filepath.Join(h.root, h.out)
	}
	if h.tmp, err = os.MkdirTemp("", "relaybench-"); err != nil {
		return err
	}
	var rb [4]byte
	_, _ = rand.Read(rb[:])
	h.runID = hex.EncodeToString(rb[:])
	proc.PostgresMatch = "relay_bench_" + h.runID
	h.report = &Report{
		Revision: proc.Revision(h.root), Machine: proc.Describe(), StartedAt: started, Profile: h.profile, CPUProfiles: h.cpuProfiles,
		Runs: map[string]any{},
		Settings: map[string]any{
			"warmup": h.warmup.String(), "window": h.window.String(), "clients": h.clients,
			"batch_clients": h.batchClients, "batch_size": h.batchSize, "events": h.events,
			"vendor_latency": h.vendorLatency.String(), "steady_rate": h.steadyRate, "steady_window": h.steadyWindow.String(),
			"external_nats_events": h.extEvents, "backlog": h.backlog, "relay_env": h.relayEnv,
			"cold_burst": h.coldBurst, "cold_rate": h.coldRate, "cold_window": h.coldWindow.String(),
			"capacity_start": h.capStart, "capacity_factor": h.capFactor, "capacity_window": h.capWindow.String(),
			"capacity_p99": h.capP99.String(), "worker_batch": h.workerBatch, "worker_concurrency": h.workerConcurrent,
			"vendors_events": h.vendorEvents,
		},
	}
	h.report.Machine.NATS = natsserver.VERSION
	h.report.Machine.PostgreSQL = pgVersion(ctx, h.dbBase)
	defer func() {
		h.mu.Lock()
		procs := append([]*proc.Process(nil), h.procs...)
		h.mu.Unlock()
		for _, p := range procs {
			select {
			case <-p.Exited():
			default:
				_ = p.Stop(10 * time.Second)
			}
		}
		h.dropDBs()
		if h.keep {
			h.logf("kept %s", h.tmp)
		} else {
			os.RemoveAll(h.tmp)
		}
	}()

	h.logf("building relay (./cmd/relay)%s", map[bool]string{true: " with the pprof overlay", false: ""}[h.profile])
	if h.relayBin, err = h.build(ctx); err != nil {
		return err
	}
	if h.profile || h.cpuProfiles {
		if err := os.MkdirAll(h.out, 0o755); err != nil {
			return err
		}
	}

	phases := []struct {
		key, name string
		f         func(context.Context) error
	}{
		{"http", "HTTP baselines", h.phaseHTTPBaselines},
		{"raw", "raw JetStream and PostgreSQL baselines", h.phaseRawBaselines},
		{"ingest", "relay ingest", h.phaseIngest},
		{"naiveworker", "naive worker baseline", h.phaseNaiveWorker},
		{"e2e", "end to end", h.phaseEndToEnd},
		{"ext", "external nats-server variant", h.phaseExternalNATS},
		{"cold", "cold database", h.phaseCold},
		{"capacity", "default process capacity", h.phaseCapacity},
		{"backlog", "large backlog", h.phaseBacklog},
		{"scale", "two replicas, vendor-bound", h.phaseScale},
		{"fourvendors", "four vendors at once vs one", h.phaseFourVendors},
		{"footprint", "footprint at a steady rate", h.phaseFootprint},
		{"tracing", "tracing cost (OpenTelemetry off, 10%, 100%)", h.phaseTracing},
	}
	for _, p := range phases {
		if ctx.Err() != nil {
			break
		}
		if h.only != nil && !h.only[p.key] {
			continue
		}
		h.waitQuiet(ctx)
		h.logf("== %s", p.name)
		if err := p.f(ctx); err != nil {
			h.errorf("%s: %v", p.name, err)
		}
	}
	h.figures()
	h.scaleFigures()
	h.report.DurationS = round(time.Since(started).Seconds(), 1)
	md := h.report.Markdown()
	fmt.Println(md)
	if err := h.report.write(h.out); err != nil {
		return err
	}
	h.logf("wrote %s and %s", filepath.Join(h.out, "latest.md"), filepath.Join(h.out, "latest.json"))
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// waitQuiet waits, within what is left of the quiet budget, until the
// machine is idle: other users' load would be measured as relay's slowness.
func (h *harness) waitQuiet(ctx context.Context) {
	busy := func() float64 {
		t0, b0 := time.Now(), proc.MachineCPU()
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
		return (proc.MachineCPU() - b0).Seconds() / time.Since(t0).Seconds()
	}
	b := busy()
	start := time.Now()
	for logged := false; b > 0.25 && h.quietWaited+time.Since(start) < h.quietBudget && ctx.Err() == nil; b = busy() {
		if !logged {
			h.logf("  machine busy (%.2f cores used by other processes); waiting up to %s for it to calm down",
				b, (h.quietBudget - h.quietWaited).Round(time.Second))
			logged = true
		}
	}
	h.quietWaited += time.Since(start)
	h.background = append(h.background, b)
}

func pgVersion(ctx context.Context, dbURL string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return "PostgreSQL unreachable"
	}
	defer conn.Close(ctx)
	var v string
	var pid int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version'), pg_backend_pid()").Scan(&v, &pid); err != nil {
		return ""
	}
	// Our backends and the server's helpers are the postmaster's children.
	proc.PostmasterPID = proc.ParentPID(pid)
	return "PostgreSQL " + strings.Fields(v)[0]
}

func natsServerVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// serveMain runs a baseline server (serve-bare, serve-naive) until SIGTERM.
func serveMain(cmd string, args []string) int {
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	data := fs.String("data", "", "NATS data directory (serve-naive, serve-naive-worker)")
	db := fs.String("db", "", "database URL (serve-naive-worker)")
	ctrack := fs.String("ctrack", "", "fake CTrack base URL (serve-naive-worker)")
	batch := fs.Int("batch", 500, "messages per fetch (serve-naive-worker)")
	concurrency := fs.Int("concurrency", 512, "vendor calls in flight (serve-naive-worker)")
	_ = fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd {
	case "serve-bare":
		err = baseline.ServeBare(ctx, *addr)
	case "serve-naive":
		err = baseline.ServeNaive(ctx, *addr, *data, benchToken, false)
	case "serve-naive-async":
		err = baseline.ServeNaive(ctx, *addr, *data, benchToken, true)
	case "serve-naive-worker":
		err = baseline.RunWorker(ctx, baseline.WorkerOptions{DataDir: *data, DatabaseURL: *db, CTrackURL: *ctrack,
			APIID: ctrackID, APIPassword: ctrackPass, Batch: *batch, Concurrency: *concurrency})
	default:
		err = fmt.Errorf("unknown command %s", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
