package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// workerTouchEvery is how often a polling worker's last-seen time is
// written: the overview's "workers seen" needs no finer grain, and an idle
// fleet then costs the database one write per worker per minute.
const workerTouchEvery = time.Minute

// Poll leases up to p.Max tasks of p.Queues that fit p.Resources. When
// none is ready it parks until work arrives (in process or, on PostgreSQL,
// from another replica) or p.Wait passes; it never polls the database on a
// fixed interval.
func (e *Engine) Poll(ctx context.Context, p PollParams) ([]Task, error) {
	if len(p.Queues) == 0 {
		return nil, fmt.Errorf("poll: name at least one queue: %w", ErrInvalidInput)
	}
	if p.Max <= 0 {
		p.Max = 1
	}
	if p.Max > 100 {
		p.Max = 100
	}
	if p.Wait > e.cfg.MaxPollWait {
		p.Wait = e.cfg.MaxPollWait
	}
	if p.Wait < 0 {
		p.Wait = 0
	}
	e.touchWorker(ctx, p)
	timer := time.NewTimer(p.Wait)
	defer timer.Stop()
	key := pollKey(p)
	for {
		ch, stop := e.hub.watchQueues(p.Queues)
		stamp := e.hub.stamp(p.Queues)
		// A poll that waits may trust a recent empty claim of its class
		// (nothing has woken its queues since); one that does not wait
		// always asks the database.
		if now := time.Now(); p.Wait == 0 || !e.hub.knownEmpty(key, stamp, now) {
			tasks, err := e.claim(ctx, p)
			if err != nil || len(tasks) > 0 {
				stop()
				if err != nil {
					return nil, err
				}
				return e.handOver(ctx, tasks), nil
			}
			e.hub.markEmpty(key, stamp, now)
		}
		select {
		case <-ch:
			stop()
		case <-timer.C:
			stop()
			return []Task{}, nil
		case <-ctx.Done():
			stop()
			return []Task{}, nil
		}
	}
}

// pollKey names the class of a poll: its queues and the resources it
// offers (with the worker, whose held tasks count against its offer).
// Polls of one class find the same tasks.
func pollKey(p PollParams) string {
	qs := append([]string(nil), p.Queues...)
	sort.Strings(qs)
	key := strings.Join(qs, "\x00")
	if len(p.Resources) > 0 {
		// What fits depends on what this worker already holds.
		key += "\x02" + p.WorkerID
		names := make([]string, 0, len(p.Resources))
		for k := range p.Resources {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			key += fmt.Sprintf("\x01%s=%g", k, p.Resources[k])
		}
	}
	return key
}

func (e *Engine) touchWorker(ctx context.Context, p PollParams) {
	if p.WorkerID == "" {
		return
	}
	now := e.now()
	e.mu.Lock()
	last, ok := e.touched[p.WorkerID]
	if ok && now.Sub(last) < workerTouchEvery && !now.Before(last) {
		e.mu.Unlock()
		return
	}
	e.touched[p.WorkerID] = now
	if len(e.touched) > 10000 {
		e.touched = map[string]time.Time{p.WorkerID: now}
	}
	e.mu.Unlock()
	if err := e.store.TouchWorker(ctx, WorkerSeen{ID: p.WorkerID, Queues: p.Queues, LastSeen: now}); err != nil {
		e.log.Warn("record worker", "worker_id", p.WorkerID, attrErr(err))
	}
}

