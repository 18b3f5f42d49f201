package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"

	"github.com/weftlabs/weft/migrations"
)

// postgresDialect: a shared server; several replicas may write at once, so
// claims skip locked rows, a run's row is locked while it is decided, and
// wake-ups travel by LISTEN/NOTIFY.
type postgresDialect struct{}

func (postgresDialect) name() string { return migrations.Postgres }

func (postgresDialect) open(dsn string, _ Options, cfg *gorm.Config) (*gorm.DB, error) {
	db, err := gorm.Open(postgres.Open(dsn), cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	sqlDB.SetMaxOpenConns(20)
	sqlDB.SetMaxIdleConns(10)
	return db, nil
}

func (postgresDialect) parallelTx() int { return 6 }

// migrate holds an advisory lock so replicas starting together do not race.
func (postgresDialect) migrate(ctx context.Context, s *Store, ms []migrations.Migration) error {
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

// rebound maps a statement's text with ? placeholders to $n.
var rebound sync.Map

func (postgresDialect) bind(query string) string {
	if v, ok := rebound.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	out := b.String()
	if n <= 64 { // remember the short, recurring shapes only
		rebound.Store(query, out)
	}
	return out
}

func (postgresDialect) lockRow() string    { return " FOR UPDATE" }
func (postgresDialect) skipLocked() string { return " FOR UPDATE SKIP LOCKED" }

func (postgresDialect) serialise(ctx context.Context, s *Store, key string) error {
	return s.q(ctx).Exec("SELECT pg_advisory_xact_lock(?)", lockKey(key)).Error
}

func (postgresDialect) notify(ctx context.Context, s *Store, topic string) error {
	return s.exec(ctx, "SELECT pg_notify('weft_wake', ?)", topic)
}

// listen relays notifications on channel weft_wake, reconnecting after
// errors.
func (postgresDialect) listen(ctx context.Context, s *Store, fn func(topic string)) error {
	for ctx.Err() == nil {
		err := listenOnce(ctx, s.shared.dsn, fn)
		if ctx.Err() != nil {
			return nil
		}
		s.shared.logger.Warn("listen for wake-ups", "err", err)
		// Missed notifications are harmless: wake everyone once.
		fn("")
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

func listenOnce(ctx context.Context, dsn string, fn func(topic string)) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN weft_wake"); err != nil {
		return err
	}
	fn("") // catch up on anything sent while not listening
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		fn(n.Payload)
	}
}

func (postgresDialect) seedRunSQL(created string) (id, series string) {
	id = fmt.Sprintf("lpad(to_hex(%s / 1000), 11, '0') || lpad(to_hex(i), 7, '0') || substr(md5(i::text), 1, 7)", created)
	series = "SELECT i::bigint AS i FROM generate_series(?::bigint, ?::bigint) AS g(i)"
	return id, series
}

// transact begins the transaction on a connection of its own, so that
// apply can reach the driver's connection and pipeline a decision's
// writes in one round trip.
func (postgresDialect) transact(ctx context.Context, s *Store, fn func(tx *Store) error) (err error) {
	sqlDB, err := s.shared.root.DB()
	if err != nil {
		return err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	g := s.shared.root.Session(&gorm.Session{Context: ctx, NewDB: true})
	g.Statement.ConnPool = tx
	done := false
	defer func() {
		if !done {
			_ = tx.Rollback() // fn panicked
		}
	}()
	err = fn(&Store{db: g, dialect: s.dialect, dia: s.dia, inTx: true, shared: s.shared, conn: conn})
	done = true
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// apply queues the writes and sends them as one pipelined batch.
func (postgresDialect) apply(ctx context.Context, s *Store, write func(s *Store) error) error {
	if s.conn == nil || s.batch != nil {
		return write(s)
	}
	q := *s
	q.batch = &batch{}
	if err := write(&q); err != nil {
		return err
	}
	if len(q.batch.stmts) == 0 {
		return nil
	}
	return s.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("apply: unexpected driver connection %T", dc)
		}
		b := &pgx.Batch{}
		for _, st := range q.batch.stmts {
			b.Queue(st.query, st.args...)
		}
		br := c.Conn().SendBatch(ctx, b)
		for _, st := range q.batch.stmts {
			tag, err := br.Exec()
			if err == nil && st.check != nil {
				err = st.check(tag.RowsAffected())
			}
			if err != nil {
				_ = br.Close()
				if st.what == "" {
					return fmt.Errorf("apply: %w", err)
				}
				return fmt.Errorf("%s: %w", st.what, err)
			}
		}
		return br.Close()
	})
}

func (postgresDialect) analyze(ctx context.Context, s *Store, table string) error {
	return s.q(ctx).Exec("ANALYZE " + table).Error
}
