package store

import (
	"errors"
	"fmt"
	"io"
	"net"

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

// ErrInvalidData is returned when PostgreSQL refuses a value the call
// carries (SQLSTATE class 22, data exception: invalid UTF-8, NUL, a number
// out of range; or class 23, an integrity constraint, other than a unique
// key taken). Running the same call again fails the same way.
var ErrInvalidData = errors.New("invalid data")

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
		case pgErr.Code[:2] == "22", pgErr.Code[:2] == "23": // data_exception, integrity_constraint_violation
			kind = ErrInvalidData
		case pgErr.Code == "40001", pgErr.Code == "40P01", // serialization_failure, deadlock_detected
			pgErr.Code[:2] == "08",                                              // connection_exception
			pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03": // admin/crash shutdown, cannot connect now
			kind = ErrRetryable
		}
	case pgconn.SafeToRetry(err), pgconn.Timeout(err), isConnectionLost(err):
		kind = ErrRetryable
	}
	if kind == nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	return fmt.Errorf("store: %s: %w: %w", op, kind, err)
}

// isConnectionLost reports a failure to reach the server or a connection
// cut under a statement: the server is restarting, or the network is.
func isConnectionLost(err error) bool {
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// sqlState is the SQLSTATE of a PostgreSQL error in err's chain, "" when
// there is none.
func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
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
