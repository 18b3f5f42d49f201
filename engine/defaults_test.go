package engine_test

import (
	"testing"

	"github.com/weftlabs/weft/engine"
)

// A run started without the inputs that have defaults in the flow's
// input_schema gets those defaults, as the generated form would show them.
func TestStartFillsInputDefaults(t *testing.T) {
	t.Parallel()
	b := setup(t)
	name := b.flow(`{"name": "defaults", "input_schema": {"type": "object", "required": ["url"], "properties": {
		"url": {"type": "string", "default": "data.csv"}, "seed": {"type": "integer", "default": 7}}},
		"blocks": [{"ref": "x", "type": "lambda", "expr": "flow.input.url + ':' + string(flow.input.seed)"}],
		"output": {"x": "${x.output}"}}`)
	r := b.start(name, `{}`)
	b.tick()
	r = b.run(r.ID)
	wantStatus(t, r, engine.RunSucceeded)
	jsonEq(t, "input", r.Input, `{"url": "data.csv", "seed": 7}`)
	jsonEq(t, "output", r.Output, `{"x": "data.csv:7"}`)

	r = b.start(name, `{"url": "other.csv"}`)
	b.tick()
	r = b.run(r.ID)
	jsonEq(t, "input", r.Input, `{"url": "other.csv", "seed": 7}`)
	jsonEq(t, "output", r.Output, `{"x": "other.csv:7"}`)
}
