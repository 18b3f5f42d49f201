package engine

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// handOver returns the tasks a poll's claim leased, unless the poll's
// caller has gone meanwhile (its context ended while the claim waited for
// or made its commit, as when a group commit writes a claim for a poll
// whose HTTP client gave up): then nobody will work them, and they are
// released at once rather than left leased until the lease lapses.
func (e *Engine) handOver(ctx context.Context, tasks []Task) []Task {
	if e.cfg.AfterClaimFunc != nil {
		e.cfg.AfterClaimFunc(tasks)
	}
	if ctx.Err() == nil {
		return tasks
	}
	if err := e.Release(context.WithoutCancel(ctx), tasks); err != nil {
		e.log.Warn("release tasks of a poll that went away; their leases will lapse", attrErr(err))
	}
	return []Task{}
}

// Release gives back leased tasks whose claim never reached a worker (the
// poll's answer was lost): each task is ready again at once with its
// attempt unchanged, as before the claim (a claim writes only its task
// row, so the step is still scheduled). A task already reported, expired or released is left alone; a
// task whose run has moved past its attempt is dropped. The first error is
// returned after trying every task.
func (e *Engine) Release(ctx context.Context, tasks []Task) error {
	var first error
	for _, t := range tasks {
		if err := e.release(ctx, t, 0, false); err != nil {
			e.log.Warn("release task", attrTask(t.ID), attrRun(t.RunID), attrErr(err))
			if first == nil {
				first = err
			}
		}
	}
	return first
}

// Defer gives a leased task back to its queue, to be offered again after
// d with its attempt unchanged: a worker's "not done yet, offer it again
// later" (Conductor's IN_PROGRESS with callbackAfterSeconds). A wrong or
// consumed lease is ErrConflict.
func (e *Engine) Defer(ctx context.Context, taskID, lease string, d time.Duration) error {
	if d < 0 {
		d = 0
	}
	return e.release(ctx, Task{ID: taskID, Lease: lease}, d, true)
}

func (e *Engine) release(ctx context.Context, t Task, after time.Duration, strict bool) error {
	return e.inTx(ctx, func(tx Store, n *txNotes) error {
		rec, err := tx.TakeTask(ctx, t.ID, t.Lease)
		if errors.Is(err, ErrConflict) {
			if strict {
				return fmt.Errorf("task %s: no such lease (already reported, expired or offered again): %w", t.ID, ErrConflict)
			}
			return nil // reported, expired or released meanwhile
		}
		if err != nil {
			return err
		}
		if rec.CancelRequested {
			return nil // the run moved past this attempt: the task is not wanted
		}
		run, err := tx.LoadRun(ctx, rec.RunID, false)
		if err != nil {
			return err
		}
		// The task as it was before the claim: same id, attempt and place
		// in its queue, and nothing said about a run that has not started.
		rec.Lease, rec.WorkerID, rec.LeaseExpiresAt, rec.CancelRequested = "", "", nil, false
		rec.StatusDetail = ""
		rec.State = TaskReady
		if after > 0 {
			rec.VisibleAt = e.now().Add(after)
		}
		if run.Status == RunPaused {
			rec.State = TaskHeld
		}
		if err := tx.AddTasks(ctx, []TaskRecord{rec}); err != nil {
			return err
		}
		if rec.State == TaskReady && after > 0 {
			n.dueAt(rec.VisibleAt) // the timer loop wakes its queue then
			return nil
		}
		if rec.State == TaskReady && !n.queues[rec.Queue] {
			n.wakeFor(rec.Queue)
			return tx.Notify(ctx, rec.Queue)
		}
		return nil
	})
}

// ClaimsBefore lists the leased tasks of queues claimed at or before
// before, by id after afterID, at most limit: a dispatcher of the engine's
// own uses it to find claims a replica made and lost (killed between the
// claim and the hand-over), and gives them back with Release.
func (e *Engine) ClaimsBefore(ctx context.Context, queues []string, before time.Time, afterID string, limit int) ([]TaskRecord, error) {
	return e.store.ClaimsBefore(ctx, queues, before, afterID, limit)
}
