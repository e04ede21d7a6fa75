package ops

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"relay/internal/bus"
	"relay/internal/store"
)

// Replay limits.
const (
	// MaxReplayIDs bounds the ids of one request; larger sets go by filter
	// or in several requests (the CLI sends chunks).
	MaxReplayIDs = 1000
	// maxSkippedListed bounds the skipped items an answer lists; the total
	// is always given.
	maxSkippedListed = 1000
	// replayPage is how many events are reset and published together.
	replayPage = 500
)

// Skip reasons.
const (
	ReasonUnknown           = "unknown id"
	ReasonConfirmedMeantime = "confirmed while the replay ran"
)

// reasonSucceeded is the reason a succeeded event is not replayed.
func reasonSucceeded(s store.State) string { return "state " + string(s) + " (force to replay)" }

// ReplayRequest asks for events to be sent to the vendor again: by ids, or
// by filter (exactly one of the two).
type ReplayRequest struct {
	IDs    []string      `json:"ids,omitempty"`
	Filter *ReplayFilter `json:"filter,omitempty"`
	// DryRun reports what would be replayed and changes nothing.
	DryRun bool `json:"dry_run,omitempty"`
	// Force replays confirmed and already_confirmed events too; the vendor
	// then answers 1009, which relay takes as success.
	Force bool `json:"force,omitempty"`
}

// ReplayFilter selects the events of a replay; at least one field is set.
type ReplayFilter struct {
	State     States `json:"state,omitempty"`
	Vendor    string `json:"vendor,omitempty"`
	MessageID string `json:"message_id,omitempty"`
	// Since and Until are RFC 3339 or a duration back from now ("24h").
	Since string `json:"since,omitempty"`
	Until string `json:"until,omitempty"`
}

func (f *ReplayFilter) empty() bool {
	return len(f.State) == 0 && f.Vendor == "" && f.MessageID == "" && f.Since == "" && f.Until == ""
}

// States is a list of state names; in JSON either an array or one string,
// comma-separated ("failed,retrying").
type States []string

// UnmarshalJSON accepts a string or an array of strings.
func (s *States) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = nil
		for _, part := range strings.Split(one, ",") {
			if part = strings.TrimSpace(part); part != "" {
				*s = append(*s, part)
			}
		}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("state must be a string or an array of strings")
	}
	*s = many
	return nil
}

// ReplayMeta is who asks, and the request's Idempotency-Key.
type ReplayMeta struct {
	// Actor is recorded with the replay: "admin" (the token) unless the
	// caller names itself (the CLI sends its user).
	Actor string
	// IdempotencyKey, when set, makes a repeated request answer the stored
	// result instead of replaying again.
	IdempotencyKey string
}

// Skip is an event matched but not replayed.
type Skip struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// ReplayResult is the answer to a replay.
type ReplayResult struct {
	ReplayID string `json:"replay_id"`
	DryRun   bool   `json:"dry_run"`
	// Matched counts the events found (unknown ids are only in Skipped).
	Matched int `json:"matched"`
	// Replayed counts the events reset and re-enqueued; 0 on a dry run.
	Replayed int `json:"replayed"`
	// WouldReplay is what a run without dry_run would replay now.
	WouldReplay int `json:"would_replay"`
	// Skipped lists up to 1000 of the events not replayed, with why.
	Skipped      []Skip `json:"skipped"`
	SkippedTotal int    `json:"skipped_total"`
	// Repeated: this is the stored answer to an earlier request with the
	// same Idempotency-Key; nothing was replayed this time.
	Repeated bool `json:"-"`
}

// storedRequest is a replay request as recorded and hashed: what the
// client asked, normalised, so that the same request hashes the same.
type storedRequest struct {
	IDs    []string      `json:"ids,omitempty"`
	Filter *ReplayFilter `json:"filter,omitempty"`
	DryRun bool          `json:"dry_run"`
	Force  bool          `json:"force"`
	// The filter's window as resolved when the replay ran; not hashed, as
	// "since 24h" asks for the same thing on a retry.
	Since *time.Time `json:"resolved_since,omitempty"`
	Until *time.Time `json:"resolved_until,omitempty"`
}

