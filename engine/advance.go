package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/flows"
)

// changeKind names what happened to a run: the input of advance.
type changeKind string

const (
	chStart        changeKind = "start"
	chClaimed      changeKind = "claimed"
	chReleased     changeKind = "released"
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

// validator checks a value against a block's input or output schema.
type validator interface {
	Input(def *blocks.Definition, v any) error
	Output(def *blocks.Definition, v any) error
}

// advance applies ch to run (with its steps) under bp at now. It never
// touches the database: the new run and what to write come back as data.
func advance(bp *flows.Blueprint, run Run, ch change, now time.Time, v validator) (Run, effects, error) {
	return advanceIn(bp, run, ch, now, v, "", nil)
}

// errNeedAll: a decision taken on part of a run's steps (advanceIn with a
// scope) needs all of them; the caller loads them and decides again.
var errNeedAll = errors.New("decision needs every step of the run")

// itemsFunc returns the decoded items of a map step (a memo of
// json.Unmarshal of st.Control.Items; the result is read only).
type itemsFunc func(runID string, st *Step) []any

// advanceIn is advance on part of the run. With scope "" run carries all
// its steps. With scope "each[7]." (the outermost iteration of ch's step)
// run carries only the steps outside any iteration and those of that
// iteration: a report inside a large map then costs what one iteration
// costs. When that is not enough to decide (the map finishes, a failure
// cancels siblings, an expression looks outside the scope) it returns
// errNeedAll and nothing else. items may be nil.
func advanceIn(bp *flows.Blueprint, run Run, ch change, now time.Time, v validator, scope string, items itemsFunc) (Run, effects, error) {
	d := newDecider(bp, run, now, v)
	d.partial, d.items = scope, items
	d.actor, d.target = ch.Actor, ch.Path
	if d.actor == "" {
		d.actor = "engine"
	}
	if err := d.apply(ch); err != nil {
		return run, effects{}, err
	}
	// A claim (or its release) only moves its step between scheduled and
	// running; it never unblocks another (and the shell loads just that
	// step for it).
	if d.run.Status == RunRunning && ch.Kind != chClaimed && ch.Kind != chReleased {
		d.drive()
	}
	if d.needAll {
		return run, effects{}, errNeedAll
	}
	return d.result()
}

type decider struct {
	bp       *flows.Blueprint
	run      Run
	steps    map[string]*Step
	orig     map[string]StepStatus
	changed  map[string]bool
	deleted  map[string]bool
	fx       effects
	now      time.Time
	v        validator
	actor    string
	target   string
	runFrom  RunStatus
	mutation int

	partial  string         // the iteration scope loaded ("": all steps)
	needAll  bool           // partial state is not enough to decide
	items    itemsFunc      // map items memo (nil: decode each time)
	mapSeen  map[int]result // partial map: iterations visited, last result
	mapsCopy bool           // run.Meta.Maps is this decider's own copy
}

func newDecider(bp *flows.Blueprint, run Run, now time.Time, v validator) *decider {
	d := &decider{bp: bp, run: run, steps: map[string]*Step{}, orig: map[string]StepStatus{}, changed: map[string]bool{},
		deleted: map[string]bool{}, now: now, v: v, runFrom: run.Status}
	if d.run.Meta == nil {
		d.run.Meta = &RunMeta{}
	} else {
		m := *d.run.Meta
		d.run.Meta = &m
	}
	for i := range run.Steps {
		st := run.Steps[i]
		if st.Control != nil {
			c := *st.Control
			st.Control = &c
		}
		st.Attempts = append([]Attempt(nil), st.Attempts...)
		d.steps[st.Path] = &st
		d.orig[st.Path] = st.Status
		if st.Seq >= d.run.Meta.NextSeq {
			d.run.Meta.NextSeq = st.Seq + 1
		}
	}
	d.run.Steps = nil
	return d
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
			d.succeed(st, ch.Payload)
			d.target = st.Path
			return nil
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
	case chClaimed:
		if st.Status != StepScheduled || st.Attempt != ch.Attempt {
			return illegal(fmt.Sprintf("step %q attempt %d", st.Path, st.Attempt), st.Status, ch.Kind)
		}
		d.touch(st)
		st.Status = StepRunning
		t := d.now
		if st.StartedAt == nil {
			st.StartedAt = &t
		}
		if a := d.attempt(st); a != nil {
			a.Status, a.StartedAt, a.WorkerID = StepRunning, &t, ch.WorkerID
		}
		if to := d.stepTimeout(st); to > 0 {
			d.fx.Timers = append(d.fx.Timers, Timer{RunID: r.ID, Path: st.Path, Kind: TimerStepTimeout, Attempt: st.Attempt, DueAt: d.now.Add(to)})
		}
		return nil
	case chReleased:
		// The claim's answer never reached a worker: the attempt goes back
		// to scheduled, unchanged, as if it had not been claimed.
		if st.Status != StepRunning || st.Attempt != ch.Attempt {
			return fmt.Errorf("step %q is %s at attempt %d; release of attempt %d: %w", st.Path, st.Status, st.Attempt, ch.Attempt, errStale)
		}
		d.touch(st)
		st.Status = StepScheduled
		if st.Attempt == 1 {
			st.StartedAt = nil
		}
		if a := d.attempt(st); a != nil {
			a.Status, a.StartedAt, a.WorkerID = StepScheduled, nil, ""
		}
		if d.stepTimeout(st) > 0 {
			d.fx.DropTimers = append(d.fx.DropTimers, st.Path) // the next claim sets it again
		}
		return nil
	case chCompleted, chFailed, chLeaseExpired:
		if (st.Status != StepRunning && st.Status != StepScheduled) || st.Attempt != ch.Attempt {
			return fmt.Errorf("step %q is %s at attempt %d; report for attempt %d: %w", st.Path, st.Status, st.Attempt, ch.Attempt, errStale)
		}
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
		c := ch.Child
		if c.Status == RunSucceeded {
			d.succeed(st, c.Output)
			return nil
		}
		msg := fmt.Sprintf("subflow run %s %s", c.ID, c.Status)
		if c.Error != nil && c.Error.Message != "" {
			msg += ": " + c.Error.Message
		}
		d.finishStep(st, StepFailed, &ErrorInfo{Message: msg, Type: "subflow"})
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
		n := d.node(st)
		msg := "wait timed out"
		if n != nil && n.Signal != "" {
			msg = fmt.Sprintf("no signal %q within %s", n.Signal, time.Duration(n.Timeout))
		}
		d.finishStep(st, StepTimedOut, &ErrorInfo{Message: msg, Type: "timeout"})
	case TimerStepTimeout:
		if st.Status != StepRunning || st.Attempt != t.Attempt {
			return fmt.Errorf("step %q is %s at attempt %d: %w", st.Path, st.Status, st.Attempt, errStale)
		}
		d.fx.Abandon = append(d.fx.Abandon, st.Path)
		d.attemptFailed(st, &ErrorInfo{Message: fmt.Sprintf("attempt %d timed out after %s", st.Attempt, d.stepTimeout(st)), Type: "timeout"}, true, StepTimedOut)
	default:
		return fmt.Errorf("unknown timer kind %q", t.Kind)
	}
	return nil
}

