package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"relay/bench/internal/load"
	"relay/bench/internal/proc"
	"relay/bench/internal/workload"
	"relay/internal/store"
	"relay/internal/vendors/liasmart/liasmarttest"
)

//go:embed pprof_overlay.go.txt
var pprofOverlay []byte

const (
	benchToken  = "relaybench-token-0123456789abcdef"
	ctrackID    = "API-bench"
	ctrackPass  = "bench-password"
	stopTimeout = 60 * time.Second
)

// build compiles relay from ./cmd/relay (with the pprof overlay when
// profiling) and returns the binary's path.
func (h *harness) build(ctx context.Context) (string, error) {
	bin := filepath.Join(h.tmp, "relay")
	args := []string{"build", "-o", bin}
	if h.profile || h.cpuProfiles {
		src := filepath.Join(h.tmp, "zz_relaybench_pprof.go")
		if err := os.WriteFile(src, pprofOverlay, 0o644); err != nil {
			return "", err
		}
		ov, _ := json.Marshal(map[string]map[string]string{"Replace": {
			filepath.Join(h.root, "cmd", "relay", "zz_relaybench_pprof.go"): src,
		}})
		ovPath := filepath.Join(h.tmp, "overlay.json")
		if err := os.WriteFile(ovPath, ov, 0o644); err != nil {
			return "", err
		}
		args = append(args, "-overlay", ovPath)
	}
	args = append(args, "./cmd/relay")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = h.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/relay: %v\n%s", err, out)
	}
	return bin, nil
}

// newDB names a fresh database (relay creates it at start; the harness
// drops it at the end).
func (h *harness) newDB(phase string) string {
	u, _ := url.Parse(h.dbBase)
	u.Path = "/relay_bench_" + h.runID + "_" + phase
	s := u.String()
	h.dbs = append(h.dbs, s)
	return s
}

func (h *harness) dropDBs() {
	for _, db := range h.dbs {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := store.DropDatabase(ctx, db); err != nil {
			fmt.Fprintf(os.Stderr, "relaybench: drop %s: %v\n", db, err)
		}
		cancel()
	}
}

// relayInst is one relay process.
type relayInst struct {
	*proc.Process
	base      string // http://addr
	natsAddr  string // RELAY_NATS_LISTEN, when asked
	pprofAddr string
	onStop    func() // stops what serves this relay (its fake CTrack)
}

type relayOpts struct {
	role      string
	dbURL     string
	dataDir   string
	natsURL   string // external NATS; empty: embedded
	natsLayer bool   // expose the embedded NATS on TCP for the harness
	ctrackURL string
	env       []string // extra settings, before -relay-env
}

// startRelay runs relay serve as a child process and waits for /readyz.
func (h *harness) startRelay(ctx context.Context, name string, o relayOpts) (*relayInst, error) {
	addr, err := proc.FreeAddr()
	if err != nil {
		return nil, err
	}
	env := []string{
		"RELAY_ROLE=" + o.role,
		"RELAY_HTTP_ADDR=" + addr,
		"RELAY_DATABASE_URL=" + o.dbURL,
		"RELAY_DATA_DIR=" + o.dataDir,
		"RELAY_NATS_URL=" + o.natsURL,
		"RELAY_API_KEYS=bench:" + benchToken,
		"RELAY_RATE_LIMIT=0",
		"RELAY_LOG_LEVEL=warn",
		"RELAY_LOG_FORMAT=text",
		"RELAY_SHUTDOWN_TIMEOUT=30s",
	}
	if o.ctrackURL != "" {
		env = append(env, "RELAY_LIASMART_URL="+o.ctrackURL,
			"RELAY_LIASMART_API_ID="+ctrackID, "RELAY_LIASMART_API_PASSWORD="+ctrackPass)
	}
	inst := &relayInst{base: "http://" + addr}
	if o.natsLayer {
		if inst.natsAddr, err = proc.FreeAddr(); err != nil {
			return nil, err
		}
		env = append(env, "RELAY_NATS_LISTEN="+inst.natsAddr)
	}
	if h.profile || h.cpuProfiles {
		if inst.pprofAddr, err = proc.FreeAddr(); err != nil {
			return nil, err
		}
		env = append(env, "RELAY_PPROF_ADDR="+inst.pprofAddr)
	}
	env = append(env, o.env...)
	env = append(env, h.relayEnv...)
	p, err := proc.Spawn(name, h.relayBin, []string{"serve"}, env, filepath.Join(h.tmp, name+".log"))
	if err != nil {
		return nil, err
	}
	inst.Process = p
	if err := p.WaitHTTP(ctx, inst.base+"/readyz", 3*time.Minute); err != nil {
		_ = p.Stop(10 * time.Second)
		return nil, err
	}
	h.track(p)
	return inst, nil
}

