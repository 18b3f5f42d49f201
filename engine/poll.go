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
// offers. Polls of one class find the same tasks.
func pollKey(p PollParams) string {
	qs := append([]string(nil), p.Queues...)
	sort.Strings(qs)
	key := strings.Join(qs, "\x00")
	if len(p.Resources) > 0 {
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

// claim leases tasks and marks their steps running, in one transaction.
func (e *Engine) claim(ctx context.Context, p PollParams) ([]Task, error) {
	var out []Task
	err := e.inTxGroup(ctx, func(tx Store, n *txNotes) error {
		out = out[:0]
		lease := newID(16)
		recs, err := tx.ClaimTasks(ctx, ClaimParams{Queues: p.Queues, Max: p.Max, WorkerID: p.WorkerID, Resources: p.Resources, Lease: lease, Now: e.now()})
		if err != nil {
			return err
		}
		// One lock order across claimers: by run, then path.
		sort.SliceStable(recs, func(i, j int) bool {
			if recs[i].RunID != recs[j].RunID {
				return recs[i].RunID < recs[j].RunID
			}
			return recs[i].StepSeq < recs[j].StepSeq
		})
		for _, t := range recs {
			err := e.applyTx(ctx, tx, t.RunID, change{Kind: chClaimed, Actor: worker(p.WorkerID), Path: t.Path, Attempt: t.Attempt, WorkerID: p.WorkerID}, n)
			if errors.Is(err, ErrInvalidState) || errors.Is(err, errStale) || errors.Is(err, ErrNotFound) {
				e.log.Warn("claimed task no longer wanted; dropped", attrTask(t.ID), attrRun(t.RunID), attrErr(err))
				if err := tx.ConsumeTask(ctx, t.ID, t.Lease); err != nil && !errors.Is(err, ErrConflict) {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, t.Task)
		}
		for _, t := range recs {
			if t.LeaseExpiresAt != nil {
				n.dueAt(*t.LeaseExpiresAt) // lease expiries to watch
			} else {
				n.kick = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim tasks: %w", err)
	}
	return out, nil
}

func worker(id string) string {
	if id == "" {
		return "worker"
	}
	return "worker:" + id
}

// report consumes a task's lease and folds the report into its run. A
// stale or consumed lease is ErrConflict and changes nothing. A report
// about an attempt the run has moved past (cancelled, timed out) is
// accepted and recorded, but changes nothing else.
func (e *Engine) report(ctx context.Context, taskID, lease string, mk func(t TaskRecord) change) error {
	return e.inTxGroup(ctx, func(tx Store, n *txNotes) error {
		t, err := tx.TakeTask(ctx, taskID, lease)
		if err == nil && t.Concurrency > 0 && !n.queues[t.Queue] {
			// A capped block's slot is free: its queue may have claimable work.
			n.queues[t.Queue] = true
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
		err = e.applyTx(ctx, tx, t.RunID, ch, n)
		if errors.Is(err, errStale) || errors.Is(err, ErrInvalidState) {
			detail, _ := json.Marshal(map[string]any{"task_id": t.ID, "attempt": t.Attempt, "reason": err.Error()})
			return tx.AppendEvents(ctx, []Event{{RunID: t.RunID, Time: e.now(), Actor: ch.Actor, Kind: "task.ignored", Path: t.Path, Detail: detail}})
		}
		return err
	})
}

// Complete reports a task's output.
func (e *Engine) Complete(ctx context.Context, taskID, lease string, output json.RawMessage) error {
	if len(output) == 0 {
		output = json.RawMessage("null")
	}
	if !json.Valid(output) {
		return fmt.Errorf("output is not JSON: %w", ErrInvalidInput)
	}
	return e.report(ctx, taskID, lease, func(t TaskRecord) change {
		return change{Kind: chCompleted, Actor: worker(t.WorkerID), Path: t.Path, Attempt: t.Attempt, Output: output}
	})
}

// Fail reports a task's failure; it is retried per the block's policy when
// retryable.
func (e *Engine) Fail(ctx context.Context, taskID, lease string, te TaskError) error {
	return e.report(ctx, taskID, lease, func(t TaskRecord) change {
		return change{Kind: chFailed, Actor: worker(t.WorkerID), Path: t.Path, Attempt: t.Attempt,
			Err: &ErrorInfo{Message: te.Message, Type: te.Type, Retryable: te.Retryable}, Retryable: te.Retryable}
	})
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
