package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// hotTables are the tables that grow or churn with the traffic; their
// autovacuum settings are in sql/008 and Migrate analyzes them.
var hotTables = []string{"events", "attempts", "outbox", "messages"}

// setPlanCacheMode makes every connection plan each execution of a
// prepared statement with its parameters (plan_cache_mode =
// force_custom_plan), unless the database URL chose a mode itself.
//
// pgx prepares and caches every statement per connection. After five
// executions PostgreSQL may switch such a statement to a generic plan,
// and keeps it until the table's statistics change. On a fresh database
// the statistics say events is empty (Migrate analyzes it), so the generic
// plan of "WHERE id = ANY($1)" is a sequential scan, and it stays one while
// a burst fills the table, until autovacuum analyzes it a minute or more
// later: ingest ran ten times slower meanwhile. A custom plan is made
// against the table's current size in pages, which grows with every
// insert whatever the statistics say, so the primary key lookups stay index
// scans. The price is a planning per execution: about 0.15 ms for a
// statement with 500 ids (measured on a loaded 2-core machine), paid once
// per batch, not per event.
func setPlanCacheMode(cfg *pgx.ConnConfig) {
	if _, set := cfg.RuntimeParams["plan_cache_mode"]; !set {
		cfg.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
}

// analyzeHotTables refreshes the statistics of the hot tables after
// migrations ran, so that the planner never works from statistics older
// than the schema (a new column or index has none until then).
func analyzeHotTables(ctx context.Context, conn *pgxpool.Conn) error {
	for _, t := range hotTables {
		if _, err := conn.Exec(ctx, "ANALYZE "+pgx.Identifier{t}.Sanitize()); err != nil {
			return fmt.Errorf("store: analyze %s: %w", t, err)
		}
	}
	return nil
}

// byID is a FROM clause yielding, as e, the events row (cols of it) of
// every id the query keys yields, in keys' order, each found with its own
// primary key probe.
//
// "WHERE id = ANY($1)" and joins with unnest are planned by cost: with a
// batch of a few hundred ids and a table of some ten thousand rows the
// planner prefers one sequential scan to as many index probes, and the
// scan turns out ten times slower (on a warm cache probes are cheap, and
// the table grows by the batch). A LATERAL subquery kept from being
// flattened (OFFSET 0) is run once per id, and for one id an index probe
// wins against any table larger than a few pages, whatever the statistics
// say.
func byID(keys, cols string) string {
	return "(" + keys + ") AS k CROSS JOIN LATERAL (SELECT " + cols + " FROM events WHERE events.id = k.id OFFSET 0) AS e"
}

// indexOnlyTx begins a transaction whose statements use no sequential scan
// where an index can answer (enable_seqscan = off, for the transaction
// only), sent with the BEGIN in one round trip (pgx sends a BeginQuery,
// which has no arguments, as one simple query).
//
// The worker's statements join a batch of a few hundred ids with events,
// and no query shape keeps the planner from answering that join with one
// sequential scan when the table holds some ten thousand rows: it weighs
// one page read against one random read per id, and on a warm cache the
// scan is 10 to 80 times slower than the probes.
var indexOnlyTx = pgx.TxOptions{BeginQuery: "BEGIN; SET LOCAL enable_seqscan = off"}
