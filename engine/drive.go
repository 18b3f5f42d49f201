package engine

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/weftlabs/weft/flows"
)

// A blockKind is what the engine does with one type of block. Each
// lives in its own file (block_*.go; tasks in attempt.go, compensations
// in failure.go).
type blockKind interface {
	// start does what reaching the block means. st is new and pending;
	// the block leaves it scheduled, running (a control block), waiting
	// or finished.
	start(d *decider, n *flows.Node, st *Step, sc *scope)
	// drive moves a running step along its children: it succeeds or fails
	// the step when they are done. Blocks without children do nothing.
	drive(d *decider, n *flows.Node, st *Step, sc *scope)
	// stop releases what an unfinished step holds outside the run (a task,
	// a child run) as the step is cancelled.
	stop(d *decider, st *Step)
	// finished tidies up after st reached a final status (its timers, its
	// counters in the run's meta).
	finished(d *decider, st *Step)
	// control is true for a block whose step runs while its children do;
	// Retry resumes such a step instead of starting it again.
	control() bool
}

// blockTable is every type of block the engine runs, keyed by
// flows.Node.Type (and Step.Type, which is the same but for the steps of
// compensations). Adding a block type means a file with its blockKind,
// a line here, and its schema in flows/.
var blockTable = map[string]blockKind{
	flows.TypeTask:     taskBlock{},
	flows.TypeDecision: decisionBlock{},
	flows.TypeFork:     forkBlock{},
	flows.TypeMap:      mapBlock{},
	flows.TypeLoop:     loopBlock{},
	flows.TypeWait:     waitBlock{},
	flows.TypeSubflow:  subflowBlock{},
	flows.TypeLambda:   lambdaBlock{},
	flows.TypeFail:     failBlock{},
	typeCompensate:     compensateBlock{},
}

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

type result int

const (
	resRunning result = iota
	resDone
	resFailed
)

// seq drives a sequence; it returns its state, the last block's output and
// the error that failed it.
func (d *decider) seq(nodes []*flows.Node, sc *scope) (result, json.RawMessage, *ErrorInfo) {
	if len(nodes) > 0 && nodes[0] != nil && nodes[0].DAG != nil {
		return d.dag(nodes[0].DAG, sc)
	}
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
	if n.Type == flows.TypeWait {
		if res, e := d.escalation(n, st, sc); res == resFailed {
			return res, st, e
		} else if res == resRunning && st.Status == StepSucceeded {
			return resRunning, st, nil
		}
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
	d.order = append(d.order, st)
	if _, ok := d.orig[path]; !ok {
		d.orig[path] = ""
	}
	d.touch(st)
	return st
}

// start creates the step of n and does what starting it means.
func (d *decider) start(n *flows.Node, sc *scope, path string) *Step {
	block := ""
	if n.Def != nil {
		block = n.Def.Name
	}
	st := d.newStep(path, n.Ref, n.Type, block)
	k := blockTable[n.Type]
	if k == nil {
		d.failStep(st, &ErrorInfo{Message: fmt.Sprintf("unknown block type %q", n.Type)})
		return st
	}
	k.start(d, n, st, sc)
	return st
}

// begin marks a block that the engine itself runs as started now.
func (d *decider) begin(st *Step) {
	t := d.now
	st.StartedAt = &t
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
	if k := blockTable[n.Type]; k != nil {
		k.drive(d, n, st, sc)
	}
}
