package engine_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/weftlabs/weft/engine"
)

func TestDecision(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, input, ran, skipped string
		status                    engine.RunStatus
	}{
		{"good case", `{"r2": 0.9}`, "good_step", "bad_step", engine.RunSucceeded},
		{"bad case", `{"r2": 0.1}`, "bad_step", "good_step", engine.RunSucceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			name := b.flow(`{"name": "dec", "blocks": [
				{"ref": "gate", "type": "decision", "expr": "flow.input.r2 >= 0.8 ? 'good' : 'bad'", "cases": {
					"good": [{"ref": "good_step", "type": "lambda", "expr": "'yes'"}],
					"bad":  [{"ref": "bad_step", "type": "lambda", "expr": "'no'"}, {"ref": "nested", "type": "fork", "branches": [[{"ref": "deep", "type": "lambda", "expr": "1"}]]}]
				}}
			]}`)
			r := b.run(b.start(name, tc.input).ID)
			wantStatus(t, r, tc.status)
			wantStep(t, r, tc.ran, engine.StepSucceeded)
			wantStep(t, r, tc.skipped, engine.StepSkipped)
			gate := wantStep(t, r, "gate", engine.StepSucceeded)
			if tc.ran == "good_step" {
				jsonEq(t, "decision output", gate.Output, `"yes"`)
				wantStep(t, r, "nested", engine.StepSkipped)
				wantStep(t, r, "deep", engine.StepSkipped)
			} else {
				jsonEq(t, "decision output", gate.Output, `{"deep": 1}`)
			}
		})
	}
	t.Run("no case and no default fails", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		name := b.flow(`{"name": "dec", "blocks": [
			{"ref": "gate", "type": "decision", "expr": "'other'", "cases": {"a": [{"ref": "x", "type": "lambda", "expr": "1"}]}}]}`)
		r := b.run(b.start(name, `{}`).ID)
		wantStatus(t, r, engine.RunFailed)
		wantStep(t, r, "x", engine.StepSkipped)
		if r.Error == nil || r.Error.Step != "gate" {
			t.Fatalf("run error: got %+v, want one naming step gate", r.Error)
		}
	})
	t.Run("default", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		name := b.flow(`{"name": "dec", "blocks": [
			{"ref": "gate", "type": "decision", "expr": "'other'", "cases": {"a": [{"ref": "x", "type": "lambda", "expr": "1"}]},
			 "default": [{"ref": "d", "type": "lambda", "expr": "2"}]}]}`)
		r := b.run(b.start(name, `{}`).ID)
		wantStatus(t, r, engine.RunSucceeded)
		wantStep(t, r, "x", engine.StepSkipped)
		jsonEq(t, "gate output", wantStep(t, r, "gate", engine.StepSucceeded).Output, `2`)
	})
}

