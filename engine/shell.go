package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
)

// txNotes collects what to announce once a transaction commits.
type txNotes struct {
	queues map[string]bool
	runs   map[string]bool
	kick   bool
	all    bool      // wake every poller
	cache  []cacheOp // run states to remember, in order
}

func newNotes() *txNotes { return &txNotes{queues: map[string]bool{}, runs: map[string]bool{}} }

// announce wakes in-process waiters after a commit.
func (e *Engine) announce(n *txNotes) {
	if n.all {
		e.hub.wakeQueues(nil)
	} else if len(n.queues) > 0 {
		qs := make([]string, 0, len(n.queues))
		for q := range n.queues {
			qs = append(qs, q)
		}
		e.hub.wakeQueues(qs)
	}
	if len(n.runs) > 0 {
		ids := make([]string, 0, len(n.runs))
		for id := range n.runs {
			ids = append(ids, id)
		}
		e.hub.wakeRuns(ids)
	}
	if n.kick {
		e.kickTimers()
	}
	e.cache.apply(n.cache)
}

// ErrTxConflict marks a transaction that lost a race with another writer
// (a PostgreSQL deadlock or serialization failure); it may be run again.
var ErrTxConflict = errors.New("transaction conflict")

// errRunMoved: the run changed between load and save (another replica).
var errRunMoved = fmt.Errorf("run changed concurrently: %w", ErrTxConflict)

// inTx runs fn in one transaction and announces its notes after commit.
// A transaction that lost a race is run again from the start.
func (e *Engine) inTx(ctx context.Context, fn func(tx Store, n *txNotes) error) error {
	var err error
	for try := 0; try < 20; try++ {
		n := newNotes()
		err = e.store.InTx(ctx, func(tx Store) error { return fn(tx, n) })
		if err == nil {
			e.announce(n)
			return nil
		}
		if !errors.Is(err, ErrTxConflict) || ctx.Err() != nil {
			return err
		}
		e.log.Debug("transaction conflict; running it again", attrErr(err))
	}
	return err
}

type job struct {
	runID string
	ch    change
}

// applyTx is the shell: in the caller's transaction it loads the run and
// its steps, lets advance decide, and writes the new state (guarded by the
// run's rev) with the tasks, timers and history it implies. Follow-ups
// (child runs, parents of finished children) are applied in the same
// transaction. The first change's error is returned; a follow-up's is
// logged.
func (e *Engine) applyTx(ctx context.Context, tx Store, runID string, ch change, n *txNotes) error {
	queue := []job{{runID, ch}}
	for i := 0; len(queue) > 0; i++ {
		j := queue[0]
		queue = queue[1:]
		more, err := e.applyOne(ctx, tx, j, n)
		if err != nil {
			if i == 0 {
				return err
			}
			if !errors.Is(err, errStale) && !errors.Is(err, ErrInvalidState) {
				return err
			}
			e.log.Debug("follow-up change ignored", "run_id", j.runID, "change", string(j.ch.Kind), "err", err)
			continue
		}
		queue = append(queue, more...)
	}
	return nil
}

