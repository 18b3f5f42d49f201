package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/weftlabs/weft/engine"
)

func TestCancelCascadesToChildren(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	b.flow(`{"name": "child", "blocks": [{"ref": "work", "block": "echo"}]}`)
	parent := b.flow(`{"name": "parent", "blocks": [{"ref": "sub", "type": "subflow", "flow": "child"}, {"ref": "local", "type": "wait", "duration": "1h"}]}`)
	r := b.start(parent, `{}`)
	childID := step(r, "sub").ChildRunID
	tk := b.one("echo")
	if err := b.eng.Cancel(b.ctx, r.ID, "operator:bob"); err != nil {
		t.Fatal(err)
	}
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunCancelled)
	wantStep(t, got, "sub", engine.StepCancelled)
	child := b.run(childID)
	wantStatus(t, child, engine.RunCancelled)
	wantStep(t, child, "work", engine.StepCancelled)
	hb, err := b.eng.Heartbeat(b.ctx, tk.ID, tk.Lease)
	if err != nil || !hb.CancelRequested {
		t.Fatalf("heartbeat of cancelled task: %+v %v", hb, err)
	}
	if err := b.eng.Cancel(b.ctx, r.ID, ""); !errors.Is(err, engine.ErrInvalidState) {
		t.Fatalf("second cancel: got %v, want ErrInvalidState", err)
	}
	evs, err := b.eng.Events(b.ctx, r.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range evs {
		if e.Kind == "run.cancelled" && e.Actor == "operator:bob" && e.From == "running" && e.To == "cancelled" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no run.cancelled event by operator:bob in %+v", evs)
	}
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "p", "blocks": [{"ref": "a", "block": "echo"}, {"ref": "b", "block": "echo"}]}`)
	r := b.start(name, `{}`)
	if err := b.eng.Pause(b.ctx, r.ID, ""); err != nil {
		t.Fatal(err)
	}
	if ts := b.poll("echo", 1); len(ts) != 0 {
		t.Fatalf("a paused run's queued task was handed out")
	}
	if err := b.eng.Resume(b.ctx, r.ID, ""); err != nil {
		t.Fatal(err)
	}
	ta := b.one("echo")
	if err := b.eng.Pause(b.ctx, r.ID, ""); err != nil {
		t.Fatal(err)
	}
	b.complete(ta, `1`) // in flight: may finish
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunPaused)
	wantStep(t, got, "a", engine.StepSucceeded)
	if s := step(got, "b"); s.Status != "absent" {
		t.Fatalf("paused run scheduled b: %s", s.Status)
	}
	if err := b.eng.Pause(b.ctx, r.ID, ""); !errors.Is(err, engine.ErrInvalidState) {
		t.Fatalf("pause twice: got %v", err)
	}
	if err := b.eng.Resume(b.ctx, r.ID, ""); err != nil {
		t.Fatal(err)
	}
	b.complete(b.one("echo"), `2`)
	wantStatus(t, b.run(r.ID), engine.RunSucceeded)
	if err := b.eng.Resume(b.ctx, r.ID, ""); !errors.Is(err, engine.ErrInvalidState) {
		t.Fatalf("resume finished: got %v", err)
	}
}

func TestRetryKeepsSuccessfulSteps(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "r", "blocks": [
		{"ref": "a", "block": "echo"},
		{"ref": "f", "type": "fork", "branches": [[{"ref": "x", "block": "echo"}], [{"ref": "y", "block": "echo"}]]},
		{"ref": "z", "type": "lambda", "expr": "a.output + f.output.x + f.output.y"}]}`)
	r := b.start(name, `{}`)
	b.complete(b.one("echo"), `1`)
	byRef := map[string]engine.Task{}
	for _, tk := range b.poll("echo", 2) {
		byRef[tk.Ref] = tk
	}
	b.complete(byRef["x"], `10`)
	b.fail(byRef["y"], "y broke", false)
	wantStatus(t, b.run(r.ID), engine.RunFailed)
	if err := b.eng.Retry(b.ctx, r.ID, "operator:amy"); err != nil {
		t.Fatal(err)
	}
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunRunning)
	wantStep(t, got, "a", engine.StepSucceeded)
	wantStep(t, got, "x", engine.StepSucceeded)
	ty := b.one("echo")
	if ty.Ref != "y" {
		t.Fatalf("retry re-ran %s, want only y", ty.Ref)
	}
	b.complete(ty, `100`)
	got = b.run(r.ID)
	wantStatus(t, got, engine.RunSucceeded)
	jsonEq(t, "z", wantStep(t, got, "z", engine.StepSucceeded).Output, `111`)
	if err := b.eng.Retry(b.ctx, r.ID, ""); !errors.Is(err, engine.ErrInvalidState) {
		t.Fatalf("retry a succeeded run: got %v", err)
	}
}

