package engine

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/weftlabs/weft/flows"
)

// A list in DAG form runs each block once the blocks of its depends_on
// allow it under its trigger rule (flows.Rule*, Airflow's meanings); a
// block whose rule can no longer hold is skipped, and skips propagate.
// Failures do not stop the list: every block that can still run does,
// so one_failed and all_done handlers run; then the list fails with the
// first failure (document order), unless the failed block was optional
// or its catch handled it. A finished list's output is the object of its
// sinks' outputs by ref.

// outcome is how a dependency stands, for trigger rules.
type outcome int

const (
	outPending        outcome = iota // not finished
	outSuccess                       // succeeded (or failed optional / handled by catch)
	outFailed                        // failed, timed out or cancelled
	outUpstreamFailed                // skipped because a dependency failed
	outSkipped                       // skipped otherwise
)

// Error types of the steps a DAG skips.
const (
	skipUpstreamFailed = "upstream_failed" // the rule no longer holds because something upstream failed
	skipTriggerRule    = "trigger_rule"    // the rule no longer holds otherwise (skips upstream)
)

// depCounts tallies the outcomes of a block's dependencies.
type depCounts struct {
	upstream, success, failed, upstreamFailed, skipped int
}

func (c depCounts) done() int { return c.success + c.failed + c.upstreamFailed + c.skipped }

// verdict is what a trigger rule says about a block now.
type verdict int

const (
	verdictWait           verdict = iota // not yet decidable
	verdictRun                           // start the block
	verdictSkip                          // skipped: the rule cannot hold
	verdictUpstreamFailed                // skipped because of upstream failures
)

// trigger applies a trigger rule to the dependencies' outcomes. It is
// Airflow's trigger rule evaluation (TriggerRuleDep) for the rules Weft
// has, with upstream_failed recorded as a skipped step of that type.
func trigger(rule string, c depCounts) verdict {
	failed := c.failed + c.upstreamFailed
	allDone := c.done() == c.upstream
	switch rule {
	case flows.RuleAlways:
		return verdictRun
	case flows.RuleAllSuccess, "":
		switch {
		case failed > 0:
			return verdictUpstreamFailed
		case c.skipped > 0:
			return verdictSkip
		case c.success == c.upstream:
			return verdictRun
		}
	case flows.RuleAllFailed:
		switch {
		case c.success > 0 || c.skipped > 0:
			return verdictSkip
		case allDone:
			return verdictRun
		}
	case flows.RuleAllDone:
		if allDone {
			return verdictRun
		}
	case flows.RuleOneSuccess:
		switch {
		case c.success > 0:
			return verdictRun
		case allDone && c.skipped == c.upstream:
			return verdictSkip
		case allDone:
			return verdictUpstreamFailed
		}
	case flows.RuleOneFailed:
		switch {
		case failed > 0:
			return verdictRun
		case allDone:
			return verdictSkip
		}
	case flows.RuleNoneFailed:
		switch {
		case failed > 0:
			return verdictUpstreamFailed
		case allDone:
			return verdictRun
		}
	}
	return verdictWait
}

