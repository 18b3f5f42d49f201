package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm"

	"github.com/weftlabs/weft/engine"
)

type taskRow struct {
	ID              string  `gorm:"column:id"`
	RunID           string  `gorm:"column:run_id"`
	Path            string  `gorm:"column:path"`
	Ref             string  `gorm:"column:ref"`
	Attempt         int     `gorm:"column:attempt"`
	StepSeq         int     `gorm:"column:step_seq"`
	Queue           string  `gorm:"column:queue"`
	Block           string  `gorm:"column:block"`
	Version         int     `gorm:"column:version"`
	Input           *string `gorm:"column:input"`
	State           string  `gorm:"column:state"`
	VisibleAt       int64   `gorm:"column:visible_at"`
	Lease           *string `gorm:"column:lease"`
	LeaseUS         int64   `gorm:"column:lease_us"`
	LeaseExpiresAt  *int64  `gorm:"column:lease_expires_at"`
	WorkerID        *string `gorm:"column:worker_id"`
	Resources       *string `gorm:"column:resources"`
	Concurrency     int     `gorm:"column:concurrency"`
	CancelRequested int     `gorm:"column:cancel_requested"`
	CreatedAt       int64   `gorm:"column:created_at"`
	ClaimedAt       *int64  `gorm:"column:claimed_at"`
	TimeoutUS       int64   `gorm:"column:timeout_us"`
	DeadlineAt      *int64  `gorm:"column:deadline_at"`
	Artifacts       int     `gorm:"column:artifacts"`
	StatusDetail    *string `gorm:"column:status_detail"`
}

func (w taskRow) record() engine.TaskRecord {
	t := engine.TaskRecord{
		Task: engine.Task{ID: w.ID, Lease: ptrStr(w.Lease), RunID: w.RunID, Ref: w.Ref, Path: w.Path, Block: w.Block,
			Version: w.Version, Attempt: w.Attempt, Input: ptrRaw(w.Input)},
		StepSeq: w.StepSeq, Queue: w.Queue, State: w.State, VisibleAt: fromUS(w.VisibleAt), LeaseDuration: time.Duration(w.LeaseUS) * time.Microsecond,
		LeaseExpiresAt: fromUSPtr(w.LeaseExpiresAt), WorkerID: ptrStr(w.WorkerID), Concurrency: w.Concurrency,
		CancelRequested: w.CancelRequested != 0, CreatedAt: fromUS(w.CreatedAt),
		Timeout: time.Duration(w.TimeoutUS) * time.Microsecond, ClaimedAt: fromUSPtr(w.ClaimedAt), DeadlineAt: fromUSPtr(w.DeadlineAt),
		Artifacts: w.Artifacts, StatusDetail: ptrStr(w.StatusDetail),
	}
	if r := decode[map[string]float64](w.Resources); r != nil {
		t.Resources = *r
	}
	if t.LeaseExpiresAt != nil {
		t.Deadline = *t.LeaseExpiresAt
	}
	return t
}

// AddTasks inserts ready tasks, several rows a statement.
func (s *Store) AddTasks(ctx context.Context, tasks []engine.TaskRecord) error {
	for len(tasks) > 0 {
		chunk := tasks
		if len(chunk) > 50 {
			chunk = chunk[:50]
		}
		tasks = tasks[len(chunk):]
		args := make([]any, 0, 16*len(chunk))
		for _, t := range chunk {
			var res *string
			if len(t.Resources) > 0 {
				res = jsonPtr(t.Resources)
			}
			state := t.State
			if state == "" {
				state = engine.TaskReady
			}
			args = append(args, t.ID, t.RunID, t.Path, t.Ref, t.Attempt, t.StepSeq, t.Queue, t.Block, t.Version, rawPtr(t.Input), state,
				us(t.VisibleAt), t.LeaseDuration.Microseconds(), res, t.Concurrency, us(t.CreatedAt), t.Timeout.Microseconds())
		}
		if err := s.exec(ctx, `INSERT INTO tasks (id, run_id, path, ref, attempt, step_seq, queue, block, version, input, state, visible_at,
lease_us, resources, concurrency, created_at, timeout_us) VALUES `+placeholders(len(chunk), 17), args...); err != nil {
			return fmt.Errorf("add task %s: %w", chunk[0].ID, err)
		}
	}
	return nil
}

