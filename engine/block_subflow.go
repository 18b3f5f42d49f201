package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/weftlabs/weft/flows"
)

// A subflow starts a child run of another flow and waits for it; the
// child's output is the step's.
type subflowBlock struct{}

func (subflowBlock) start(d *decider, n *flows.Node, st *Step, sc *scope) {
	d.begin(st)
	in, err := d.evalInput(n, n.InputValue, sc)
	if err != nil {
		d.failStep(st, &ErrorInfo{Message: "input: " + err.Error(), Type: "expression"})
		return
	}
	st.Input = in
	st.ChildRunID = childRunID(d.run.ID, st.Path, st.Seq)
	st.Status = StepWaiting
	d.fx.Children = append(d.fx.Children, childStart{ID: st.ChildRunID, Path: st.Path, Flow: n.FlowName, Version: n.FlowVersion, Input: in})
}

func (subflowBlock) drive(*decider, *flows.Node, *Step, *scope) {}

func (subflowBlock) stop(d *decider, st *Step) {
	if st.ChildRunID != "" {
		d.fx.CancelChildren = append(d.fx.CancelChildren, st.ChildRunID)
	}
}

func (subflowBlock) finished(*decider, *Step) {}
func (subflowBlock) control() bool            { return false }

// childFinished folds the end of st's child run in.
func (d *decider) childFinished(st *Step, c *Run) {
	if c.Status == RunSucceeded {
		d.succeed(st, c.Output)
		return
	}
	msg := fmt.Sprintf("subflow run %s %s", c.ID, c.Status)
	if c.Error != nil && c.Error.Message != "" {
		msg += ": " + c.Error.Message
	}
	d.finishStep(st, StepFailed, &ErrorInfo{Message: msg, Type: "subflow"})
}

// childRunID is the id of the child run a subflow step starts.
func childRunID(parent, path string, seq int) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("child\x00%s\x00%s\x00%d", parent, path, seq)))
	return hex.EncodeToString(h[:12])
}
