package engine_test

import (
	"strings"
	"testing"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/flows"
)

// A cycle stored before it could be refused (here written straight to the
// store, past the upload check) ends at the nesting limit: the run 16
// subflows deep does not start a 17th; every run fails and the start
// request returns.
func TestSubflowNestingLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.flow(`{"name": "ping", "blocks": [{"ref": "call", "type": "subflow", "flow": "pong"}]}`)
	b.flow(`{"name": "pong", "blocks": [{"ref": "call", "type": "subflow", "flow": "ping"}]}`)
	top := b.start("ping", `{}`)
	r := b.run(top.ID)
	wantStatus(t, r, engine.RunFailed)
	depth := 0
	id := top.ID
	for {
		r := b.run(id)
		wantStatus(t, r, engine.RunFailed)
		s := wantStep(t, r, "call", engine.StepFailed)
		if s.ChildRunID == "" {
			t.Fatal("no child run id")
		}
		if _, err := b.eng.GetRun(b.ctx, s.ChildRunID, false); err != nil {
			// The run that would be 17 deep was never created.
			if !strings.HasSuffix(s.Error.Message, "a flow that calls itself through its subflows never ends") {
				t.Fatalf("innermost error: %q", s.Error.Message)
			}
			break
		}
		depth++
		id = s.ChildRunID
		if depth > flows.MaxSubflowDepth {
			t.Fatalf("subflows nested deeper than %d", flows.MaxSubflowDepth)
		}
	}
	if depth != flows.MaxSubflowDepth {
		t.Fatalf("the chain stopped at depth %d, want %d", depth, flows.MaxSubflowDepth)
	}
	if !strings.Contains(r.Error.Message, "nest at most 16 deep") {
		t.Fatalf("top run's error does not say why: %q", r.Error.Message)
	}
}
