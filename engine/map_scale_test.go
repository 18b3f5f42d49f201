package engine_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/weftlabs/weft/engine"
)

// A map larger than its concurrency runs every item once, in order of
// start, never more than the concurrency at a time, and gathers every
// output in item order; reports inside it are decided per iteration.
func TestMapManyItemsBoundedConcurrency(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "m", "input_schema": {"type": "object"}, "blocks": [
	  {"ref": "pre", "block": "echo"},
	  {"ref": "each", "type": "map", "items": "1..flow.input.n", "concurrency": 7, "do": [
	    {"ref": "x", "block": "echo", "input": {"i": "${item}"}},
	    {"ref": "y", "block": "echo", "input": {"i": "${item}", "x": "${x.output}"}}]},
	  {"ref": "post", "block": "echo", "input": {"n": "${each.output}"}}]}`)
	const n = 60
	r := b.start(name, fmt.Sprintf(`{"n": %d}`, n))
	b.complete(b.one("echo"), `0`)
	seen := map[string]bool{}
	for round := 0; ; round++ {
		ts := b.poll("echo", 100)
		if len(ts) == 0 {
			t.Fatalf("round %d: no task; run %s", round, stepList(b.run(r.ID)))
		}
		if ts[0].Path == "post" {
			var in struct {
				N []int `json:"n"`
			}
			if err := json.Unmarshal(ts[0].Input, &in); err != nil || len(in.N) != n {
				t.Fatalf("post input %s: want %d outputs", ts[0].Input, n)
			}
			for i, v := range in.N {
				if v != 2*(i+1) {
					t.Fatalf("output %d = %d, want %d", i, v, 2*(i+1))
				}
			}
			b.complete(ts[0], `"ok"`)
			break
		}
		if len(ts) > 7 {
			t.Fatalf("round %d: %d tasks in flight, want at most 7", round, len(ts))
		}
		// Complete the newest first, so iterations finish out of order.
		for i := len(ts) - 1; i >= 0; i-- {
			tk := ts[i]
			if seen[tk.Path] {
				t.Fatalf("%s delivered twice", tk.Path)
			}
			seen[tk.Path] = true
			var in struct {
				I int `json:"i"`
				X int `json:"x"`
			}
			_ = json.Unmarshal(tk.Input, &in)
			if tk.Ref == "x" {
				b.complete(tk, fmt.Sprint(in.I))
			} else {
				b.complete(tk, fmt.Sprint(in.I+in.X))
			}
		}
	}
	if len(seen) != 2*n {
		t.Fatalf("%d map tasks ran, want %d", len(seen), 2*n)
	}
	wantStatus(t, b.run(r.ID), engine.RunSucceeded)
}

// Two maps running side by side in a fork, and a failing item: reports
// inside one map that cannot be decided from its own iteration (the other
// map's iterations, cancelling siblings) are decided on the whole run.
func TestMapsInForkAndFailingItem(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "mf", "blocks": [
	  {"ref": "f", "type": "fork", "branches": [
	    [{"ref": "m1", "type": "map", "items": "1..6", "concurrency": 2, "do": [{"ref": "a", "block": "echo", "input": {"i": "${item}"}}]}],
	    [{"ref": "m2", "type": "map", "items": "1..6", "concurrency": 3, "do": [{"ref": "b", "block": "echo", "input": {"i": "${item}"}}]}]]}]}`)
	r := b.start(name, `{}`)
	for i := 0; i < 24; i++ {
		ts := b.poll("echo", 100)
		if len(ts) == 0 {
			break
		}
		if len(ts) > 5 {
			t.Fatalf("%d tasks in flight, want at most 2+3", len(ts))
		}
		for _, tk := range ts {
			b.complete(tk, `1`)
		}
	}
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunSucceeded)
	jsonEq(t, "fork output", wantStep(t, got, "f", engine.StepSucceeded).Output, `{"m1": [1,1,1,1,1,1], "m2": [1,1,1,1,1,1]}`)

	name = b.flow(`{"name": "mfail", "blocks": [
	  {"ref": "m", "type": "map", "items": "1..10", "concurrency": 3, "do": [{"ref": "a", "block": "echo"}]}]}`)
	r = b.start(name, `{}`)
	ts := b.poll("echo", 100)
	if len(ts) != 3 {
		t.Fatalf("got %d tasks, want 3", len(ts))
	}
	b.complete(ts[0], `1`)
	b.fail(ts[1], "boom", false)
	got = b.run(r.ID)
	wantStatus(t, got, engine.RunFailed)
	wantStep(t, got, "m[1].a", engine.StepFailed)
	wantStep(t, got, "m[2].a", engine.StepCancelled)
	if s := step(got, "m[4].a"); s.Status != "absent" {
		t.Fatalf("m[4].a is %s; items after a failure must not start", s.Status)
	}
}
