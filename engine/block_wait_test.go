package engine

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/weftlabs/weft/blocks"
)

func TestWaitBlock(t *testing.T) {
	t.Parallel()
	const onSignal = `{"name": "w", "blocks": [{"ref": "approve", "type": "wait", "signal": "go", "timeout": "1h"},
		{"ref": "who", "type": "lambda", "expr": "approve.output.by"}]}`
	const later = `{"name": "w", "blocks": [{"ref": "a", "block": "once"}, {"ref": "approve", "type": "wait", "signal": "go"}]}`
	const nap = `{"name": "w", "blocks": [{"ref": "nap", "type": "wait", "duration": "10m"}]}`
	runBlockRows(t, []blockRow{{
		name: "a signal wait waits, with a timeout timer", flow: onSignal,
		steps: map[string]StepStatus{"approve": StepWaiting},
		run:   RunWaiting, seen: []string{"timer wait_timeout approve +1h0m0s"},
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

func TestHumanStep(t *testing.T) {
	t.Parallel()
	const human = `{"name": "h", "blocks": [
		{"ref": "approve", "type": "wait", "signal": "approval", "assignee": "reviewers", "sla": "4h", "timeout": "24h",
		 "form": {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}, "note": {"type": "string"}}},
		 "on_sla": [{"ref": "escalate", "block": "once", "input": {"to": "lead"}}]},
		{"ref": "after", "type": "lambda", "expr": "approve.output.ok"}]}`
	const gated = `{"name": "g", "blocks": [
		{"ref": "gate", "type": "decision", "expr": "'good'", "cases": {"good": [{"ref": "ok", "type": "wait", "signal": "approval"}]}}]}`
	const sideBySide = `{"name": "s", "blocks": [{"ref": "both", "type": "fork", "branches": [
		[{"ref": "ok", "type": "wait", "signal": "approval"}], [{"ref": "work", "block": "once"}]]}]}`
	runBlockRows(t, []blockRow{{
		name: "a human step waits: the run is waiting, with its SLA timer", flow: human,
		steps: map[string]StepStatus{"approve": StepWaiting},
		run:   RunWaiting, seen: []string{"timer wait_timeout approve +24h0m0s", "timer sla approve +4h0m0s"},
	}, {
		name: "the SLA passes: on_sla runs while the wait goes on, and the run is running", flow: human,
		acts:  []act{fired(TimerSLA, "approve")},
		steps: map[string]StepStatus{"approve": StepWaiting, "escalate": StepScheduled},
		run:   RunRunning, seen: []string{"task escalate #1"},
	}, {
		name: "the escalation done, the run waits again", flow: human,
		acts:  []act{fired(TimerSLA, "approve"), completed("escalate", `{}`)},
		steps: map[string]StepStatus{"approve": StepWaiting, "escalate": StepSucceeded},
		run:   RunWaiting,
	}, {
		name: "approved during the escalation: the flow goes on once it is done", flow: human,
		acts:  []act{fired(TimerSLA, "approve"), signalled("approval", `{"ok": true}`)},
		steps: map[string]StepStatus{"approve": StepSucceeded, "escalate": StepScheduled},
		run:   RunRunning,
	}, {
		name: "approved during the escalation, then it ends", flow: human,
		acts:  []act{fired(TimerSLA, "approve"), signalled("approval", `{"ok": true}`), completed("escalate", `{}`)},
		steps: map[string]StepStatus{"approve": StepSucceeded, "escalate": StepSucceeded, "after": StepSucceeded},
		run:   RunSucceeded, output: `true`,
	}, {
		name: "approved in time: no escalation", flow: human,
		acts:  []act{signalled("approval", `{"ok": false, "note": "too risky"}`)},
		steps: map[string]StepStatus{"approve": StepSucceeded, "after": StepSucceeded},
		run:   RunSucceeded, output: `false`,
	}, {
		name: "a decision around a wait: the run is waiting", flow: gated,
		steps: map[string]StepStatus{"gate": StepRunning, "ok": StepWaiting},
		run:   RunWaiting,
	}, {
		name: "a wait beside a running task: the run is running", flow: sideBySide,
		steps: map[string]StepStatus{"both": StepRunning, "ok": StepWaiting, "work": StepScheduled},
		run:   RunRunning, seen: []string{"task work #1"},
	}, {
		name: "the task done, only the wait is left: waiting", flow: sideBySide,
		acts:  []act{completed("work", `1`)},
		steps: map[string]StepStatus{"both": StepRunning, "ok": StepWaiting, "work": StepSucceeded},
		run:   RunWaiting,
	}})

	t.Run("the SLA fires once", func(t *testing.T) {
		t.Parallel()
		p := startPure(t, pureBlueprint(t, human), "")
		p.apply(fired(TimerSLA, "approve")(p))
		_, _, err := advance(p.bp, p.run, fired(TimerSLA, "approve")(p), p.now, schemaValidator{})
		if !errors.Is(err, errStale) {
			t.Fatalf("second SLA: got %v, want a stale timer", err)
		}
	})
	t.Run("a payload that breaks the form is refused with pointers; the run keeps waiting", func(t *testing.T) {
		t.Parallel()
		p := startPure(t, pureBlueprint(t, human), "")
		_, _, err := advance(p.bp, p.run, signalled("approval", `{"ok": "yes"}`)(p), p.now, schemaValidator{})
		ps := blocks.Problems(err)
		if len(ps) != 1 || ps[0].Pointer != "/ok" {
			t.Fatalf("got %v (%d problems), want one at /ok", err, len(ps))
		}
		if p.run.Status != RunWaiting || p.step("approve").Status != StepWaiting {
			t.Fatalf("run %s, approve %s: want waiting", p.run.Status, p.step("approve").Status)
		}
	})
	t.Run("a signal the run does not wait for is refused with the names it waits for", func(t *testing.T) {
		t.Parallel()
		p := startPure(t, pureBlueprint(t, gated), "")
		for _, name := range []string{"other", "approval2"} {
			_, _, err := advance(p.bp, p.run, signalled(name, `{}`)(p), p.now, schemaValidator{})
			var sr *SignalRefused
			if !errors.As(err, &sr) || !errors.Is(err, ErrInvalidState) || len(sr.Waiting) != 1 || sr.Waiting[0] != "approval" ||
				!strings.Contains(err.Error(), "it waits for: approval") {
				t.Fatalf("signal %s: got %v, want refused, waiting for approval", name, err)
			}
		}
	})
	t.Run("readers see a decision whose only live child waits as waiting", func(t *testing.T) {
		t.Parallel()
		p := startPure(t, pureBlueprint(t, gated), "")
		r := p.run
		r.Steps = append([]Step(nil), r.Steps...)
		showWaiting(p.bp, &r)
		got := map[string]StepStatus{}
		for _, st := range r.Steps {
			got[st.Path] = st.Status
		}
		if got["gate"] != StepWaiting || len(r.WaitingFor) != 1 || r.WaitingFor[0].Signal != "approval" {
			b, _ := json.Marshal(r.WaitingFor)
			t.Fatalf("gate %s, waiting for %s", got["gate"], b)
		}
	})
}