// fits reports whether the task's resource needs are within offer.
func fits(need, offer map[string]float64) bool {
	for k, v := range need {
		if v <= 0 {
			continue
		}
		if offer[k] < v {
			return false
		}
	}
	return true
}

// take subtracts need from free.
func take(free, need map[string]float64) {
	for k, v := range need {
		if v > 0 {
			free[k] -= v
		}
	}
}

// freeResources is what the polling worker offers less what the tasks it
// holds leased still take, so that a worker is never handed more than it
// offers, however many polls or reports ask for it at once. Claims of one
// worker are serialised across replicas while they count.
func (s *Store) freeResources(ctx context.Context, p engine.ClaimParams) (map[string]float64, error) {
	free := make(map[string]float64, len(p.Resources))
	for k, v := range p.Resources {
		free[k] = v
	}
	if len(free) == 0 || p.WorkerID == "" {
		return free, nil
	}
	if err := s.dia.serialise(ctx, s, "weft_worker:"+p.WorkerID); err != nil {
		return nil, err
	}
	var held []*string
	if err := s.q(ctx).Raw("SELECT resources FROM tasks WHERE state = 'leased' AND worker_id = ? AND resources IS NOT NULL", p.WorkerID).Scan(&held).Error; err != nil {
		return nil, err
	}
	for _, h := range held {
		if need := decode[map[string]float64](h); need != nil {
			take(free, *need)
		}
	}
	return free, nil
}

// ClaimTasks leases visible tasks: candidates are read (row-locked with
// SKIP LOCKED on PostgreSQL), filtered by resources and concurrency caps,
// then leased in one guarded UPDATE ... RETURNING.
func (s *Store) ClaimTasks(ctx context.Context, p engine.ClaimParams) ([]engine.TaskRecord, error) {
	if p.Max <= 0 || len(p.Queues) == 0 {
		return nil, nil
	}
	var out []engine.TaskRecord
	err := s.InTx(ctx, func(txs engine.Store) error {
		tx := txs.(*Store)
		sql := `SELECT id, queue, block, concurrency, resources FROM tasks WHERE state = 'ready' AND queue IN (` + qmarks(len(p.Queues)) +
			`) AND visible_at <= ? ORDER BY visible_at, step_seq, id LIMIT ?`
		sql += tx.dia.skipLocked()
		args := make([]any, 0, len(p.Queues)+2)
		for _, q := range p.Queues {
			args = append(args, q)
		}
		args = append(args, us(p.Now), p.Max*4+16)
		rows, err := tx.query(ctx, sql, args...)
		if err != nil {
			return fmt.Errorf("claim tasks: %w", err)
		}
		var cands []taskRow
		for rows.Next() {
			var c taskRow
			if err := rows.Scan(&c.ID, &c.Queue, &c.Block, &c.Concurrency, &c.Resources); err != nil {
				rows.Close()
				return fmt.Errorf("claim tasks: %w", err)
			}
			cands = append(cands, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("claim tasks: %w", err)
		}
		inFlight := map[string]int{}
		var capped []string
		for _, c := range cands {
			if c.Concurrency > 0 {
				if _, seen := inFlight[c.Block]; !seen {
					inFlight[c.Block] = -1
					capped = append(capped, c.Block)
				}
			}
		}
		sort.Strings(capped)
		for _, b := range capped {
			// Serialise cap checks of one block across replicas.
			if err := tx.dia.serialise(ctx, tx, "weft_block:"+b); err != nil {
				return fmt.Errorf("claim tasks: %w", err)
			}
			var n int64
			if err := tx.q(ctx).Raw("SELECT count(*) FROM tasks WHERE block = ? AND state = 'leased'", b).Scan(&n).Error; err != nil {
				return fmt.Errorf("claim tasks: %w", err)
			}
			inFlight[b] = int(n)
		}
		free, err := tx.freeResources(ctx, p)
		if err != nil {
			return fmt.Errorf("claim tasks: %w", err)
		}
		var ids []string
		for _, c := range cands {
			if len(ids) == p.Max {
				break
			}
			need := decode[map[string]float64](c.Resources)
			if need != nil && !fits(*need, free) {
				continue
			}
			if c.Concurrency > 0 {
				if inFlight[c.Block] >= c.Concurrency {
					continue
				}
				inFlight[c.Block]++
			}
			if need != nil {
				take(free, *need)
			}
			ids = append(ids, c.ID)
		}
		if len(cands) > len(ids) {
			// Candidates this claim locked but did not lease are claimable
			// again at commit: let the pollers of other replicas that found
			// them locked look (a no-op with one writer).
			notified := map[string]bool{}
			for _, c := range cands {
				if !notified[c.Queue] {
					notified[c.Queue] = true
					if err := tx.Notify(ctx, c.Queue); err != nil {
						return err
					}
				}
			}
		}
		if len(ids) == 0 {
			return nil
		}
		uargs := []any{p.Lease, p.WorkerID, us(p.Now), us(p.Now), us(p.Now)}
		for _, id := range ids {
			uargs = append(uargs, id)
		}
		leased, err := tx.queryTasks(ctx, `UPDATE tasks SET state = 'leased', lease = ?, worker_id = ?, lease_expires_at = ? + lease_us, cancel_requested = 0,
claimed_at = ?, deadline_at = CASE WHEN timeout_us > 0 THEN ? + timeout_us END
WHERE id IN (`+qmarks(len(ids))+`) AND state = 'ready' RETURNING `+taskCols, uargs...)
		if err != nil {
			return fmt.Errorf("claim tasks: %w", err)
		}
		for _, w := range leased {
			out = append(out, w.record())
		}
		order := make(map[string]int, len(ids))
		for i, id := range ids {
			order[id] = i
		}
		sort.Slice(out, func(i, j int) bool { return order[out[i].ID] < order[out[j].ID] })
		return nil
	})
	return out, err
}

// GetTask reads one task.
func (s *Store) GetTask(ctx context.Context, id string) (engine.TaskRecord, error) {
	var w taskRow
	if err := s.q(ctx).Table("tasks").Where("id = ?", id).Take(&w).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return engine.TaskRecord{}, fmt.Errorf("task %s: %w", id, engine.ErrNotFound)
		}
		return engine.TaskRecord{}, fmt.Errorf("get task %s: %w", id, err)
	}
	return w.record(), nil
}

