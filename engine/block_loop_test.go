package engine

import "testing"

func TestLoopBlock(t *testing.T) {
	t.Parallel()
	const until = `{"name": "l", "blocks": [{"ref": "rounds", "type": "loop", "max_iterations": 5, "while": "t.output.more",
		"do": [{"ref": "t", "block": "once"}]}]}`
	const spin = `{"name": "l", "blocks": [{"ref": "rounds", "type": "loop", "max_iterations": 3, "while": "true",
		"do": [{"ref": "n", "type": "lambda", "expr": "iteration"}]}]}`
	runBlockRows(t, []blockRow{{
		name: "the first iteration starts", flow: until,
		steps: map[string]StepStatus{"rounds": StepRunning, "rounds[0].t": StepScheduled},
		run:   RunRunning, seen: []string{"task rounds[0].t #1"},
	}, {
		name: "while true: the next iteration starts", flow: until,
		acts:  []act{completed("rounds[0].t", `{"more": true}`)},
		steps: map[string]StepStatus{"rounds": StepRunning, "rounds[0].t": StepSucceeded, "rounds[1].t": StepScheduled},
		run:   RunRunning, seen: []string{"task rounds[1].t #1"},
	}, {
		name: "while false: the loop ends with the last iteration's output", flow: until,
		acts:  []act{completed("rounds[0].t", `{"more": true}`), completed("rounds[1].t", `{"more": false}`)},
		steps: map[string]StepStatus{"rounds": StepSucceeded, "rounds[0].t": StepSucceeded, "rounds[1].t": StepSucceeded},
		run:   RunSucceeded, output: `{"more": false}`,
	}, {
		name: "max_iterations stops a loop whose condition stays true", flow: spin,
		steps: map[string]StepStatus{"rounds": StepSucceeded, "rounds[0].n": StepSucceeded, "rounds[1].n": StepSucceeded, "rounds[2].n": StepSucceeded},
		run:   RunSucceeded, output: `2`,
	}, {
		name: "a failing iteration fails the loop", flow: until,
		acts:  []act{failed("rounds[0].t", "diverged", false)},
		steps: map[string]StepStatus{"rounds": StepFailed, "rounds[0].t": StepFailed},
		run:   RunFailed, errs: map[string]string{"rounds": "diverged"},
	}})
}
