package main

import (
	"log/slog"
	"math"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// applyMemoryLimit makes 90 % of the container's memory limit (the cgroup's,
// from provider) the Go runtime's soft limit: near it the collector works
// harder instead of the kernel killing relay, whose heap holds the embedded
// JetStream's duplicate index (about 150 B per event of the last
// RELAY_DEDUP_WINDOW). GOMEMLIMIT, when set, wins; AUTOMEMLIMIT=off or a
// ratio in (0, 1] are memlimit's own switches. Without a limit nothing
// changes. It returns the limit in force (math.MaxInt64: none).
func applyMemoryLimit(log *slog.Logger, provider memlimit.Provider) int64 {
	limit, err := memlimit.Set(memlimit.WithProvider(provider))
	switch {
	case err != nil:
		log.Debug("no container memory limit applied", "err", err)
	case limit < math.MaxInt64:
		log.Info("Go memory limit set", "limit_mib", limit>>20)
	}
	return limit
}
