package inbound

import (
	"context"
	"log/slog"
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
	l := &knownLookup{events: events, timeout: timeout, log: log, reqs: make(chan lookupRequest, 1024)}
	// Two loops: one query in flight while the next batch gathers.
	for range 2 {
		go l.loop()
	}
	return l
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
	case l.reqs <- req:
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return nil
	}
	select {
	case m := <-req.resp:
		return m
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return nil
	}
}

// loop serves requests for the life of the process: the server has no
// other lifecycle than its fiber app, and an idle loop costs nothing.
func (l *knownLookup) loop() {
	for first := range l.reqs {
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