func TestForkJoinAll(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "fork", "blocks": [
		{"ref": "train", "type": "fork", "branches": [
			[{"ref": "linear", "block": "echo", "input": {"algo": "linear"}}],
			[{"ref": "forest", "block": "echo", "input": {"algo": "forest"}}, {"ref": "after", "type": "lambda", "expr": "forest.output.r2 * 2"}]
		]},
		{"ref": "best", "type": "lambda", "expr": "train.output"}
	]}`)
	r := b.start(name, `{}`)
	ts := b.poll("echo", 10)
	if len(ts) != 2 {
		t.Fatalf("got %d tasks, want both branches scheduled at once", len(ts))
	}
	for _, tk := range ts {
		if tk.Ref == "linear" {
			b.complete(tk, `{"r2": 0.5}`)
		} else {
			wantStep(t, b.run(r.ID), "train", engine.StepRunning)
			b.complete(tk, `{"r2": 0.4}`)
		}
	}
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunSucceeded)
	jsonEq(t, "fork output", wantStep(t, got, "train", engine.StepSucceeded).Output, `{"linear": {"r2": 0.5}, "after": 0.8}`)
}

func TestForkJoinAnyCancelsLosers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "fork", "blocks": [
		{"ref": "race", "type": "fork", "join": "any", "branches": [
			[{"ref": "slow", "block": "echo"}, {"ref": "slow2", "block": "echo"}],
			[{"ref": "fast", "block": "echo"}]
		]}
	]}`)
	r := b.start(name, `{}`)
	ts := b.poll("echo", 10)
	var slow engine.Task
	for _, tk := range ts {
		if tk.Ref == "fast" {
			b.complete(tk, `"won"`)
		} else {
			slow = tk
		}
	}
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunSucceeded)
	jsonEq(t, "fork output", wantStep(t, got, "race", engine.StepSucceeded).Output, `{"fast": "won"}`)
	wantStep(t, got, "slow", engine.StepCancelled)
	if step(got, "slow2").Status != "absent" {
		t.Fatalf("slow2 should never start, got %s", step(got, "slow2").Status)
	}
	hb, err := b.eng.Heartbeat(b.ctx, slow.ID, slow.Lease)
	if err != nil || !hb.CancelRequested {
		t.Fatalf("heartbeat of losing branch: got %+v, %v; want cancel_requested", hb, err)
	}
	// The loser's late report is accepted and changes nothing.
	b.complete(slow, `"late"`)
	wantStep(t, b.run(r.ID), "slow", engine.StepCancelled)
}

func TestForkFailureCancelsSiblings(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "fork", "blocks": [
		{"ref": "both", "type": "fork", "branches": [[{"ref": "x", "block": "echo"}], [{"ref": "y", "block": "echo"}]]}]}`)
	r := b.start(name, `{}`)
	ts := b.poll("echo", 10)
	for _, tk := range ts {
		if tk.Ref == "x" {
			b.fail(tk, "boom", false)
		}
	}
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunFailed)
	wantStep(t, got, "x", engine.StepFailed)
	wantStep(t, got, "y", engine.StepCancelled)
	wantStep(t, got, "both", engine.StepFailed)
	if got.Error.Message != "boom" || got.Error.Step != "x" {
		t.Fatalf("run error: got %+v, want boom at x", got.Error)
	}
}

func TestMapConcurrencyAndPaths(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "m", "blocks": [
		{"ref": "each", "type": "map", "items": "flow.input.docs", "concurrency": 2, "do": [
			{"ref": "score", "block": "echo", "input": {"doc": "${item}", "i": "${index}"}},
			{"ref": "double", "type": "lambda", "expr": "score.output * 2"}
		]}
	]}`)
	r := b.start(name, `{"docs": ["a", "b", "c"]}`)
	ts := b.poll("echo", 10)
	if len(ts) != 2 {
		t.Fatalf("concurrency 2: got %d tasks, want 2", len(ts))
	}
	if ts[0].Path != "each[0].score" || ts[1].Path != "each[1].score" {
		t.Fatalf("paths: got %s, %s", ts[0].Path, ts[1].Path)
	}
	jsonEq(t, "item input", ts[1].Input, `{"doc": "b", "i": 1}`)
	b.complete(ts[1], `20`)
	t3 := b.one("echo")
	if t3.Path != "each[2].score" {
		t.Fatalf("third: got %s", t3.Path)
	}
	b.complete(t3, `30`)
	b.complete(ts[0], `10`)
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunSucceeded)
	jsonEq(t, "map output", wantStep(t, got, "each", engine.StepSucceeded).Output, `[20, 40, 60]`)
	wantStep(t, got, "each[1].double", engine.StepSucceeded)
}

func TestMapOverRange(t *testing.T) {
	t.Parallel()
	b := setup(t)
	name := b.flow(`{"name": "m", "blocks": [
		{"ref": "each", "type": "map", "items": "1..3", "do": [{"ref": "sq", "type": "lambda", "expr": "item * item + index"}]}]}`)
	got := b.run(b.start(name, `{}`).ID)
	wantStatus(t, got, engine.RunSucceeded)
	jsonEq(t, "map output", wantStep(t, got, "each", engine.StepSucceeded).Output, `[1, 5, 11]`)
}

