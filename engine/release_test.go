package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/weftlabs/weft/engine"
)

// goneAfterClaim is an engine on b's store whose polls lose their caller
// right after their claim commits: during is called, then the poll's
// context ends, as when the worker's HTTP request is cancelled while a
// group commit writes its claim.
// The tasks claimed are kept in *claimed.
func goneAfterClaim(b *bundle, during func(), claimed *[]engine.Task) (*engine.Engine, context.Context) {
	ctx, cancel := context.WithCancel(context.Background())
	b.t.Cleanup(cancel)
	eng := engine.New(engine.Config{NowFunc: b.clock.Now, DisableCron: true, AfterClaimFunc: func(ts []engine.Task) {
		*claimed = append(*claimed, ts...)
		if during != nil {
			during()
		}
		cancel()
	}}, b.store, nil)
	return eng, ctx
}

// wantTaskState checks the stored state of task id ("" for deleted).
func wantTaskState(t *testing.T, b *bundle, id, want string) {
	t.Helper()
	got := ""
	rec, err := b.store.GetTask(b.ctx, id)
	switch {
	case err == nil:
		got = rec.State
		if rec.Lease != "" || rec.WorkerID != "" {
			t.Errorf("task %s is %s with lease %q of worker %q, want no lease", id, rec.State, rec.Lease, rec.WorkerID)
		}
	case !errors.Is(err, engine.ErrNotFound):
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("task %s is %q, want %q", id, got, want)
	}
}

// A poll whose caller went away between the claim's commit and its answer
// leaves nothing leased: the task is claimable at once, with its attempt
// unchanged, and no lease has to lapse before the run can go on.
func TestPollGoneAfterClaimReleasesTask(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(`{"name": "echo", "dispatch": {"kind": "worker"}, "timeout": "1m"}`)
	name := b.flow(`{"name": "f", "blocks": [{"ref": "a", "block": "echo"}]}`)
	r := b.start(name, `{}`)

	var claimed []engine.Task
	gone, ctx := goneAfterClaim(b, nil, &claimed)
	ts, err := gone.Poll(ctx, engine.PollParams{WorkerID: "gone", Queues: []string{"echo"}, Max: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed) != 1 {
		t.Fatalf("the claim leased %d tasks, want 1", len(claimed))
	}
	wantTaskState(t, b, claimed[0].ID, engine.TaskReady)
	if len(ts) != 0 {
		t.Fatalf("poll whose caller left returned %d tasks, want none", len(ts))
	}
	wantStep(t, b.run(r.ID), "a", engine.StepScheduled)

	// Another worker gets it now, at the same moment of the fake clock.
	tk := b.one("echo")
	if tk.ID != claimed[0].ID || tk.Attempt != 1 {
		t.Fatalf("got task %s attempt %d, want the released %s at attempt 1", tk.ID, tk.Attempt, claimed[0].ID)
	}
	// The step timeout set by the lost claim is gone: it must not cut the
	// new claim's minute short.
	b.advance(45 * time.Second)
	wantStep(t, b.run(r.ID), "a", engine.StepRunning)
	b.complete(tk, `7`)
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunSucceeded)
	if a := step(got, "a"); len(a.Attempts) != 1 {
		t.Fatalf("step a has %d attempts, want 1: %+v", len(a.Attempts), a.Attempts)
	}
	if n := len(b.poll("echo", 10)); n != 0 {
		t.Fatalf("%d tasks left after the run succeeded", n)
	}
}

// A released task of a run paused meanwhile waits for the resume.
func TestPollGoneAfterClaimOfPausedRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "f", "blocks": [{"ref": "a", "block": "echo"}]}`)
	r := b.start(name, `{}`)

	var claimed []engine.Task
	gone, ctx := goneAfterClaim(b, func() {
		if err := b.eng.Pause(b.ctx, r.ID, ""); err != nil {
			t.Error(err)
		}
	}, &claimed)
	if ts, err := gone.Poll(ctx, engine.PollParams{WorkerID: "gone", Queues: []string{"echo"}, Max: 1}); err != nil || len(ts) != 0 || len(claimed) != 1 {
		t.Fatalf("poll whose caller left: %d tasks, %v, %d claimed; want none returned, 1 claimed", len(ts), err, len(claimed))
	}
	wantTaskState(t, b, claimed[0].ID, engine.TaskHeld)
	if n := len(b.poll("echo", 10)); n != 0 {
		t.Fatalf("claimed %d tasks of a paused run", n)
	}
	if err := b.eng.Resume(b.ctx, r.ID, ""); err != nil {
		t.Fatal(err)
	}
	b.complete(b.one("echo"), `1`)
	wantStatus(t, b.run(r.ID), engine.RunSucceeded)
}

// A released task of a run cancelled meanwhile is dropped.
func TestPollGoneAfterClaimOfCancelledRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "f", "blocks": [{"ref": "a", "block": "echo"}]}`)
	r := b.start(name, `{}`)

	var claimed []engine.Task
	gone, ctx := goneAfterClaim(b, func() {
		if err := b.eng.Cancel(b.ctx, r.ID, ""); err != nil {
			t.Error(err)
		}
	}, &claimed)
	if ts, err := gone.Poll(ctx, engine.PollParams{WorkerID: "gone", Queues: []string{"echo"}, Max: 1}); err != nil || len(ts) != 0 || len(claimed) != 1 {
		t.Fatalf("poll whose caller left: %d tasks, %v, %d claimed; want none returned, 1 claimed", len(ts), err, len(claimed))
	}
	wantStatus(t, b.run(r.ID), engine.RunCancelled)
	wantTaskState(t, b, claimed[0].ID, "")
}

// Defer gives a leased task back to be offered again after a while, with
// its attempt unchanged; its old lease no longer reports.
func TestDeferOffersTaskAgainLater(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(`{"name": "echo", "dispatch": {"kind": "worker"}, "retry": {"max_attempts": 1}}`)
	name := b.flow(`{"name": "f", "blocks": [{"ref": "a", "block": "echo"}]}`)
	r := b.start(name, `{}`)
	tk := b.one("echo")
	if err := b.eng.Defer(b.ctx, tk.ID, "not-the-lease", time.Minute); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("defer with a wrong lease: got %v, want ErrConflict", err)
	}
	if err := b.eng.Defer(b.ctx, tk.ID, tk.Lease, time.Minute); err != nil {
		t.Fatal(err)
	}
	wantTaskState(t, b, tk.ID, engine.TaskReady)
	if ts := b.poll("echo", 1); len(ts) != 0 {
		t.Fatalf("a task deferred for a minute was offered at once: %v", ts)
	}
	if err := b.eng.Complete(b.ctx, tk.ID, tk.Lease, []byte(`1`)); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("report under the given-back lease: got %v, want ErrConflict", err)
	}
	b.advance(59 * time.Second)
	if ts := b.poll("echo", 1); len(ts) != 0 {
		t.Fatalf("offered after 59s of a minute: %v", ts)
	}
	b.advance(time.Second)
	again := b.one("echo")
	if again.ID != tk.ID || again.Attempt != 1 || again.Lease == tk.Lease {
		t.Fatalf("got task %s attempt %d, want %s again at attempt 1 under a new lease", again.ID, again.Attempt, tk.ID)
	}
	b.complete(again, `{"done": true}`)
	if got := b.run(r.ID); got.Status != engine.RunSucceeded {
		t.Fatalf("run is %s, want succeeded", got.Status)
	}
}
