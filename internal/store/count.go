package store

import (
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