// result assembles the new run and the writes.
func (d *decider) result() (Run, effects, error) {
	paths := make([]string, 0, len(d.steps))
	for p := range d.steps {
		paths = append(paths, p)
	}
	sort.Slice(paths, func(i, j int) bool { return d.steps[paths[i]].Seq < d.steps[paths[j]].Seq })
	for _, p := range paths {
		st := d.steps[p]
		d.run.Steps = append(d.run.Steps, *st)
		if d.changed[p] {
			d.fx.Changed = append(d.fx.Changed, *st)
			if from := d.orig[p]; from != st.Status {
				actor := "engine"
				if p == d.target {
					actor = d.actor
				}
				var detail any
				if st.Status == StepFailed || st.Status == StepTimedOut || (st.Status == StepScheduled && st.Attempt > 1) {
					detail = map[string]any{"attempt": st.Attempt, "error": st.Error}
					if st.Status == StepScheduled {
						detail = map[string]any{"attempt": st.Attempt, "error": d.lastAttemptError(st)}
					}
				}
				d.fx.Events = append(d.fx.Events, d.mkEvent(actor, "step."+string(st.Status), p, string(from), string(st.Status), detail))
			}
		}
	}
	for p := range d.deleted {
		if _, again := d.steps[p]; !again {
			d.fx.Deleted = append(d.fx.Deleted, p)
		}
	}
	sort.Strings(d.fx.Deleted)
	if d.run.Status != d.runFrom {
		var detail any
		if d.run.Error != nil && d.run.Status.Finished() {
			detail = map[string]any{"error": d.run.Error}
		}
		ev := d.mkEvent(d.actor, "run."+string(d.run.Status), "", string(d.runFrom), string(d.run.Status), detail)
		if d.run.Status.Finished() {
			d.fx.Events = append(d.fx.Events, ev)
		} else {
			d.fx.Events = append([]Event{ev}, d.fx.Events...)
		}
	}
	return d.run, d.fx, nil
}

func (d *decider) lastAttemptError(st *Step) *ErrorInfo {
	if len(st.Attempts) >= 2 {
		return st.Attempts[len(st.Attempts)-2].Error
	}
	return nil
}

func (d *decider) mkEvent(actor, kind, path, from, to string, detail any) Event {
	e := Event{RunID: d.run.ID, Time: d.now, Actor: actor, Kind: kind, Path: path, From: from, To: to}
	if detail != nil {
		e.Detail, _ = json.Marshal(detail)
	}
	return e
}

func (d *decider) event(kind, path, from, to string, detail any) {
	d.fx.Events = append(d.fx.Events, d.mkEvent(d.actor, kind, path, from, to, detail))
}

func (d *decider) setRun(s RunStatus) { d.run.Status = s }

func (d *decider) touch(st *Step) {
	d.changed[st.Path] = true
	d.mutation++
}

// node is the blueprint node of a step (nil for a ref the version lacks).
func (d *decider) node(st *Step) *flows.Node { return d.bp.Nodes[st.Ref] }

func (d *decider) attempt(st *Step) *Attempt {
	for i := range st.Attempts {
		if st.Attempts[i].Number == st.Attempt {
			return &st.Attempts[i]
		}
	}
	return nil
}

func (d *decider) retryPolicy(st *Step) *blocks.RetryPolicy {
	n := d.node(st)
	if n == nil {
		return nil
	}
	if st.Type == typeCompensate {
		if n.Compensate != nil && n.Compensate.Def != nil {
			return n.Compensate.Def.Retry
		}
		return nil
	}
	if n.Retry != nil {
		return n.Retry
	}
	if n.Def != nil {
		return n.Def.Retry
	}
	return nil
}

func (d *decider) def(st *Step) *blocks.Definition {
	n := d.node(st)
	if n == nil {
		return nil
	}
	if st.Type == typeCompensate {
		if n.Compensate != nil {
			return n.Compensate.Def
		}
		return nil
	}
	return n.Def
}

func (d *decider) stepTimeout(st *Step) time.Duration {
	n := d.node(st)
	if n != nil && st.Type != typeCompensate && n.Timeout > 0 {
		return time.Duration(n.Timeout)
	}
	if def := d.def(st); def != nil {
		return time.Duration(def.Timeout)
	}
	return 0
}

// DefaultLease is the lease of a block without heartbeat_timeout.
const DefaultLease = 5 * time.Minute

func leaseFor(def *blocks.Definition) time.Duration {
	if def != nil && def.HeartbeatTimeout > 0 {
		return time.Duration(def.HeartbeatTimeout)
	}
	return DefaultLease
}

func (d *decider) leaseOf(st *Step) time.Duration { return leaseFor(d.def(st)) }

