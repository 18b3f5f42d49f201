package server

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"
)

// retryAfter is the Retry-After (seconds) of a 503: how long a client
// waits before it tries again while the database is away or full.
const retryAfter = "5"

// fullFor is how long /readyz answers 503 after a write failed because
// the database or its disk was full. A full disk answers reads, so the
// readiness check (a read) alone would keep saying "ready".
const fullFor = 30 * time.Second

// unavailable says why err means the database cannot serve right now
// (unreachable, shutting down, out of disk or connections), so the
// request may succeed later: "" when it does not. It looks at the error's
// behaviour (SQLSTATE of PostgreSQL errors, result codes of SQLite
// errors, network errors) rather than at driver types, which only the
// store imports.
func unavailable(err error) (reason string, full bool) {
	if err == nil {
		return "", false
	}
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		switch st := pg.SQLState(); {
		case st == "53100":
			return "the database's disk is full", true
		case strings.HasPrefix(st, "53"):
			return "the database is out of resources (memory or connections)", false
		case strings.HasPrefix(st, "08"), st == "57P01", st == "57P02", st == "57P03", st == "55006":
			return "the database is unreachable or shutting down", false
		}
	}
	var lite interface{ Code() int }
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff {
		case 13: // SQLITE_FULL
			return "the database or its disk is full", true
		case 10: // SQLITE_IOERR: a write that did not fit (EFBIG) or a failing disk
			return "the database file cannot be written (disk full or failing)", true
		case 14: // SQLITE_CANTOPEN
			return "the database file cannot be opened", false
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
			return "the database is busy", false
		}
	}
	if errors.Is(err, syscall.ENOSPC) {
		return "the database's disk is full", true
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the database is unreachable", false
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "database or disk is full"), strings.Contains(msg, "no space left on device"),
		strings.Contains(msg, "SQLSTATE 53100"):
		return "the database or its disk is full", true
	case strings.Contains(msg, "sql: database is closed"), strings.Contains(msg, "failed to connect"),
		strings.Contains(msg, "connection refused"), strings.Contains(msg, "conn closed"):
		return "the database is unreachable", false
	}
	return "", false
}

// badText reports a database's refusal of text (PostgreSQL SQLSTATE
// 22021, 22P05: a NUL character or bytes that are not UTF-8) that the
// request checks should have caught.
func badDatabaseText(err error) bool {
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		st := pg.SQLState()
		return st == "22021" || st == "22P05"
	}
	return false
}

// health remembers the last time a write failed because the database was
// full, for /readyz.
type health struct {
	mu       sync.Mutex
	fullAt   time.Time
	fullWhy  string
	nowFunc  func() time.Time
	duration time.Duration
}

func (h *health) sawFull(reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fullAt, h.fullWhy = h.now(), reason
}

// full answers the reason of a recent "full" failure, or "".
func (h *health) full() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fullAt.IsZero() || h.now().Sub(h.fullAt) > h.duration {
		return ""
	}
	return h.fullWhy
}

func (h *health) now() time.Time {
	if h.nowFunc != nil {
		return h.nowFunc()
	}
	return time.Now()
}
