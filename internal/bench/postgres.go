package bench

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for the scratch database
)

// ScratchPostgres creates an empty database on the server of serverURL and
// returns its URL and a function that drops it.
func ScratchPostgres(ctx context.Context, serverURL string) (string, func(), error) {
	db, err := sql.Open("pgx", serverURL)
	if err != nil {
		return "", nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("connect to %s: %w", redact(serverURL), err)
	}
	name := fmt.Sprintf("weft_bench_%d", time.Now().UnixNano())
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("create scratch database: %w", err)
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		db.Close()
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		db.Close()
	}
	return u.String(), drop, nil
}
