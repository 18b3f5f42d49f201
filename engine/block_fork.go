package engine

import (
	"encoding/json"

	"github.com/weftlabs/weft/flows"
)

// A fork runs its branches side by side: join all waits for every branch
// (the first failure cancels the rest), join any takes the first to
// succeed and cancels the others.
type forkBlock struct{}

func (forkBlock) start(d *decider, n *flows.Node, st *Step, sc *scope) {
	d.begin(st)
	st.Control = &StepControl{}
	st.Status = StepRunning
}

func (forkBlock) drive(d *decider, n *flows.Node, st *Step, sc *scope) { d.driveFork(n, st, sc) }
func (forkBlock) stop(*decider, *Step)                                 {}
func (forkBlock) finished(*decider, *Step)                             {}
func (forkBlock) control() bool                                        { return true }

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
