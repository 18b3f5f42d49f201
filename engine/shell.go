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

// txNotes collects what to announce once a transaction commits.
type txNotes struct {
	queues map[string]bool
	runs   map[string]bool
	kick   bool      // something new is due at an unknown time
	due    time.Time // the earliest new due time (zero: none)
	all    bool      // wake every poller
	cache  []cacheOp // run states to remember, in order
	// fresh holds the ready tasks this transaction added (id → queue)
	// and has not leased itself; spare holds the queues only such tasks
	// flagged. A queue whose fresh tasks were all leased in the same
	// transaction (a report leasing the worker's next task) has nothing
	// new for other pollers, so they are not woken to claim nothing.
	fresh map[string]string
	spare map[string]bool
}

// wakeFor flags q for waking for a reason other than a fresh task.
func (n *txNotes) wakeFor(q string) {
	n.queues[q] = true
	delete(n.spare, q)
}

// leased notes that the transaction leased task id.
func (n *txNotes) leased(id string) { delete(n.fresh, id) }

// wakeQueues lists the queues to wake: every flagged queue but those
// flagged only by fresh tasks the transaction leased itself.
func (n *txNotes) wakeQueues() []string {
	qs := make([]string, 0, len(n.queues))
	pending := map[string]bool{}
	for _, q := range n.fresh {
		pending[q] = true
	}
	for q := range n.queues {
		if n.spare[q] && !pending[q] {
			continue
		}
		qs = append(qs, q)
	}
	return qs
}

// dueAt records that something becomes due at t.
func (n *txNotes) dueAt(t time.Time) {
	if n.due.IsZero() || t.Before(n.due) {
		n.due = t
	}
}

func newNotes() *txNotes { return &txNotes{queues: map[string]bool{}, runs: map[string]bool{}} }

// announce wakes in-process waiters after a commit.
func (e *Engine) announce(n *txNotes) {
	if n.all {
		e.hub.wakeQueues(nil)
	} else if len(n.queues) > 0 {
		if qs := n.wakeQueues(); len(qs) > 0 {
			e.hub.wakeQueues(qs)
		}
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
	} else if !n.due.IsZero() {
		e.noteDue(n.due)
	}
	e.cache.apply(n.cache)
}

// ErrTxConflict marks a transaction that lost a race with another writer
// (a PostgreSQL deadlock or serialization failure); it may be run again.
var ErrTxConflict = errors.New("transaction conflict")

// errRunMoved: the run changed between load and save (another replica).
var errRunMoved = fmt.Errorf("run changed concurrently: %w", ErrTxConflict)

// txBegun resets what the open transaction wrote (called first thing in
// every transaction the engine runs).
func (e *Engine) txBegun() {
	if e.leaders != 1 {
		return
	}
	e.writtenMu.Lock()
	clear(e.written)
	e.writtenMu.Unlock()
}

func (e *Engine) markWrote(runID string) {
	if e.leaders != 1 {
		return
	}
	e.writtenMu.Lock()
	if e.written == nil {
		e.written = map[string]bool{}
	}
	e.written[runID] = true
	e.writtenMu.Unlock()
}

func (e *Engine) wrote(runID string) bool {
	e.writtenMu.Lock()
	defer e.writtenMu.Unlock()
	return e.written[runID]
}

