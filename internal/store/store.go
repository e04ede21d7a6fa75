// Package store is relay's only door to PostgreSQL: connection, migrations
// and every query. Callers never import pgx to make a decision: driver
// errors are translated into this package's own (ErrNotFound, ...).
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"
)

// DBTX is what a query needs: a pool or a transaction alike, so the same
// query runs alone or inside a worker's batch transaction.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}

// Store holds the connection pool.
type Store struct {
	pool *pgxpool.Pool
}

// Options tune Open.
type Options struct {
	// MaxConns bounds the pool; 0 keeps pgxpool's default (4 x CPUs, >= 4).
	MaxConns int32
	// TracerProvider, when set, traces every statement (a span each,
	// child of the caller's span; query parameters are never recorded).
	// nil is off: no tracer on the pool at all.
	TracerProvider trace.TracerProvider
}

// Open connects to databaseURL, creating the database first when it does
// not exist (and the role may create it). It does not migrate.
func Open(ctx context.Context, databaseURL string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, wrap("parse database url", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	} else if cfg.MaxConns < 16 {
		// Workers run several batch transactions at once next to ingest
		// lookups; the default of 4 on a 1-core box starves them.
		cfg.MaxConns = 16
	}
	setPlanCacheMode(cfg.ConnConfig)
	if opts.TracerProvider != nil {
		// Spans are named by the operation (SELECT, INSERT); the text is
		// in db.query.text, without the parameters' values.
		cfg.ConnConfig.Tracer = otelpgx.NewTracer(otelpgx.WithTracerProvider(opts.TracerProvider))
	}
	if err := EnsureDatabase(ctx, databaseURL); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, wrap("connect", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: ping %s: %w", cfg.ConnConfig.Database, err)
	}
	return &Store{pool: pool}, nil
}

// Close releases every connection.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that PostgreSQL answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Pool exposes the pool to tests and tools in this module.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// EnsureDatabase creates the database named in databaseURL when it is
// missing, connecting to the server's "postgres" database to do so. Two
// processes racing to create it both succeed.
func EnsureDatabase(ctx context.Context, databaseURL string) error {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return wrap("parse database url", err)
	}
	name := cfg.Database
	if name == "" || name == "postgres" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		return conn.Close(ctx)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" { // invalid_catalog_name
		return fmt.Errorf("store: connect to database %q: %w", name, err)
	}
	admin := cfg.Copy()
	admin.Database = "postgres"
	conn, err = pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("store: database %q is missing and the server's postgres database is unreachable to create it: %w", name, err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	if err != nil && !isCode(err, "42P04", "23505") { // duplicate_database, or a racing creator
		return fmt.Errorf("store: create database %q: %w", name, err)
	}
	return nil
}

// DropDatabase removes the database named in databaseURL; tests use it.
func DropDatabase(ctx context.Context, databaseURL string) error {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return wrap("parse database url", err)
	}
	admin := cfg.Copy()
	admin.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return wrap("connect", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{cfg.Database}.Sanitize()+" WITH (FORCE)")
	return err
}
