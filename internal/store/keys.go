package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrExists is returned when a row with the same key already exists.
var ErrExists = ErrConflict

// APIKey is a stored ingest key: its name and the SHA-256 of its secret.
type APIKey struct {
	Name      string
	Digest    [32]byte
	CreatedAt time.Time
	RevokedAt *time.Time
}

// CreateAPIKey stores a new key; ErrExists when the name is taken.
func (s *Store) CreateAPIKey(ctx context.Context, name string, digest [32]byte) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (name, digest) VALUES ($1, $2)`, name, digest[:])
	if isCode(err, "23505") {
		return fmt.Errorf("store: api key %q: %w", name, ErrExists)
	}
	if err != nil {
		return wrap("create api key", err)
	}
	return nil
}

// RevokeAPIKey marks a key revoked; ErrNotFound when no active key has
// that name.
func (s *Store) RevokeAPIKey(ctx context.Context, name string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL`, name)
	if err != nil {
		return wrap("revoke api key", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: api key %q: %w", name, ErrNotFound)
	}
	return nil
}

// APIKeys lists keys, revoked ones included when all is set.
func (s *Store) APIKeys(ctx context.Context, all bool) ([]APIKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, digest, created_at, revoked_at FROM api_keys
		WHERE $1 OR revoked_at IS NULL ORDER BY name`, all)
	if err != nil {
		return nil, wrap("api keys", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (APIKey, error) {
		var k APIKey
		var digest []byte
		err := row.Scan(&k.Name, &digest, &k.CreatedAt, &k.RevokedAt)
		copy(k.Digest[:], digest)
		return k, err
	})
	if err != nil {
		return nil, wrap("api keys", err)
	}
	return out, nil
}
