package monitor

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"

	"relay/internal/metrics"
	"relay/internal/store"
	"relay/internal/vendors/laaffic"
)

// DefaultSchedule is the wait after each poll of a message that is not
// final yet: 1m after the first, 2m after the second, ..., then every 30m
// (the last entry repeats).
var DefaultSchedule = []time.Duration{
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 30 * time.Minute,
}

// ReportClient is a vendor's delivery-report call (Laaffic's getReport).
type ReportClient interface {
	GetReport(ctx context.Context, appID string, msgIDs []string) (laaffic.Report, error)
}

// ReportConfig configures a ReportPoller.
type ReportConfig struct {
	// Clients are the report APIs by vendor; messages of other vendors are
	// not polled (they still expire).
	Clients map[string]ReportClient
	// Classify sorts the clients' errors (default ClassifySigned).
	Classify func(error) string
	// Interval is the poll tick (RELAY_REPORT_INTERVAL).
	Interval time.Duration
	// Batch is the most msgIds per call (RELAY_REPORT_BATCH).
	Batch int
	// Schedule is the backoff between polls of a message (DefaultSchedule).
	Schedule []time.Duration
	// Lease is how long a claimed message is kept from other pollers while
	// it is polled (default 5m).
	Lease time.Duration
	// Concurrency bounds the calls in flight per process (default 4).
	Concurrency int
	Logger      *slog.Logger
	Metrics     *metrics.Metrics
	// Now is the clock of due times, backoff and expiry; default time.Now.
	Now func() time.Time
	// Outbox, when set, is flushed after each tick (the reports finalised).
	Outbox Outbox
}

// ReportPoller asks vendors for the delivery reports of tracked messages.
// Every replica may run one. Each tick it expires the messages past their
// TTL, then claims the due ones (FOR UPDATE SKIP LOCKED, pushing their
// next_poll_at by Lease, so replicas never poll the same message at
// once), asks the vendor in calls of up to Batch msgIds per (vendor,
// appId), and records the answers: a final status through one conditional
// UPDATE per message (the single gate), anything else with the next poll
// time of Schedule. The reports of finalised messages leave through the
// outbox (Config.Outbox).
type ReportPoller struct {
	cfg ReportConfig
	st  *store.Store
	log *slog.Logger
	m   *metrics.Metrics
}

