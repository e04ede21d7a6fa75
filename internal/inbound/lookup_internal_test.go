package inbound

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"relay/internal/testenv"
)

// TestLookupClose: the coalescer answers from PostgreSQL until close; after
// it, known answers nil ("could not tell") at once instead of waiting for
// loops that are gone, and the loops have returned (goleak checks that at
// the end of the package).
func TestLookupClose(t *testing.T) {
	t.Parallel()
	st, _ := testenv.Store(t)
	// A timeout far beyond the test's: a nil answer can only come from close.
	l := newKnownLookup(st, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ids := []uuid.UUID{uuid.New(), uuid.New()}
	found := l.known(context.Background(), ids)
	if found == nil {
		t.Fatal("known answered nil before close; want the (empty) answer of PostgreSQL")
	}
	for _, id := range ids {
		if found[id] {
			t.Errorf("%s reported known in an empty database", id)
		}
	}
	l.close()
	if got := l.known(context.Background(), ids); got != nil {
		t.Errorf("known after close = %v, want nil", got)
	}
	l.close() // a second close (Shutdown, then Close) is harmless
}
