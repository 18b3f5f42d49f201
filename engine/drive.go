package engine

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/weftlabs/weft/flows"
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

type result int

const (
	resRunning result = iota
	resDone
	resFailed
)

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