func TestMapEmpty(t *testing.T) {
	t.Parallel()
	b := setup(t)
	name := b.flow(`{"name": "m", "blocks": [
		{"ref": "each", "type": "map", "items": "flow.input.docs", "do": [{"ref": "x", "type": "lambda", "expr": "item"}]}]}`)
	got := b.run(b.start(name, `{"docs": []}`).ID)
	wantStatus(t, got, engine.RunSucceeded)
	jsonEq(t, "map output", wantStep(t, got, "each", engine.StepSucceeded).Output, `[]`)
}

func TestLoop(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "loop", "blocks": [
		{"ref": "retrain", "type": "loop", "max_iterations": 5, "while": "fit.output.loss > 0.1 && iteration < 4", "do": [
			{"ref": "fit", "block": "echo", "input": {"it": "${iteration}"}}
		]},
		{"ref": "final", "type": "lambda", "expr": "retrain.output"}
	]}`)
	r := b.start(name, `{}`)
	losses := []string{`{"loss": 0.5}`, `{"loss": 0.3}`, `{"loss": 0.05}`}
	for i, out := range losses {
		tk := b.one("echo")
		if want := "retrain[" + string(rune('0'+i)) + "].fit"; tk.Path != want {
			t.Fatalf("iteration %d: path %s, want %s", i, tk.Path, want)
		}
		jsonEq(t, "iteration input", tk.Input, `{"it": `+string(rune('0'+i))+`}`)
		b.complete(tk, out)
	}
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunSucceeded)
	jsonEq(t, "loop output", wantStep(t, got, "retrain", engine.StepSucceeded).Output, `{"loss": 0.05}`)
	jsonEq(t, "after loop", wantStep(t, got, "final", engine.StepSucceeded).Output, `{"loss": 0.05}`)
}

func TestLoopMaxIterations(t *testing.T) {
	t.Parallel()
	b := setup(t)
	name := b.flow(`{"name": "loop", "blocks": [
		{"ref": "spin", "type": "loop", "max_iterations": 3, "while": "true", "do": [{"ref": "n", "type": "lambda", "expr": "iteration"}]}]}`)
	got := b.run(b.start(name, `{}`).ID)
	wantStatus(t, got, engine.RunSucceeded)
	jsonEq(t, "loop output", wantStep(t, got, "spin", engine.StepSucceeded).Output, `2`)
	wantStep(t, got, "spin[2].n", engine.StepSucceeded)
	if s := step(got, "spin[3].n"); s.Status != "absent" {
		t.Fatalf("a 4th iteration ran: %s", s.Status)
	}
}

func TestLambdaError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	name := b.flow(`{"name": "l", "blocks": [{"ref": "bad", "type": "lambda", "expr": "flow.input.x / flow.input.missing.y"}]}`)
	got := b.run(b.start(name, `{"x": 1}`).ID)
	wantStatus(t, got, engine.RunFailed)
	wantStep(t, got, "bad", engine.StepFailed)
}

func TestWaitDuration(t *testing.T) {
	t.Parallel()
	b := setup(t)
	name := b.flow(`{"name": "w", "blocks": [{"ref": "pause", "type": "wait", "duration": "10m"}, {"ref": "after", "type": "lambda", "expr": "pause.output"}]}`)
	r := b.start(name, `{}`)
	wantStep(t, r, "pause", engine.StepWaiting)
	next, ok, err := b.eng.Tick(b.ctx)
	if err != nil || !ok || !next.Equal(b.clock.Now().Add(10*time.Minute)) {
		t.Fatalf("next wake: got %v %v %v, want in 10m", next, ok, err)
	}
	b.advance(9 * time.Minute)
	wantStep(t, b.run(r.ID), "pause", engine.StepWaiting)
	b.advance(time.Minute)
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunSucceeded)
	jsonEq(t, "wait output", wantStep(t, got, "pause", engine.StepSucceeded).Output, `null`)
}

func TestWaitUntil(t *testing.T) {
	t.Parallel()
	b := setup(t)
	name := b.flow(`{"name": "w", "blocks": [{"ref": "pause", "type": "wait", "until": "${flow.input.at}"}]}`)
	r := b.start(name, `{"at": "2030-01-01T01:00:00Z"}`)
	wantStep(t, r, "pause", engine.StepWaiting)
	b.advance(time.Hour)
	wantStatus(t, b.run(r.ID), engine.RunSucceeded)
	past := b.start(name, `{"at": "2000-01-01T00:00:00Z"}`)
	wantStatus(t, past, engine.RunSucceeded)
}

func TestWaitSignal(t *testing.T) {
	t.Parallel()
	b := setup(t)
	name := b.flow(`{"name": "w", "blocks": [{"ref": "approve", "type": "wait", "signal": "approval", "timeout": "24h"}, {"ref": "who", "type": "lambda", "expr": "approve.output.by"}]}`)
	t.Run("delivered", func(t *testing.T) {
		t.Parallel()
		r := b.start(name, `{}`)
		got, err := b.eng.WaitRun(b.ctx, r.ID, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		wantStep(t, got, "approve", engine.StepWaiting)
		if err := b.eng.Signal(b.ctx, r.ID, "approval", json.RawMessage(`{"by": "alice"}`), "operator:alice"); err != nil {
			t.Fatal(err)
		}
		got = b.run(r.ID)
		wantStatus(t, got, engine.RunSucceeded)
		jsonEq(t, "who", wantStep(t, got, "who", engine.StepSucceeded).Output, `"alice"`)
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		name := b.flow(`{"name": "w", "blocks": [{"ref": "approve", "type": "wait", "signal": "approval", "timeout": "24h"}]}`)
		r := b.start(name, `{}`)
		b.advance(24 * time.Hour)
		got := b.run(r.ID)
		wantStatus(t, got, engine.RunFailed)
		s := wantStep(t, got, "approve", engine.StepTimedOut)
		if s.Error == nil || s.Error.Message == "" {
			t.Fatalf("timed-out wait has no message")
		}
		if err := b.eng.Signal(b.ctx, r.ID, "approval", nil, ""); err == nil {
			t.Fatalf("signal to a finished run: want an error")
		}
	})
}

func TestSignalBeforeWaitIsKept(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "w", "blocks": [{"ref": "work", "block": "echo"}, {"ref": "approve", "type": "wait", "signal": "go"}]}`)
	r := b.start(name, `{}`)
	if err := b.eng.Signal(b.ctx, r.ID, "go", json.RawMessage(`"early"`), ""); err != nil {
		t.Fatal(err)
	}
	b.complete(b.one("echo"), `{}`)
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunSucceeded)
	jsonEq(t, "wait output", wantStep(t, got, "approve", engine.StepSucceeded).Output, `"early"`)
}