func TestRerunFrom(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	src := `{"name": "rr", "blocks": [
		{"ref": "load", "block": "echo"},
		{"ref": "train", "block": "echo", "input": {"rows": "${load.output}"}},
		{"ref": "report", "type": "lambda", "expr": "train.output"}]}`
	name := b.flow(src)
	r := b.start(name, `{}`)
	b.complete(b.one("echo"), `"rows-v1"`)
	b.complete(b.one("echo"), `"model-v1"`)
	wantStatus(t, b.run(r.ID), engine.RunSucceeded)

	nr, err := b.eng.Rerun(b.ctx, r.ID, engine.RerunParams{From: "train", Input: json.RawMessage(`{"rows": "edited"}`), Actor: "operator:x"})
	if err != nil {
		t.Fatal(err)
	}
	if nr.ID == r.ID {
		t.Fatal("rerun must be a new run")
	}
	wantStep(t, nr, "load", engine.StepSucceeded)
	tk := b.one("echo")
	if tk.Ref != "train" {
		t.Fatalf("rerun started at %s, want train", tk.Ref)
	}
	jsonEq(t, "edited input", tk.Input, `{"rows": "edited"}`)
	b.complete(tk, `"model-v2"`)
	got := b.run(nr.ID)
	wantStatus(t, got, engine.RunSucceeded)
	jsonEq(t, "report", wantStep(t, got, "report", engine.StepSucceeded).Output, `"model-v2"`)
	jsonEq(t, "copied output", step(got, "load").Output, `"rows-v1"`)
	wantStatus(t, b.run(r.ID), engine.RunSucceeded)

	if _, err := b.eng.Rerun(b.ctx, r.ID, engine.RerunParams{From: "nope"}); !errors.Is(err, engine.ErrInvalidInput) {
		t.Fatalf("rerun from unknown ref: got %v", err)
	}
	t.Run("latest version", func(t *testing.T) {
		t.Parallel()
		b.flow(`{"name": "rr", "blocks": [
			{"ref": "load", "block": "echo"},
			{"ref": "train", "type": "lambda", "expr": "'v2 ' + load.output"}]}`)
		nr, err := b.eng.Rerun(b.ctx, r.ID, engine.RerunParams{From: "train", Latest: true})
		if err != nil {
			t.Fatal(err)
		}
		if nr.Version != 2 {
			t.Fatalf("version: got %d, want 2", nr.Version)
		}
		wantStatus(t, nr, engine.RunSucceeded)
		jsonEq(t, "train", step(nr, "train").Output, `"v2 rows-v1"`)
	})
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	name := b.flow(`{"name": "i", "blocks": [{"ref": "x", "type": "wait", "signal": "s"}]}`)
	r1, created, err := b.eng.StartRun(b.ctx, engine.StartParams{Flow: name, IdempotencyKey: "k1"})
	if err != nil || !created {
		t.Fatalf("first start: %v %v", created, err)
	}
	r2, created, err := b.eng.StartRun(b.ctx, engine.StartParams{Flow: name, IdempotencyKey: "k1"})
	if err != nil || created || r2.ID != r1.ID {
		t.Fatalf("second start: created=%v id=%s (first %s) err=%v", created, r2.ID, r1.ID, err)
	}
	r3, created, _ := b.eng.StartRun(b.ctx, engine.StartParams{Flow: name, IdempotencyKey: "k2"})
	if !created || r3.ID == r1.ID {
		t.Fatalf("other key must start a new run")
	}
}

