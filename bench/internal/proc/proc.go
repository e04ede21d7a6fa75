// Package proc reads what the benchmark reports about processes and the
// machine from Linux's /proc: resident memory (VmRSS, VmHWM), CPU time
// (utime+stime) and the machine's description.
package proc

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, 100 on every Linux this runs on (getconf CLK_TCK).
const clockTicks = 100

// Mem is a process's resident memory, in bytes.
type Mem struct {
	RSS int64 // VmRSS: now
	HWM int64 // VmHWM: peak since the process started
}

// ReadMem reads /proc/<pid>/status.
func ReadMem(pid int) (Mem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Mem{}, err
	}
	var m Mem
	for line := range bytes.Lines(b) {
		switch {
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			m.RSS = kb(line)
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			m.HWM = kb(line)
		}
	}
	return m, nil
}

func kb(line []byte) int64 {
	f := strings.Fields(string(line))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.ParseInt(f[1], 10, 64)
	return n << 10
}

// CPU returns the user+system CPU time pid has used.
func CPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields resume after ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("proc: unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("proc: short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// PostgresMatch selects the PostgreSQL backends counted as ours: those
// whose process title holds it (the database name prefix of the run).
// PostgreSQL's shared helpers (WAL writer, checkpointer, background
// writer, autovacuum) always count; other clients' backends never do, so
// other users of the same server are not charged to relay.
var PostgresMatch = "relay_bench_"

// PostmasterPID, when set, restricts the count to the children of that
// PostgreSQL server (another cluster on the machine is not ours).
var PostmasterPID int

// ParentPID reads a process's parent.
func ParentPID(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("PPid:")); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(string(v)))
			return n
		}
	}
	return 0
}

// PGSnapshot is the CPU time of each counted PostgreSQL process.
type PGSnapshot map[int]time.Duration

// SnapshotPostgres reads the CPU of the counted PostgreSQL processes.
func SnapshotPostgres() PGSnapshot {
	snap := PGSnapshot{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		c, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(c)) != "postgres" {
			continue
		}
		if PostmasterPID > 0 && ParentPID(pid) != PostmasterPID {
			continue
		}
		title, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		t := string(title)
		// A client backend's title names its client: "... db 127.0.0.1(port) state".
		client := strings.Contains(t, "(") || strings.Contains(t, "[local]")
		if client && !strings.Contains(t, PostgresMatch) {
			continue
		}
		if d, err := CPU(pid); err == nil {
			snap[pid] = d
		}
	}
	return snap
}

// Since is the CPU the counted processes used between start and s.
// Processes gone by s are lost (their last slice is not counted); ones
// new since start count whole.
func (s PGSnapshot) Since(start PGSnapshot) time.Duration {
	var total time.Duration
	for pid, d := range s {
		total += d - start[pid]
	}
	return max(total, 0)
}

// Sampler follows one process's VmRSS while it runs.
type Sampler struct {
	pid  int
	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex
	maxRSS int64
	hwm    int64
}

// Sample reads pid's memory every interval until Stop.
func Sample(pid int, interval time.Duration) *Sampler {
	s := &Sampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			s.read()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *Sampler) read() {
	m, err := ReadMem(s.pid)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.maxRSS = max(s.maxRSS, m.RSS)
	s.hwm = max(s.hwm, m.HWM)
	s.mu.Unlock()
}

// Peak is the highest VmHWM seen so far (the kernel's own peak, so spikes
// between samples count too) and the highest sampled VmRSS.
func (s *Sampler) Peak() (hwm, maxRSS int64) {
	s.read()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hwm, s.maxRSS
}

// Stop ends the sampling; call it before the process exits so the last
// reading is taken.
func (s *Sampler) Stop() {
	s.read()
	close(s.stop)
	<-s.done
}

// Machine describes where the benchmark ran.
type Machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	MemoryMiB  int64  `json:"memory_mib"`
	Go         string `json:"go"`
	Kernel     string `json:"kernel"`
	OS         string `json:"os"`
	PostgreSQL string `json:"postgresql,omitempty"`
	NATS       string `json:"nats_embedded,omitempty"`
	NATSServer string `json:"nats_server_external,omitempty"`
}

// Describe reads the machine's description.
func Describe() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range bytes.Lines(b) {
			if bytes.HasPrefix(line, []byte("MemTotal:")) {
				m.MemoryMiB = kb(line) >> 20
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		m.Go = strings.TrimSpace(string(out))
	}
	return m
}

// Revision is the short git revision of the working tree, or "unknown".
func Revision(dir string) string {
	cmd := exec.Command("git", "rev-parse", "--short", "HEAD")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// MachineCPU returns the CPU time all cores spent busy (everything but
// idle and iowait) since boot, from /proc/stat.
func MachineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 6 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / clockTicks
}

// Split is where the machine's CPU went during a run, in cores (CPU
// seconds per second of the run).
type Split struct {
	Server float64 `json:"server_cores"`
	// Postgres counts the run's own backends and the server's shared
	// helpers (see PostgresMatch).
	Postgres float64 `json:"postgres_cores"`
	Harness  float64 `json:"harness_cores"`
	Machine  float64 `json:"machine_busy_cores"`
	// Other is the machine's busy time not accounted to the server,
	// PostgreSQL or the harness: other processes on the machine, and
	// kernel work (loopback networking) not charged to a process.
	Other float64 `json:"other_cores"`
}

// SplitMeter measures a Split.
type SplitMeter struct {
	pid                 int
	t0                  time.Time
	server, self, total time.Duration
	pg                  PGSnapshot
}

// StartSplit starts measuring with server pid (0: none).
func StartSplit(pid int) *SplitMeter {
	m := &SplitMeter{pid: pid, t0: time.Now()}
	if pid > 0 {
		m.server, _ = CPU(pid)
	}
	m.pg = SnapshotPostgres()
	m.self, _ = CPU(os.Getpid())
	m.total = MachineCPU()
	return m
}

// Stop ends the measurement.
func (m *SplitMeter) Stop() Split {
	el := time.Since(m.t0).Seconds()
	var s Split
	if m.pid > 0 {
		if d, err := CPU(m.pid); err == nil {
			s.Server = (d - m.server).Seconds() / el
		}
	}
	s.Postgres = SnapshotPostgres().Since(m.pg).Seconds() / el
	self, _ := CPU(os.Getpid())
	s.Harness = (self - m.self).Seconds() / el
	s.Machine = (MachineCPU() - m.total).Seconds() / el
	s.Other = max(0, s.Machine-s.Server-s.Postgres-s.Harness)
	return s
}