// plan is a validated replay request.
type plan struct {
	ids   []uuid.UUID
	query *Query
	req   storedRequest
	actor string
	key   string
}

func (s *Service) planReplay(req ReplayRequest, meta ReplayMeta) (plan, error) {
	var v ValidationError
	p := plan{actor: meta.Actor, key: meta.IdempotencyKey}
	p.req.DryRun, p.req.Force = req.DryRun, req.Force
	if p.actor == "" {
		p.actor = "admin"
	} else if !printable(p.actor, 64) {
		v.add("X-Relay-Actor", "must be 1-64 printable ASCII characters")
	}
	if p.key != "" && !printable(p.key, 255) {
		v.add("Idempotency-Key", "must be 1-255 printable ASCII characters")
	}
	switch {
	case len(req.IDs) > 0 && req.Filter != nil:
		v.add("filter", "give either ids or filter, not both")
	case len(req.IDs) > MaxReplayIDs:
		v.add("ids", fmt.Sprintf("at most %d ids per request; use a filter or several requests", MaxReplayIDs))
	case len(req.IDs) > 0:
		seen := make(map[uuid.UUID]bool, len(req.IDs))
		for i, raw := range req.IDs {
			id, err := uuid.Parse(raw)
			if err != nil {
				v.add("ids["+strconv.Itoa(i)+"]", "is not an event id (a UUID)")
				continue
			}
			if !seen[id] {
				seen[id] = true
				p.ids = append(p.ids, id)
				p.req.IDs = append(p.req.IDs, id.String())
			}
		}
	case req.Filter != nil:
		f := *req.Filter
		if f.empty() {
			v.add("filter", "needs at least one of state, vendor, message_id, since, until")
			break
		}
		now := s.now()
		get := func(k string) string {
			switch k {
			case "state":
				return strings.Join(f.State, ",")
			case "vendor":
				return f.Vendor
			case "message_id":
				return f.MessageID
			case "since":
				return f.Since
			case "until":
				return f.Until
			}
			return ""
		}
		q, err := ParseQuery(get, now)
		var qv *ValidationError
		if errors.As(err, &qv) {
			for _, fe := range qv.Errors {
				v.add("filter."+fe.Field, fe.Detail)
			}
		}
		q.Limit = replayPage
		p.query = &q
		p.req.Filter = &f
		p.req.Since, p.req.Until = q.Since, q.Until
	default:
		v.add("ids", "give ids or a filter")
	}
	return p, v.err()
}

// hash is the request's identity for Idempotency-Key checks.
func (r storedRequest) hash() []byte {
	r.Since, r.Until = nil, nil
	b, _ := json.Marshal(r)
	h := sha256.Sum256(b)
	return h[:]
}