// track remembers a process for the resource figures and for cleanup.
func (h *harness) track(p *proc.Process) {
	h.mu.Lock()
	h.procs = append(h.procs, p)
	h.mu.Unlock()
}

func (h *harness) stop(p *proc.Process) {
	if err := p.Stop(stopTimeout); err != nil {
		h.errorf("%s: %v\n%s", p.Name, err, p.Tail(1500))
	}
}

// spawnServer runs this binary as a baseline server.
func (h *harness) spawnServer(ctx context.Context, name string, args ...string) (*proc.Process, string, error) {
	addr, err := proc.FreeAddr()
	if err != nil {
		return nil, "", err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	p, err := proc.Spawn(name, self, append(args, "-addr", addr), nil, filepath.Join(h.tmp, name+".log"))
	if err != nil {
		return nil, "", err
	}
	if err := p.WaitTCP(ctx, addr, time.Minute); err != nil {
		_ = p.Stop(5 * time.Second)
		return nil, "", err
	}
	h.track(p)
	return p, "http://" + addr, nil
}

// fakeCTrack serves a fresh liasmarttest fake on a local port until ctx
// ends.
func fakeCTrack(ctx context.Context, latency time.Duration) (*liasmarttest.Fake, string, error) {
	fake := liasmarttest.New(liasmarttest.Options{APIID: ctrackID, APIPassword: ctrackPass, Latency: latency})
	u, err := serveLocal(ctx, fake)
	return fake, u, err
}

// serveLocal serves handler on a local port until ctx ends and returns
// its base URL.
func serveLocal(ctx context.Context, handler http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return "http://" + ln.Addr().String(), nil
}

func (h *harness) header() http.Header {
	return http.Header{
		"Authorization": {"Bearer " + benchToken},
		"Content-Type":  {"application/json"},
	}
}

func (h *harness) singleTarget(base, prefix string) *load.Target {
	return &load.Target{
		URL: base + "/v1/registrations", Header: h.header(), Seq: new(atomic.Int64),
		Body: func(buf []byte, n int64) []byte { return workload.Event(buf, prefix, n) },
		OK:   func(status int, _ []byte) bool { return status == http.StatusAccepted },
	}
}

func (h *harness) batchTarget(base, prefix string) *load.Target {
	size := h.batchSize
	return &load.Target{
		URL: base + "/v1/registrations/batch", Header: h.header(), Seq: new(atomic.Int64),
		Body: func(buf []byte, n int64) []byte { return workload.Batch(buf, prefix, n, size) },
		OK: func(status int, body []byte) bool {
			return status == http.StatusOK && !strings.Contains(string(body), `"error"`)
		},
	}
}

// cpuProfile fetches a CPU profile of seconds from inst into the results
// directory; wait blocks until it is written. Without -profile or
// -cpu-profiles, or without a name, it does nothing.
func (h *harness) cpuProfile(inst *relayInst, name string, seconds int) (wait func()) {
	if !(h.profile || h.cpuProfiles) || inst.pprofAddr == "" || name == "" {
		return func() {}
	}
	seconds = max(1, seconds) // 0 would mean pprof's default, 30 s
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.fetchProfile(inst, fmt.Sprintf("/debug/pprof/profile?seconds=%d", seconds), name+".cpu.prof")
	}()
	return func() { <-done }
}

