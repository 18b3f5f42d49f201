package engine

import "testing"

func TestMapBlock(t *testing.T) {
	t.Parallel()
	const lambdas = `{"name": "m", "blocks": [{"ref": "each", "type": "map", "items": "flow.input.docs",
		"do": [{"ref": "sq", "type": "lambda", "expr": "item * 10 + index"}]}]}`
	const tasks = `{"name": "m", "blocks": [{"ref": "each", "type": "map", "items": "flow.input.docs", "concurrency": 2,
		"do": [{"ref": "t", "block": "once"}]}]}`
	const docs = `{"docs": [1, 2, 3]}`
	runBlockRows(t, []blockRow{{
		name: "one iteration per item, outputs in item order", flow: lambdas, input: docs,
		steps: map[string]StepStatus{"each": StepSucceeded, "each[0].sq": StepSucceeded, "each[1].sq": StepSucceeded, "each[2].sq": StepSucceeded},
		run:   RunSucceeded, output: `[10, 21, 32]`,
	}, {
		name: "an empty list succeeds with an empty list", flow: lambdas, input: `{"docs": []}`,
		steps: map[string]StepStatus{"each": StepSucceeded},
		run:   RunSucceeded, output: `[]`,
	}, {
		name: "items that are not a list fail the map", flow: lambdas, input: `{"docs": "abc"}`,
		steps: map[string]StepStatus{"each": StepFailed},
		run:   RunFailed, errs: map[string]string{"each": `map "each": items must be a list, got string`},
	}, {
		name: "concurrency caps the iterations started", flow: tasks, input: docs,
		steps: map[string]StepStatus{"each": StepRunning, "each[0].t": StepScheduled, "each[1].t": StepScheduled},
		run:   RunRunning, seen: []string{"task each[0].t #1", "task each[1].t #1"},
	}, {
		name: "an iteration done starts the next item", flow: tasks, input: docs,
		acts:  []act{completed("each[1].t", `"b"`)},
		steps: map[string]StepStatus{"each": StepRunning, "each[0].t": StepScheduled, "each[1].t": StepSucceeded, "each[2].t": StepScheduled},
		run:   RunRunning, seen: []string{"task each[2].t #1"},
	}, {
		name: "every iteration done finishes the map", flow: tasks, input: docs,
		acts:  []act{completed("each[1].t", `"b"`), completed("each[0].t", `"a"`), completed("each[2].t", `"c"`)},
		steps: map[string]StepStatus{"each": StepSucceeded, "each[0].t": StepSucceeded, "each[1].t": StepSucceeded, "each[2].t": StepSucceeded},
		run:   RunSucceeded, output: `["a", "b", "c"]`,
	}, {
		name: "a failing iteration fails the map and cancels the others", flow: tasks, input: docs,
		acts:  []act{failed("each[1].t", "bad doc", false)},
		steps: map[string]StepStatus{"each": StepFailed, "each[0].t": StepCancelled, "each[1].t": StepFailed},
		run:   RunFailed, seen: []string{"abandon each[0].t"}, errs: map[string]string{"each": "bad doc"},
	}})
}