func TestWaitRunParksUntilFinished(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "w", "blocks": [{"ref": "a", "block": "echo"}]}`)
	r := b.start(name, `{}`)
	done := make(chan engine.Run, 1)
	go func() {
		got, err := b.eng.WaitRun(context.Background(), r.ID, 10*time.Second)
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	select {
	case got := <-done:
		t.Fatalf("WaitRun returned early: %s", got.Status)
	default:
	}
	b.complete(b.one("echo"), `{}`)
	select {
	case got := <-done:
		wantStatus(t, got, engine.RunSucceeded)
	case <-time.After(5 * time.Second):
		t.Fatal("WaitRun did not return after the run finished")
	}
	got, err := b.eng.WaitRun(b.ctx, r.ID, time.Millisecond)
	if err != nil || got.Status != engine.RunSucceeded {
		t.Fatalf("WaitRun on finished run: %v %v", got.Status, err)
	}
}

func TestHistoryRecordsTransitions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "h", "blocks": [{"ref": "a", "block": "echo"}]}`)
	r := b.start(name, `{}`)
	b.complete(b.one("echo"), `{}`)
	evs, err := b.eng.Events(b.ctx, r.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Kind+":"+e.From+">"+e.To+"@"+e.Actor)
	}
	want := []string{
		"run.queued:>queued@api",
		"run.running:queued>running@engine",
		"step.scheduled:>scheduled@engine",
		"step.running:scheduled>running@worker:w1",
		"step.succeeded:running>succeeded@worker:w1",
		"run.succeeded:running>succeeded@worker:w1",
	}
	if len(got) != len(want) {
		t.Fatalf("events: got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("event %d: got %s, want %s (all %v)", i, got[i], want[i], got)
		}
	}
	if evs[1].Seq <= evs[0].Seq {
		t.Fatalf("seq not increasing")
	}
	after, _ := b.eng.Events(b.ctx, r.ID, evs[3].Seq, 100)
	if len(after) != 2 {
		t.Fatalf("events after seq: got %d, want 2", len(after))
	}
}

func TestRetryAfterCompensationRedoesUndoneSteps(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	b.block(`{"name": "undo", "dispatch": {"kind": "worker"}}`)
	name := b.flow(`{"name": "saga", "blocks": [
		{"ref": "keep", "block": "echo"},
		{"ref": "deploy", "block": "echo", "compensate": {"block": "undo"}},
		{"ref": "check", "block": "echo"}]}`)
	r := b.start(name, `{}`)
	b.complete(b.one("echo"), `"k"`)
	b.complete(b.one("echo"), `"d"`)
	b.fail(b.one("echo"), "bad", false)
	b.complete(b.one("undo"), `{}`)
	wantStatus(t, b.run(r.ID), engine.RunFailed)
	if err := b.eng.Retry(b.ctx, r.ID, ""); err != nil {
		t.Fatal(err)
	}
	tk := b.one("echo")
	if tk.Ref != "deploy" {
		t.Fatalf("retry ran %s first, want the undone deploy", tk.Ref)
	}
	b.complete(tk, `"d2"`)
	b.complete(b.one("echo"), `"ok"`)
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunSucceeded)
	jsonEq(t, "kept", step(got, "keep").Output, `"k"`)
	if s := step(got, "deploy.compensate"); s.Status != "absent" {
		t.Fatalf("old compensation kept: %s", s.Status)
	}
}

func TestRetryFailedMapIteration(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "m", "blocks": [{"ref": "each", "type": "map", "items": "[1, 2]", "do": [{"ref": "s", "block": "echo"}]}]}`)
	r := b.start(name, `{}`)
	byPath := map[string]engine.Task{}
	for _, tk := range b.poll("echo", 2) {
		byPath[tk.Path] = tk
	}
	b.complete(byPath["each[0].s"], `"a"`)
	b.fail(byPath["each[1].s"], "x", false)
	wantStatus(t, b.run(r.ID), engine.RunFailed)
	if err := b.eng.Retry(b.ctx, r.ID, ""); err != nil {
		t.Fatal(err)
	}
	tk := b.one("echo")
	if tk.Path != "each[1].s" {
		t.Fatalf("retried %s, want each[1].s", tk.Path)
	}
	b.complete(tk, `"b"`)
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunSucceeded)
	jsonEq(t, "map output", step(got, "each").Output, `["a", "b"]`)
}

func TestRetryDecidedWhilePausedWaitsForResume(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(`{"name": "flaky", "dispatch": {"kind": "worker"}, "retry": {"max_attempts": 2, "initial_interval": "1s"}}`)
	name := b.flow(`{"name": "p", "blocks": [{"ref": "f", "block": "flaky"}]}`)
	r := b.start(name, `{}`)
	tk := b.one("flaky")
	if err := b.eng.Pause(b.ctx, r.ID, ""); err != nil {
		t.Fatal(err)
	}
	b.fail(tk, "transient", true)
	b.advance(time.Minute)
	if ts := b.poll("flaky", 1); len(ts) != 0 {
		t.Fatalf("retry of a paused run handed out")
	}
	if err := b.eng.Resume(b.ctx, r.ID, ""); err != nil {
		t.Fatal(err)
	}
	b.complete(b.one("flaky"), `{}`)
	wantStatus(t, b.run(r.ID), engine.RunSucceeded)
}
