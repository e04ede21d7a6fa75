package inbound

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
)

// knownLookup answers "has PostgreSQL recorded these events?" for ingest,
// coalescing the questions of concurrent requests into one query: under
// load one `id = ANY($1)` serves dozens of requests, where one query per
// request would make PostgreSQL the bottleneck of ingest.
type knownLookup struct {
	events  Events
	timeout time.Duration
	log     *slog.Logger
	reqs    chan lookupRequest

	stop     chan struct{} // closed by close: the loops return
	stopOnce sync.Once
	loops    sync.WaitGroup
}

type lookupRequest struct {
	ids  []uuid.UUID
	resp chan map[uuid.UUID]bool
}

// maxLookupIDs bounds one coalesced query.
const maxLookupIDs = 2000

func newKnownLookup(events Events, timeout time.Duration, log *slog.Logger) *knownLookup {
	if events == nil {
		return nil
	}
	l := &knownLookup{events: events, timeout: timeout, log: log,
		reqs: make(chan lookupRequest, 1024), stop: make(chan struct{})}
	// Two loops: one query in flight while the next batch gathers.
	for range 2 {
		l.loops.Go(l.loop)
	}
	return l
}

// close stops the loops and waits for them (a query in flight ends within
// the timeout). Callers still waiting get nil, as for a timeout; later
// calls to known return nil at once. It is safe to call more than once.
func (l *knownLookup) close() {
	if l == nil {
		return
	}
	l.stopOnce.Do(func() { close(l.stop) })
	l.loops.Wait()
}

// known returns which ids PostgreSQL has; nil when it could not tell in
// time, which callers treat as "none": the lookup is an optimisation, the
// worker recognises repeats in any case.
func (l *knownLookup) known(ctx context.Context, ids []uuid.UUID) map[uuid.UUID]bool {
	if l == nil || len(ids) == 0 {
		return nil
	}
	req := lookupRequest{ids: ids, resp: make(chan map[uuid.UUID]bool, 1)}
	timer := time.NewTimer(l.timeout)
	defer timer.Stop()
	select {
	case <-l.stop:
		return nil
	default:
	}
	select {
	case l.reqs <- req:
	case <-l.stop:
		return nil
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return nil
	}
	select {
	case m := <-req.resp:
		return m
	case <-l.stop:
		return nil
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return nil
	}
}

// loop serves requests until close.
func (l *knownLookup) loop() {
	for {
		var first lookupRequest
		select {
		case first = <-l.reqs:
		case <-l.stop:
			return
		}
		batch := []lookupRequest{first}
		n := len(first.ids)
	gather:
		for n < maxLookupIDs {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
				n += len(r.ids)
			default:
				break gather
			}
		}
		ids := make([]uuid.UUID, 0, n)
		for _, r := range batch {
			ids = append(ids, r.ids...)
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
		found, err := l.events.KnownIDs(ctx, ids)
		cancel()
		if err != nil {
			l.log.Debug("duplicate lookup skipped", "err", err, "ids", len(ids))
			found = nil
		}
		for _, r := range batch {
			r.resp <- found
		}
	}
}
