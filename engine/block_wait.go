package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
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
		if n.SLA > 0 {
			d.fx.Timers = append(d.fx.Timers, Timer{RunID: d.run.ID, Path: st.Path, Kind: TimerSLA, DueAt: d.now.Add(time.Duration(n.SLA))})
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

// slaPassed marks a human step whose SLA passed while it still waits; its
// on_sla blocks then run (once: the flag is kept with the step, and the
// timer that fired was deleted in this same transaction).
func (d *decider) slaPassed(st *Step) error {
	if st.Status != StepWaiting {
		return fmt.Errorf("step %q is %s: %w", st.Path, st.Status, errStale)
	}
	if st.Control != nil && st.Control.SLAFired {
		return fmt.Errorf("step %q: SLA already passed: %w", st.Path, errStale)
	}
	c := StepControl{}
	if st.Control != nil {
		c = *st.Control
	}
	c.SLAFired = true
	st.Control = &c
	d.touch(st)
	detail := map[string]any{"signal": d.signalOf(st)}
	if n := d.node(st); n != nil {
		detail["sla"] = time.Duration(n.SLA).String()
		if n.Assignee != "" {
			detail["assignee"] = n.Assignee
		}
	}
	d.event("step.sla_passed", st.Path, "", "", detail)
	return nil
}

// escalation drives the on_sla blocks of a wait whose SLA passed. The
// wait's sequence goes on only once they are done too.
func (d *decider) escalation(n *flows.Node, st *Step, sc *scope) (result, *ErrorInfo) {
	if len(n.OnSLA) == 0 || st.Control == nil || !st.Control.SLAFired || st.Status == StepCancelled {
		return resDone, nil
	}
	res, _, e := d.seq(n.OnSLA, sc)
	return res, e
}

// SignalRefused is the answer to a signal that the run does not wait for:
// Waiting names the signals it does wait for (none when it waits for
// nothing). It is an ErrInvalidState.
type SignalRefused struct {
	RunID   string
	Name    string
	Status  RunStatus
	Waiting []string
}

func (e *SignalRefused) Error() string {
	if len(e.Waiting) == 0 {
		return fmt.Sprintf("run %s (%s) is not waiting for signal %q, and no wait of its flow listens for it", e.RunID, e.Status, e.Name)
	}
	return fmt.Sprintf("run %s is not waiting for signal %q; it waits for: %s", e.RunID, e.Name, strings.Join(e.Waiting, ", "))
}

// Is makes a refused signal an ErrInvalidState.
func (e *SignalRefused) Is(target error) bool { return target == ErrInvalidState }

// waitingSignals lists the signals the run's waiting steps wait for,
// sorted, without repeats.
func (d *decider) waitingSignals() []string {
	seen := map[string]bool{}
	var out []string
	for _, st := range d.stepsInOrder() {
		if st.Status != StepWaiting {
			continue
		}
		if s := d.signalOf(st); s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// listens reports whether any wait of the flow waits for signal name.
func (d *decider) listens(name string) bool {
	for _, n := range d.bp.Nodes {
		if n.Type == flows.TypeWait && n.Signal == name {
			return true
		}
	}
	return false
}

// checkForm validates a signal's payload against the waiting step's form.
func checkForm(n *flows.Node, payload json.RawMessage) error {
	if n == nil || n.FormSchema == nil {
		return nil
	}
	ves := n.FormSchema.Validate(payload, "")
	if len(ves) == 0 {
		return nil
	}
	errs := make([]error, len(ves))
	for i, v := range ves {
		errs[i] = &flows.ValidationError{Pointer: v.Pointer, Msg: v.Msg + " (the form of wait \"" + n.Ref + "\")"}
	}
	return errors.Join(errs...)
}