// attemptFailed records a failed attempt and retries or fails the step.
func (d *decider) attemptFailed(st *Step, e *ErrorInfo, retryable bool, final StepStatus) {
	d.touch(st)
	t := d.now
	if a := d.attempt(st); a != nil {
		a.Status, a.Error, a.FinishedAt = StepFailed, e, &t
		if final == StepTimedOut {
			a.Status = StepTimedOut
		}
	}
	d.fx.DropTimers = append(d.fx.DropTimers, st.Path)
	pol := d.retryPolicy(st)
	if retryable && st.Attempt < pol.Attempts() {
		next := st.Attempt + 1
		st.Attempt = next
		st.Status = StepScheduled
		st.Error = e
		st.Attempts = append(st.Attempts, Attempt{Number: next, Status: StepScheduled})
		d.enqueue(st, d.now.Add(pol.Delay(next)))
		return
	}
	e2 := *e
	e2.Retryable = false
	d.finishStep(st, final, &e2)
}

// succeed finishes a step with output.
func (d *decider) succeed(st *Step, out json.RawMessage) {
	if len(out) == 0 {
		out = json.RawMessage("null")
	}
	st.Output = out
	st.Error = nil
	d.finishStep(st, StepSucceeded, nil)
	if n := d.node(st); n != nil && n.Compensate != nil && st.Type != typeCompensate {
		d.run.Meta.Done = append(append([]string(nil), d.run.Meta.Done...), st.Path)
	}
}

func (d *decider) finishStep(st *Step, s StepStatus, e *ErrorInfo) {
	d.touch(st)
	t := d.now
	st.Status = s
	if e != nil {
		st.Error = e
	}
	if st.StartedAt == nil && s != StepSkipped {
		st.StartedAt = &t
	}
	st.FinishedAt = &t
	if a := d.attempt(st); a != nil && !a.Status.Finished() {
		a.Status, a.FinishedAt = s, &t
		if e != nil {
			a.Error = e
		}
		if a.StartedAt == nil {
			a.StartedAt = &t
		}
	}
	// A task has a timer only under a step timeout (set when claimed).
	if st.Type == flows.TypeWait || st.Type == typeCompensate || (st.Type == flows.TypeTask && d.stepTimeout(st) > 0) {
		d.fx.DropTimers = append(d.fx.DropTimers, st.Path)
	}
	if st.Type == flows.TypeMap {
		d.setMapCount(st.Path, nil)
	}
}

// wantAll notes that a partial decision needs the whole run.
func (d *decider) wantAll() {
	if d.partial != "" {
		d.needAll = true
	}
}

// setMapCount records (nil: forgets) a running map's counters in the
// run's meta, copying the shared map first.
func (d *decider) setMapCount(path string, c *MapCount) {
	m := d.run.Meta
	if c == nil && m.Maps[path] == (MapCount{}) {
		if _, ok := m.Maps[path]; !ok {
			return
		}
	}
	if cur, ok := m.Maps[path]; ok && c != nil && cur == *c {
		return
	}
	if !d.mapsCopy {
		cp := make(map[string]MapCount, len(m.Maps)+1)
		for k, v := range m.Maps {
			cp[k] = v
		}
		m.Maps = cp
		d.mapsCopy = true
	}
	if c == nil {
		delete(m.Maps, path)
		if len(m.Maps) == 0 {
			m.Maps, d.mapsCopy = nil, false
		}
		return
	}
	m.Maps[path] = *c
}

func (d *decider) mapItems(st *Step) []any {
	if d.items != nil {
		return d.items(d.run.ID, st)
	}
	var items []any
	_ = json.Unmarshal(st.Control.Items, &items)
	return items
}

// cancelAll stops every unfinished step.
func (d *decider) cancelAll() {
	d.wantAll()
	for _, st := range d.steps {
		d.cancelStep(st)
	}
	d.fx.AbandonAll = true
	d.fx.DropAllTimers = true
}

func (d *decider) cancelStep(st *Step) {
	if st.Status.Finished() {
		return
	}
	switch st.Type {
	case flows.TypeTask, typeCompensate:
		d.fx.Abandon = append(d.fx.Abandon, st.Path)
	case flows.TypeSubflow:
		if st.ChildRunID != "" {
			d.fx.CancelChildren = append(d.fx.CancelChildren, st.ChildRunID)
		}
	}
	d.finishStep(st, StepCancelled, nil)
}

// cancelUnder stops the unfinished steps below the control step st.
func (d *decider) cancelUnder(n *flows.Node, st *Step) {
	d.wantAll()
	prefix := strings.TrimSuffix(st.Path, st.Ref)
	for _, s := range d.steps {
		if s == st || s.Status.Finished() || !strings.HasPrefix(s.Path, prefix) {
			continue
		}
		if isAncestor(n, d.bp.Nodes[s.Ref]) {
			d.cancelStep(s)
		}
	}
}

func isAncestor(a, n *flows.Node) bool {
	for n != nil {
		n = n.Parent
		if n == a {
			return true
		}
	}
	return false
}

func (d *decider) waitingFor(signal string) *Step {
	d.wantAll()
	var best *Step
	for _, st := range d.steps {
		if st.Type != flows.TypeWait || st.Status != StepWaiting {
			continue
		}
		if n := d.node(st); n != nil && n.Signal == signal && (best == nil || st.Seq < best.Seq) {
			best = st
		}
	}
	return best
}

func (d *decider) finish(s RunStatus) {
	t := d.now
	d.setRun(s)
	d.run.FinishedAt = &t
	d.fx.DropAllTimers = true
	d.fx.AbandonAll = true
}

// beginFailure moves a failing run into compensation.
func (d *decider) beginFailure() {
	if d.run.Meta.Final == "" {
		d.run.Meta.Final = RunFailed
	}
	d.run.Meta.Phase = phaseCompensating
	d.event("run.compensating", "", "", "", nil)
}

const (
	phaseCompensating = "compensating"
	phaseOnFailure    = "on_failure"
	typeCompensate    = "compensate"
	compensateSuffix  = ".compensate"
)

// drive schedules whatever the state allows until nothing moves.
func (d *decider) drive() {
	for pass := 0; pass < 1000; pass++ {
		before := d.mutation
		d.drivePass()
		if d.needAll || d.run.Status != RunRunning || d.mutation == before {
			return
		}
	}
}