func TestSubflow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	b.flow(`{"name": "child", "input_schema": {"type": "object", "required": ["n"]}, "blocks": [{"ref": "work", "block": "echo", "input": {"n": "${flow.input.n}"}}], "output": {"got": "${work.output}"}}`)
	parent := b.flow(`{"name": "parent", "blocks": [{"ref": "sub", "type": "subflow", "flow": "child", "input": {"n": 3}}, {"ref": "after", "type": "lambda", "expr": "sub.output.got"}]}`)
	r := b.start(parent, `{}`)
	sub := wantStep(t, r, "sub", engine.StepWaiting)
	if sub.ChildRunID == "" {
		t.Fatal("no child run id")
	}
	child := b.run(sub.ChildRunID)
	wantStatus(t, child, engine.RunRunning)
	if child.ParentRunID != r.ID {
		t.Fatalf("child parent: got %q", child.ParentRunID)
	}
	b.complete(b.one("echo"), `"ok"`)
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunSucceeded)
	jsonEq(t, "after", wantStep(t, got, "after", engine.StepSucceeded).Output, `"ok"`)

	t.Run("child failure fails the step", func(t *testing.T) {
		t.Parallel()
		r := b.start(parent, `{}`)
		b.fail(b.one("echo"), "child broke", false)
		got := b.run(r.ID)
		wantStatus(t, got, engine.RunFailed)
		s := wantStep(t, got, "sub", engine.StepFailed)
		if s.Error == nil || s.Error.Type != "subflow" {
			t.Fatalf("sub error: %+v", s.Error)
		}
	})
	t.Run("bad child input fails the step", func(t *testing.T) {
		t.Parallel()
		name := b.flow(`{"name": "parent2", "blocks": [{"ref": "sub", "type": "subflow", "flow": "child", "input": {"m": 3}}]}`)
		got := b.run(b.start(name, `{}`).ID)
		wantStatus(t, got, engine.RunFailed)
		wantStep(t, got, "sub", engine.StepFailed)
	})
}

