package baseline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"relay/bench/internal/proc"
	"relay/bench/internal/workload"
	"relay/internal/bus"
	"relay/internal/store"
)

// Throughput is a raw measurement: n items in elapsed, and the CPU the
// harness process used meanwhile (publisher and embedded server together
// for the publish; client only for PostgreSQL, whose server CPU is
// ServerCPU).
type Throughput struct {
	N         int64         `json:"n"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	Rate      float64       `json:"rate"`
	CPU       time.Duration `json:"cpu_ns"`
	ServerCPU time.Duration `json:"server_cpu_ns,omitempty"`
	Errors    int64         `json:"errors"`
}

// RawPublish publishes n events' payloads (the bytes relay's ingest
// publishes) with PublishAsync and a Nats-Msg-Id each to an embedded NATS
// server with relay's stream configuration, connected in-process as relay
// is, and waits for every ack.
func RawPublish(ctx context.Context, dataDir string, n int) (Throughput, error) {
	b, err := bus.Open(ctx, bus.Options{DataDir: dataDir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return Throughput{}, err
	}
	defer b.Close()
	if err := b.EnsureStreams(ctx, relayStreams); err != nil {
		return Throughput{}, err
	}
	payloads := make([][]byte, n)
	ids := make([]string, n)
	for i := range n {
		payloads[i], ids[i] = workload.BusPayload("rawpub", int64(i))
	}
	subject := bus.RegistrationSubject("liasmart")
	cpu0, _ := proc.CPU(os.Getpid())
	start := time.Now()
	var errs atomic.Int64
	futures := make([]jetstream.PubAckFuture, 0, n)
	for i := range n {
		f, err := b.JS.PublishAsync(subject, payloads[i], jetstream.WithMsgID(ids[i]))
		if err != nil {
			errs.Add(1)
			continue
		}
		futures = append(futures, f)
	}
	select {
	case <-b.JS.PublishAsyncComplete():
	case <-time.After(time.Minute):
		return Throughput{}, fmt.Errorf("raw publish: acks not complete after a minute")
	}
	elapsed := time.Since(start)
	cpu1, _ := proc.CPU(os.Getpid())
	for _, f := range futures {
		select {
		case <-f.Ok():
		case <-f.Err():
			errs.Add(1)
		}
	}
	return Throughput{N: int64(n), Elapsed: elapsed, Rate: float64(n) / elapsed.Seconds(), CPU: cpu1 - cpu0, Errors: errs.Load()}, nil
}

// PGResult holds the two raw PostgreSQL measurements.
type PGResult struct {
	Copy   Throughput `json:"copy"`
	Upsert Throughput `json:"upsert"`
	Conns  int        `json:"upsert_conns"`
}

// RawPostgres measures, on a fresh database migrated with relay's schema,
// a CopyFrom of rows event rows and, for window, single-row upserts
// (INSERT ... ON CONFLICT DO NOTHING, one statement per row, autocommit)
// from conns concurrent connections.
func RawPostgres(ctx context.Context, dbURL string, rows int, window time.Duration, conns int) (PGResult, error) {
	st, err := store.Open(ctx, dbURL, store.Options{MaxConns: int32(conns)})
	if err != nil {
		return PGResult{}, err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return PGResult{}, err
	}
	pool := st.Pool()
	occurred, _ := time.Parse(time.RFC3339, workload.OccurredAt())
	row := func(prefix string, n int64) []any {
		mid := string(workload.MessageID(nil, prefix, n))
		return []any{workload.EventID(mid), "liasmart", mid, occurred, workload.Metadata, "bench"}
	}
	data := make([][]any, rows)
	for i := range rows {
		data[i] = row("pgcopy", int64(i))
	}
	res := PGResult{Conns: conns}
	pg0 := proc.SnapshotPostgres()
	start := time.Now()
	n, err := pool.CopyFrom(ctx, pgx.Identifier{"events"},
		[]string{"id", "vendor", "message_id", "occurred_at", "metadata", "api_key"}, pgx.CopyFromRows(data))
	if err != nil {
		return res, fmt.Errorf("copy: %w", err)
	}
	el := time.Since(start)
	res.Copy = Throughput{N: n, Elapsed: el, Rate: float64(n) / el.Seconds(), ServerCPU: proc.SnapshotPostgres().Since(pg0)}

	// Warm the pool so connection set-up is not measured.
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = pool.Exec(ctx, "SELECT 1") }()
	}
	wg.Wait()
	var seq, done, errs atomic.Int64
	pg0 = proc.SnapshotPostgres()
	start = time.Now()
	end := start.Add(window)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && ctx.Err() == nil {
				_, err := pool.Exec(ctx, `INSERT INTO events (id, vendor, message_id, occurred_at, metadata, api_key)
					VALUES ($1, $2, $3, $4, $5::jsonb, $6) ON CONFLICT DO NOTHING`, row("pgups", seq.Add(1))...)
				if err != nil {
					errs.Add(1)
					continue
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	el = time.Since(start)
	res.Upsert = Throughput{N: done.Load(), Elapsed: el, Rate: float64(done.Load()) / el.Seconds(),
		ServerCPU: proc.SnapshotPostgres().Since(pg0), Errors: errs.Load()}
	return res, nil
}

// relayStreams is relay's default stream configuration
// (RELAY_DEDUP_WINDOW, RELAY_STREAM_MAX_AGE), which every baseline uses.
var relayStreams = bus.StreamOptions{Duplicates: 2 * time.Minute, MaxAge: 7 * 24 * time.Hour}
