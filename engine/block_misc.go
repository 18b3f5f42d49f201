package engine

import (
	"encoding/json"

	"github.com/weftlabs/weft/flows"
)

// A lambda evaluates its expression in place; the value is its output.
type lambdaBlock struct{}

func (lambdaBlock) start(d *decider, n *flows.Node, st *Step, sc *scope) {
	d.begin(st)
	v, err := n.ExprProg.Eval(d.env(n.ExprProg.Names(), sc))
	if err != nil {
		d.failStep(st, &ErrorInfo{Message: err.Error(), Type: "expression"})
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		d.failStep(st, &ErrorInfo{Message: "lambda result is not JSON: " + err.Error(), Type: "expression"})
		return
	}
	d.succeed(st, b)
}

func (lambdaBlock) drive(*decider, *flows.Node, *Step, *scope) {}
func (lambdaBlock) stop(*decider, *Step)                       {}
func (lambdaBlock) finished(*decider, *Step)                   {}
func (lambdaBlock) control() bool                              { return false }

// A fail block fails its step with its message.
type failBlock struct{}

func (failBlock) start(d *decider, n *flows.Node, st *Step, sc *scope) {
	d.begin(st)
	v, err := n.MessageValue.Eval(d.env(n.MessageValue.Names(), sc))
	msg := flows.Stringify(v)
	if err != nil {
		msg = "fail message: " + err.Error()
	}
	d.failStep(st, &ErrorInfo{Message: msg, Type: "fail"})
}

func (failBlock) drive(*decider, *flows.Node, *Step, *scope) {}
func (failBlock) stop(*decider, *Step)                       {}
func (failBlock) finished(*decider, *Step)                   {}
func (failBlock) control() bool                              { return false }