// Replay sends events back to the workers with a fresh retry budget. Each
// event is reset in PostgreSQL (pending, budget unspent, attempts and
// last_error kept) before its message is published, so the worker that
// takes the message never sees the old final state and acks it unsent.
// Messages carry the id "<id>:replay:<replay id>": they pass JetStream's
// dedup window, while a resumed replay's re-sends collapse.
//
// With an Idempotency-Key, a repeated request gets the first answer back
// (Repeated set) and replays nothing; one still running answers
// ErrReplayInProgress; a failed one is resumed under the same replay id.
func (s *Service) Replay(ctx context.Context, req ReplayRequest, meta ReplayMeta) (ReplayResult, error) {
	p, err := s.planReplay(req, meta)
	if err != nil {
		return ReplayResult{}, err
	}
	stored, _ := json.Marshal(p.req)
	rec := store.Replay{ID: uuid.New(), RequestHash: p.req.hash(), Actor: p.actor, Request: stored,
		DryRun: p.req.DryRun, Force: p.req.Force}
	if p.key != "" {
		rec.IdempotencyKey = &p.key
	}
	got, err := s.store.BeginReplay(ctx, rec, s.stale)
	if errors.Is(err, store.ErrReplayTaken) {
		return s.repeated(got, rec.RequestHash)
	}
	if err != nil {
		return ReplayResult{}, err
	}
	run := &replayRun{s: s, id: got.ID, force: p.req.Force, dry: p.req.DryRun,
		already: map[uuid.UUID]bool{}}
	err = run.execute(ctx, p, got.ID != rec.ID)
	// The outcome is recorded even when the client has gone away.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err != nil {
		if _, ferr := s.store.FinishReplay(fctx, run.id, store.ReplayFailed, run.matched, run.replayed, nil, err.Error()); ferr != nil {
			s.log.Error("recording a failed replay", "replay_id", run.id, "err", ferr)
		}
		s.log.Error("replay failed; retry with the same Idempotency-Key to resume it", "replay_id", run.id,
			"actor", p.actor, "replayed", run.replayed, "err", err)
		return ReplayResult{}, fmt.Errorf("ops: replay %s: %w", run.id, err)
	}
	res := run.result()
	body, _ := json.Marshal(res)
	if _, err := s.store.FinishReplay(fctx, run.id, store.ReplayDone, run.matched, run.replayed, body, ""); err != nil {
		// The events are on their way; only the record is incomplete.
		s.log.Error("recording a finished replay", "replay_id", run.id, "err", err)
	}
	s.m.Replays.WithLabelValues(strconv.FormatBool(p.req.DryRun)).Inc()
	s.m.ReplayedEvents.Add(float64(run.replayed))
	s.log.Info("replay", "replay_id", run.id, "actor", p.actor, "dry_run", p.req.DryRun, "force", p.req.Force,
		"matched", run.matched, "replayed", run.replayed, "skipped", run.skippedTotal)
	return res, nil
}

// repeated answers a request whose Idempotency-Key belongs to rec.
func (s *Service) repeated(rec store.Replay, hash []byte) (ReplayResult, error) {
	switch {
	case !bytes.Equal(rec.RequestHash, hash):
		return ReplayResult{}, ErrKeyReused
	case rec.Status != store.ReplayDone:
		return ReplayResult{}, ErrReplayInProgress
	}
	var res ReplayResult
	if err := json.Unmarshal(rec.Result, &res); err != nil {
		return ReplayResult{}, fmt.Errorf("ops: stored answer of replay %s: %w", rec.ID, err)
	}
	res.Repeated = true
	return res, nil
}

// replayRun is one execution of a replay.
type replayRun struct {
	s          *Service
	id         uuid.UUID
	force, dry bool
	// already holds the events a resumed replay had reset before.
	already map[uuid.UUID]bool

	matched, replayed, would int
	skipped                  []Skip
	skippedTotal             int
}

