package engine

import "testing"

func TestDecisionBlock(t *testing.T) {
	t.Parallel()
	const withDefault = `{"name": "d", "blocks": [{"ref": "pick", "type": "decision", "expr": "flow.input.kind",
		"cases": {"a": [{"ref": "x", "type": "lambda", "expr": "1"}], "b": [{"ref": "y", "block": "echo"}]},
		"default": [{"ref": "z", "type": "lambda", "expr": "'other'"}]}]}`
	const noDefault = `{"name": "d", "blocks": [{"ref": "pick", "type": "decision", "expr": "flow.input.kind",
		"cases": {"a": [{"ref": "x", "type": "lambda", "expr": "1"}], "b": [{"ref": "y", "block": "echo"}]}},
		{"ref": "after", "type": "lambda", "expr": "2"}]}`
	runBlockRows(t, []blockRow{{
		name: "case chosen starts its blocks and skips the others", flow: withDefault, input: `{"kind": "b"}`,
		steps: map[string]StepStatus{"pick": StepRunning, "x": StepSkipped, "y": StepScheduled, "z": StepSkipped},
		run:   RunRunning, seen: []string{"task y #1"},
	}, {
		name: "the case finishing finishes the decision with its output", flow: withDefault, input: `{"kind": "b"}`,
		acts:  []act{completed("y", `{"v": 2}`)},
		steps: map[string]StepStatus{"pick": StepSucceeded, "x": StepSkipped, "y": StepSucceeded, "z": StepSkipped},
		run:   RunSucceeded, output: `{"v": 2}`, outs: map[string]string{"pick": `{"v": 2}`},
	}, {
		name: "a case of lambdas finishes at once", flow: withDefault, input: `{"kind": "a"}`,
		steps: map[string]StepStatus{"pick": StepSucceeded, "x": StepSucceeded, "y": StepSkipped, "z": StepSkipped},
		run:   RunSucceeded, output: `1`,
	}, {
		name: "no case matches: the default runs", flow: withDefault, input: `{"kind": "q"}`,
		steps: map[string]StepStatus{"pick": StepSucceeded, "x": StepSkipped, "y": StepSkipped, "z": StepSucceeded},
		run:   RunSucceeded, output: `"other"`,
	}, {
		name: "no case matches and no default: the decision fails", flow: noDefault, input: `{"kind": "q"}`,
		steps: map[string]StepStatus{"pick": StepFailed, "x": StepSkipped, "y": StepSkipped},
		run:   RunFailed, errs: map[string]string{"pick": `decision "pick" chose "q", which is not a case (a, b), and there is no default`},
	}, {
		name: "a failing case fails the decision", flow: withDefault, input: `{"kind": "b"}`,
		acts:  []act{failed("y", "broken", false)},
		steps: map[string]StepStatus{"pick": StepFailed, "x": StepSkipped, "y": StepFailed, "z": StepSkipped},
		run:   RunFailed, errs: map[string]string{"pick": "broken", "run": "broken"},
	}})
}
