package engine

import "testing"

func TestLambdaBlock(t *testing.T) {
	t.Parallel()
	runBlockRows(t, []blockRow{{
		name: "the value is the output", input: `{"n": 4}`,
		flow:  `{"name": "l", "blocks": [{"ref": "l", "type": "lambda", "expr": "flow.input.n * 2"}]}`,
		steps: map[string]StepStatus{"l": StepSucceeded},
		run:   RunSucceeded, output: `8`,
	}, {
		name: "an expression error fails the step", input: `{"n": 4}`,
		flow:  `{"name": "l", "blocks": [{"ref": "l", "type": "lambda", "expr": "flow.input.n.x"}, {"ref": "never", "type": "lambda", "expr": "1"}]}`,
		steps: map[string]StepStatus{"l": StepFailed},
		run:   RunFailed,
	}, {
		name: "a later task sees the output", input: `{"n": 4}`,
		flow:  `{"name": "l", "blocks": [{"ref": "l", "type": "lambda", "expr": "flow.input.n * 2"}, {"ref": "t", "block": "once", "input": {"v": "${l.output}"}}]}`,
		steps: map[string]StepStatus{"l": StepSucceeded, "t": StepScheduled},
		run:   RunRunning, seen: []string{"task t #1"},
	}})
}

func TestFailBlock(t *testing.T) {
	t.Parallel()
	const flow = `{"name": "f", "blocks": [{"ref": "check", "type": "lambda", "expr": "flow.input.q"},
		{"ref": "stop", "type": "fail", "message": "quality too low: ${check.output}"}, {"ref": "never", "type": "lambda", "expr": "1"}]}`
	runBlockRows(t, []blockRow{{
		name: "the message fails the step and the run", flow: flow, input: `{"q": 0.2}`,
		steps: map[string]StepStatus{"check": StepSucceeded, "stop": StepFailed},
		run:   RunFailed, errs: map[string]string{"stop": "quality too low: 0.2", "run": "quality too low: 0.2"},
	}, {
		name: "optional: the run goes on", input: `{"q": 0.2}`,
		flow:  `{"name": "f", "blocks": [{"ref": "stop", "type": "fail", "message": "soft", "optional": true}, {"ref": "next", "type": "lambda", "expr": "1"}]}`,
		steps: map[string]StepStatus{"stop": StepFailed, "next": StepSucceeded},
		run:   RunSucceeded, output: `1`,
	}, {
		name: "a catch handles it", input: `{"q": 0.2}`,
		flow:  `{"name": "f", "blocks": [{"ref": "stop", "type": "fail", "message": "soft", "catch": [{"ref": "fix", "type": "lambda", "expr": "stop.error.message"}]}]}`,
		steps: map[string]StepStatus{"stop": StepFailed, "fix": StepSucceeded},
		run:   RunSucceeded,
	}})
}
