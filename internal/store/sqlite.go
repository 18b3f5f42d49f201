package store

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"

	"github.com/weftlabs/weft/migrations"
)

// sqliteDialect: an embedded file through the pure-Go driver, WAL, one
// connection (SQLite has one writer; every transaction is serialisable and
// takes its write lock at BEGIN).
type sqliteDialect struct{}

func (sqliteDialect) name() string { return migrations.SQLite }

func (sqliteDialect) open(dsn string, opt Options, cfg *gorm.Config) (*gorm.DB, error) {
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
	db, err := gorm.Open(sqlite.Open("file:"+path+"?"+q.Encode()), cfg)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	// One connection: SQLite has one writer, and reads between writes
	// are cheap; this also makes every transaction serialisable.
	sqlDB.SetMaxOpenConns(1)
	return db, nil
}

func (sqliteDialect) parallelTx() int { return 1 }

func (sqliteDialect) migrate(ctx context.Context, s *Store, ms []migrations.Migration) error {
	db := s.db.WithContext(ctx)
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

func (sqliteDialect) bind(query string) string { return query }
func (sqliteDialect) lockRow() string          { return "" }
func (sqliteDialect) skipLocked() string       { return "" }

func (sqliteDialect) serialise(context.Context, *Store, string) error { return nil }
func (sqliteDialect) notify(context.Context, *Store, string) error    { return nil }

func (sqliteDialect) listen(ctx context.Context, _ *Store, _ func(string)) error {
	<-ctx.Done()
	return nil
}

func (sqliteDialect) seedRunSQL(created string) (id, series string) {
	id = fmt.Sprintf("printf('%%011x%%07x', %s / 1000, i) || substr(lower(hex(randomblob(4))), 1, 7)", created)
	series = "WITH RECURSIVE g(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM g WHERE i < ?) SELECT i FROM g"
	return id, series
}

func (sqliteDialect) transact(ctx context.Context, s *Store, fn func(tx *Store) error) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return fn(&Store{db: tx, dialect: s.dialect, dia: s.dia, inTx: true, shared: s.shared})
	})
}

// apply runs the writes one by one: an in-process statement costs no
// round trip.
func (sqliteDialect) apply(_ context.Context, s *Store, write func(s *Store) error) error {
	return write(s)
}

func (sqliteDialect) analyze(context.Context, *Store, string) error { return nil }
