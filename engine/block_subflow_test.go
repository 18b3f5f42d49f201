package engine

import "testing"

func TestSubflowBlock(t *testing.T) {
	t.Parallel()
	const parent = `{"name": "parent", "blocks": [{"ref": "sub", "type": "subflow", "flow": "child", "input": {"n": 3}},
		{"ref": "after", "type": "lambda", "expr": "sub.output.got"}]}`
	runBlockRows(t, []blockRow{{
		name: "the child run starts and the step waits for it", flow: parent,
		steps: map[string]StepStatus{"sub": StepWaiting},
		run:   RunRunning, seen: []string{`child sub child {"n":3}`},
	}, {
		name: "the child succeeded: its output is the step's", flow: parent,
		acts:  []act{childEnded("sub", RunSucceeded, `{"got": 4}`, "")},
		steps: map[string]StepStatus{"sub": StepSucceeded, "after": StepSucceeded},
		run:   RunSucceeded, output: `4`, outs: map[string]string{"sub": `{"got": 4}`},
	}, {
		name: "the child failed: the step fails", flow: parent,
		acts:  []act{childEnded("sub", RunFailed, "", "no disk")},
		steps: map[string]StepStatus{"sub": StepFailed},
		run:   RunFailed, errs: map[string]string{"sub": "failed: no disk"},
	}, {
		name: "cancelling the run cancels the child", flow: parent,
		acts:  []act{cancelled()},
		steps: map[string]StepStatus{"sub": StepCancelled},
		run:   RunCancelled, seen: []string{"cancel child of sub"},
	}})
}
