package main

import (
	"io"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// TestApplyMemoryLimit: a container limit becomes 90 % of it as the Go
// runtime's limit; no limit leaves the runtime's default; GOMEMLIMIT wins.
// Not parallel: the limit is the process's.
func TestApplyMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("AUTOMEMLIMIT", "")
	os.Unsetenv("AUTOMEMLIMIT") // t.Setenv restores it at the end
	if got := applyMemoryLimit(log, memlimit.Limit(1<<30)); got != 966367641 || debug.SetMemoryLimit(-1) != got {
		t.Errorf("with a 1 GiB limit: %d (runtime %d), want 90 %% of it, 966367641", got, debug.SetMemoryLimit(-1))
	}
	noLimit := func() (uint64, error) { return 0, memlimit.ErrNoLimit }
	if got := applyMemoryLimit(log, noLimit); got != math.MaxInt64 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Errorf("without a limit: %d, want none (MaxInt64)", got)
	}
	t.Setenv("GOMEMLIMIT", "512MiB")
	debug.SetMemoryLimit(512 << 20) // what the runtime read from it at start
	if got := applyMemoryLimit(log, memlimit.Limit(1<<30)); got != 512<<20 {
		t.Errorf("with GOMEMLIMIT=512MiB: %d, want it kept", got)
	}
}