func TestFailBlock(t *testing.T) {
	t.Parallel()
	b := setup(t)
	name := b.flow(`{"name": "f", "blocks": [{"ref": "stop", "type": "fail", "message": "quality too low: ${flow.input.q}"}, {"ref": "never", "type": "lambda", "expr": "1"}]}`)
	got := b.run(b.start(name, `{"q": 0.2}`).ID)
	wantStatus(t, got, engine.RunFailed)
	if got.Error == nil || got.Error.Message != "quality too low: 0.2" {
		t.Fatalf("run error: got %+v", got.Error)
	}
	if s := step(got, "never"); s.Status != "absent" {
		t.Fatalf("block after fail ran: %s", s.Status)
	}
}

func TestNestedMapInLoopPaths(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "n", "blocks": [
		{"ref": "rounds", "type": "loop", "max_iterations": 2, "while": "true", "do": [
			{"ref": "each", "type": "map", "items": "['a', 'b']", "do": [
				{"ref": "w", "block": "echo", "input": {"item": "${item}", "round": "${iteration}"}}]}]}]}`)
	r := b.start(name, `{}`)
	var paths []string
	for round := 0; round < 2; round++ {
		for _, tk := range b.poll("echo", 10) {
			paths = append(paths, tk.Path)
			var in struct {
				Item  string `json:"item"`
				Round int    `json:"round"`
			}
			_ = json.Unmarshal(tk.Input, &in)
			if in.Round != round {
				t.Fatalf("%s: round %d, want %d", tk.Path, in.Round, round)
			}
			b.complete(tk, `"`+in.Item+`"`)
		}
	}
	want := []string{"rounds[0].each[0].w", "rounds[0].each[1].w", "rounds[1].each[0].w", "rounds[1].each[1].w"}
	if len(paths) != len(want) {
		t.Fatalf("paths: got %v, want %v", paths, want)
	}
	for i := range want {
		if paths[i] != want[i] {
			t.Fatalf("paths: got %v, want %v", paths, want)
		}
	}
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunSucceeded)
	jsonEq(t, "loop output", step(got, "rounds").Output, `["a", "b"]`)
}

func TestRerunFromForkBranch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "rf", "blocks": [
		{"ref": "f", "type": "fork", "branches": [[{"ref": "x", "block": "echo"}], [{"ref": "y", "block": "echo"}]]}]}`)
	r := b.start(name, `{}`)
	for _, tk := range b.poll("echo", 2) {
		b.complete(tk, `"`+tk.Ref+`1"`)
	}
	wantStatus(t, b.run(r.ID), engine.RunSucceeded)
	nr, err := b.eng.Rerun(b.ctx, r.ID, engine.RerunParams{From: "y"})
	if err != nil {
		t.Fatal(err)
	}
	wantStep(t, nr, "x", engine.StepSucceeded)
	tk := b.one("echo")
	if tk.Ref != "y" {
		t.Fatalf("rerun ran %s, want y", tk.Ref)
	}
	b.complete(tk, `"y2"`)
	got := b.run(nr.ID)
	wantStatus(t, got, engine.RunSucceeded)
	jsonEq(t, "fork output", step(got, "f").Output, `{"x": "x1", "y": "y2"}`)
}
