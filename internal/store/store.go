// Package store implements engine.Store and the block/flow catalog on one SQL
// database through GORM: an embedded SQLite file (pure-Go driver, WAL, one
// writer connection) or PostgreSQL (FOR UPDATE SKIP LOCKED claims,
// LISTEN/NOTIFY wake-ups). Only this package imports GORM and SQL drivers.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/flows"
	"github.com/weftlabs/weft/migrations"
)

// Store is the GORM implementation of engine.Store and the catalog.
type Store struct {
	db      *gorm.DB
	dialect string  // migrations.SQLite or migrations.Postgres
	dia     dialect // what differs between them

	conn   *sql.Conn // PostgreSQL: the connection of the open transaction
	batch  *batch    // set: writes are queued and sent together (Apply)
	inTx   bool
	shared *shared
}

// shared is what every transaction-scoped copy of a Store points at.
type shared struct {
	dsn    string
	logger *slog.Logger
	root   *gorm.DB

	mu        sync.Mutex
	flowCache map[flowKey]*flows.Blueprint
	defCache  map[flowKey]*blocks.Definition
	ctlRaw    string              // the last large step control decoded
	ctl       *engine.StepControl // and its decoding

	counting   atomic.Bool  // CountStatements was called
	statements atomic.Int64 // statements issued (while counting)
	commits    atomic.Int64 // transactions committed
}

type flowKey struct {
	name    string
	version int
}

var _ engine.Store = (*Store)(nil)

// Options tune Open. The zero value is the default.
type Options struct {
	// SQLiteSynchronous overrides PRAGMA synchronous (default FULL, so an
	// acknowledged transition survives power loss; NORMAL is faster).
	SQLiteSynchronous string
}

// Open connects to dsn and applies pending migrations. A dsn starting with
// postgres:// or postgresql:// is PostgreSQL; anything else is a SQLite file
// path (created when missing).
func Open(ctx context.Context, dsn string, log *slog.Logger) (*Store, error) {
	return OpenWith(ctx, dsn, log, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dsn string, log *slog.Logger, opt Options) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	}
	s := &Store{shared: &shared{dsn: dsn, logger: log, flowCache: map[flowKey]*flows.Blueprint{}, defCache: map[flowKey]*blocks.Definition{}}}
	s.dia = dialectOf(dsn)
	s.dialect = s.dia.name()
	var err error
	if s.db, err = s.dia.open(dsn, opt, cfg); err != nil {
		return nil, err
	}
	s.shared.root = s.db
	if err := s.Migrate(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// ParallelTx is how many write transactions are worth running at once:
// one on SQLite (one writer), several on PostgreSQL.
func (s *Store) ParallelTx() int { return s.dia.parallelTx() }

// Dialect is "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// Close releases the database connections.
func (s *Store) Close() error {
	sqlDB, err := s.shared.root.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Ping checks the database is reachable and fully migrated (for /readyz).
func (s *Store) Ping(ctx context.Context) error {
	ms, err := migrations.List(s.dialect)
	if err != nil {
		return err
	}
	var applied int64
	if err := s.db.WithContext(ctx).Raw("SELECT count(*) FROM weft_migration").Scan(&applied).Error; err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	if int(applied) < len(ms) {
		return fmt.Errorf("database has %d of %d migrations applied: run weft migrate", applied, len(ms))
	}
	return nil
}

// Migrate applies every pending migration of the dialect, each in its own
// transaction, recording it in weft_migration. On PostgreSQL an advisory
// lock keeps replicas from racing.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := migrations.List(s.dialect)
	if err != nil {
		return err
	}
	return s.dia.migrate(ctx, s, ms)
}

// AppliedMigrations lists the versions recorded in weft_migration.
func (s *Store) AppliedMigrations(ctx context.Context) ([]int, error) {
	var vs []int
	err := s.db.WithContext(ctx).Raw("SELECT version FROM weft_migration ORDER BY version").Scan(&vs).Error
	return vs, err
}

// InTx runs fn in one transaction. Nested calls join the outer one.
func (s *Store) InTx(ctx context.Context, fn func(tx engine.Store) error) error {
	if s.inTx {
		return fn(s)
	}
	err := s.dia.transact(ctx, s, func(tx *Store) error { return fn(tx) })
	if err == nil {
		s.shared.commits.Add(1)
	}
	if isRace(err) && !errors.Is(err, engine.ErrTxConflict) {
		return fmt.Errorf("%w: %s", engine.ErrTxConflict, err)
	}
	return err
}

// Savepoint marks a point in the transaction (name: letters, digits, _).
func (s *Store) Savepoint(ctx context.Context, name string) error {
	if !s.inTx {
		return fmt.Errorf("savepoint %s outside a transaction", name)
	}
	return s.q(ctx).Exec("SAVEPOINT " + name).Error
}

// RollbackTo undoes the transaction's writes after the savepoint name.
func (s *Store) RollbackTo(ctx context.Context, name string) error {
	if !s.inTx {
		return fmt.Errorf("rollback to %s outside a transaction", name)
	}
	if err := s.q(ctx).Exec("ROLLBACK TO SAVEPOINT " + name).Error; err != nil {
		return fmt.Errorf("rollback to savepoint %s: %w", name, err)
	}
	return nil
}

func (s *Store) q(ctx context.Context) *gorm.DB { return s.db.WithContext(ctx) }

// Notify announces topic to other replicas when the transaction commits.
func (s *Store) Notify(ctx context.Context, topic string) error { return s.dia.notify(ctx, s, topic) }

func us(t time.Time) int64 { return t.UnixMicro() }

func usPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	v := t.UnixMicro()
	return &v
}

func fromUS(v int64) time.Time { return time.UnixMicro(v).UTC() }

func fromUSPtr(v *int64) *time.Time {
	if v == nil {
		return nil
	}
	t := fromUS(*v)
	return &t
}

func notFound(err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return engine.ErrNotFound
	}
	return err
}

func lockKey(s string) int64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return int64(h.Sum64() >> 1)
}

func nowUTC() time.Time { return time.Now().UTC() }