// inTx runs fn in one transaction and announces its notes after commit.
// A transaction that lost a race is run again from the start.
func (e *Engine) inTx(ctx context.Context, fn func(tx Store, n *txNotes) error) error {
	var err error
	for try := 0; try < 20; try++ {
		n := newNotes()
		err = e.store.InTx(ctx, func(tx Store) error {
			e.txBegun()
			return fn(tx, n)
		})
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
	// With one writer (SQLite) the run's row is taken from what this
	// engine last committed, unless this transaction wrote it already;
	// the rev guard of the save refuses it if anything else moved it.
	run, cached := Run{}, false
	if e.leaders == 1 && !e.wrote(j.runID) {
		run, cached = e.cache.getRun(j.runID)
	}
	if !cached {
		var err error
		if run, err = tx.LoadRun(ctx, j.runID, false); err != nil {
			return nil, err
		}
	}
	bp, err := tx.GetFlow(ctx, run.Flow, run.Version)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", run.ID, err)
	}
	now := e.now()
	var next Run
	var fx effects
	partial := false
	if scope := iterationScope(j.ch); scope != "" && run.Status == RunRunning && run.Meta != nil && run.Meta.Phase == "" {
		// A report inside an iteration: decide on that iteration and
		// the steps outside any iteration only, unless that is not
		// enough.
		if run.Steps, err = tx.LoadScopedSteps(ctx, run.ID, scope); err != nil {
			return nil, err
		}
		next, fx, err = advanceIn(bp, run, j.ch, now, e.v, scope, e.items.get)
		partial = err == nil
		if err != nil && !errors.Is(err, errNeedAll) {
			return nil, err
		}
	}
	if !partial {
		// The steps as this engine last committed them, when the run has
		// not moved since (rev); else from the database.
		if steps, ok := e.cache.get(run.ID, run.Rev); ok {
			run.Steps = steps
		} else if run.Steps, err = tx.LoadSteps(ctx, run.ID); err != nil {
			return nil, err
		}
	}
	if !partial {
		next, fx, err = advance(bp, run, j.ch, now, e.v)
		if err != nil {
			return nil, err
		}
	}
	m := Mutation{Run: next, ReadRev: run.Rev, Steps: fx.Changed, DeletedSteps: fx.Deleted, Tasks: fx.Tasks, Timers: fx.Timers,
		Events: fx.Events, AbandonAll: fx.AbandonAll, DropAllTimers: fx.DropAllTimers, Hold: fx.Hold, Release: fx.Release, Now: now}
	if !fx.AbandonAll && len(fx.Abandon) > 0 {
		m.Abandon = fx.Abandon
	}
	if !fx.DropAllTimers && len(fx.DropTimers) > 0 {
		m.DropTimers = fx.DropTimers
	}
	if fx.Release {
		n.all = true
		m.Notify = append(m.Notify, "")
	}
	for _, t := range fx.Tasks {
		if t.State == TaskHeld {
			continue
		}
		if t.VisibleAt.After(now) {
			n.dueAt(t.VisibleAt)
			continue
		}
		if n.fresh == nil {
			n.fresh, n.spare = map[string]string{}, map[string]bool{}
		}
		n.fresh[t.ID] = t.Queue
		if !n.queues[t.Queue] {
			n.queues[t.Queue] = true
			n.spare[t.Queue] = true
			m.Notify = append(m.Notify, t.Queue)
		}
	}
	for _, t := range fx.Timers {
		n.dueAt(t.DueAt)
	}
	// Run watchers (WaitRun) care about what settles a run: its status,
	// or a wait step that now waits for a signal. Waking them on every
	// step change would have each of them reread the run per step.
	if next.Status != run.Status {
		n.runs[run.ID] = true
		m.Notify = append(m.Notify, "run:"+run.ID)
	} else {
		for i := range fx.Changed {
			if fx.Changed[i].Status == StepWaiting {
				n.runs[run.ID] = true
				break
			}
		}
	}
	if err := tx.Apply(ctx, m); err != nil {
		e.cache.forget(run.ID)
		if errors.Is(err, ErrConflict) {
			return nil, fmt.Errorf("save run %s: %w", run.ID, errRunMoved)
		}
		return nil, err
	}
	e.logTransition(run, next, fx)
	e.markWrote(run.ID)
	switch {
	case next.Status.Finished():
		n.cache = append(n.cache, cacheOp{runID: run.ID})
	case partial:
		// A partial decision holds only some steps: keep the run's row.
		n.cache = append(n.cache, cacheOp{runID: run.ID, rev: run.Rev + 1, run: &next})
	default:
		n.cache = append(n.cache, cacheOp{runID: run.ID, rev: run.Rev + 1, run: &next, steps: next.Steps})
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

// iterationScope is the outermost iteration prefix of the step a report
// is about ("each[7]." for "each[7].score"), or "" when the change is not
// about one step inside an iteration.
func iterationScope(ch change) string {
	switch ch.Kind {
	case chCompleted, chFailed, chLeaseExpired, chChildDone:
	case chTimer:
		if ch.Timer.Kind == TimerRunTimeout {
			return ""
		}
	default:
		return ""
	}
	i := strings.Index(ch.Path, "].")
	if i < 0 || !strings.Contains(ch.Path[:i], "[") {
		return ""
	}
	return ch.Path[:i+2]
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
	if c.Input, err = bp.WithDefaults(c.Input); err != nil {
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
