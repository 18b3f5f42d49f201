package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/weftlabs/weft/flows"
)

// StartRun starts a run of p.Flow. With an idempotency key already used it
// returns that run and created=false.
func (e *Engine) StartRun(ctx context.Context, p StartParams) (Run, bool, error) {
	if p.IdempotencyKey != "" {
		if r, err := e.store.RunByIdempotencyKey(ctx, p.IdempotencyKey); err == nil {
			r, err = e.GetRun(ctx, r.ID, true)
			return r, false, err
		} else if !errors.Is(err, ErrNotFound) {
			return Run{}, false, err
		}
	}
	bp, err := e.store.GetFlow(ctx, p.Flow, p.Version)
	if err != nil {
		return Run{}, false, err
	}
	var id string
	err = e.inTxGroup(ctx, func(tx Store, n *txNotes) error {
		var err error
		id, err = e.startTx(ctx, tx, n, bp, p)
		return err
	})
	if errors.Is(err, ErrConflict) && p.IdempotencyKey != "" {
		r, err := e.store.RunByIdempotencyKey(ctx, p.IdempotencyKey)
		if err != nil {
			return Run{}, false, err
		}
		r, err = e.GetRun(ctx, r.ID, true)
		return r, false, err
	}
	if err != nil {
		return Run{}, false, err
	}
	r, err := e.GetRun(ctx, id, true)
	return r, true, err
}

func (e *Engine) startTx(ctx context.Context, tx Store, n *txNotes, bp *flows.Blueprint, p StartParams) (string, error) {
	input := p.Input
	if len(input) == 0 || string(input) == "null" {
		input = json.RawMessage("{}")
	}
	input, err := bp.WithDefaults(input)
	if err != nil {
		return "", err
	}
	if err := validateFlowInput(bp, input); err != nil {
		return "", err
	}
	now := e.now()
	trigger := p.Trigger
	if trigger == "" {
		trigger = "api"
	}
	actor := p.Actor
	if actor == "" {
		actor = trigger
	}
	r := Run{ID: newRunID(now), Flow: bp.Name, Version: bp.Version, Status: RunQueued, Input: input,
		IdempotencyKey: p.IdempotencyKey, Trigger: trigger, CreatedAt: now, Meta: &RunMeta{}, Rev: 1}
	if err := tx.CreateRun(ctx, r); err != nil {
		return "", err
	}
	if err := tx.AppendEvents(ctx, []Event{{RunID: r.ID, Time: now, Actor: actor, Kind: "run.queued", To: string(RunQueued)}}); err != nil {
		return "", err
	}
	return r.ID, e.applyTx(ctx, tx, r.ID, change{Kind: chStart, Actor: "engine"}, n)
}

// GetRun reads a run, with its steps when withSteps.
func (e *Engine) GetRun(ctx context.Context, id string, withSteps bool) (Run, error) {
	r, err := e.store.LoadRun(ctx, id, withSteps)
	if err != nil {
		return Run{}, err
	}
	if withSteps && !r.Status.Finished() {
		leased, err := e.store.LeasedTasks(ctx, id)
		if err != nil {
			return Run{}, err
		}
		overlayClaims(&r, leased)
		if bp, err := e.store.GetFlow(ctx, r.Flow, r.Version); err == nil {
			showWaiting(bp, &r)
		}
	}
	r.Meta = nil
	return r, nil
}

// settled reports whether WaitRun may return: the run finished, is paused
// or waits for a signal.
func settled(r Run) bool {
	if r.Status.Finished() || r.Status == RunPaused || r.Status == RunWaiting {
		return true
	}
	for _, st := range r.Steps {
		if st.Type == flows.TypeWait && st.Status == StepWaiting && isSignalWait(st) {
			return true
		}
	}
	return false
}

func isSignalWait(st Step) bool {
	var in struct {
		Signal string `json:"signal"`
	}
	return json.Unmarshal(st.Input, &in) == nil && in.Signal != ""
}

// WaitRun parks until the run settles (finished, paused, waiting for a
// signal) or timeout passes, then returns it.
func (e *Engine) WaitRun(ctx context.Context, id string, timeout time.Duration) (Run, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		ch, stop := e.hub.watchRun(id)
		r, err := e.GetRun(ctx, id, true)
		if err != nil || settled(r) {
			stop()
			return r, err
		}
		select {
		case <-ch:
			stop()
		case <-deadline.C:
			stop()
			return r, nil
		case <-ctx.Done():
			stop()
			return r, ctx.Err()
		}
	}
}

// WatchRun returns a channel that receives when the run's status changes,
// here or on another replica sharing the database, and a function that
// stops the watch. A process following a task outside the engine (a
// Kubernetes Job) uses it to learn of a cancel before its next heartbeat.
func (e *Engine) WatchRun(id string) (<-chan struct{}, func()) {
	return e.hub.watchRun(id)
}

// ListRuns pages through runs newest first.
func (e *Engine) ListRuns(ctx context.Context, f RunFilter) (RunPage, error) {
	page, err := e.store.ListRuns(ctx, f)
	for i := range page.Runs {
		page.Runs[i].Meta = nil
	}
	return page, err
}

