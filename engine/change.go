package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// changeKind names what happened to a run: the input of advance.
type changeKind string

const (
	chStart        changeKind = "start"
	chCompleted    changeKind = "completed"
	chFailed       changeKind = "failed"
	chLeaseExpired changeKind = "lease_expired"
	chTimer        changeKind = "timer"
	chSignal       changeKind = "signal"
	chChildDone    changeKind = "child_finished"
	chCancel       changeKind = "cancel"
	chPause        changeKind = "pause"
	chResume       changeKind = "resume"
	chRetry        changeKind = "retry"
)

// change is one thing that happened to a run.
type change struct {
	Kind      changeKind
	Actor     string
	Path      string
	Attempt   int
	WorkerID  string
	Output    json.RawMessage
	Err       *ErrorInfo
	Retryable bool
	Timer     Timer
	Name      string          // signal name
	Payload   json.RawMessage // signal payload
	Child     *Run            // finished child run
	Claimed   *Claim          // the claim of the task a report is about
	// Artifacts the reported task stored (completed reports only).
	Artifacts map[string]ArtifactRef
}

// errStale marks a report about an attempt the run has moved past (a
// cancelled run, a timed-out attempt): it is recorded and otherwise ignored.
var errStale = errors.New("stale report")

// childStart asks the shell to start a subflow's child run.
type childStart struct {
	ID      string
	Path    string
	Flow    string
	Version int
	Input   json.RawMessage
}

// effects is what one advance wants written next to the new state.
type effects struct {
	Changed        []Step
	Deleted        []string
	Tasks          []TaskRecord
	Timers         []Timer
	DropTimers     []string // paths whose timers go
	DropAllTimers  bool
	Abandon        []string // paths whose tasks go (ready) or are asked to stop (leased)
	AbandonAll     bool
	Children       []childStart
	CancelChildren []string
	Events         []Event
	Hold           bool // park the run's unclaimed tasks (paused)
	Release        bool // make them claimable again (resumed)
}

func illegal(what string, status any, kind changeKind) error {
	return fmt.Errorf("%s is %s; cannot apply %q: %w", what, status, kind, ErrInvalidState)
}

