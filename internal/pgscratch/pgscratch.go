// Package pgscratch makes throw-away PostgreSQL databases: one per test,
// and one per `weft bench` run, each dropped afterwards.
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
	"testing"
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

// Create makes an empty database named prefix_<random> on the server of
// serverURL and returns its URL and a function that drops it.
func Create(ctx context.Context, serverURL, prefix string) (string, func(), error) {
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
	drop := func() {
		_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		admin.Close()
	}
	return u.String(), drop, nil
}

// ForTest gives the test a fresh database on ServerURL, dropped at cleanup,
// and returns its URL. Without a server the test is skipped, loudly, except
// under CI=true, where it fails.
func ForTest(tb testing.TB, prefix string) string {
	tb.Helper()
	dsn, drop, err := Create(context.Background(), ServerURL(), prefix)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL is required under CI=true: %v", err)
		}
		tb.Skipf("SKIPPING PostgreSQL test: %v; set WEFT_TEST_POSTGRES_URL", err)
	}
	tb.Cleanup(drop)
	return dsn
}

func redact(dsn string) string {
	if i := strings.Index(dsn, "@"); i > 0 && strings.Contains(dsn, "://") {
		return dsn[:strings.Index(dsn, "://")+3] + "…" + dsn[i:]
	}
	return dsn
}