func (d *decider) drivePass() {
	root := &scope{}
	m := d.run.Meta
	switch m.Phase {
	case "":
		res, out, e := d.seq(d.bp.Blocks, root)
		switch res {
		case resDone:
			d.finishSuccess(out, root)
		case resFailed:
			d.run.Error = e
			d.cancelAll()
			d.beginFailure()
			d.mutation++
		}
	case phaseCompensating:
		if d.compensate() {
			m.Phase = phaseOnFailure
			d.mutation++
		}
	case phaseOnFailure:
		res, _, _ := d.seq(d.bp.OnFailure, root)
		if res != resRunning {
			final := m.Final
			if final == "" {
				final = RunFailed
			}
			d.finish(final)
			d.mutation++
		}
	}
}

func (d *decider) finishSuccess(last json.RawMessage, root *scope) {
	out := last
	if d.bp.OutputValue != nil {
		v, err := d.bp.OutputValue.Eval(d.env(d.bp.OutputValue.Names(), root))
		if err != nil {
			d.run.Error = &ErrorInfo{Message: "flow output: " + err.Error(), Type: "expression"}
			d.beginFailure()
			d.mutation++
			return
		}
		b, err := json.Marshal(v)
		if err != nil {
			d.run.Error = &ErrorInfo{Message: "flow output is not JSON: " + err.Error(), Type: "expression"}
			d.beginFailure()
			d.mutation++
			return
		}
		out = b
	}
	if len(out) == 0 {
		out = json.RawMessage("null")
	}
	d.run.Output = out
	d.finish(RunSucceeded)
	d.mutation++
}

// compensate runs compensations in reverse completion order, one at a
// time; true when all are finished.
func (d *decider) compensate() bool {
	d.wantAll()
	done := d.run.Meta.Done
	for i := len(done) - 1; i >= 0; i-- {
		orig := d.steps[done[i]]
		if orig == nil || orig.Status != StepSucceeded {
			continue
		}
		n := d.node(orig)
		if n == nil || n.Compensate == nil {
			continue
		}
		path := orig.Path + compensateSuffix
		st := d.steps[path]
		if st == nil {
			st = d.newStep(path, n.Ref, typeCompensate, "")
			sc := d.scopeOf(orig.Path)
			d.startExternal(st, n.Compensate.Def, n.Compensate.InputValue, sc, "")
		}
		if !st.Status.Finished() {
			return false
		}
	}
	return true
}

type result int

const (
	resRunning result = iota
	resDone
	resFailed
)

// scope is where a node is evaluated: the path prefix of its enclosing
// map/loop iterations and what they put in scope.
type scope struct {
	parent    *scope
	prefix    string
	item      any
	index     int
	hasItem   bool
	iteration int
	hasIter   bool
}

func (sc *scope) child(ref string, i int) *scope {
	return &scope{parent: sc, prefix: sc.prefix + ref + "[" + strconv.Itoa(i) + "].",
		item: sc.item, index: sc.index, hasItem: sc.hasItem, iteration: sc.iteration, hasIter: sc.hasIter}
}

// seq drives a sequence; it returns its state, the last block's output and
// the error that failed it.
func (d *decider) seq(nodes []*flows.Node, sc *scope) (result, json.RawMessage, *ErrorInfo) {
	var last json.RawMessage
	for _, n := range nodes {
		res, st, e := d.nodeStep(n, sc)
		if res != resDone {
			return res, nil, e
		}
		last = nil
		if st != nil && st.Status == StepSucceeded {
			last = st.Output
		}
	}
	return resDone, last, nil
}

func (d *decider) nodeStep(n *flows.Node, sc *scope) (result, *Step, *ErrorInfo) {
	path := sc.prefix + n.Ref
	st := d.steps[path]
	if st == nil {
		st = d.start(n, sc, path)
	}
	if !st.Status.Finished() {
		d.driveControl(n, st, sc)
	}
	switch st.Status {
	case StepSucceeded, StepSkipped:
		return resDone, st, nil
	case StepFailed, StepTimedOut, StepCancelled:
		if n.Optional {
			return resDone, st, nil
		}
		if len(n.Catch) > 0 && st.Status != StepCancelled {
			res, _, e := d.seq(n.Catch, sc)
			if res == resDone && (st.Control == nil || !st.Control.Handled) {
				if st.Control == nil {
					st.Control = &StepControl{}
				}
				st.Control.Handled = true
				d.touch(st)
			}
			return res, st, e
		}
		e := st.Error
		if e == nil {
			e = &ErrorInfo{Message: fmt.Sprintf("step %s %s", st.Path, st.Status)}
		}
		if e.Step == "" {
			c := *e
			c.Step = st.Path
			e = &c
		}
		return resFailed, st, e
	}
	return resRunning, st, nil
}

func (d *decider) newStep(path, ref, typ, block string) *Step {
	st := &Step{Path: path, Ref: ref, Type: typ, Block: block, Status: StepPending, Seq: d.run.Meta.NextSeq, CreatedAt: d.now}
	d.run.Meta.NextSeq++
	d.steps[path] = st
	if _, ok := d.orig[path]; !ok {
		d.orig[path] = ""
	}
	d.touch(st)
	return st
}

func (d *decider) failStep(st *Step, e *ErrorInfo) { d.finishStep(st, StepFailed, e) }