// LeasedTasks lists the run's claimed tasks.
func (s *Store) LeasedTasks(ctx context.Context, runID string) ([]engine.TaskRecord, error) {
	var rows []taskRow
	if err := s.q(ctx).Raw("SELECT * FROM tasks WHERE run_id = ? AND state = 'leased' ORDER BY path", runID).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("leased tasks of %s: %w", runID, err)
	}
	out := make([]engine.TaskRecord, len(rows))
	for i, w := range rows {
		out[i] = w.record()
	}
	return out, nil
}

// ClaimsBefore lists the leased tasks of queues claimed at or before
// before, by id after afterID, at most limit.
func (s *Store) ClaimsBefore(ctx context.Context, queues []string, before time.Time, afterID string, limit int) ([]engine.TaskRecord, error) {
	if len(queues) == 0 {
		return nil, nil
	}
	args := []any{us(before), afterID}
	for _, q := range queues {
		args = append(args, q)
	}
	args = append(args, limit)
	var rows []taskRow
	if err := s.q(ctx).Raw("SELECT * FROM tasks WHERE state = 'leased' AND claimed_at <= ? AND id > ? AND queue IN ("+qmarks(len(queues))+
		") ORDER BY id LIMIT ?", args...).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("claims before %s: %w", before.Format(time.RFC3339), err)
	}
	out := make([]engine.TaskRecord, len(rows))
	for i, w := range rows {
		out[i] = w.record()
	}
	return out, nil
}

