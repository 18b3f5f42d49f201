package store

import (
	"errors"

	gosqlite "github.com/glebarez/go-sqlite"
	"github.com/jackc/pgx/v5/pgconn"
)

// Database errors are classified by the driver's codes, never by message
// text (an id in a message may contain any digits).

// SQLite result codes (the primary code is the low byte of an extended one).
const (
	sqliteBusy             = 5
	sqliteLocked           = 6
	sqliteConstraintPK     = 1555
	sqliteConstraintUnique = 2067
)

// PostgreSQL SQLSTATEs.
const (
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
	pgUniqueViolation      = "23505"
)

func sqliteCode(err error) (int, bool) {
	var e *gosqlite.Error
	if errors.As(err, &e) {
		return e.Code(), true
	}
	return 0, false
}

func pgCode(err error) (string, bool) {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code, true
	}
	return "", false
}

// isRace reports a PostgreSQL deadlock or serialization failure, or SQLite
// being busy: the transaction may be run again.
func isRace(err error) bool {
	if err == nil {
		return false
	}
	if c, ok := sqliteCode(err); ok {
		return c&0xff == sqliteBusy || c&0xff == sqliteLocked
	}
	if c, ok := pgCode(err); ok {
		return c == pgSerializationFailure || c == pgDeadlockDetected
	}
	return false
}

// isUniqueViolation reports a duplicate key.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	if c, ok := sqliteCode(err); ok {
		return c == sqliteConstraintUnique || c == sqliteConstraintPK
	}
	if c, ok := pgCode(err); ok {
		return c == pgUniqueViolation
	}
	return false
}
