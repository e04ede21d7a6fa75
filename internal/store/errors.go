package store

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a write collides with a row that exists
// (a unique key taken).
var ErrConflict = errors.New("conflict")

// ErrRetryable is returned for failures that a retry of the same call may
// clear: a deadlock or serialization failure chosen as victim, a
// connection lost, the server shutting down or starting.
var ErrRetryable = errors.New("retryable")

// wrap is the store's one translator of driver errors: every query error
// leaves the package through it, so callers decide with errors.Is on the
// sentinels above and never import pgx. The driver error stays in the
// chain for the log.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var kind error
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		kind = ErrNotFound
	case errors.As(err, &pgErr):
		switch {
		case pgErr.Code == "23505": // unique_violation
			kind = ErrConflict
		case pgErr.Code == "40001", pgErr.Code == "40P01", // serialization_failure, deadlock_detected
			pgErr.Code[:2] == "08",                                              // connection_exception
			pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03": // admin/crash shutdown, cannot connect now
			kind = ErrRetryable
		}
	case pgconn.SafeToRetry(err), pgconn.Timeout(err):
		kind = ErrRetryable
	}
	if kind == nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	return fmt.Errorf("store: %s: %w: %w", op, kind, err)
}

func isCode(err error, codes ...string) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	for _, c := range codes {
		if pgErr.Code == c {
			return true
		}
	}
	return false
}
