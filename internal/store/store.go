// Package store implements engine.Store and the block/flow catalog on one SQL
// database through GORM: an embedded SQLite file (pure-Go driver, WAL, one
// writer connection) or PostgreSQL (FOR UPDATE SKIP LOCKED claims,
// LISTEN/NOTIFY wake-ups). Only this package imports GORM and SQL drivers.
package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
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
	dialect string // migrations.SQLite or migrations.Postgres
	inTx    bool
	shared  *shared
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
	var err error
	if isPostgres(dsn) {
		s.dialect = migrations.Postgres
		s.db, err = gorm.Open(postgres.Open(dsn), cfg)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		sqlDB, err := s.db.DB()
		if err != nil {
			return nil, err
		}
		sqlDB.SetMaxOpenConns(20)
		sqlDB.SetMaxIdleConns(10)
	} else {
		s.dialect = migrations.SQLite
		sync := opt.SQLiteSynchronous
		if sync == "" {
			sync = "FULL"
		}
		q := url.Values{}
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "synchronous("+sync+")")
		q.Set("_txlock", "immediate")
		path := strings.TrimPrefix(dsn, "sqlite://")
		path = strings.TrimPrefix(path, "file:")
		s.db, err = gorm.Open(sqlite.Open("file:"+path+"?"+q.Encode()), cfg)
		if err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		sqlDB, err := s.db.DB()
		if err != nil {
			return nil, err
		}
		// One connection: SQLite has one writer, and reads between writes
		// are cheap; this also makes every transaction serialisable.
		sqlDB.SetMaxOpenConns(1)
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
func (s *Store) ParallelTx() int {
	if s.dialect == migrations.Postgres {
		return 6
	}
	return 1
}

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
	db := s.db.WithContext(ctx)
	if s.dialect == migrations.Postgres {
		// Advisory locks belong to a session: hold one connection.
		sqlDB, err := s.db.DB()
		if err != nil {
			return err
		}
		conn, err := sqlDB.Conn(ctx)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(7301)"); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(7301)") //nolint:errcheck
		if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS weft_migration (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		for _, m := range ms {
			var n int
			if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM weft_migration WHERE version = $1", m.Version).Scan(&n); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			if n > 0 {
				continue
			}
			tx, err := conn.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("migration postgres/%s: %w", m.Name, err)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO weft_migration (version, name) VALUES ($1, $2)", m.Version, m.Name); err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("migration postgres/%s: %w", m.Name, err)
			}
			if err := tx.Commit(); err != nil {
				return fmt.Errorf("migration postgres/%s: %w", m.Name, err)
			}
			s.shared.logger.Info("migration applied", "version", m.Version, "name", m.Name)
		}
		return nil
	}
	if err := db.Exec(`CREATE TABLE IF NOT EXISTS weft_migration (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)`).Error; err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, m := range ms {
		var n int64
		if err := db.Raw("SELECT count(*) FROM weft_migration WHERE version = ?", m.Version).Scan(&n).Error; err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if n > 0 {
			continue
		}
		err := db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec(m.SQL).Error; err != nil {
				return err
			}
			return tx.Exec("INSERT INTO weft_migration (version, name) VALUES (?, ?)", m.Version, m.Name).Error
		})
		if err != nil {
			return fmt.Errorf("migration sqlite/%s: %w", m.Name, err)
		}
		s.shared.logger.Info("migration applied", "version", m.Version, "name", m.Name)
	}
	return nil
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
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return fn(&Store{db: tx, dialect: s.dialect, inTx: true, shared: s.shared})
	})
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
func (s *Store) Notify(ctx context.Context, topic string) error {
	if s.dialect != migrations.Postgres {
		return nil
	}
	return s.q(ctx).Exec("SELECT pg_notify('weft_wake', ?)", topic).Error
}

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