func (r *replayRun) execute(ctx context.Context, p plan, resumed bool) error {
	if resumed && !r.dry {
		// An earlier run of this replay stopped part way: what it reset is
		// in the outbox already (written with the reset), so it is only
		// counted, not reset again.
		ids, err := r.s.store.ReplayedEvents(ctx, r.id)
		if err != nil {
			return err
		}
		for _, id := range ids {
			r.already[id] = true
		}
		r.replayed = len(ids)
	}
	if p.query == nil {
		for start := 0; start < len(p.ids); start += replayPage {
			chunk := p.ids[start:min(start+replayPage, len(p.ids))]
			evs, err := r.s.store.ListEvents(ctx, store.Filter{IDs: chunk, Limit: len(chunk)})
			if err != nil {
				return err
			}
			known := make(map[uuid.UUID]bool, len(evs))
			for _, e := range evs {
				known[e.ID] = true
			}
			for _, id := range chunk {
				if !known[id] {
					r.skip(id, ReasonUnknown)
				}
			}
			if err := r.page(ctx, evs); err != nil {
				return err
			}
		}
		return nil
	}
	f := p.query.filter()
	for {
		evs, err := r.s.store.ListEvents(ctx, f)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		if err := r.page(ctx, evs); err != nil {
			return err
		}
		last := evs[len(evs)-1]
		// The keyset position moves on whatever the reset did to the
		// states, so a page is never read twice nor skipped.
		f.After = &store.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
}

// page replays one page of matched events.
func (r *replayRun) page(ctx context.Context, evs []store.Event) error {
	r.matched += len(evs)
	var candidates []uuid.UUID
	for _, e := range evs {
		switch {
		case r.already[e.ID]:
		case e.State.Succeeded() && !r.force:
			r.skip(e.ID, reasonSucceeded(e.State))
		default:
			candidates = append(candidates, e.ID)
		}
	}
	r.would += len(candidates)
	if r.dry || len(candidates) == 0 {
		return nil
	}
	reset, err := r.s.store.ResetForReplay(ctx, r.id, candidates, r.force, bus.RegistrationsPrefix)
	if err != nil {
		return err
	}
	if len(reset) < len(candidates) {
		done := make(map[uuid.UUID]bool, len(reset))
		for _, id := range reset {
			done[id] = true
		}
		for _, id := range candidates {
			if !done[id] {
				r.skip(id, ReasonConfirmedMeantime)
			}
		}
	}
	if len(reset) > 0 {
		r.replayed += len(reset)
		// Written to the outbox with the reset; send them now.
		r.s.nudge()
	}
	return r.s.store.ReplayProgress(ctx, r.id, r.matched, r.replayed)
}

func (r *replayRun) skip(id uuid.UUID, reason string) {
	r.skippedTotal++
	if len(r.skipped) < maxSkippedListed {
		r.skipped = append(r.skipped, Skip{ID: id.String(), Reason: reason})
	}
}

func (r *replayRun) result() ReplayResult {
	res := ReplayResult{ReplayID: r.id.String(), DryRun: r.dry, Matched: r.matched, WouldReplay: r.would,
		Skipped: r.skipped, SkippedTotal: r.skippedTotal}
	if res.Skipped == nil {
		res.Skipped = []Skip{}
	}
	if !r.dry {
		res.Replayed = r.replayed
		res.WouldReplay = r.replayed
	}
	return res
}

// ReplayRecord is a replay as listed for audit.
type ReplayRecord struct {
	ReplayID string `json:"replay_id"`
	Actor    string `json:"actor"`
	// Status is running, done or failed.
	Status string `json:"status"`
	DryRun bool   `json:"dry_run"`
	Force  bool   `json:"force"`
	// IDs counts the ids asked for (an ids request); Filter is the filter
	// asked for (a filter request), with its window as resolved.
	IDs           int           `json:"ids,omitempty"`
	Filter        *ReplayFilter `json:"filter,omitempty"`
	ResolvedSince *time.Time    `json:"resolved_since,omitempty"`
	ResolvedUntil *time.Time    `json:"resolved_until,omitempty"`
	Matched       int           `json:"matched"`
	Replayed      int           `json:"replayed"`
	Error         string        `json:"error,omitempty"`
	CreatedAt     time.Time     `json:"created_at"`
	FinishedAt    *time.Time    `json:"finished_at"`
}

// Replays lists the most recent replays, newest first (limit 1..1000).
func (s *Service) Replays(ctx context.Context, limit int) ([]ReplayRecord, error) {
	recs, err := s.store.Replays(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]ReplayRecord, 0, len(recs))
	for _, rec := range recs {
		var req storedRequest
		_ = json.Unmarshal(rec.Request, &req)
		r := ReplayRecord{ReplayID: rec.ID.String(), Actor: rec.Actor, Status: rec.Status, DryRun: rec.DryRun,
			Force: rec.Force, IDs: len(req.IDs), Filter: req.Filter, ResolvedSince: utc(req.Since), ResolvedUntil: utc(req.Until),
			Matched: rec.Matched, Replayed: rec.Replayed, CreatedAt: rec.CreatedAt.UTC(), FinishedAt: utc(rec.FinishedAt)}
		if rec.Error != nil {
			r.Error = *rec.Error
		}
		out = append(out, r)
	}
	return out, nil
}

// printable accepts 1..max bytes of printable ASCII, spaces included.
func printable(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
