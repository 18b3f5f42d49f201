package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/weftlabs/weft/engine"
)

// logChunk is how many lines one INSERT carries (7 parameters each).
const logChunk = 500

// AppendLogs appends lines to the log of the step the task runs, under the
// task's lease: a wrong, stale or consumed lease is engine.ErrConflict and
// stores nothing. Past p.MaxBytes of message text per step the lines that
// do not fit are dropped and one truncation marker is written, once.
func (s *Store) AppendLogs(ctx context.Context, p engine.LogAppend) (engine.LogAppended, error) {
	var out engine.LogAppended
	if p.MaxBytes <= 0 {
		p.MaxBytes = engine.DefaultMaxLog
	}
	err := s.dia.transact(ctx, s, func(tx *Store) error {
		var err error
		out, err = tx.appendLogs(ctx, p)
		return err
	})
	if err != nil && !errors.Is(err, engine.ErrConflict) {
		return out, fmt.Errorf("append log of task %s: %w", p.TaskID, err)
	}
	return out, err
}

func (s *Store) appendLogs(ctx context.Context, p engine.LogAppend) (engine.LogAppended, error) {
	var out engine.LogAppended
	rows, err := s.query(ctx, "SELECT run_id, path, attempt FROM tasks WHERE id = ? AND lease = ? AND state = 'leased'", p.TaskID, p.Lease)
	if err != nil {
		return out, err
	}
	found := false
	for rows.Next() {
		found = true
		if err := rows.Scan(&out.RunID, &out.Step, &out.Attempt); err != nil {
			rows.Close()
			return out, err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, err
	}
	if !found {
		return out, engine.ErrConflict
	}
	if len(p.Lines) == 0 {
		return out, nil
	}
	var want int64
	for _, l := range p.Lines {
		want += int64(len(l.Message))
	}
	// The size row is the step's lock: appends to one step take turns.
	var total, truncated int64
	rows, err = s.query(ctx, `INSERT INTO step_log_sizes (run_id, path, bytes, truncated) VALUES (?, ?, ?, 0)
ON CONFLICT (run_id, path) DO UPDATE SET bytes = CASE WHEN step_log_sizes.truncated = 1 THEN step_log_sizes.bytes ELSE step_log_sizes.bytes + excluded.bytes END
RETURNING bytes, truncated`, out.RunID, out.Step, want)
	if err != nil {
		return out, fmt.Errorf("count log bytes: %w", err)
	}
	for rows.Next() {
		if err := rows.Scan(&total, &truncated); err != nil {
			rows.Close()
			return out, err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, err
	}
	if truncated == 1 {
		out.Dropped = len(p.Lines)
		return out, nil
	}
	lines := p.Lines
	if total > p.MaxBytes {
		room := p.MaxBytes - (total - want)
		n, used := 0, int64(0)
		for n < len(lines) && used+int64(len(lines[n].Message)) <= room {
			used += int64(len(lines[n].Message))
			n++
		}
		out.Dropped = len(lines) - n
		out.Marked = true
		lines = append(lines[:n:n], engine.LogLine{Time: p.Now, Level: engine.LogWarning,
			Message: fmt.Sprintf("[weft] log truncated: this step's log reached %d bytes (--max-log); %d later line(s) were dropped, and any that follow will be too",
				p.MaxBytes, out.Dropped)})
		if err := s.exec(ctx, "UPDATE step_log_sizes SET bytes = ?, truncated = 1 WHERE run_id = ? AND path = ?",
			total-want+used, out.RunID, out.Step); err != nil {
			return out, fmt.Errorf("mark log truncated: %w", err)
		}
	}
	out.Stored = len(lines)
	if out.Marked {
		out.Stored--
	}
	for len(lines) > 0 {
		chunk := lines[:min(len(lines), logChunk)]
		lines = lines[len(chunk):]
		args := make([]any, 0, 6*len(chunk))
		for _, l := range chunk {
			args = append(args, out.RunID, out.Step, out.Attempt, us(l.Time), l.Level, l.Message)
		}
		if err := s.exec(ctx, "INSERT INTO step_logs (run_id, path, attempt, ts, level, message) VALUES "+placeholders(len(chunk), 6), args...); err != nil {
			return out, fmt.Errorf("insert log lines: %w", err)
		}
	}
	return out, nil
}

// Logs reads a run's log lines (one step's when q.Step is set) after the
// cursor q.After, oldest first, at most q.Limit (1000 when 0).
func (s *Store) Logs(ctx context.Context, q engine.LogQuery) ([]engine.LogLine, error) {
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 1000
	}
	var sb strings.Builder
	sb.WriteString("SELECT seq, path, attempt, ts, level, message FROM step_logs WHERE run_id = ?")
	args := []any{q.RunID}
	if q.Step != "" {
		sb.WriteString(" AND path = ?")
		args = append(args, q.Step)
	}
	sb.WriteString(" AND seq > ? ORDER BY seq LIMIT ?")
	args = append(args, q.After, q.Limit)
	rows, err := s.query(ctx, sb.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("log of run %s: %w", q.RunID, err)
	}
	defer rows.Close()
	out := make([]engine.LogLine, 0, min(q.Limit, 64))
	for rows.Next() {
		var l engine.LogLine
		var ts int64
		if err := rows.Scan(&l.Seq, &l.Step, &l.Attempt, &ts, &l.Level, &l.Message); err != nil {
			return nil, fmt.Errorf("log of run %s: %w", q.RunID, err)
		}
		l.Time = fromUS(ts)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("log of run %s: %w", q.RunID, err)
	}
	return out, nil
}

// LogState says whether a log can still grow: the run's status and, when
// step is set, the step's stored status ("" when it has no row yet). A
// claimed step's row says scheduled until its report, so a log is over
// when the step's stored status is finished or the run is.
func (s *Store) LogState(ctx context.Context, runID, step string) (engine.RunStatus, engine.StepStatus, error) {
	var run string
	var st sql.NullString
	rows, err := s.query(ctx, "SELECT r.status, s.status FROM runs r LEFT JOIN steps s ON s.run_id = r.id AND s.path = ? WHERE r.id = ?", step, runID)
	if err != nil {
		return "", "", fmt.Errorf("log state of run %s: %w", runID, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return "", "", fmt.Errorf("log state of run %s: %w", runID, err)
		}
		return "", "", fmt.Errorf("run %s: %w", runID, engine.ErrNotFound)
	}
	if err := rows.Scan(&run, &st); err != nil {
		return "", "", fmt.Errorf("log state of run %s: %w", runID, err)
	}
	return engine.RunStatus(run), engine.StepStatus(st.String), nil
}

// SeedLogs gives every run perRun log lines of a step "a" (benchmarks:
// the runs list with logs present).
func (s *Store) SeedLogs(ctx context.Context, perRun int) error {
	for i := range perRun {
		if err := s.exec(ctx, `INSERT INTO step_logs (run_id, path, attempt, ts, level, message)
SELECT id, 'a', 1, created_at, 'info', ? FROM runs`, fmt.Sprintf("seeded line %d of step a: epoch %d loss 0.1234 accuracy 0.9876", i, i)); err != nil {
			return fmt.Errorf("seed logs: %w", err)
		}
	}
	return s.dia.analyze(ctx, s, "step_logs")
}