// start creates the step of n and does what starting it means.
func (d *decider) start(n *flows.Node, sc *scope, path string) *Step {
	block := ""
	if n.Def != nil {
		block = n.Def.Name
	}
	st := d.newStep(path, n.Ref, n.Type, block)
	t := d.now
	switch n.Type {
	case flows.TypeTask:
		d.startExternal(st, n.Def, n.InputValue, sc, n.Ref)
	case flows.TypeLambda:
		st.StartedAt = &t
		v, err := n.ExprProg.Eval(d.env(n.ExprProg.Names(), sc))
		if err != nil {
			d.failStep(st, &ErrorInfo{Message: err.Error(), Type: "expression"})
			break
		}
		b, err := json.Marshal(v)
		if err != nil {
			d.failStep(st, &ErrorInfo{Message: "lambda result is not JSON: " + err.Error(), Type: "expression"})
			break
		}
		d.succeed(st, b)
	case flows.TypeDecision:
		st.StartedAt = &t
		v, err := n.ExprProg.Eval(d.env(n.ExprProg.Names(), sc))
		if err != nil {
			d.failStep(st, &ErrorInfo{Message: err.Error(), Type: "expression"})
			break
		}
		name := flows.Stringify(v)
		st.Input, _ = json.Marshal(map[string]any{"case": name})
		if _, ok := n.Cases[name]; !ok {
			if n.Default == nil {
				cases := make([]string, 0, len(n.Cases))
				for k := range n.Cases {
					cases = append(cases, k)
				}
				sort.Strings(cases)
				d.skipOthers(n, "", sc)
				d.failStep(st, &ErrorInfo{Message: fmt.Sprintf("decision %q chose %q, which is not a case (%s), and there is no default", n.Ref, name, strings.Join(cases, ", ")), Type: "decision"})
				break
			}
		}
		st.Control = &StepControl{Case: name}
		st.Status = StepRunning
		d.skipOthers(n, name, sc)
	case flows.TypeFork:
		st.StartedAt = &t
		st.Control = &StepControl{}
		st.Status = StepRunning
	case flows.TypeMap:
		st.StartedAt = &t
		v, err := n.ItemsProg.Eval(d.env(n.ItemsProg.Names(), sc))
		if err != nil {
			d.failStep(st, &ErrorInfo{Message: err.Error(), Type: "expression"})
			break
		}
		items, ok := asList(v)
		if !ok && v != nil {
			d.failStep(st, &ErrorInfo{Message: fmt.Sprintf("map %q: items must be a list, got %T", n.Ref, v), Type: "expression"})
			break
		}
		b, err := json.Marshal(items)
		if err != nil {
			d.failStep(st, &ErrorInfo{Message: "map items are not JSON: " + err.Error(), Type: "expression"})
			break
		}
		if items == nil {
			b = json.RawMessage("[]")
		}
		st.Input, _ = json.Marshal(map[string]any{"items": json.RawMessage(b)})
		st.Control = &StepControl{Items: b}
		st.Status = StepRunning
	case flows.TypeLoop:
		st.StartedAt = &t
		st.Control = &StepControl{}
		st.Status = StepRunning
	case flows.TypeWait:
		st.StartedAt = &t
		d.startWait(n, st, sc)
	case flows.TypeSubflow:
		st.StartedAt = &t
		in, err := d.evalInput(n, n.InputValue, sc)
		if err != nil {
			d.failStep(st, &ErrorInfo{Message: "input: " + err.Error(), Type: "expression"})
			break
		}
		st.Input = in
		st.ChildRunID = childRunID(d.run.ID, st.Path, st.Seq)
		st.Status = StepWaiting
		d.fx.Children = append(d.fx.Children, childStart{ID: st.ChildRunID, Path: st.Path, Flow: n.FlowName, Version: n.FlowVersion, Input: in})
	case flows.TypeFail:
		st.StartedAt = &t
		v, err := n.MessageValue.Eval(d.env(n.MessageValue.Names(), sc))
		msg := flows.Stringify(v)
		if err != nil {
			msg = "fail message: " + err.Error()
		}
		d.failStep(st, &ErrorInfo{Message: msg, Type: "fail"})
	default:
		d.failStep(st, &ErrorInfo{Message: fmt.Sprintf("unknown block type %q", n.Type)})
	}
	return st
}

func (d *decider) evalInput(n *flows.Node, v *flows.Value, sc *scope) (json.RawMessage, error) {
	if o, ok := d.run.Meta.Overrides[n.Ref]; ok && len(o) > 0 {
		return o, nil
	}
	if v == nil {
		return json.RawMessage("{}"), nil
	}
	x, err := v.Eval(d.env(v.Names(), sc))
	if err != nil {
		return nil, err
	}
	return json.Marshal(x)
}

// startExternal validates the input and queues the first attempt.
func (d *decider) startExternal(st *Step, def *blocks.Definition, iv *flows.Value, sc *scope, ref string) {
	if def == nil {
		d.failStep(st, &ErrorInfo{Message: fmt.Sprintf("block %q has no definition", st.Ref)})
		return
	}
	st.Block = def.Name
	var in json.RawMessage
	var err error
	if ref != "" {
		in, err = d.evalInput(d.bp.Nodes[ref], iv, sc)
	} else if iv != nil {
		var x any
		x, err = iv.Eval(d.env(iv.Names(), sc))
		if err == nil {
			in, err = json.Marshal(x)
		}
	} else {
		in = json.RawMessage("{}")
	}
	if err != nil {
		d.failStep(st, &ErrorInfo{Message: "input: " + err.Error(), Type: "expression"})
		return
	}
	st.Input = in
	if d.v != nil {
		var x any
		_ = json.Unmarshal(in, &x)
		if err := d.v.Input(def, x); err != nil {
			d.failStep(st, &ErrorInfo{Message: "input does not match the input schema of " + def.Name + ": " + err.Error(), Type: "input_invalid"})
			return
		}
	}
	st.Attempt = 1
	st.Status = StepScheduled
	st.Attempts = []Attempt{{Number: 1, Status: StepScheduled}}
	d.enqueue(st, d.now)
}

func (d *decider) enqueue(st *Step, visible time.Time) {
	def := d.def(st)
	if def == nil {
		return
	}
	state := TaskReady
	if d.run.Status == RunPaused {
		state = TaskHeld // a retry while paused waits for resume
	}
	d.fx.Tasks = append(d.fx.Tasks, TaskRecord{
		Task: Task{ID: taskID(d.run.ID, st.Path, st.Seq, st.Attempt), RunID: d.run.ID, Ref: st.Ref, Path: st.Path,
			Block: def.Name, Version: def.Version, Attempt: st.Attempt, Input: st.Input},
		StepSeq: st.Seq, Queue: def.TaskQueue(), State: state, VisibleAt: visible, LeaseDuration: leaseFor(def),
		Resources: def.Resources, Concurrency: def.Concurrency, CreatedAt: d.now,
	})
}

func taskID(runID, path string, seq, attempt int) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%d\x00%d", runID, path, seq, attempt)))
	return "t" + hex.EncodeToString(h[:12])
}

