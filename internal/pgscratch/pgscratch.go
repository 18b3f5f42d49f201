// Package pgscratch makes throw-away PostgreSQL databases: one per test,
// and one per `weft bench` run, each dropped afterwards.
//
// A scratch database is dropped only once nobody is connected to it, and
// never WITH (FORCE): nothing here terminates a server session. A drop
// with FORCE signals every backend of the database, and a pool its owner
// still uses (a test's store, a server still answering) then fails in the
// middle of its work with "terminating connection due to administrator
// command". Instead the drop waits for the sessions of pools already
// closed to end, and a session still open after that is a leak the owner
// is told about, with the database left in place.
package pgscratch

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the database/sql driver
)

// DefaultServer is the test server of the development machines and CI.
const DefaultServer = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ServerURL is WEFT_TEST_POSTGRES_URL, or DefaultServer.
func ServerURL() string {
	if u := os.Getenv("WEFT_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultServer
}

// closeWait bounds how long a drop waits for the sessions of closed
// pools to end (a backend leaves a few milliseconds after its client).
const closeWait = 10 * time.Second

// Create makes an empty database named prefix_<random> on the server of
// serverURL and returns its URL and a function that drops it. Close every
// pool on the database before calling drop: drop waits up to 10s for
// their sessions to end, then drops the database, or leaves it and
// returns an error naming the sessions still open.
func Create(ctx context.Context, serverURL, prefix string) (dsn string, drop func() error, err error) {
	admin, err := sql.Open("pgx", serverURL)
	if err != nil {
		return "", nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = admin.PingContext(pctx)
	cancel()
	if err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("connect to PostgreSQL at %s: %w", redact(serverURL), err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := prefix + "_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		admin.Close()
		return "", nil, err
	}
	u.Path = "/" + name
	drop = func() error {
		defer admin.Close()
		return dropIdle(admin, name)
	}
	return u.String(), drop, nil
}

// dropIdle drops database name once no session is connected to it.
func dropIdle(admin *sql.DB, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), closeWait+5*time.Second)
	defer cancel()
	deadline := time.Now().Add(closeWait)
	for {
		var open []string
		rows, err := admin.QueryContext(ctx, "SELECT pid::text || ' (' || coalesce(application_name, '') || ', ' || coalesce(state, '') || ')' FROM pg_stat_activity WHERE datname = $1", name)
		if err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return fmt.Errorf("drop database %s: %w", name, err)
			}
			open = append(open, s)
		}
		rows.Close()
		if len(open) == 0 {
			// No session, and none can start while DROP holds the
			// database's lock; without FORCE a session that connected
			// meanwhile makes the drop fail rather than be killed.
			if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
				return fmt.Errorf("drop database %s: %w", name, err)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("database %s left in place: %d sessions still connected %s after its pools should have closed: %s",
				name, len(open), closeWait, strings.Join(open, ", "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TB is what ForTest needs of a test (testing.TB has it): the package
// does not import testing, so the weft binary, which uses Create, does
// not link it.
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

// ForTest gives the test a fresh database on ServerURL, dropped at cleanup
// (after the cleanups the test registers later, such as closing its
// stores), and returns its URL. A session left open on it fails the test.
// Without a server the test is skipped, loudly, except under CI=true,
// where it fails.
func ForTest(tb TB, prefix string) string {
	tb.Helper()
	dsn, drop, err := Create(context.Background(), ServerURL(), prefix)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL is required under CI=true: %v", err)
		}
		tb.Skipf("SKIPPING PostgreSQL test: %v; set WEFT_TEST_POSTGRES_URL", err)
	}
	tb.Cleanup(func() {
		if err := drop(); err != nil {
			tb.Errorf("scratch database: %v", err)
		}
	})
	return dsn
}

func redact(dsn string) string {
	if i := strings.Index(dsn, "@"); i > 0 && strings.Contains(dsn, "://") {
		return dsn[:strings.Index(dsn, "://")+3] + "…" + dsn[i:]
	}
	return dsn
}