// NewReportPoller returns a poller over st.
func NewReportPoller(cfg ReportConfig, st *store.Store) *ReportPoller {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Classify == nil {
		cfg.Classify = ClassifySigned
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 100
	}
	if len(cfg.Schedule) == 0 {
		cfg.Schedule = DefaultSchedule
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 5 * time.Minute
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	return &ReportPoller{cfg: cfg, st: st, log: cfg.Logger, m: cfg.Metrics}
}

// Backoff is the wait after a message's polls-th poll.
func Backoff(schedule []time.Duration, polls int) time.Duration {
	if polls < 1 {
		polls = 1
	}
	return schedule[min(polls, len(schedule))-1]
}

// Run polls every Interval (with 10% jitter) until ctx ends.
func (p *ReportPoller) Run(ctx context.Context) {
	p.log.Info("delivery-report poller started", "vendors", len(p.cfg.Clients), "interval", p.cfg.Interval, "batch", p.cfg.Batch)
	for {
		if err := p.PollOnce(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("delivery-report poll", "err", err)
		}
		wait := time.Duration(float64(p.cfg.Interval) * (0.9 + 0.2*rand.Float64()))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// maxRounds bounds the claim rounds of one tick, so that a backlog is
// worked through over several ticks rather than in one endless one.
const maxRounds = 20

// PollOnce expires, claims, polls and records the messages due now, then
// publishes the reports of the messages that became final. Vendor
// failures are not errors (they are logged, counted and retried on the
// message's schedule); PostgreSQL and NATS failures are.
func (p *ReportPoller) PollOnce(ctx context.Context) error {
	now := p.cfg.Now()
	for {
		expired, err := p.st.ExpireMessages(ctx, now, 1000)
		if err != nil {
			return err
		}
		for _, v := range expired {
			p.m.Reports.WithLabelValues(v, string(store.MessageExpired)).Inc()
		}
		if len(expired) < 1000 {
			break
		}
	}
	vendors := make([]string, 0, len(p.cfg.Clients))
	for v := range p.cfg.Clients {
		vendors = append(vendors, v)
	}
	limit := p.cfg.Batch * p.cfg.Concurrency * 2
	for round := 0; round < maxRounds && len(vendors) > 0; round++ {
		claimed, err := p.st.ClaimDueMessages(ctx, vendors, now, now.Add(p.cfg.Lease), limit)
		if err != nil {
			return err
		}
		if len(claimed) == 0 {
			break
		}
		results := p.pollAll(ctx, claimed)
		final, err := p.st.RecordPolls(ctx, p.cfg.Now(), results)
		if err != nil {
			return err
		}
		p.count(claimed, results, final)
		if len(claimed) < limit {
			break
		}
	}
	if p.cfg.Outbox == nil {
		return nil
	}
	_, err := p.cfg.Outbox.Flush(ctx)
	return err
}

// count adds the messages this poller finalised to relay_delivery_reports_total.
func (p *ReportPoller) count(claimed []store.Message, results []store.PollResult, final []uuid.UUID) {
	vendor := map[uuid.UUID]string{}
	for _, m := range claimed {
		vendor[m.ID] = m.Vendor
	}
	status := map[uuid.UUID]store.MessageStatus{}
	for _, r := range results {
		status[r.ID] = r.Status
	}
	for _, id := range final {
		p.m.Reports.WithLabelValues(vendor[id], string(status[id])).Inc()
	}
}

// chunk is one getReport call's worth of messages.
type chunk struct {
	vendor, appID string
	msgs          []store.Message
}

func (p *ReportPoller) pollAll(ctx context.Context, claimed []store.Message) []store.PollResult {
	groups := map[[2]string][]store.Message{}
	for _, m := range claimed {
		k := [2]string{m.Vendor, m.AppID}
		groups[k] = append(groups[k], m)
	}
	keys := make([][2]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+"\x00"+keys[i][1] < keys[j][0]+"\x00"+keys[j][1] })
	var chunks []chunk
	for _, k := range keys {
		msgs := groups[k]
		for len(msgs) > 0 {
			n := min(len(msgs), p.cfg.Batch)
			chunks = append(chunks, chunk{vendor: k[0], appID: k[1], msgs: msgs[:n]})
			msgs = msgs[n:]
		}
	}
	var mu sync.Mutex
	var results []store.PollResult
	sem := make(chan struct{}, p.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, c := range chunks {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rs := p.pollChunk(ctx, c)
			mu.Lock()
			results = append(results, rs...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return results
}

// pollChunk makes one getReport call for c. A permanent failure of a call
// for several ids (one id the vendor finds abnormal, -14, fails the whole
// call) is bisected, so that one bad id cannot hold back the rest.
func (p *ReportPoller) pollChunk(ctx context.Context, c chunk) []store.PollResult {
	out, err := p.call(ctx, c)
	if err != nil && len(c.msgs) > 1 && p.cfg.Classify(err) == ClassPermanent {
		return p.bisect(ctx, c)
	}
	return out
}

// bisect polls both halves of c. When both fail permanently the fault is
// the call's, not one id's (a wrong appId, say), and it stops there;
// otherwise a failing half is bisected in turn. One bad id among n costs
// about 2·log2(n) calls, a bad chunk 2.
func (p *ReportPoller) bisect(ctx context.Context, c chunk) []store.PollResult {
	half := len(c.msgs) / 2
	parts := []chunk{{c.vendor, c.appID, c.msgs[:half]}, {c.vendor, c.appID, c.msgs[half:]}}
	var out []store.PollResult
	var failed []chunk
	var failedOut [][]store.PollResult
	for _, part := range parts {
		rs, err := p.call(ctx, part)
		if err != nil && p.cfg.Classify(err) == ClassPermanent && len(part.msgs) > 1 {
			failed = append(failed, part)
			failedOut = append(failedOut, rs)
			continue
		}
		out = append(out, rs...)
	}
	if len(failed) == len(parts) || ctx.Err() != nil {
		for _, rs := range failedOut {
			out = append(out, rs...)
		}
		return out
	}
	for _, part := range failed {
		out = append(out, p.bisect(ctx, part)...)
	}
	return out
}

// call makes one getReport call and turns its answer, or its failure,
// into a result per message.
func (p *ReportPoller) call(ctx context.Context, c chunk) ([]store.PollResult, error) {
	ids := make([]string, len(c.msgs))
	for i, m := range c.msgs {
		ids[i] = m.MessageID
	}
	report, err := p.cfg.Clients[c.vendor].GetReport(ctx, c.appID, ids)
	now := p.cfg.Now()
	out := make([]store.PollResult, len(c.msgs))
	if err != nil {
		class := p.cfg.Classify(err)
		p.m.VendorPollErrors.WithLabelValues(c.vendor, class).Inc()
		p.log.Warn("getReport failed", "vendor", c.vendor, "app_id", c.appID, "ids", len(ids), "class", class, "err", err)
		p.noteCredentials(ctx, c.vendor, class, err, now)
		for i, m := range c.msgs {
			out[i] = store.PollResult{ID: m.ID, NextPollAt: now.Add(Backoff(p.cfg.Schedule, m.Polls+1))}
		}
		return out, err
	}
	p.noteCredentials(ctx, c.vendor, "", nil, now)
	items := make(map[string]laaffic.ReportItem, len(report.Items))
	for _, it := range report.Items {
		items[it.MsgID] = it
	}
	for i, m := range c.msgs {
		r := store.PollResult{ID: m.ID, Status: store.MessageSending, NextPollAt: now.Add(Backoff(p.cfg.Schedule, m.Polls+1))}
		if it, ok := items[m.MessageID]; ok {
			switch it.Status {
			case laaffic.Delivered:
				r.Status = store.MessageDelivered
			case laaffic.Failed:
				r.Status = store.MessageFailed
			case laaffic.Unknown:
				r.Status = store.MessageUnknown
			}
			if r.Status.Final() {
				r.Number = it.Number
				if !it.ReceiveTime.IsZero() {
					t := it.ReceiveTime
					r.ReceiveTime = &t
				} else {
					r.RawReceiveTime = it.RawReceiveTime
				}
			}
		}
		out[i] = r
	}
	return out, nil
}

// noteCredentials records whether the report API took the credentials;
// only transitions write (and alert), so a healthy poll costs one UPDATE
// that matches nothing.
func (p *ReportPoller) noteCredentials(ctx context.Context, vendor, class string, callErr error, at time.Time) {
	err := p.st.InTx(ctx, func(db store.DBTX) error {
		return noteCredentials(ctx, p.st, db, vendor, "reports", class, callErr, at)
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		p.log.Warn("recording credentials state", "vendor", vendor, "err", err)
	}
}

// Tracker registers messages for delivery-report polling; it is the
// inbound API's MessageService.
type Tracker struct {
	Store *store.Store
	// Vendors maps each vendor whose reports are polled to its default
	// app id ("" when it has none).
	Vendors map[string]string
	// TTL is how long after registration a message is polled before it is
	// expired (RELAY_REPORT_TTL).
	TTL time.Duration
	// Now is the registration clock; default time.Now.
	Now func() time.Time
}

// ReportVendors maps the vendors whose reports relay polls to their
// default app id.
func (t *Tracker) ReportVendors() map[string]string { return t.Vendors }

// TrackMessages registers msgs, due for a first poll at once, and reports
// which were new.
func (t *Tracker) TrackMessages(ctx context.Context, msgs []store.NewMessage) ([]bool, error) {
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	at := now()
	for i := range msgs {
		msgs[i].CreatedAt = at
		msgs[i].ExpiresAt = at.Add(t.TTL)
	}
	return t.Store.TrackMessages(ctx, msgs)
}

// Message reads a tracked message (store.ErrNotFound when unknown).
func (t *Tracker) Message(ctx context.Context, id uuid.UUID) (store.Message, error) {
	return t.Store.Message(ctx, id)
}
