package store

import (
	"context"
	"database/sql"
	"strings"

	"github.com/weftlabs/weft/engine"
)

// The hot path (a report, a claim, the decision they cause) speaks to the
// connection directly: the statements below are written by hand, with
// their placeholders bound once per text for the dialect, and rows are
// scanned without reflection. GORM keeps the rest.

func (s *Store) bind(query string) string { return s.dia.bind(query) }

func (s *Store) pool() interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
} {
	return s.db.Statement.ConnPool
}

// batch is the writes Apply queues to send together.
type batch struct {
	stmts []queued
}

type queued struct {
	what  string
	query string
	args  []any
	check func(rows int64) error // nil: any row count is fine
}

// exec runs a hand-written write (or queues it while Apply batches).
func (s *Store) exec(ctx context.Context, query string, args ...any) error {
	return s.execCheck(ctx, "", query, nil, args...)
}

// execCheck is exec whose changed-row count check decides the error
// (when the write is queued, once the batch has run).
func (s *Store) execCheck(ctx context.Context, what, query string, check func(rows int64) error, args ...any) error {
	s.counted()
	if s.batch != nil {
		s.batch.stmts = append(s.batch.stmts, queued{what: what, query: s.bind(query), args: args, check: check})
		return nil
	}
	res, err := s.pool().ExecContext(ctx, s.bind(query), args...)
	if err != nil {
		return err
	}
	if check == nil {
		return nil
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	return check(n)
}

func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s.counted()
	return s.pool().QueryContext(ctx, s.bind(query), args...)
}

// Apply writes one decision in the caller's transaction.
func (s *Store) Apply(ctx context.Context, m engine.Mutation) error {
	return s.dia.apply(ctx, s, func(s *Store) error { return s.write(ctx, m) })
}

func (s *Store) write(ctx context.Context, m engine.Mutation) error {
	id := m.Run.ID
	if err := s.DeleteSteps(ctx, id, m.DeletedSteps); err != nil {
		return err
	}
	if err := s.UpsertSteps(ctx, id, m.Steps); err != nil {
		return err
	}
	if err := s.SaveRun(ctx, m.Run, m.ReadRev); err != nil {
		return err
	}
	if m.AbandonAll || len(m.Abandon) > 0 {
		var paths []string
		if !m.AbandonAll {
			paths = m.Abandon
		}
		if err := s.AbandonTasks(ctx, id, paths); err != nil {
			return err
		}
	}
	if m.DropAllTimers || len(m.DropTimers) > 0 {
		var paths []string
		if !m.DropAllTimers {
			paths = m.DropTimers
		}
		if err := s.DeleteTimers(ctx, id, paths); err != nil {
			return err
		}
	}
	if m.Hold || m.Release {
		if err := s.HoldTasks(ctx, id, m.Hold, m.Now); err != nil {
			return err
		}
	}
	if err := s.AddTasks(ctx, m.Tasks); err != nil {
		return err
	}
	if err := s.AddTimers(ctx, m.Timers); err != nil {
		return err
	}
	if err := s.AppendEvents(ctx, m.Events); err != nil {
		return err
	}
	for _, topic := range m.Notify {
		if err := s.Notify(ctx, topic); err != nil {
			return err
		}
	}
	return nil
}

// taskCols is every column of tasks, in scanTasks' order.
const taskCols = `id, run_id, path, ref, attempt, step_seq, queue, block, version, input, state, visible_at, lease, lease_us,
lease_expires_at, worker_id, resources, concurrency, cancel_requested, created_at, claimed_at, timeout_us, deadline_at, artifacts,
status_detail`

func scanTasks(rows *sql.Rows) ([]taskRow, error) {
	defer rows.Close()
	var out []taskRow
	for rows.Next() {
		var w taskRow
		if err := rows.Scan(&w.ID, &w.RunID, &w.Path, &w.Ref, &w.Attempt, &w.StepSeq, &w.Queue, &w.Block, &w.Version, &w.Input, &w.State,
			&w.VisibleAt, &w.Lease, &w.LeaseUS, &w.LeaseExpiresAt, &w.WorkerID, &w.Resources, &w.Concurrency, &w.CancelRequested,
			&w.CreatedAt, &w.ClaimedAt, &w.TimeoutUS, &w.DeadlineAt, &w.Artifacts, &w.StatusDetail); err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// queryTasks runs a statement returning taskCols.
func (s *Store) queryTasks(ctx context.Context, query string, args ...any) ([]taskRow, error) {
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return scanTasks(rows)
}

// placeholders is "(?, ?, …), (…)": rows groups of n.
func placeholders(rows, n int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(one+", ", rows), ", ")
}

// qmarks is "?, ?, …" (n of them).
func qmarks(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// inPaths adds "AND path IN (…)" for paths to a condition.
func inPaths(where string, args []any, paths []string) (string, []any) {
	for _, p := range paths {
		args = append(args, p)
	}
	return where + " AND path IN (" + qmarks(len(paths)) + ")", args
}
