package engine

import "testing"

func TestForkBlock(t *testing.T) {
	t.Parallel()
	const all = `{"name": "f", "blocks": [{"ref": "side", "type": "fork", "branches": [
		[{"ref": "x", "block": "once"}], [{"ref": "y", "block": "once"}]]}]}`
	const anyOf = `{"name": "f", "blocks": [{"ref": "side", "type": "fork", "join": "any", "branches": [
		[{"ref": "x", "block": "once"}], [{"ref": "y", "block": "once"}]]}]}`
	runBlockRows(t, []blockRow{{
		name: "every branch starts", flow: all,
		steps: map[string]StepStatus{"side": StepRunning, "x": StepScheduled, "y": StepScheduled},
		run:   RunRunning, seen: []string{"task x #1", "task y #1"},
	}, {
		name: "all: one branch done, the fork waits", flow: all,
		acts:  []act{completed("x", `1`)},
		steps: map[string]StepStatus{"side": StepRunning, "x": StepSucceeded, "y": StepScheduled},
		run:   RunRunning,
	}, {
		name: "all: every branch done, the fork gathers their outputs", flow: all,
		acts:  []act{completed("y", `2`), completed("x", `1`)},
		steps: map[string]StepStatus{"side": StepSucceeded, "x": StepSucceeded, "y": StepSucceeded},
		run:   RunSucceeded, output: `{"x": 1, "y": 2}`,
	}, {
		name: "all: a failing branch fails the fork and cancels the others", flow: all,
		acts:  []act{failed("x", "boom", false)},
		steps: map[string]StepStatus{"side": StepFailed, "x": StepFailed, "y": StepCancelled},
		run:   RunFailed, seen: []string{"abandon y"}, errs: map[string]string{"side": "boom", "run": "boom"},
	}, {
		name: "any: the first branch done wins and cancels the others", flow: anyOf,
		acts:  []act{completed("y", `2`)},
		steps: map[string]StepStatus{"side": StepSucceeded, "x": StepCancelled, "y": StepSucceeded},
		run:   RunSucceeded, seen: []string{"abandon x"}, output: `{"y": 2}`,
	}, {
		name: "any: a failing branch leaves the others running", flow: anyOf,
		acts:  []act{failed("x", "boom", false)},
		steps: map[string]StepStatus{"side": StepRunning, "x": StepFailed, "y": StepScheduled},
		run:   RunRunning,
	}, {
		name: "any: every branch failing fails the fork", flow: anyOf,
		acts:  []act{failed("x", "first", false), failed("y", "second", false)},
		steps: map[string]StepStatus{"side": StepFailed, "x": StepFailed, "y": StepFailed},
		run:   RunFailed, errs: map[string]string{"side": "first"},
	}})
}