// dag drives a list in DAG form, in topological order so that blocks
// the engine finishes at once (lambdas, skips) let their dependants go
// on in the same pass. It costs time linear in the blocks and edges.
func (d *decider) dag(g *flows.DAG, sc *scope) (result, json.RawMessage, *ErrorInfo) {
	outs := make(map[*flows.Node]outcome, len(g.Nodes))
	steps := make(map[*flows.Node]*Step, len(g.Nodes))
	errs := make(map[*flows.Node]*ErrorInfo)
	pending := false
	for _, n := range g.Order {
		d.dagWork += 1 + len(n.Upstream)
		path := sc.prefix + n.Ref
		if d.steps[path] == nil && len(n.Upstream) > 0 {
			var c depCounts
			c.upstream = len(n.Upstream)
			for _, u := range n.Upstream {
				switch outs[u] {
				case outSuccess:
					c.success++
				case outFailed:
					c.failed++
				case outUpstreamFailed:
					c.upstreamFailed++
				case outSkipped:
					c.skipped++
				}
			}
			switch v := trigger(n.Rule(), c); v {
			case verdictWait:
				outs[n] = outPending
				pending = true
				continue
			case verdictSkip, verdictUpstreamFailed:
				steps[n] = d.skipByRule(n, sc, path, v, outs)
				if v == verdictUpstreamFailed {
					outs[n] = outUpstreamFailed
				} else {
					outs[n] = outSkipped
				}
				continue
			}
		}
		res, st, e := d.nodeStep(n, sc)
		steps[n] = st
		switch res {
		case resRunning:
			outs[n] = outPending
			pending = true
		case resFailed:
			outs[n], errs[n] = outFailed, e
		default:
			switch {
			case st.Status == StepSucceeded:
				outs[n] = outSuccess
			case st.Status == StepSkipped && st.Error != nil && st.Error.Type == skipUpstreamFailed:
				outs[n] = outUpstreamFailed
			case st.Status == StepSkipped:
				outs[n] = outSkipped
			default: // a failure that optional or catch dealt with
				outs[n] = outSuccess
			}
		}
	}
	if pending || len(g.Order) < len(g.Nodes) {
		return resRunning, nil, nil
	}
	for _, n := range g.Nodes {
		if e := errs[n]; e != nil {
			return resFailed, nil, e
		}
	}
	out := make(map[string]json.RawMessage, len(g.Sinks))
	for _, n := range g.Sinks {
		o := json.RawMessage("null")
		if st := steps[n]; st != nil && st.Status == StepSucceeded && len(st.Output) > 0 {
			o = st.Output
		}
		out[n.Ref] = o
	}
	b, _ := json.Marshal(out)
	return resDone, b, nil
}

// skipByRule records n as skipped because its trigger rule cannot hold,
// with the reason, and skips what it holds.
func (d *decider) skipByRule(n *flows.Node, sc *scope, path string, v verdict, outs map[*flows.Node]outcome) *Step {
	block := ""
	if n.Def != nil {
		block = n.Def.Name
	}
	st := d.newStep(path, n.Ref, n.Type, block)
	var why []string
	for _, u := range n.Upstream {
		switch outs[u] {
		case outSuccess:
			why = append(why, u.Ref+" succeeded")
		case outFailed:
			why = append(why, u.Ref+" failed")
		case outUpstreamFailed, outSkipped:
			why = append(why, u.Ref+" was skipped")
		}
	}
	typ := skipTriggerRule
	if v == verdictUpstreamFailed {
		typ = skipUpstreamFailed
	}
	d.finishStep(st, StepSkipped, &ErrorInfo{Type: typ,
		Message: fmt.Sprintf("not run: trigger rule %s cannot hold (%s)", n.Rule(), strings.Join(why, ", "))})
	from := len(d.order)
	d.skipInside(n, sc)
	// What it holds is skipped for the same reason (Retry decides it again).
	for _, in := range d.order[from:] {
		if in.Status == StepSkipped && in.Error == nil {
			in.Error = &ErrorInfo{Type: typ, Message: "not run: " + n.Ref + " was skipped"}
		}
	}
	return st
}

// skipInside skips the blocks a skipped control block holds.
func (d *decider) skipInside(n *flows.Node, sc *scope) {
	for _, b := range n.Branches {
		d.skipSeq(b, sc)
	}
	for _, k := range sortedCases(n) {
		d.skipSeq(n.Cases[k], sc)
	}
	d.skipSeq(n.Default, sc)
}

// dagSkip says whether st was skipped by a DAG's trigger rule (Retry
// decides such steps again).
func dagSkip(st *Step) bool {
	return st.Status == StepSkipped && st.Error != nil && (st.Error.Type == skipUpstreamFailed || st.Error.Type == skipTriggerRule)
}

func sortedCases(n *flows.Node) []string {
	names := make([]string, 0, len(n.Cases))
	for k := range n.Cases {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