// Events lists a run's history after afterSeq.
func (e *Engine) Events(ctx context.Context, runID string, afterSeq int64, limit int) ([]Event, error) {
	if _, err := e.store.LoadRun(ctx, runID, false); err != nil {
		return nil, err
	}
	return e.store.Events(ctx, runID, afterSeq, limit)
}

func (e *Engine) operate(ctx context.Context, runID string, ch change) error {
	return e.inTx(ctx, func(tx Store, n *txNotes) error {
		return e.applyTx(ctx, tx, runID, ch, n)
	})
}

func operator(actor string) string {
	if actor == "" {
		return "operator"
	}
	return actor
}

// Cancel cancels a run and, through them, its child runs. Running tasks
// learn it from their next heartbeat.
func (e *Engine) Cancel(ctx context.Context, runID, actor string) error {
	return e.operate(ctx, runID, change{Kind: chCancel, Actor: operator(actor)})
}

// Pause stops a run from scheduling anything new; work in flight may finish.
func (e *Engine) Pause(ctx context.Context, runID, actor string) error {
	return e.operate(ctx, runID, change{Kind: chPause, Actor: operator(actor)})
}

// Resume continues a paused run.
func (e *Engine) Resume(ctx context.Context, runID, actor string) error {
	return e.operate(ctx, runID, change{Kind: chResume, Actor: operator(actor)})
}

// Retry resumes a failed, timed-out or cancelled run from the steps that
// did not succeed, keeping the outputs of those that did.
func (e *Engine) Retry(ctx context.Context, runID, actor string) error {
	return e.operate(ctx, runID, change{Kind: chRetry, Actor: operator(actor)})
}

// Signal delivers a named signal. A wait for it that is not reached yet
// gets it when reached.
func (e *Engine) Signal(ctx context.Context, runID, name string, payload json.RawMessage, actor string) error {
	if name == "" {
		return fmt.Errorf("signal name is empty: %w", ErrInvalidInput)
	}
	if len(payload) == 0 {
		payload = json.RawMessage("null")
	}
	if !json.Valid(payload) {
		return fmt.Errorf("signal payload is not JSON: %w", ErrInvalidInput)
	}
	if actor == "" {
		actor = "api"
	}
	return e.operate(ctx, runID, change{Kind: chSignal, Actor: actor, Name: name, Payload: payload})
}

// Rerun starts a NEW run of the same flow and input that keeps the
// outputs of the blocks before p.From (in document order) and runs again
// from p.From, optionally with p.Input as that block's input and with the
// latest flow version. The source run is not changed.
func (e *Engine) Rerun(ctx context.Context, runID string, p RerunParams) (Run, error) {
	old, err := e.store.LoadRun(ctx, runID, true)
	if err != nil {
		return Run{}, err
	}
	if !old.Status.Finished() {
		return Run{}, fmt.Errorf("run %s is %s; rerun a finished run (or cancel it first): %w", runID, old.Status, ErrInvalidState)
	}
	version := old.Version
	if p.Latest {
		version = 0
	}
	bp, err := e.store.GetFlow(ctx, old.Flow, version)
	if err != nil {
		return Run{}, err
	}
	keep, done, err := rerunSteps(bp, old, p.From, e.now())
	if err != nil {
		return Run{}, fmt.Errorf("%s: %w", err, ErrInvalidInput)
	}
	if len(p.Input) > 0 && !json.Valid(p.Input) {
		return Run{}, fmt.Errorf("rerun input is not JSON: %w", ErrInvalidInput)
	}
	var id string
	err = e.inTx(ctx, func(tx Store, n *txNotes) error {
		now := e.now()
		meta := &RunMeta{Done: done}
		for _, st := range keep {
			if st.Seq >= meta.NextSeq {
				meta.NextSeq = st.Seq + 1
			}
		}
		if len(p.Input) > 0 {
			meta.Overrides = map[string]json.RawMessage{p.From: p.Input}
		}
		r := Run{ID: newRunID(now), Flow: bp.Name, Version: bp.Version, Status: RunQueued, Input: old.Input,
			Trigger: "rerun", CreatedAt: now, Meta: meta, Rev: 1}
		if err := tx.CreateRun(ctx, r); err != nil {
			return err
		}
		if err := tx.UpsertSteps(ctx, r.ID, keep); err != nil {
			return err
		}
		detail, _ := json.Marshal(map[string]any{"rerun_of": old.ID, "from": p.From, "kept": len(keep)})
		if err := tx.AppendEvents(ctx, []Event{{RunID: r.ID, Time: now, Actor: operator(p.Actor), Kind: "run.queued", To: string(RunQueued), Detail: detail}}); err != nil {
			return err
		}
		id = r.ID
		return e.applyTx(ctx, tx, r.ID, change{Kind: chStart, Actor: "engine"}, n)
	})
	if err != nil {
		return Run{}, err
	}
	return e.GetRun(ctx, id, true)
}

// Stats counts runs, steps, queue depths and recently seen workers.
func (e *Engine) Stats(ctx context.Context) (Stats, error) {
	return e.store.Stats(ctx, e.now().Add(-e.cfg.StatsWindow))
}