func childRunID(parent, path string, seq int) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("child\x00%s\x00%s\x00%d", parent, path, seq)))
	return hex.EncodeToString(h[:12])
}

func (d *decider) startWait(n *flows.Node, st *Step, sc *scope) {
	switch {
	case n.Signal != "":
		st.Input, _ = json.Marshal(map[string]any{"signal": n.Signal})
		if q := d.run.Meta.Signals[n.Signal]; len(q) > 0 {
			m := make(map[string][]json.RawMessage, len(d.run.Meta.Signals))
			for k, v := range d.run.Meta.Signals {
				m[k] = v
			}
			m[n.Signal] = append([]json.RawMessage(nil), q[1:]...)
			if len(m[n.Signal]) == 0 {
				delete(m, n.Signal)
			}
			d.run.Meta.Signals = m
			d.succeed(st, q[0])
			return
		}
		st.Status = StepWaiting
		if n.Timeout > 0 {
			d.fx.Timers = append(d.fx.Timers, Timer{RunID: d.run.ID, Path: st.Path, Kind: TimerWaitTimeout, DueAt: d.now.Add(time.Duration(n.Timeout))})
		}
	case n.UntilValue != nil:
		v, err := n.UntilValue.Eval(d.env(n.UntilValue.Names(), sc))
		if err != nil {
			d.failStep(st, &ErrorInfo{Message: "until: " + err.Error(), Type: "expression"})
			return
		}
		s := flows.Stringify(v)
		due, err := time.Parse(time.RFC3339, s)
		if err != nil {
			d.failStep(st, &ErrorInfo{Message: fmt.Sprintf("until %q is not an RFC 3339 time such as 2030-01-02T15:04:05Z", s), Type: "expression"})
			return
		}
		st.Input, _ = json.Marshal(map[string]any{"until": due.UTC().Format(time.RFC3339)})
		if !due.After(d.now) {
			d.succeed(st, nil)
			return
		}
		st.Status = StepWaiting
		d.fx.Timers = append(d.fx.Timers, Timer{RunID: d.run.ID, Path: st.Path, Kind: TimerWake, DueAt: due})
		d.waitTimeout(n, st)
	default:
		st.Status = StepWaiting
		d.fx.Timers = append(d.fx.Timers, Timer{RunID: d.run.ID, Path: st.Path, Kind: TimerWake, DueAt: d.now.Add(time.Duration(n.Duration))})
		d.waitTimeout(n, st)
	}
}

func (d *decider) waitTimeout(n *flows.Node, st *Step) {
	if n.Timeout > 0 {
		d.fx.Timers = append(d.fx.Timers, Timer{RunID: d.run.ID, Path: st.Path, Kind: TimerWaitTimeout, DueAt: d.now.Add(time.Duration(n.Timeout))})
	}
}

// skipOthers marks the blocks of the cases a decision did not take.
func (d *decider) skipOthers(n *flows.Node, chosen string, sc *scope) {
	_, isCase := n.Cases[chosen]
	names := make([]string, 0, len(n.Cases))
	for k := range n.Cases {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if isCase && k == chosen {
			continue
		}
		d.skipSeq(n.Cases[k], sc)
	}
	if isCase {
		d.skipSeq(n.Default, sc)
	}
}

func (d *decider) skipSeq(nodes []*flows.Node, sc *scope) {
	for _, c := range nodes {
		path := sc.prefix + c.Ref
		if d.steps[path] != nil {
			continue
		}
		block := ""
		if c.Def != nil {
			block = c.Def.Name
		}
		st := d.newStep(path, c.Ref, c.Type, block)
		d.finishStep(st, StepSkipped, nil)
		for _, b := range c.Branches {
			d.skipSeq(b, sc)
		}
		names := make([]string, 0, len(c.Cases))
		for k := range c.Cases {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			d.skipSeq(c.Cases[k], sc)
		}
		d.skipSeq(c.Default, sc)
	}
}

// driveControl moves a running control block along its children.
func (d *decider) driveControl(n *flows.Node, st *Step, sc *scope) {
	if st.Status != StepRunning {
		return
	}
	switch n.Type {
	case flows.TypeDecision:
		nodes, ok := n.Cases[st.Control.Case]
		if !ok {
			nodes = n.Default
		}
		res, out, e := d.seq(nodes, sc)
		switch res {
		case resDone:
			d.succeed(st, out)
		case resFailed:
			d.failStep(st, e)
		}
	case flows.TypeFork:
		d.driveFork(n, st, sc)
	case flows.TypeMap:
		d.driveMap(n, st, sc)
	case flows.TypeLoop:
		d.driveLoop(n, st, sc)
	}
}

func lastRef(nodes []*flows.Node) string {
	if len(nodes) == 0 {
		return ""
	}
	return nodes[len(nodes)-1].Ref
}

func (d *decider) driveFork(n *flows.Node, st *Step, sc *scope) {
	outs := map[string]json.RawMessage{}
	allDone := true
	failed := 0
	var firstErr *ErrorInfo
	for i, b := range n.Branches {
		res, out, e := d.seq(b, sc)
		switch res {
		case resDone:
			if len(out) == 0 {
				out = json.RawMessage("null")
			}
			if n.Join == flows.JoinAny {
				d.cancelUnder(n, st)
				st.Control.Winner = i + 1
				o, _ := json.Marshal(map[string]json.RawMessage{lastRef(b): out})
				d.succeed(st, o)
				return
			}
			if r := lastRef(b); r != "" {
				outs[r] = out
			}
		case resFailed:
			failed++
			if firstErr == nil {
				firstErr = e
			}
			if n.Join != flows.JoinAny {
				d.cancelUnder(n, st)
				d.failStep(st, e)
				return
			}
		default:
			allDone = false
		}
	}
	if n.Join == flows.JoinAny {
		if failed == len(n.Branches) && firstErr != nil {
			d.failStep(st, firstErr)
		} else if len(n.Branches) == 0 {
			d.succeed(st, json.RawMessage("{}"))
		}
		return
	}
	if allDone {
		o, _ := json.Marshal(outs)
		d.succeed(st, o)
	}
}

