package engine_test

import (
	"testing"

	"github.com/weftlabs/weft/engine"
)

func TestSequentialFlow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "seq", "blocks": [
		{"ref": "a", "block": "echo", "input": {"x": "${flow.input.x}"}},
		{"ref": "b", "block": "echo", "input": {"y": "${a.output.v + 1}"}}
	], "output": {"result": "${b.output.v}"}}`)
	r := b.start(name, `{"x": 41}`)
	wantStatus(t, r, engine.RunRunning)
	wantStep(t, r, "a", engine.StepScheduled)

	ta := b.one("echo")
	jsonEq(t, "input of a", ta.Input, `{"x": 41}`)
	wantStep(t, b.run(r.ID), "a", engine.StepRunning)
	b.complete(ta, `{"v": 1}`)

	tb := b.one("echo")
	jsonEq(t, "input of b", tb.Input, `{"y": 2}`)
	b.complete(tb, `{"v": 42}`)

	r = b.run(r.ID)
	wantStatus(t, r, engine.RunSucceeded)
	jsonEq(t, "run output", r.Output, `{"result": 42}`)
	if r.FinishedAt == nil || r.StartedAt == nil {
		t.Fatalf("times not set: %+v", r)
	}
}
