package store

import (
	"context"

	"gorm.io/gorm"

	"github.com/weftlabs/weft/migrations"
)

// dialect is everything that differs between the two databases. sqlite.go
// and postgres.go implement it; the rest of the package asks it rather
// than testing which database it is on.
type dialect interface {
	// name is migrations.SQLite or migrations.Postgres.
	name() string
	// open connects GORM to dsn.
	open(dsn string, opt Options, cfg *gorm.Config) (*gorm.DB, error)
	// parallelTx is how many write transactions are worth running at once.
	parallelTx() int
	// migrate applies the pending migrations, each in its own transaction.
	migrate(ctx context.Context, s *Store, ms []migrations.Migration) error
	// bind rewrites a statement's ? placeholders for the driver.
	bind(query string) string
	// lockRow is the suffix that locks a read row until commit ("" when
	// the database has one writer anyway).
	lockRow() string
	// skipLocked is the suffix that locks claim candidates and skips rows
	// another transaction holds.
	skipLocked() string
	// serialise makes transactions that name key run one at a time across
	// replicas, until commit (no-op with one writer).
	serialise(ctx context.Context, s *Store, key string) error
	// notify announces topic to other replicas at commit (no-op without
	// other processes to tell).
	notify(ctx context.Context, s *Store, topic string) error
	// listen relays other replicas' notifications to fn until ctx ends.
	listen(ctx context.Context, s *Store, fn func(topic string)) error
	// seedRunSQL is the SQL expression of a seeded run's id from created
	// (µs) and i, and a statement yielding i from ? to ? (SeedRuns).
	seedRunSQL(created string) (id, series string)
	// transact runs fn in one transaction.
	transact(ctx context.Context, s *Store, fn func(tx *Store) error) error
	// apply writes one decision, queuing what write does and sending it
	// in as few round trips as the database allows.
	apply(ctx context.Context, s *Store, write func(s *Store) error) error
	// analyze refreshes the planner's statistics after a bulk load.
	analyze(ctx context.Context, s *Store, table string) error
}

func dialectOf(dsn string) dialect {
	if isPostgres(dsn) {
		return postgresDialect{}
	}
	return sqliteDialect{}
}