// apply folds the change into the state.
func (d *decider) apply(ch change) error {
	r := &d.run
	switch ch.Kind {
	case chStart:
		if r.Status != RunQueued {
			return illegal("run "+r.ID, r.Status, ch.Kind)
		}
		d.setRun(RunRunning)
		t := d.now
		r.StartedAt = &t
		if d.bp.Timeout > 0 {
			d.fx.Timers = append(d.fx.Timers, Timer{RunID: r.ID, Kind: TimerRunTimeout, DueAt: d.now.Add(time.Duration(d.bp.Timeout))})
		}
		return nil
	case chCancel:
		if r.Status.Finished() {
			return illegal("run "+r.ID, r.Status, ch.Kind)
		}
		d.cancelAll()
		r.Error = &ErrorInfo{Message: "cancelled by " + d.actor}
		d.finish(RunCancelled)
		return nil
	case chPause:
		if r.Status != RunRunning && r.Status != RunQueued {
			return illegal("run "+r.ID, r.Status, ch.Kind)
		}
		r.Meta.PausedFrom = r.Status
		d.setRun(RunPaused)
		d.fx.Hold = true
		return nil
	case chResume:
		if r.Status != RunPaused {
			return illegal("run "+r.ID, r.Status, ch.Kind)
		}
		d.setRun(RunRunning)
		d.fx.Release = true
		if r.StartedAt == nil {
			t := d.now
			r.StartedAt = &t
		}
		return nil
	case chRetry:
		if r.Status != RunFailed && r.Status != RunTimedOut && r.Status != RunCancelled {
			return illegal("run "+r.ID, r.Status, ch.Kind)
		}
		d.resetForRetry()
		return nil
	case chSignal:
		if r.Status.Finished() {
			return illegal("run "+r.ID, r.Status, ch.Kind)
		}
		if st := d.waitingFor(ch.Name); st != nil {
			if err := checkForm(d.node(st), ch.Payload); err != nil {
				return err
			}
			d.succeed(st, ch.Payload)
			d.target = st.Path
			return nil
		}
		// A signal may come before its wait is reached, and is kept until
		// then; but not one no wait listens for, nor one for a run that
		// waits only for others (nothing else moves it on).
		if !d.listens(ch.Name) || r.Status == RunRunning && d.onlySignalWaits() {
			return &SignalRefused{RunID: r.ID, Name: ch.Name, Status: r.Status, Waiting: d.waitingSignals()}
		}
		if r.Meta.Signals == nil {
			r.Meta.Signals = map[string][]json.RawMessage{}
		} else {
			m := make(map[string][]json.RawMessage, len(r.Meta.Signals))
			for k, v := range r.Meta.Signals {
				m[k] = append([]json.RawMessage(nil), v...)
			}
			r.Meta.Signals = m
		}
		r.Meta.Signals[ch.Name] = append(r.Meta.Signals[ch.Name], ch.Payload)
		d.event("signal.kept", "", "", "", map[string]any{"signal": ch.Name})
		return nil
	case chTimer:
		if ch.Timer.Kind == TimerStepTimeout {
			if st := d.steps[ch.Timer.Path]; st != nil && st.Attempt == ch.Timer.Attempt && !r.Status.Finished() {
				d.started(st, ch.Claimed)
			}
		}
		return d.applyTimer(ch.Timer)
	}

	// Reports about one step.
	if r.Status.Finished() {
		return fmt.Errorf("run %s is %s: %w", r.ID, r.Status, errStale)
	}
	st := d.steps[ch.Path]
	if st == nil {
		return fmt.Errorf("run %s has no step %q: %w", r.ID, ch.Path, errStale)
	}
	switch ch.Kind {
	case chCompleted, chFailed, chLeaseExpired:
		if (st.Status != StepRunning && st.Status != StepScheduled) || st.Attempt != ch.Attempt {
			return fmt.Errorf("step %q is %s at attempt %d; report for attempt %d: %w", st.Path, st.Status, st.Attempt, ch.Attempt, errStale)
		}
		d.started(st, ch.Claimed)
		if ch.Kind == chCompleted {
			n := d.node(st)
			var out any
			if len(ch.Output) > 0 {
				if err := json.Unmarshal(ch.Output, &out); err != nil {
					d.attemptFailed(st, &ErrorInfo{Message: "output is not JSON: " + err.Error(), Type: "output_invalid"}, false, StepFailed)
					return nil
				}
			}
			if n != nil && d.v != nil {
				def := n.Def
				if st.Type == typeCompensate && n.Compensate != nil {
					def = n.Compensate.Def
				}
				if def != nil {
					if err := d.v.Output(def, out); err != nil {
						d.attemptFailed(st, &ErrorInfo{Message: "output does not match the output schema of " + def.Name + ": " + err.Error(), Type: "output_invalid"}, false, StepFailed)
						return nil
					}
				}
			}
			d.succeed(st, ch.Output)
			st.Artifacts = ch.Artifacts
			return nil
		}
		e := ch.Err
		retryable := ch.Retryable
		if ch.Kind == chLeaseExpired {
			e = &ErrorInfo{Message: fmt.Sprintf("lease expired: no report or heartbeat within %s", d.leaseOf(st)), Type: "lease_expired"}
			retryable = true
		}
		if e == nil {
			e = &ErrorInfo{Message: "failed without a message"}
		}
		d.attemptFailed(st, e, retryable, StepFailed)
		return nil
	case chChildDone:
		if st.Status != StepWaiting || ch.Child == nil || st.ChildRunID != ch.Child.ID {
			return fmt.Errorf("step %q is %s; child finished: %w", st.Path, st.Status, errStale)
		}
		d.childFinished(st, ch.Child)
		return nil
	}
	return fmt.Errorf("unknown change %q", ch.Kind)
}

func (d *decider) applyTimer(t Timer) error {
	r := &d.run
	if r.Status.Finished() {
		return fmt.Errorf("run %s is %s: %w", r.ID, r.Status, errStale)
	}
	if t.Kind == TimerRunTimeout {
		d.cancelAll()
		r.Meta.Final = RunTimedOut
		r.Error = &ErrorInfo{Message: fmt.Sprintf("run timed out after %s", time.Duration(d.bp.Timeout)), Type: "timeout"}
		d.beginFailure()
		if r.Status == RunPaused {
			// A paused run that times out still ends.
			d.setRun(RunRunning)
			d.fx.Release = true
		}
		return nil
	}
	st := d.steps[t.Path]
	if st == nil {
		return fmt.Errorf("timer for missing step %q: %w", t.Path, errStale)
	}
	d.target = st.Path
	switch t.Kind {
	case TimerWake:
		if st.Status != StepWaiting {
			return fmt.Errorf("step %q is %s: %w", st.Path, st.Status, errStale)
		}
		d.succeed(st, nil)
	case TimerWaitTimeout:
		if st.Status != StepWaiting {
			return fmt.Errorf("step %q is %s: %w", st.Path, st.Status, errStale)
		}
		d.waitTimedOut(st)
	case TimerSLA:
		return d.slaPassed(st)
	case TimerStepTimeout:
		if (st.Status != StepRunning && st.Status != StepScheduled) || st.Attempt != t.Attempt {
			return fmt.Errorf("step %q is %s at attempt %d: %w", st.Path, st.Status, st.Attempt, errStale)
		}
		d.fx.Abandon = append(d.fx.Abandon, st.Path)
		d.attemptFailed(st, &ErrorInfo{Message: fmt.Sprintf("attempt %d timed out after %s", st.Attempt, d.stepTimeout(st)), Type: "timeout"}, true, StepTimedOut)
	default:
		return fmt.Errorf("unknown timer kind %q", t.Kind)
	}
	return nil
}
