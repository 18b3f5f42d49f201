package engine

import (
	"strings"

	"github.com/weftlabs/weft/flows"
)

// cancelAll stops every unfinished step.
func (d *decider) cancelAll() {
	d.wantAll()
	for _, st := range d.stepsInOrder() {
		d.cancelStep(st)
	}
	d.fx.AbandonAll = true
	d.fx.DropAllTimers = true
}

func (d *decider) cancelStep(st *Step) {
	if st.Status.Finished() {
		return
	}
	if k := blockTable[st.Type]; k != nil {
		k.stop(d, st)
	}
	d.finishStep(st, StepCancelled, nil)
}

// cancelUnder stops the unfinished steps below the control step st.
func (d *decider) cancelUnder(n *flows.Node, st *Step) {
	d.wantAll()
	prefix := strings.TrimSuffix(st.Path, st.Ref)
	for _, s := range d.stepsInOrder() {
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
			blockTable[typeCompensate].start(d, n, st, d.scopeOf(orig.Path))
		}
		if !st.Status.Finished() {
			return false
		}
	}
	return true
}

// A compensation is the task that undoes a succeeded block (its
// "compensate"), run while a failing run unwinds. Its step has the
// block's ref, the path of the block's step plus compensateSuffix and
// the type typeCompensate.
type compensateBlock struct{}

func (compensateBlock) start(d *decider, n *flows.Node, st *Step, sc *scope) {
	d.startExternal(st, n.Compensate.Def, n.Compensate.InputValue, sc, "")
}

func (compensateBlock) drive(*decider, *flows.Node, *Step, *scope) {}
func (compensateBlock) stop(d *decider, st *Step)                  { d.fx.Abandon = append(d.fx.Abandon, st.Path) }
func (compensateBlock) finished(*decider, *Step)                   {} // its deadline is on its task row
func (compensateBlock) control() bool                              { return false }
