package engine

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/weftlabs/weft/flows"
)

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
		case dagSkip(st):
			drop = true // its dependencies may end otherwise this time
		case st.Status == StepSucceeded || st.Status == StepSkipped:
		case n.Optional || (st.Control != nil && st.Control.Handled):
		case blockTable[st.Type] != nil && blockTable[st.Type].control():
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
			walk(n.OnSLA)
		}
	}
	walk(bp.Blocks)
	return idx
}

// rerunSteps picks the steps of old a rerun from ref `from` keeps: the
// succeeded steps of blocks before it in document order that are not its
// enclosing blocks. In a DAG list holding the block (or a block enclosing
// it) order is by dependency instead: what depends on it runs again,
// wherever it is written, and the rest of the list is kept.
func rerunSteps(bp *flows.Blueprint, old Run, from string, now time.Time) ([]Step, []string, error) {
	target := bp.Nodes[from]
	if target == nil || strings.HasPrefix(target.Pointer, "/on_failure") {
		return nil, nil, fmt.Errorf("rerun from %q: the flow has no block with that ref", from)
	}
	idx := preorder(bp)
	dagKeep := rerunDAG(target)
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
		if !ok || isAncestor(n, target) {
			continue
		}
		if k, set := dagKeep[st.Ref]; set {
			if !k {
				continue
			}
		} else if i >= idx[from] {
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

// rerunDAG decides, for the blocks of every DAG list that holds target or
// a block enclosing it, whether a rerun from target keeps them (false:
// they depend on it and run again). Blocks nested in them go with them.
func rerunDAG(target *flows.Node) map[string]bool {
	out := map[string]bool{}
	for cur := target; cur != nil; cur = cur.Parent {
		g := cur.DAG
		if g == nil {
			continue
		}
		down := map[*flows.Node][]*flows.Node{}
		for _, n := range g.Nodes {
			for _, u := range n.Upstream {
				down[u] = append(down[u], n)
			}
		}
		redo := map[*flows.Node]bool{cur: true}
		todo := []*flows.Node{cur}
		for len(todo) > 0 {
			x := todo[len(todo)-1]
			todo = todo[:len(todo)-1]
			for _, d := range down[x] {
				if !redo[d] {
					redo[d] = true
					todo = append(todo, d)
				}
			}
		}
		for _, n := range g.Nodes {
			if n == cur {
				continue
			}
			keep := !redo[n]
			walkNodes(n, func(x *flows.Node) {
				if _, set := out[x.Ref]; !set {
					out[x.Ref] = keep
				}
			})
		}
	}
	return out
}

// walkNodes calls fn on n and every node nested in it.
func walkNodes(n *flows.Node, fn func(*flows.Node)) {
	fn(n)
	lists := [][]*flows.Node{n.Do, n.Default, n.Catch}
	lists = append(lists, n.Branches...)
	for _, c := range n.Cases {
		lists = append(lists, c)
	}
	for _, l := range lists {
		for _, x := range l {
			if x != nil {
				walkNodes(x, fn)
			}
		}
	}
}
