package store

// Messages tracked for delivery reports: registration, the poller's
// leasing and results, expiry, and the report outbox (published_at).

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// MessageStatus is where a tracked message stands.
type MessageStatus string

// Statuses of a tracked message. Sending and Unknown are polled;
// Delivered, Failed and Expired are final.
const (
	// MessageSending: no final report yet (the vendor said "sending", did
	// not know the id yet, or was not asked yet).
	MessageSending MessageStatus = "sending"
	// MessageUnknown: the vendor answered a status it does not document.
	MessageUnknown   MessageStatus = "unknown"
	MessageDelivered MessageStatus = "delivered"
	MessageFailed    MessageStatus = "failed"
	// MessageExpired: no final report within RELAY_REPORT_TTL.
	MessageExpired MessageStatus = "expired"
)

// Final reports whether the message is no longer polled.
func (s MessageStatus) Final() bool {
	return s == MessageDelivered || s == MessageFailed || s == MessageExpired
}

// Message is a tracked message as PostgreSQL knows it.
type Message struct {
	ID             uuid.UUID
	Vendor         string
	MessageID      string
	AppID          string
	Status         MessageStatus
	Number         *string
	ReceiveTime    *time.Time
	RawReceiveTime *string
	Polls          int
	NextPollAt     *time.Time
	LastPolledAt   *time.Time
	ExpiresAt      time.Time
	APIKey         *string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	FinalAt        *time.Time
	PublishedAt    *time.Time
}

const messageColumns = `id, vendor, message_id, app_id, status, number, receive_time, raw_receive_time, polls,
	next_poll_at, last_polled_at, expires_at, api_key, created_at, updated_at, final_at, published_at`

func scanMessage(row pgx.CollectableRow) (Message, error) {
	var m Message
	var status string
	err := row.Scan(&m.ID, &m.Vendor, &m.MessageID, &m.AppID, &status, &m.Number, &m.ReceiveTime, &m.RawReceiveTime,
		&m.Polls, &m.NextPollAt, &m.LastPolledAt, &m.ExpiresAt, &m.APIKey, &m.CreatedAt, &m.UpdatedAt, &m.FinalAt, &m.PublishedAt)
	m.Status = MessageStatus(status)
	return m, err
}

// NewMessage is a message to track.
type NewMessage struct {
	ID        uuid.UUID
	Vendor    string
	MessageID string
	AppID     string
	// APIKey names the ingest key that registered it (never the secret).
	APIKey string
	// CreatedAt is the registration time; the first poll is due then and
	// the message expires at ExpiresAt.
	CreatedAt time.Time
	ExpiresAt time.Time
}

// TrackMessages registers msgs and reports, per item, whether it was new;
// an id already tracked (or repeated earlier in msgs) is a duplicate and
// is left as it is.
func (s *Store) TrackMessages(ctx context.Context, msgs []NewMessage) ([]bool, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	n := len(msgs)
	ids := make([]uuid.UUID, n)
	vendors := make([]string, n)
	msgIDs := make([]string, n)
	apps := make([]string, n)
	keys := make([]*string, n)
	created := make([]time.Time, n)
	expires := make([]time.Time, n)
	for i, m := range msgs {
		ids[i], vendors[i], msgIDs[i], apps[i], created[i], expires[i] = m.ID, m.Vendor, m.MessageID, m.AppID, m.CreatedAt, m.ExpiresAt
		if m.APIKey != "" {
			k := m.APIKey
			keys[i] = &k
		}
	}
	// ON CONFLICT DO NOTHING skips an id repeated within the statement too:
	// the first occurrence is inserted.
	rows, err := s.pool.Query(ctx, `
		INSERT INTO messages (id, vendor, message_id, app_id, api_key, created_at, updated_at, expires_at, next_poll_at)
		SELECT u.id, u.vendor, u.message_id, u.app_id, u.api_key, u.created_at, u.created_at, u.expires_at, u.created_at
		FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[])
			WITH ORDINALITY AS u(id, vendor, message_id, app_id, api_key, created_at, expires_at, ord)
		ORDER BY u.ord
		ON CONFLICT DO NOTHING
		RETURNING id`, ids, vendors, msgIDs, apps, keys, created, expires)
	if err != nil {
		return nil, wrap("track messages", err)
	}
	inserted, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, wrap("track messages", err)
	}
	fresh := make(map[uuid.UUID]bool, len(inserted))
	for _, id := range inserted {
		fresh[id] = true
	}
	out := make([]bool, n)
	for i, id := range ids {
		if fresh[id] {
			out[i] = true
			delete(fresh, id) // a later repeat in msgs is a duplicate
		}
	}
	return out, nil
}