func (d *decider) driveMap(n *flows.Node, st *Step, sc *scope) {
	if d.partial != "" && sc.prefix == "" {
		if strings.HasPrefix(d.partial, n.Ref+"[") {
			d.driveMapPartial(n, st, sc)
		} else {
			d.needAll = true // another running map: its iterations are not loaded
		}
		return
	}
	items := d.mapItems(st)
	outs := make([]json.RawMessage, len(items))
	active, done := 0, 0
	// Started iterations normally form a prefix of the items (they start
	// in order); the counters let a later report decide on its own
	// iteration only (driveMapPartial).
	started, prefix := 0, true
	for i := range items {
		isc := sc.child(n.Ref, i)
		isc.item, isc.index, isc.hasItem = items[i], i, true
		wasStarted := len(n.Do) == 0 || d.steps[isc.prefix+n.Do[0].Ref] != nil
		if !wasStarted && n.Concurrency > 0 && active >= n.Concurrency {
			continue
		}
		res, out, e := d.seq(n.Do, isc)
		if started != i {
			prefix = false
		}
		started++
		switch res {
		case resDone:
			done++
			if len(out) == 0 {
				out = json.RawMessage("null")
			}
			outs[i] = out
		case resFailed:
			d.cancelUnder(n, st)
			d.failStep(st, e)
			return
		default:
			active++
		}
	}
	if done == len(items) {
		o, _ := json.Marshal(outs)
		if len(items) == 0 {
			o = json.RawMessage("[]")
		}
		d.succeed(st, o)
		return
	}
	c := MapCount{Started: started, Done: done}
	if !prefix {
		c.Started = -1
	}
	d.setMapCount(st.Path, &c)
}

