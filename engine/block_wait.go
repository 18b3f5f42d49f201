package engine

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/weftlabs/weft/flows"
)

// A wait holds its sequence until a signal, a duration or a time (timers
// in the shell), within an optional timeout.
type waitBlock struct{}

func (waitBlock) start(d *decider, n *flows.Node, st *Step, sc *scope) {
	d.begin(st)
	d.startWait(n, st, sc)
}

func (waitBlock) drive(*decider, *flows.Node, *Step, *scope) {}
func (waitBlock) stop(*decider, *Step)                       {}
func (waitBlock) finished(d *decider, st *Step)              { d.fx.DropTimers = append(d.fx.DropTimers, st.Path) }
func (waitBlock) control() bool                              { return false }

// waitingFor is the earliest step waiting for signal.
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

// waitTimedOut ends a wait whose timeout fired.
func (d *decider) waitTimedOut(st *Step) {
	n := d.node(st)
	msg := "wait timed out"
	if n != nil && n.Signal != "" {
		msg = fmt.Sprintf("no signal %q within %s", n.Signal, time.Duration(n.Timeout))
	}
	d.finishStep(st, StepTimedOut, &ErrorInfo{Message: msg, Type: "timeout"})
}

func (d *decider) waitTimeout(n *flows.Node, st *Step) {
	if n.Timeout > 0 {
		d.fx.Timers = append(d.fx.Timers, Timer{RunID: d.run.ID, Path: st.Path, Kind: TimerWaitTimeout, DueAt: d.now.Add(time.Duration(n.Timeout))})
	}
}