// traceProfile fetches an execution trace of seconds (for go tool trace
// -pprof=sync|net|syscall|sched: where requests wait); without -profile
// it does nothing.
func (h *harness) traceProfile(inst *relayInst, name string, seconds int) (wait func()) {
	if !h.profile || inst.pprofAddr == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Named *.prof so that .gitignore's bench/results/*.prof covers it.
		h.fetchProfile(inst, fmt.Sprintf("/debug/pprof/trace?seconds=%d", seconds), name+".prof")
	}()
	return func() { <-done }
}

func (h *harness) heapProfile(inst *relayInst, name string) {
	if h.profile && inst.pprofAddr != "" && name != "" {
		h.fetchProfile(inst, "/debug/pprof/heap?gc=1", name+".heap.prof")
	}
}

func (h *harness) fetchProfile(inst *relayInst, path, file string) {
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Get("http://" + inst.pprofAddr + path)
	if err != nil {
		h.errorf("profile %s: %v", file, err)
		return
	}
	defer resp.Body.Close()
	out := filepath.Join(h.out, file)
	f, err := os.Create(out)
	if err != nil {
		h.errorf("profile %s: %v", file, err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		h.errorf("profile %s: %v", file, err)
		return
	}
	h.logf("  profile written: %s", out)
}

// drainStats reads, after a drain, the latency of every confirmed event
// (created_at: when ingest accepted it, where relay records that, else
// the worker's first upsert; confirmed_at: the commit's transaction
// time) and the drain's span (from its first vendor call, or the first
// created_at where no attempt was recorded).
type drainStats struct {
	Confirmed  int64
	Final      int64
	Total      int64
	FirstSeen  time.Time
	LastFinal  time.Time
	Latencies  []time.Duration
	Attempts   int64
	Duplicates int64
}

func countFinal(ctx context.Context, conn *pgx.Conn) (confirmed, final, total int64, err error) {
	err = conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'confirmed'),
		count(*) FILTER (WHERE state IN ('confirmed', 'already_confirmed', 'failed')), count(*) FROM events`).
		Scan(&confirmed, &final, &total)
	return
}

func readDrain(ctx context.Context, conn *pgx.Conn) (drainStats, error) {
	var d drainStats
	var err error
	if d.Confirmed, d.Final, d.Total, err = countFinal(ctx, conn); err != nil {
		return d, err
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM attempts`).Scan(&d.Attempts); err != nil {
		return d, err
	}
	rows, err := conn.Query(ctx, `SELECT created_at, confirmed_at FROM events WHERE confirmed_at IS NOT NULL`)
	if err != nil {
		return d, err
	}
	defer rows.Close()
	for rows.Next() {
		var c, f time.Time
		if err := rows.Scan(&c, &f); err != nil {
			return d, err
		}
		if d.FirstSeen.IsZero() || c.Before(d.FirstSeen) {
			d.FirstSeen = c
		}
		if f.After(d.LastFinal) {
			d.LastFinal = f
		}
		d.Latencies = append(d.Latencies, f.Sub(c))
	}
	if err := rows.Err(); err != nil {
		return d, err
	}
	// created_at is when ingest accepted the event, so a backlog's
	// earliest is from its fill, before the draining relay started: the
	// drain begins at its first vendor call.
	var firstCall *time.Time
	if err := conn.QueryRow(ctx, `SELECT min(started_at) FROM attempts`).Scan(&firstCall); err != nil {
		return d, err
	}
	if firstCall != nil && firstCall.After(d.FirstSeen) {
		d.FirstSeen = *firstCall
	}
	return d, nil
}

// promSums scrapes relay's /metrics and sums each of the named series
// over its labels (histogram _sum and _count included).
func promSums(base string, names ...string) map[string]float64 {
	out := map[string]float64{}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(base + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		metric, _, _ := strings.Cut(name, "{")
		if strings.Contains(name, "{") {
			_, rest, _ = strings.Cut(line, "} ")
		}
		for _, n := range names {
			if metric == n {
				var v float64
				if _, err := fmt.Sscan(strings.Fields(rest)[0], &v); err == nil {
					out[n] += v
				}
			}
		}
	}
	return out
}