// Message returns the tracked message id, or ErrNotFound.
func (s *Store) Message(ctx context.Context, id uuid.UUID) (Message, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = $1`, id)
	if err != nil {
		return Message{}, wrap("message", err)
	}
	m, err := pgx.CollectExactlyOneRow(rows, scanMessage)
	if errors.Is(err, pgx.ErrNoRows) {
		return Message{}, ErrNotFound
	}
	if err != nil {
		return Message{}, wrap("message", err)
	}
	return m, nil
}

// ExpireMessages moves up to limit open messages whose expiry has come
// (at now) to expired and returns the vendor of each one it moved. Final
// statuses are never touched.
func (s *Store) ExpireMessages(ctx context.Context, now time.Time, limit int) ([]string, error) {
	// next_poll_at never exceeds expires_at, so the due index finds them.
	rows, err := s.pool.Query(ctx, `
		UPDATE messages SET status = 'expired', next_poll_at = NULL, final_at = $1, updated_at = $1
		WHERE id IN (
			SELECT id FROM messages
			WHERE status IN ('sending', 'unknown') AND next_poll_at <= $1 AND expires_at <= $1
			ORDER BY next_poll_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
		AND status IN ('sending', 'unknown')
		RETURNING vendor`, now, limit)
	if err != nil {
		return nil, wrap("expire messages", err)
	}
	vendors, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, wrap("expire messages", err)
	}
	return vendors, nil
}

// ClaimDueMessages leases up to limit open messages of vendors that are
// due at now (and not expired), oldest due first: their next_poll_at moves
// to leaseUntil, so no other poller takes them until then. The rows are
// chosen with FOR UPDATE SKIP LOCKED, so concurrent claims get disjoint
// sets without waiting on each other. A poller that dies mid-poll leaves
// its messages due again at leaseUntil.
func (s *Store) ClaimDueMessages(ctx context.Context, vendors []string, now, leaseUntil time.Time, limit int) ([]Message, error) {
	rows, err := s.pool.Query(ctx, `
		UPDATE messages m SET next_poll_at = LEAST($3::timestamptz, m.expires_at)
		FROM (
			SELECT id FROM messages
			WHERE status IN ('sending', 'unknown') AND next_poll_at <= $2 AND expires_at > $2 AND vendor = ANY($1)
			ORDER BY next_poll_at, id LIMIT $4 FOR UPDATE SKIP LOCKED
		) due
		WHERE m.id = due.id AND m.status IN ('sending', 'unknown')
		RETURNING `+prefixed("m.", messageColumns), vendors, now, leaseUntil, limit)
	if err != nil {
		return nil, wrap("claim due messages", err)
	}
	out, err := pgx.CollectRows(rows, scanMessage)
	if err != nil {
		return nil, wrap("claim due messages", err)
	}
	return out, nil
}

// PollResult is what one poll learnt about a message.
type PollResult struct {
	ID uuid.UUID
	// Status is the message's new status: final, or Sending/Unknown; empty
	// keeps the status (the vendor call failed).
	Status         MessageStatus
	Number         string
	ReceiveTime    *time.Time
	RawReceiveTime string
	// NextPollAt is when to ask again, for a status that is not final.
	NextPollAt time.Time
}

// RecordPolls writes one round of poll results at now: every message's
// poll count and time, and its new status. A message moves to a final
// status only from an open one (UPDATE ... WHERE status IN ('sending',
// 'unknown')), so however many pollers race, one result finalises it; the
// ids finalised by this call are returned, and their report is left for
// PublishReports. A result for a message already final changes nothing.
func (s *Store) RecordPolls(ctx context.Context, now time.Time, results []PollResult) (finalized []uuid.UUID, err error) {
	var finalIDs, openIDs []uuid.UUID
	var finalStatus, numbers, raws, openStatus []string
	var times []*time.Time
	var next []time.Time
	for _, r := range results {
		if r.Status.Final() {
			finalIDs = append(finalIDs, r.ID)
			finalStatus = append(finalStatus, string(r.Status))
			numbers = append(numbers, r.Number)
			raws = append(raws, r.RawReceiveTime)
			times = append(times, r.ReceiveTime)
			continue
		}
		openIDs = append(openIDs, r.ID)
		openStatus = append(openStatus, string(r.Status))
		next = append(next, r.NextPollAt)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if len(finalIDs) > 0 {
			rows, err := tx.Query(ctx, `
				UPDATE messages m SET
					status = u.status, number = nullif(u.number, ''), receive_time = u.receive_time,
					raw_receive_time = nullif(u.raw, ''), polls = m.polls + 1, last_polled_at = $1,
					next_poll_at = NULL, final_at = $1, updated_at = $1
				FROM unnest($2::uuid[], $3::text[], $4::text[], $5::timestamptz[], $6::text[]) AS u(id, status, number, receive_time, raw)
				WHERE m.id = u.id AND m.status IN ('sending', 'unknown')
				RETURNING m.id`, now, finalIDs, finalStatus, numbers, times, raws)
			if err != nil {
				return err
			}
			if finalized, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID]); err != nil {
				return err
			}
		}
		if len(openIDs) > 0 {
			_, err := tx.Exec(ctx, `
				UPDATE messages m SET
					status = coalesce(nullif(u.status, ''), m.status), polls = m.polls + 1, last_polled_at = $1,
					next_poll_at = LEAST(u.next_at, m.expires_at), updated_at = $1
				FROM unnest($2::uuid[], $3::text[], $4::timestamptz[]) AS u(id, status, next_at)
				WHERE m.id = u.id AND m.status IN ('sending', 'unknown')`, now, openIDs, openStatus, next)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, wrap("record polls", err)
	}
	return finalized, nil
}

// PublishReports hands up to limit messages that are final and not yet
// published, oldest first, to publish, and stamps published_at on those
// whose ids it returns. The rows stay locked (FOR UPDATE SKIP LOCKED)
// until then, so concurrent publishers take disjoint sets; a publisher
// that dies before the stamp leaves them for the next one, which
// publishes them again under the same Nats-Msg-Id. It returns how many
// were stamped.
func (s *Store) PublishReports(ctx context.Context, limit int, publish func(ctx context.Context, msgs []Message) []uuid.UUID) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT `+messageColumns+` FROM messages
			WHERE published_at IS NULL AND status IN ('delivered', 'failed', 'expired')
			ORDER BY final_at, id LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
		if err != nil {
			return err
		}
		msgs, err := pgx.CollectRows(rows, scanMessage)
		if err != nil || len(msgs) == 0 {
			return err
		}
		done := publish(ctx, msgs)
		if len(done) == 0 {
			return nil
		}
		tag, err := tx.Exec(ctx, `UPDATE messages SET published_at = now() WHERE id = ANY($1)`, done)
		n = int(tag.RowsAffected())
		return err
	})
	if err != nil {
		return 0, wrap("publish reports", err)
	}
	return n, nil
}

// prefixed qualifies each column of a comma-separated list.
func prefixed(prefix, cols string) string {
	out := make([]byte, 0, len(cols)+32)
	out = append(out, prefix...)
	for i := 0; i < len(cols); i++ {
		c := cols[i]
		out = append(out, c)
		if c == ',' {
			for i+1 < len(cols) && (cols[i+1] == ' ' || cols[i+1] == '\n' || cols[i+1] == '\t') {
				i++
				out = append(out, cols[i])
			}
			out = append(out, prefix...)
		}
	}
	return string(out)
}
