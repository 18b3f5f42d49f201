package store

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// CountStatements starts counting the SQL statements this store issues
// through GORM (queries, inserts, updates, deletes, raw and row statements)
// and returns a function reading the count. Benchmarks use it to show what
// an idle server costs the database.
func (s *Store) CountStatements() func() int64 {
	n := &s.shared.statements
	inc := func(*gorm.DB) { n.Add(1) }
	s.shared.counting.Store(true)
	cb := s.shared.root.Callback()
	_ = cb.Create().After("gorm:create").Register("weft:count_create", inc)
	_ = cb.Query().After("gorm:query").Register("weft:count_query", inc)
	_ = cb.Update().After("gorm:update").Register("weft:count_update", inc)
	_ = cb.Delete().After("gorm:delete").Register("weft:count_delete", inc)
	_ = cb.Raw().After("gorm:raw").Register("weft:count_raw", inc)
	_ = cb.Row().After("gorm:row").Register("weft:count_row", inc)
	return n.Load
}

// Commits is how many write transactions this store has committed.
func (s *Store) Commits() int64 { return s.shared.commits.Load() }

// counted notes a statement issued outside GORM (the hot path).
func (s *Store) counted() {
	if s.shared.counting.Load() {
		s.shared.statements.Add(1)
	}
}

// Floor measures the database's physical floor for weft bench: the mean
// time of one transaction that updates one row and commits, over n of
// them, on a scratch table it drops afterwards.
func (s *Store) Floor(ctx context.Context, n int) (time.Duration, error) {
	db := s.shared.root.WithContext(ctx)
	if err := db.Exec("CREATE TABLE IF NOT EXISTS weft_floor (id INTEGER PRIMARY KEY, v BIGINT NOT NULL)").Error; err != nil {
		return 0, err
	}
	defer db.Exec("DROP TABLE IF EXISTS weft_floor") //nolint:errcheck
	if err := db.Exec("INSERT INTO weft_floor (id, v) VALUES (1, 0)").Error; err != nil {
		return 0, err
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		err := db.Transaction(func(tx *gorm.DB) error {
			return tx.Exec("UPDATE weft_floor SET v = v + 1 WHERE id = 1").Error
		})
		if err != nil {
			return 0, err
		}
	}
	return time.Since(start) / time.Duration(n), nil
}