func (e *Engine) applyOne(ctx context.Context, tx Store, j job, n *txNotes) ([]job, error) {
	// A claim touches one step and unblocks nothing: load just that step
	// (a map with thousands of iterations claims cheaply).
	claim := j.ch.Kind == chClaimed
	run, err := tx.LoadRun(ctx, j.runID, false)
	if err != nil {
		return nil, err
	}
	if !claim {
		// The steps as this engine last committed them, when the run has
		// not moved since (rev); else from the database.
		if steps, ok := e.cache.get(run.ID, run.Rev); ok {
			run.Steps = steps
		} else if run.Steps, err = tx.LoadSteps(ctx, run.ID); err != nil {
			return nil, err
		}
	} else {
		st, err := tx.LoadStep(ctx, j.runID, j.ch.Path)
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("run %s has no step %q: %w", run.ID, j.ch.Path, errStale)
		}
		if err != nil {
			return nil, err
		}
		run.Steps = []Step{st}
	}
	bp, err := tx.GetFlow(ctx, run.Flow, run.Version)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", run.ID, err)
	}
	now := e.now()
	next, fx, err := advance(bp, run, j.ch, now, e.v)
	if err != nil {
		return nil, err
	}
	if err := tx.DeleteSteps(ctx, run.ID, fx.Deleted); err != nil {
		return nil, err
	}
	if err := tx.UpsertSteps(ctx, run.ID, fx.Changed); err != nil {
		return nil, err
	}
	if err := tx.SaveRun(ctx, next, run.Rev); err != nil {
		if errors.Is(err, ErrConflict) {
			return nil, fmt.Errorf("save run %s: %w", run.ID, errRunMoved)
		}
		return nil, fmt.Errorf("save run %s: %w", run.ID, err)
	}
	var abandon []string
	if !fx.AbandonAll {
		abandon = append([]string{}, fx.Abandon...)
	}
	if fx.AbandonAll || len(abandon) > 0 {
		if err := tx.AbandonTasks(ctx, run.ID, abandon); err != nil {
			return nil, err
		}
	}
	var drop []string
	if !fx.DropAllTimers {
		drop = append([]string{}, fx.DropTimers...)
	}
	if fx.DropAllTimers || len(drop) > 0 {
		if err := tx.DeleteTimers(ctx, run.ID, drop); err != nil {
			return nil, err
		}
	}
	if fx.Hold || fx.Release {
		if err := tx.HoldTasks(ctx, run.ID, fx.Hold, now); err != nil {
			return nil, err
		}
	}
	if fx.Release {
		n.all = true
		if err := tx.Notify(ctx, ""); err != nil {
			return nil, err
		}
	}
	if err := tx.AddTasks(ctx, fx.Tasks); err != nil {
		return nil, err
	}
	if err := tx.AddTimers(ctx, fx.Timers); err != nil {
		return nil, err
	}
	if err := tx.AppendEvents(ctx, fx.Events); err != nil {
		return nil, err
	}
	for _, t := range fx.Tasks {
		if t.State == TaskHeld {
			continue
		}
		if t.VisibleAt.After(now) {
			n.kick = true
			continue
		}
		if !n.queues[t.Queue] {
			n.queues[t.Queue] = true
			if err := tx.Notify(ctx, t.Queue); err != nil {
				return nil, err
			}
		}
	}
	if len(fx.Timers) > 0 {
		n.kick = true
	}
	if next.Status != run.Status || len(fx.Changed) > 0 {
		n.runs[run.ID] = true
		if next.Status != run.Status {
			if err := tx.Notify(ctx, "run:"+run.ID); err != nil {
				return nil, err
			}
		}
	}
	e.logTransition(run, next, fx)
	switch {
	case next.Status.Finished():
		n.cache = append(n.cache, cacheOp{runID: run.ID})
	case claim:
		for _, st := range fx.Changed {
			n.cache = append(n.cache, cacheOp{runID: run.ID, fromRev: run.Rev, rev: run.Rev + 1, patch: &st})
		}
	default:
		n.cache = append(n.cache, cacheOp{runID: run.ID, rev: run.Rev + 1, steps: next.Steps})
	}

	var more []job
	for _, c := range fx.Children {
		failed, err := e.createChild(ctx, tx, next, c, now)
		if err != nil {
			return nil, err
		}
		if failed != nil {
			more = append(more, job{run.ID, change{Kind: chChildDone, Path: c.Path, Child: failed}})
			continue
		}
		more = append(more, job{c.ID, change{Kind: chStart, Actor: "engine"}})
	}
	for _, id := range fx.CancelChildren {
		more = append(more, job{id, change{Kind: chCancel, Actor: "engine"}})
	}
	if next.Status.Finished() && !run.Status.Finished() && next.ParentRunID != "" {
		c := next
		c.Steps = nil
		more = append(more, job{next.ParentRunID, change{Kind: chChildDone, Path: next.ParentPath, Child: &c}})
	}
	return more, nil
}

// createChild inserts a subflow's child run. When the flow cannot be
// started it returns a failed stand-in run for the parent to fold in.
func (e *Engine) createChild(ctx context.Context, tx Store, parent Run, c childStart, now time.Time) (*Run, error) {
	bp, err := tx.GetFlow(ctx, c.Flow, c.Version)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return &Run{ID: c.ID, Status: RunFailed, Error: &ErrorInfo{Message: fmt.Sprintf("subflow %q cannot start: %s", c.Flow, err)}}, nil
		}
		return nil, err
	}
	if err := validateFlowInput(bp, c.Input); err != nil {
		return &Run{ID: c.ID, Status: RunFailed, Error: &ErrorInfo{Message: err.Error()}}, nil
	}
	child := Run{ID: c.ID, Flow: bp.Name, Version: bp.Version, Status: RunQueued, Input: c.Input, ParentRunID: parent.ID,
		ParentPath: c.Path, Trigger: "subflow", CreatedAt: now, Meta: &RunMeta{}, Rev: 1}
	if err := tx.CreateRun(ctx, child); err != nil {
		return nil, fmt.Errorf("create child run of %s: %w", parent.ID, err)
	}
	detail, _ := json.Marshal(map[string]any{"parent_run_id": parent.ID, "parent_path": c.Path})
	return nil, tx.AppendEvents(ctx, []Event{{RunID: c.ID, Time: now, Actor: "engine", Kind: "run.queued", To: string(RunQueued), Detail: detail}})
}

func (e *Engine) logTransition(from, to Run, fx effects) {
	if to.Status != from.Status {
		lvl := slogInfo
		e.log.Log(context.Background(), lvl, "run "+string(to.Status), attrRun(to.ID), attrFlow(to.Flow), "from", string(from.Status))
	}
	if !e.log.Enabled(context.Background(), slogDebug) {
		return
	}
	sort.Slice(fx.Changed, func(i, j int) bool { return fx.Changed[i].Seq < fx.Changed[j].Seq })
	for _, st := range fx.Changed {
		e.log.Debug("step "+string(st.Status), attrRun(to.ID), attrStep(st.Path), attrAttempt(st.Attempt))
	}
}
