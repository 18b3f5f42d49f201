package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/weftlabs/weft/engine"
)

func TestLeaseFencing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "f", "blocks": [{"ref": "a", "block": "echo"}, {"ref": "b", "block": "echo"}]}`)
	r := b.start(name, `{}`)
	tk := b.one("echo")
	if err := b.eng.Complete(b.ctx, tk.ID, "not-the-lease", []byte(`1`)); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("wrong lease: got %v, want ErrConflict", err)
	}
	wantStep(t, b.run(r.ID), "a", engine.StepRunning)
	b.complete(tk, `1`)
	if err := b.eng.Complete(b.ctx, tk.ID, tk.Lease, []byte(`2`)); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("second report: got %v, want ErrConflict", err)
	}
	if err := b.eng.Fail(b.ctx, tk.ID, tk.Lease, engine.TaskError{Message: "x"}); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("fail after complete: got %v, want ErrConflict", err)
	}
	if _, err := b.eng.Heartbeat(b.ctx, tk.ID, tk.Lease); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("heartbeat after complete: got %v, want ErrConflict", err)
	}
	got := b.run(r.ID)
	jsonEq(t, "output kept", step(got, "a").Output, `1`)
	wantStep(t, got, "b", engine.StepScheduled)
}

func TestPollLongPollWakesOnNewWork(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "p", "blocks": [{"ref": "a", "block": "echo"}]}`)
	got := make(chan []engine.Task, 1)
	go func() {
		ts, err := b.eng.Poll(context.Background(), engine.PollParams{WorkerID: "w9", Queues: []string{"echo"}, Max: 1, Wait: 20 * time.Second})
		if err != nil {
			t.Error(err)
		}
		got <- ts
	}()
	// Parked: nothing comes back before work exists.
	select {
	case ts := <-got:
		t.Fatalf("poll returned %d tasks before any work", len(ts))
	case <-time.After(50 * time.Millisecond):
	}
	b.start(name, `{}`)
	select {
	case ts := <-got:
		if len(ts) != 1 || ts[0].Ref != "a" || ts[0].Lease == "" {
			t.Fatalf("poll: got %+v", ts)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("parked poll was not woken by new work")
	}
}

func TestPollTimesOutEmpty(t *testing.T) {
	t.Parallel()
	b := setup(t)
	start := time.Now()
	ts, err := b.eng.Poll(b.ctx, engine.PollParams{WorkerID: "w", Queues: []string{"none"}, Wait: 100 * time.Millisecond})
	if err != nil || ts == nil || len(ts) != 0 {
		t.Fatalf("got %v %v, want empty non-nil list", ts, err)
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Fatalf("returned before wait elapsed")
	}
}

func TestConcurrencyCapAndResources(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(`{"name": "gpu", "dispatch": {"kind": "worker"}, "concurrency": 1, "resources": {"gpu": 1}}`)
	name := b.flow(`{"name": "c", "blocks": [{"ref": "m", "type": "map", "items": "[1,2,3]", "do": [{"ref": "g", "block": "gpu"}]}]}`)
	r := b.start(name, `{}`)
	none, err := b.eng.Poll(b.ctx, engine.PollParams{WorkerID: "cpu-only", Queues: []string{"gpu"}, Max: 5})
	if err != nil || len(none) != 0 {
		t.Fatalf("worker without gpu got %d tasks (%v)", len(none), err)
	}
	poll := func() []engine.Task {
		ts, err := b.eng.Poll(b.ctx, engine.PollParams{WorkerID: "g1", Queues: []string{"gpu"}, Max: 5, Resources: map[string]float64{"gpu": 2}})
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	first := poll()
	if len(first) != 1 {
		t.Fatalf("concurrency 1: got %d tasks", len(first))
	}
	if again := poll(); len(again) != 0 {
		t.Fatalf("cap exceeded: got %d more", len(again))
	}
	b.complete(first[0], `{}`)
	if next := poll(); len(next) != 1 {
		t.Fatalf("after completion: got %d, want 1", len(next))
	}
	st, err := b.eng.Stats(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.QueueDepths["gpu"] != 1 || st.RunsByStatus[engine.RunRunning] != 1 || len(st.Workers) != 2 {
		t.Fatalf("stats: %+v", st)
	}
	_ = r
}

func TestHTTPBlocksQueueByName(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(`{"name": "llm.chat", "dispatch": {"kind": "http", "url": "http://127.0.0.1:1/chat"}}`)
	name := b.flow(`{"name": "h", "blocks": [{"ref": "ask", "block": "llm.chat"}]}`)
	r := b.start(name, `{}`)
	tk := b.one("http:llm.chat")
	b.complete(tk, `{"answer": 42}`)
	wantStatus(t, b.run(r.ID), engine.RunSucceeded)
}

func TestRunLoopFiresTimers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// A real clock for this one: the loop must wake by itself.
	eng := engine.New(engine.Config{DisableCron: true}, b.store, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	name := b.flow(`{"name": "t", "blocks": [{"ref": "nap", "type": "wait", "duration": "50ms"}]}`)
	r, _, err := eng.StartRun(ctx, engine.StartParams{Flow: name})
	if err != nil {
		t.Fatal(err)
	}
	got, err := eng.WaitRun(ctx, r.ID, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, got, engine.RunSucceeded)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop after ctx ended")
	}
}

// Two engines on one store (replicas): neither may act on a stale view of
// a run the other moved.
func TestTwoEnginesShareOneRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	other := engine.New(engine.Config{NowFunc: b.clock.Now, DisableCron: true}, b.store, nil)
	b.block(blockEcho)
	name := b.flow(`{"name": "two", "blocks": [
		{"ref": "f", "type": "fork", "branches": [[{"ref": "x", "block": "echo"}], [{"ref": "y", "block": "echo"}]]},
		{"ref": "z", "type": "lambda", "expr": "f.output.x + f.output.y"}]}`)
	r := b.start(name, `{}`)
	ts := b.poll("echo", 2)
	if len(ts) != 2 {
		t.Fatalf("got %d tasks", len(ts))
	}
	// The other engine folds in one report; this one (which moved the run
	// last) folds in the other and must see the first.
	if err := other.Complete(b.ctx, ts[0].ID, ts[0].Lease, []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	b.complete(ts[1], `2`)
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunSucceeded)
	jsonEq(t, "z", step(got, "z").Output, `3`)
}
