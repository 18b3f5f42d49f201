package engine

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/weftlabs/weft/flows"
)

// A loop runs its blocks again while its condition holds, up to
// max_iterations; its output is the last iteration's.
type loopBlock struct{}

func (loopBlock) start(d *decider, n *flows.Node, st *Step, sc *scope) {
	d.begin(st)
	st.Control = &StepControl{}
	st.Status = StepRunning
}

func (loopBlock) drive(d *decider, n *flows.Node, st *Step, sc *scope) { d.driveLoop(n, st, sc) }
func (loopBlock) stop(*decider, *Step)                                 {}
func (loopBlock) finished(*decider, *Step)                             {}
func (loopBlock) control() bool                                        { return true }

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