// claim leases tasks. It writes only the task rows (lease, claim time,
// attempt deadline): the step's running phase is recorded with the report.
// A claimable task always belongs to a live scheduled step, since every
// decision that moves a step on deletes its ready task in the same
// transaction.
func (e *Engine) claim(ctx context.Context, p PollParams) ([]Task, error) {
	var out []Task
	err := e.inTxGroup(ctx, func(tx Store, n *txNotes) error {
		var err error
		out, err = e.claimTx(ctx, tx, p, n)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim tasks: %w", err)
	}
	return out, nil
}

// claimTx leases tasks in the caller's transaction.
func (e *Engine) claimTx(ctx context.Context, tx Store, p PollParams, n *txNotes) ([]Task, error) {
	recs, err := tx.ClaimTasks(ctx, ClaimParams{Queues: p.Queues, Max: p.Max, WorkerID: p.WorkerID, Resources: p.Resources, Lease: newID(16), Now: e.now()})
	if err != nil {
		return nil, err
	}
	out := make([]Task, 0, len(recs))
	for _, t := range recs {
		out = append(out, t.Task)
		n.leased(t.ID)
		if t.LeaseExpiresAt != nil {
			n.dueAt(*t.LeaseExpiresAt) // lease expiries to watch
		} else {
			n.kick = true
		}
		if t.DeadlineAt != nil {
			n.dueAt(*t.DeadlineAt)
		}
	}
	return out, nil
}

func worker(id string) string {
	if id == "" {
		return "worker"
	}
	return "worker:" + id
}

// ReportParams is a worker's report on a task: its output, or its error.
type ReportParams struct {
	TaskID string
	Lease  string
	Output json.RawMessage // the output of a completed task (nil: null)
	Error  *TaskError      // set: the task failed
	// Next, when set, leases the worker's next tasks in the report's own
	// transaction (its Wait is ignored: the answer comes at once), so a
	// busy worker costs one transaction per step instead of two.
	Next *PollParams
}

// Report folds a worker's report into its run and, when p.Next asks,
// leases the worker's next tasks in the same transaction.
func (e *Engine) Report(ctx context.Context, p ReportParams) ([]Task, error) {
	var mk func(t TaskRecord) change
	if p.Error != nil {
		te := *p.Error
		mk = func(t TaskRecord) change {
			return change{Kind: chFailed, Actor: worker(t.WorkerID), Path: t.Path, Attempt: t.Attempt,
				Err: &ErrorInfo{Message: te.Message, Type: te.Type, Retryable: te.Retryable}, Retryable: te.Retryable}
		}
	} else {
		output := p.Output
		if len(output) == 0 {
			output = json.RawMessage("null")
		}
		if !json.Valid(output) {
			return nil, fmt.Errorf("output is not JSON: %w", ErrInvalidInput)
		}
		mk = func(t TaskRecord) change {
			return change{Kind: chCompleted, Actor: worker(t.WorkerID), Path: t.Path, Attempt: t.Attempt, Output: output}
		}
	}
	var next *PollParams
	if p.Next != nil {
		q := *p.Next
		if len(q.Queues) == 0 {
			return nil, fmt.Errorf("next: name at least one queue: %w", ErrInvalidInput)
		}
		if q.Max <= 0 {
			q.Max = 1
		}
		if q.Max > 100 {
			q.Max = 100
		}
		next = &q
		e.touchWorker(ctx, q)
	}
	return e.report(ctx, p.TaskID, p.Lease, mk, next)
}

// report consumes a task's lease and folds the report into its run. A
// stale or consumed lease is ErrConflict and changes nothing. A report
// about an attempt the run has moved past (cancelled, timed out) is
// accepted and recorded, but changes nothing else. With next, the
// worker's next tasks are leased in the same transaction.
func (e *Engine) report(ctx context.Context, taskID, lease string, mk func(t TaskRecord) change, next *PollParams) ([]Task, error) {
	var out []Task
	err := e.inTxGroup(ctx, func(tx Store, n *txNotes) error {
		out = nil
		if err := e.reportTx(ctx, tx, taskID, lease, mk, n); err != nil {
			return err
		}
		if next == nil {
			return nil
		}
		var err error
		out, err = e.claimTx(ctx, tx, *next, n)
		return err
	})
	if err != nil {
		return nil, err
	}
	if next != nil && out == nil {
		out = []Task{}
	}
	return out, nil
}

func (e *Engine) reportTx(ctx context.Context, tx Store, taskID, lease string, mk func(t TaskRecord) change, n *txNotes) error {
	t, err := tx.TakeTask(ctx, taskID, lease)
	if err == nil && (t.Concurrency > 0 || len(t.Resources) > 0) && !n.queues[t.Queue] {
		// A capped block's slot, or the worker's resources, are free: its
		// queue may have claimable work.
		n.wakeFor(t.Queue)
		if err := tx.Notify(ctx, t.Queue); err != nil {
			return err
		}
	}
	if errors.Is(err, ErrConflict) {
		// Say which: the rare path reads the task again.
		if _, gerr := tx.GetTask(ctx, taskID); errors.Is(gerr, ErrNotFound) {
			return fmt.Errorf("task %s: no such lease (already reported or expired): %w", taskID, ErrConflict)
		}
		return fmt.Errorf("task %s: stale lease: %w", taskID, ErrConflict)
	}
	if err != nil {
		return err
	}
	ch := mk(t)
	ch.Claimed = claimOf(t)
	if ch.Kind == chCompleted && t.Artifacts > 0 {
		as, err := tx.TaskArtifacts(ctx, t.ID)
		if err != nil {
			return err
		}
		ch.Artifacts = make(map[string]ArtifactRef, len(as))
		for _, a := range as {
			ch.Artifacts[a.Name] = a.Ref()
		}
	}
	err = e.applyTx(ctx, tx, t.RunID, ch, n)
	if errors.Is(err, errStale) || errors.Is(err, ErrInvalidState) {
		detail, _ := json.Marshal(map[string]any{"task_id": t.ID, "attempt": t.Attempt, "reason": err.Error()})
		return tx.AppendEvents(ctx, []Event{{RunID: t.RunID, Time: e.now(), Actor: ch.Actor, Kind: "task.ignored", Path: t.Path, Detail: detail}})
	}
	return err
}

// Complete reports a task's output.
func (e *Engine) Complete(ctx context.Context, taskID, lease string, output json.RawMessage) error {
	_, err := e.Report(ctx, ReportParams{TaskID: taskID, Lease: lease, Output: output})
	return err
}

// Fail reports a task's failure; it is retried per the block's policy when
// retryable.
func (e *Engine) Fail(ctx context.Context, taskID, lease string, te TaskError) error {
	_, err := e.Report(ctx, ReportParams{TaskID: taskID, Lease: lease, Error: &te})
	return err
}

// Heartbeat extends a task's lease by its block's heartbeat timeout and
// says whether the run wants the task stopped.
func (e *Engine) Heartbeat(ctx context.Context, taskID, lease string) (HeartbeatResult, error) {
	t, err := e.store.GetTask(ctx, taskID)
	if errors.Is(err, ErrNotFound) {
		return HeartbeatResult{}, fmt.Errorf("task %s: no such lease: %w", taskID, ErrConflict)
	}
	if err != nil {
		return HeartbeatResult{}, err
	}
	if t.State != TaskLeased || t.Lease != lease {
		return HeartbeatResult{}, fmt.Errorf("task %s: stale lease: %w", taskID, ErrConflict)
	}
	d := t.LeaseDuration
	if d <= 0 {
		d = DefaultLease
	}
	t, err = e.store.ExtendLease(ctx, taskID, lease, e.now().Add(d))
	if err != nil {
		return HeartbeatResult{}, err
	}
	return HeartbeatResult{CancelRequested: t.CancelRequested, LeaseExpiresAt: *t.LeaseExpiresAt}, nil
}
