package engine

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/weftlabs/weft/flows"
)

// A decision evaluates its expression once, runs the blocks of the case
// it names (else the default) and skips the others.
type decisionBlock struct{}

func (decisionBlock) start(d *decider, n *flows.Node, st *Step, sc *scope) {
	d.begin(st)
	v, err := n.ExprProg.Eval(d.env(n.ExprProg.Names(), sc))
	if err != nil {
		d.failStep(st, &ErrorInfo{Message: err.Error(), Type: "expression"})
		return
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
			return
		}
	}
	st.Control = &StepControl{Case: name}
	st.Status = StepRunning
	d.skipOthers(n, name, sc)
}

func (decisionBlock) drive(d *decider, n *flows.Node, st *Step, sc *scope) {
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
}

func (decisionBlock) stop(*decider, *Step)     {}
func (decisionBlock) finished(*decider, *Step) {}
func (decisionBlock) control() bool            { return true }

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
