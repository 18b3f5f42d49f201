package engine

import "testing"

func TestWaitBlock(t *testing.T) {
	t.Parallel()
	const onSignal = `{"name": "w", "blocks": [{"ref": "approve", "type": "wait", "signal": "go", "timeout": "1h"},
		{"ref": "who", "type": "lambda", "expr": "approve.output.by"}]}`
	const later = `{"name": "w", "blocks": [{"ref": "a", "block": "once"}, {"ref": "approve", "type": "wait", "signal": "go"}]}`
	const nap = `{"name": "w", "blocks": [{"ref": "nap", "type": "wait", "duration": "10m"}]}`
	runBlockRows(t, []blockRow{{
		name: "a signal wait waits, with a timeout timer", flow: onSignal,
		steps: map[string]StepStatus{"approve": StepWaiting},
		run:   RunRunning, seen: []string{"timer wait_timeout approve +1h0m0s"},
	}, {
		name: "the signal arrives after the wait began", flow: onSignal,
		acts:  []act{signalled("go", `{"by": "ann"}`)},
		steps: map[string]StepStatus{"approve": StepSucceeded, "who": StepSucceeded},
		run:   RunSucceeded, output: `"ann"`,
	}, {
		name: "the signal arrives before the wait is reached: it is kept", flow: later,
		acts:  []act{signalled("go", `{"by": "bo"}`)},
		steps: map[string]StepStatus{"a": StepScheduled},
		run:   RunRunning,
	}, {
		name: "a kept signal satisfies the wait when it is reached", flow: later,
		acts:  []act{signalled("go", `{"by": "bo"}`), completed("a", `1`)},
		steps: map[string]StepStatus{"a": StepSucceeded, "approve": StepSucceeded},
		run:   RunSucceeded, output: `{"by": "bo"}`,
	}, {
		name: "no signal within the timeout", flow: onSignal,
		acts:  []act{fired(TimerWaitTimeout, "approve")},
		steps: map[string]StepStatus{"approve": StepTimedOut},
		run:   RunFailed, errs: map[string]string{"approve": `no signal "go" within 1h0m0s`},
	}, {
		name: "a duration wait sets a wake-up", flow: nap,
		steps: map[string]StepStatus{"nap": StepWaiting},
		run:   RunRunning, seen: []string{"timer wake nap +10m0s"},
	}, {
		name: "the wake-up ends the wait", flow: nap,
		acts:  []act{fired(TimerWake, "nap")},
		steps: map[string]StepStatus{"nap": StepSucceeded},
		run:   RunSucceeded,
	}})
}