// ConsumeTask deletes a leased task when lease is current.
func (s *Store) ConsumeTask(ctx context.Context, id, lease string) error {
	res := s.q(ctx).Exec("DELETE FROM tasks WHERE id = ? AND lease = ? AND state = 'leased'", id, lease)
	if res.Error != nil {
		return fmt.Errorf("consume task %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return engine.ErrConflict
	}
	return nil
}

// TakeTask deletes a leased task whose lease is current and returns it, in
// one statement; engine.ErrConflict when the lease is stale or gone.
func (s *Store) TakeTask(ctx context.Context, id, lease string) (engine.TaskRecord, error) {
	rows, err := s.queryTasks(ctx, "DELETE FROM tasks WHERE id = ? AND lease = ? AND state = 'leased' RETURNING "+taskCols, id, lease)
	if err != nil {
		return engine.TaskRecord{}, fmt.Errorf("take task %s: %w", id, err)
	}
	if len(rows) == 0 {
		return engine.TaskRecord{}, engine.ErrConflict
	}
	return rows[0].record(), nil
}

// ExtendLease moves the lease expiry of a leased task.
func (s *Store) ExtendLease(ctx context.Context, id, lease string, until time.Time) (engine.TaskRecord, error) {
	var rows []taskRow
	if err := s.q(ctx).Raw("UPDATE tasks SET lease_expires_at = ? WHERE id = ? AND lease = ? AND state = 'leased' RETURNING *", us(until), id, lease).Scan(&rows).Error; err != nil {
		return engine.TaskRecord{}, fmt.Errorf("extend lease of %s: %w", id, err)
	}
	if len(rows) == 0 {
		return engine.TaskRecord{}, engine.ErrConflict
	}
	return rows[0].record(), nil
}

// ClearDeadline removes a fired attempt deadline from a leased task.
func (s *Store) ClearDeadline(ctx context.Context, id, lease string) error {
	res := s.q(ctx).Exec("UPDATE tasks SET deadline_at = NULL WHERE id = ? AND lease = ? AND state = 'leased' AND deadline_at IS NOT NULL", id, lease)
	if res.Error != nil {
		return fmt.Errorf("clear deadline of %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return engine.ErrConflict
	}
	return nil
}

// SetTaskDetail sets (or, with "", clears) a leased task's status detail
// when lease is its current lease.
func (s *Store) SetTaskDetail(ctx context.Context, id, lease, detail string) error {
	var v *string
	if detail != "" {
		v = &detail
	}
	res := s.q(ctx).Exec("UPDATE tasks SET status_detail = ? WHERE id = ? AND lease = ? AND state = 'leased'", v, id, lease)
	if res.Error != nil {
		return fmt.Errorf("set detail of task %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return engine.ErrConflict
	}
	return nil
}

// AbandonTasks drops the run's ready tasks and asks leased ones to stop.
func (s *Store) AbandonTasks(ctx context.Context, runID string, paths []string) error {
	where, args := "run_id = ?", []any{runID}
	if paths != nil {
		if len(paths) == 0 {
			return nil
		}
		where, args = inPaths(where, args, paths)
	}
	if err := s.exec(ctx, "DELETE FROM tasks WHERE state IN ('ready', 'held') AND "+where, args...); err != nil {
		return fmt.Errorf("abandon tasks of %s: %w", runID, err)
	}
	if err := s.exec(ctx, "UPDATE tasks SET cancel_requested = 1 WHERE state = 'leased' AND "+where, args...); err != nil {
		return fmt.Errorf("abandon tasks of %s: %w", runID, err)
	}
	return nil
}

// HoldTasks parks or releases the run's unclaimed tasks.
func (s *Store) HoldTasks(ctx context.Context, runID string, hold bool, now time.Time) error {
	var err error
	if hold {
		err = s.exec(ctx, "UPDATE tasks SET state = 'held' WHERE run_id = ? AND state = 'ready'", runID)
	} else {
		err = s.exec(ctx, "UPDATE tasks SET state = 'ready', visible_at = CASE WHEN visible_at < ? THEN ? ELSE visible_at END WHERE run_id = ? AND state = 'held'", us(now), us(now), runID)
	}
	if err != nil {
		return fmt.Errorf("hold tasks of %s: %w", runID, err)
	}
	return nil
}

// ExpiredLeases lists leased tasks whose lease has run out.
func (s *Store) ExpiredLeases(ctx context.Context, now time.Time, limit int) ([]engine.TaskRecord, error) {
	var rows []taskRow
	if err := s.q(ctx).Raw(`SELECT * FROM tasks WHERE id IN (
SELECT id FROM tasks WHERE state = 'leased' AND lease_expires_at <= ?
UNION SELECT id FROM tasks WHERE state = 'leased' AND deadline_at <= ?)
ORDER BY lease_expires_at, id LIMIT ?`, us(now), us(now), limit).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("expired leases: %w", err)
	}
	out := make([]engine.TaskRecord, len(rows))
	for i, w := range rows {
		out[i] = w.record()
	}
	return out, nil
}

// NextWake is the earliest future moment something becomes due, in one
// statement (the timer loop asks after every wake-up).
func (s *Store) NextWake(ctx context.Context, now time.Time) (time.Time, bool, error) {
	var a, b, c, d *int64
	row := s.q(ctx).Raw(`SELECT (SELECT min(lease_expires_at) FROM tasks WHERE state = 'leased'),
(SELECT min(visible_at) FROM tasks WHERE state = 'ready' AND visible_at > ?),
(SELECT min(due_at) FROM timers),
(SELECT min(deadline_at) FROM tasks WHERE state = 'leased' AND deadline_at IS NOT NULL)`, us(now)).Row()
	if err := row.Scan(&a, &b, &c, &d); err != nil {
		return time.Time{}, false, fmt.Errorf("next wake: %w", err)
	}
	var best *int64
	for _, v := range []*int64{a, b, c, d} {
		if v != nil && (best == nil || *v < *best) {
			best = v
		}
	}
	if best == nil {
		return time.Time{}, false, nil
	}
	return fromUS(*best), true, nil
}

type timerRow struct {
	ID      int64  `gorm:"column:id"`
	RunID   string `gorm:"column:run_id"`
	Path    string `gorm:"column:path"`
	Kind    string `gorm:"column:kind"`
	Attempt int    `gorm:"column:attempt"`
	DueAt   int64  `gorm:"column:due_at"`
}

// AddTimers inserts timers.
func (s *Store) AddTimers(ctx context.Context, timers []engine.Timer) error {
	if len(timers) == 0 {
		return nil
	}
	args := make([]any, 0, 5*len(timers))
	for _, t := range timers {
		args = append(args, t.RunID, t.Path, t.Kind, t.Attempt, us(t.DueAt))
	}
	if err := s.exec(ctx, "INSERT INTO timers (run_id, path, kind, attempt, due_at) VALUES "+placeholders(len(timers), 5), args...); err != nil {
		return fmt.Errorf("add timer: %w", err)
	}
	return nil
}

// DeleteTimers removes the run's timers of paths (all when paths is nil).
func (s *Store) DeleteTimers(ctx context.Context, runID string, paths []string) error {
	where, args := "run_id = ?", []any{runID}
	if paths != nil {
		if len(paths) == 0 {
			return nil
		}
		where, args = inPaths(where, args, paths)
	}
	if err := s.exec(ctx, "DELETE FROM timers WHERE "+where, args...); err != nil {
		return fmt.Errorf("delete timers of %s: %w", runID, err)
	}
	return nil
}

// DueTimers removes and returns timers that are due.
func (s *Store) DueTimers(ctx context.Context, now time.Time, limit int) ([]engine.Timer, error) {
	sub := "SELECT id FROM timers WHERE due_at <= ? ORDER BY due_at, id LIMIT ?"
	sub += s.dia.skipLocked()
	var rows []timerRow
	if err := s.q(ctx).Raw("DELETE FROM timers WHERE id IN ("+sub+") RETURNING *", us(now), limit).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("due timers: %w", err)
	}
	sort.Slice(rows, func(i, j int) bool {
		return rows[i].DueAt < rows[j].DueAt || rows[i].DueAt == rows[j].DueAt && rows[i].ID < rows[j].ID
	})
	out := make([]engine.Timer, len(rows))
	for i, w := range rows {
		out[i] = engine.Timer{ID: w.ID, RunID: w.RunID, Path: w.Path, Kind: w.Kind, Attempt: w.Attempt, DueAt: fromUS(w.DueAt)}
	}
	return out, nil
}
