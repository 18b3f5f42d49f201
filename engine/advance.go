package engine

import (
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/flows"
)

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
	if d.run.Status == RunWaiting {
		// Waiting is running with only signal waits live: decide as
		// running, then look again (settleWaiting).
		if scope != "" {
			return run, effects{}, errNeedAll
		}
		d.run.Status = RunRunning
	}
	if err := d.apply(ch); err != nil {
		return run, effects{}, err
	}
	if d.run.Status == RunRunning {
		d.drive()
	}
	if d.needAll {
		return run, effects{}, errNeedAll
	}
	d.settleWaiting()
	if d.needAll {
		return run, effects{}, errNeedAll
	}
	return d.result()
}

// settleWaiting turns a running run whose live steps all wait for a
// signal into a waiting one. Control blocks (decision, fork, map, loop)
// are live while their children are, so only the other steps count. A
// partial decision that would make the run waiting needs every step.
func (d *decider) settleWaiting() {
	if d.run.Status == RunRunning && d.onlySignalWaits() {
		d.run.Status = RunWaiting
	}
}

// onlySignalWaits reports whether some step waits for a signal and no
// other step (control blocks aside) is live.
func (d *decider) onlySignalWaits() bool {
	signal := false
	for _, st := range d.steps {
		if st.Status.Finished() || isControl(st.Type) {
			continue
		}
		if st.Status != StepWaiting || d.signalOf(st) == "" {
			return false
		}
		signal = true
	}
	if signal {
		d.wantAll()
	}
	return signal
}

// isControl reports whether steps of type t run while their children do.
func isControl(t string) bool {
	k := blockTable[t]
	return k != nil && k.control()
}

// signalOf is the signal a waiting step waits for ("" for none).
func (d *decider) signalOf(st *Step) string {
	if st.Type != flows.TypeWait {
		return ""
	}
	if n := d.node(st); n != nil {
		return n.Signal
	}
	return ""
}

type decider struct {
	bp       *flows.Blueprint
	run      Run
	steps    map[string]*Step
	order    []*Step // steps as loaded (creation order), then as created
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
	dagWork  int            // blocks and edges of DAG lists looked at (a measure of the decision's cost)
}

func newDecider(bp *flows.Blueprint, run Run, now time.Time, v validator) *decider {
	n := len(run.Steps)
	d := &decider{bp: bp, run: run, steps: make(map[string]*Step, n+4), orig: make(map[string]StepStatus, n+4), changed: map[string]bool{},
		deleted: map[string]bool{}, now: now, v: v, runFrom: run.Status, order: make([]*Step, 0, n+4)}
	copies := make([]Step, n) // one allocation for every step's copy
	if d.run.Meta == nil {
		d.run.Meta = &RunMeta{}
	} else {
		m := *d.run.Meta
		d.run.Meta = &m
	}
	for i := range run.Steps {
		copies[i] = run.Steps[i]
		st := &copies[i]
		if st.Control != nil {
			c := *st.Control
			st.Control = &c
		}
		st.Attempts = append([]Attempt(nil), st.Attempts...)
		d.steps[st.Path] = st
		d.order = append(d.order, st)
		d.orig[st.Path] = st.Status
		if st.Seq >= d.run.Meta.NextSeq {
			d.run.Meta.NextSeq = st.Seq + 1
		}
	}
	d.run.Steps = nil
	return d
}

// stepsInOrder is every step in creation order (Seq, then path), so that
// what is done to each step in turn leaves advance in the same order
// every time, not in Go's map order.
//
// The steps are loaded in that order and new ones get increasing Seqs, so
// it is a linear walk; only steps given out of order are sorted (a run of
// thousands of steps is decided without sorting them all every time).
func (d *decider) stepsInOrder() []*Step {
	out := make([]*Step, 0, len(d.steps))
	for _, st := range d.order {
		if d.steps[st.Path] == st {
			out = append(out, st)
		}
	}
	less := func(i, j int) bool {
		if out[i].Seq != out[j].Seq {
			return out[i].Seq < out[j].Seq
		}
		return out[i].Path < out[j].Path
	}
	if len(out) == len(d.steps) && sort.SliceIsSorted(out, less) {
		return out
	}
	out = out[:0]
	for _, st := range d.steps {
		out = append(out, st)
	}
	sort.Slice(out, less)
	return out
}

// result assembles the new run and the writes.
func (d *decider) result() (Run, effects, error) {
	d.run.Steps = make([]Step, 0, len(d.steps))
	for _, st := range d.stepsInOrder() {
		p := st.Path
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

// wantAll notes that a partial decision needs the whole run.
func (d *decider) wantAll() {
	if d.partial != "" {
		d.needAll = true
	}
}