// driveMapPartial drives a map from its counters and the one iteration
// loaded (d.partial): the reported iteration may finish, and items not
// yet started start while the concurrency allows.
func (d *decider) driveMapPartial(n *flows.Node, st *Step, sc *scope) {
	c, ok := d.run.Meta.Maps[st.Path]
	rest := strings.TrimPrefix(d.partial, n.Ref+"[")
	close := strings.IndexByte(rest, ']')
	if !ok || c.Started < 0 || close < 0 {
		d.needAll = true
		return
	}
	target, err := strconv.Atoi(rest[:close])
	if err != nil || target >= c.Started {
		d.needAll = true
		return
	}
	if d.mapSeen == nil {
		// The reported step was unfinished before this change, so its
		// iteration was not done yet.
		if from, ok := d.orig[d.target]; !ok || from.Finished() || !strings.HasPrefix(d.target, d.partial) {
			d.needAll = true
			return
		}
		d.mapSeen = map[int]result{target: resRunning}
	}
	items := d.mapItems(st)
	visit := func(k int) bool {
		isc := sc.child(n.Ref, k)
		isc.item, isc.index, isc.hasItem = items[k], k, true
		res, _, _ := d.seq(n.Do, isc)
		if d.needAll || res == resFailed {
			d.needAll = true
			return false
		}
		if res == resDone && d.mapSeen[k] != resDone {
			c.Done++
		}
		d.mapSeen[k] = res
		return true
	}
	ks := make([]int, 0, len(d.mapSeen))
	for k := range d.mapSeen {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	for _, k := range ks {
		if k >= len(items) || !visit(k) {
			d.needAll = true
			return
		}
	}
	for c.Started < len(items) && (n.Concurrency <= 0 || c.Started-c.Done < n.Concurrency) {
		k := c.Started
		c.Started++
		d.mapSeen[k] = resRunning
		if !visit(k) {
			return
		}
	}
	if c.Done >= len(items) {
		d.needAll = true // the map's output gathers every iteration
		return
	}
	d.setMapCount(st.Path, &c)
}

func (d *decider) driveLoop(n *flows.Node, st *Step, sc *scope) {
	if d.partial != "" && sc.prefix == "" && d.partial != n.Ref+"["+strconv.Itoa(st.Control.Iteration)+"]." {
		d.needAll = true // its current iteration is not loaded
		return
	}
	for {
		i := st.Control.Iteration
		isc := sc.child(n.Ref, i)
		isc.iteration, isc.hasIter = i, true
		res, out, e := d.seq(n.Do, isc)
		switch res {
		case resRunning:
			return
		case resFailed:
			d.failStep(st, e)
			return
		}
		isc.iteration = i + 1
		again := false
		if i+1 < n.MaxIterations && n.WhileProg != nil {
			v, err := n.WhileProg.Eval(d.env(n.WhileProg.Names(), isc))
			if err != nil {
				d.failStep(st, &ErrorInfo{Message: "while: " + err.Error(), Type: "expression"})
				return
			}
			b, ok := v.(bool)
			if !ok {
				d.failStep(st, &ErrorInfo{Message: fmt.Sprintf("loop %q: while must be true or false, got %T", n.Ref, v), Type: "expression"})
				return
			}
			again = b
		}
		if !again {
			if len(out) == 0 {
				out = json.RawMessage("null")
			}
			d.succeed(st, out)
			return
		}
		if d.partial != "" && sc.prefix == "" {
			d.needAll = true // the next iteration's steps are not loaded
			return
		}
		st.Control.Iteration = i + 1
		d.touch(st)
	}
}

// scopeOf rebuilds the scope of a step path such as each[2].score.
func (d *decider) scopeOf(path string) *scope {
	sc := &scope{}
	rest := path
	for {
		open := strings.IndexByte(rest, '[')
		dot := strings.IndexByte(rest, '.')
		if open < 0 || (dot >= 0 && dot < open) {
			return sc
		}
		close := strings.IndexByte(rest, ']')
		if close < open {
			return sc
		}
		ref := rest[:open]
		i, err := strconv.Atoi(rest[open+1 : close])
		if err != nil {
			return sc
		}
		ctl := d.steps[sc.prefix+ref]
		nsc := sc.child(ref, i)
		if ctl != nil && ctl.Type == flows.TypeMap && ctl.Control != nil {
			var items []any
			_ = json.Unmarshal(ctl.Control.Items, &items)
			if i < len(items) {
				nsc.item, nsc.index, nsc.hasItem = items[i], i, true
			}
		} else if ctl != nil && ctl.Type == flows.TypeLoop {
			nsc.iteration, nsc.hasIter = i, true
		}
		sc = nsc
		if close+2 > len(rest) {
			return sc
		}
		rest = rest[close+2:]
	}
}

// lookup finds the step a ref names from sc: the innermost iteration
// first, then outward; failing that, its latest instance anywhere.
func (d *decider) lookup(ref string, sc *scope) *Step {
	for s := sc; s != nil; s = s.parent {
		if st := d.steps[s.prefix+ref]; st != nil {
			return st
		}
	}
	d.wantAll()
	var best *Step
	for _, st := range d.steps {
		if st.Ref == ref && st.Type != typeCompensate && (best == nil || st.Seq > best.Seq) {
			best = st
		}
	}
	return best
}

// asList turns any slice or array an expression yields ([]any, []int,
// []string, ...) into []any.
func asList(v any) ([]any, bool) {
	if l, ok := v.([]any); ok {
		return l, true
	}
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || (rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array) {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}

func decodeJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	return v
}

// env builds the expression environment holding only names.
func (d *decider) env(names []string, sc *scope) map[string]any {
	env := make(map[string]any, len(names))
	for _, name := range names {
		switch name {
		case "flow":
			var errMsg any
			if d.run.Error != nil {
				errMsg = d.run.Error.Message
			}
			env["flow"] = map[string]any{"input": decodeJSON(d.run.Input), "run_id": d.run.ID, "name": d.run.Flow,
				"version": d.run.Version, "error": errMsg}
		case "item":
			env["item"] = sc.item
		case "index":
			env["index"] = sc.index
		case "iteration":
			env["iteration"] = sc.iteration
		default:
			st := d.lookup(name, sc)
			if st == nil {
				env[name] = map[string]any{"input": nil, "output": nil, "status": string(StepPending), "attempts": 0, "error": nil}
				continue
			}
			var e any
			if st.Error != nil {
				e = map[string]any{"message": st.Error.Message, "type": st.Error.Type}
			}
			env[name] = map[string]any{"input": decodeJSON(st.Input), "output": decodeJSON(st.Output), "status": string(st.Status),
				"attempts": st.Attempt, "error": e}
		}
	}
	return env
}

// resetForRetry keeps successful work and clears what failed.
func (d *decider) resetForRetry() {
	d.wantAll()
	// A block whose compensation ran was undone: it runs again.
	undone := map[string]bool{}
	for path, st := range d.steps {
		if st.Type == typeCompensate {
			undone[strings.TrimSuffix(path, compensateSuffix)] = true
		}
	}
	for path, st := range d.steps {
		if undone[path] {
			delete(d.steps, path)
			d.deleted[path] = true
			d.mutation++
			continue
		}
		n := d.node(st)
		drop := false
		switch {
		case st.Type == typeCompensate || n == nil || strings.HasPrefix(n.Pointer, "/on_failure"):
			drop = true
		case st.Status == StepSucceeded || st.Status == StepSkipped:
		case n.Optional || (st.Control != nil && st.Control.Handled):
		case st.Type == flows.TypeFork || st.Type == flows.TypeMap || st.Type == flows.TypeLoop || st.Type == flows.TypeDecision:
			if st.Control == nil {
				drop = true
				break
			}
			st.Status, st.Error, st.FinishedAt, st.Output = StepRunning, nil, nil, nil
			d.touch(st)
		default:
			drop = true
		}
		if drop {
			delete(d.steps, path)
			d.deleted[path] = true
			d.mutation++
		}
	}
	m := d.run.Meta
	var done []string
	for _, p := range m.Done {
		if st := d.steps[p]; st != nil && st.Status == StepSucceeded {
			done = append(done, p)
		}
	}
	m.Done, m.Phase, m.Final = done, "", ""
	d.run.Error, d.run.Output, d.run.FinishedAt = nil, nil, nil
	d.setRun(RunRunning)
	d.fx.DropAllTimers = true
	if d.bp.Timeout > 0 {
		d.fx.Timers = append(d.fx.Timers, Timer{RunID: d.run.ID, Kind: TimerRunTimeout, DueAt: d.now.Add(time.Duration(d.bp.Timeout))})
	}
}

// preorder numbers every node of bp in document order.
func preorder(bp *flows.Blueprint) map[string]int {
	idx := map[string]int{}
	var walk func([]*flows.Node)
	walk = func(ns []*flows.Node) {
		for _, n := range ns {
			idx[n.Ref] = len(idx)
			walk(n.Do)
			for _, b := range n.Branches {
				walk(b)
			}
			names := make([]string, 0, len(n.Cases))
			for k := range n.Cases {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				walk(n.Cases[k])
			}
			walk(n.Default)
			walk(n.Catch)
		}
	}
	walk(bp.Blocks)
	return idx
}

// rerunSteps picks the steps of old a rerun from ref `from` keeps: the
// succeeded steps of blocks before it in document order that are not its
// enclosing blocks.
func rerunSteps(bp *flows.Blueprint, old Run, from string, now time.Time) ([]Step, []string, error) {
	target := bp.Nodes[from]
	if target == nil || strings.HasPrefix(target.Pointer, "/on_failure") {
		return nil, nil, fmt.Errorf("rerun from %q: the flow has no block with that ref", from)
	}
	idx := preorder(bp)
	var keep []Step
	var done []string
	doneSet := map[string]bool{}
	for _, p := range old.Meta.Done {
		doneSet[p] = true
	}
	for _, st := range old.Steps {
		n := bp.Nodes[st.Ref]
		if n == nil || st.Status != StepSucceeded || st.Type == typeCompensate {
			continue
		}
		i, ok := idx[st.Ref]
		if !ok || i >= idx[from] || isAncestor(n, target) {
			continue
		}
		st.Attempts = append([]Attempt(nil), st.Attempts...)
		keep = append(keep, st)
		if doneSet[st.Path] {
			done = append(done, st.Path)
		}
	}
	return keep, done, nil
}
