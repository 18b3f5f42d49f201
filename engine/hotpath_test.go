package engine_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/weftlabs/weft/engine"
)

// A claim writes only its task row: the stored step stays scheduled until
// the report, readers see it running from the claim, and the history
// records the running phase at the claim's time.
func TestClaimWritesOnlyTheTask(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "one", "blocks": [{"ref": "a", "block": "echo"}]}`)
	r := b.start(name, `{}`)
	before, err := b.store.LoadRun(b.ctx, r.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	claimedAt := b.clock.Now()
	ta := b.one("echo")

	after, err := b.store.LoadRun(b.ctx, r.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	if after.Rev != before.Rev {
		t.Fatalf("claim wrote the run: rev %d -> %d", before.Rev, after.Rev)
	}
	wantStep(t, after, "a", engine.StepScheduled) // as stored
	st := wantStep(t, b.run(r.ID), "a", engine.StepRunning)
	if st.StartedAt == nil || !st.StartedAt.Equal(claimedAt) || len(st.Attempts) != 1 || st.Attempts[0].WorkerID != "w1" {
		t.Fatalf("running step as read: %+v", st)
	}

	b.clock.Advance(3 * time.Second)
	b.complete(ta, `{"v": 1}`)
	st = wantStep(t, b.run(r.ID), "a", engine.StepSucceeded)
	if !st.StartedAt.Equal(claimedAt) || st.FinishedAt.Sub(*st.StartedAt) != 3*time.Second || st.Attempts[0].WorkerID != "w1" {
		t.Fatalf("finished step: started %v finished %v attempts %+v", st.StartedAt, st.FinishedAt, st.Attempts)
	}
	evs, err := b.eng.Events(b.ctx, r.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range evs {
		if e.Path == "a" {
			kinds = append(kinds, e.Kind+"@"+e.Time.Sub(claimedAt).String())
		}
	}
	want := []string{"step.scheduled@0s", "step.running@0s", "step.succeeded@3s"}
	if len(kinds) != len(want) {
		t.Fatalf("history of a: %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("history of a: %v, want %v", kinds, want)
		}
	}
}

// A report that asks for the worker's next task gets it in the same
// transaction, and the chain runs to its end with no poll in between.
func TestReportLeasesNextTask(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "chain", "blocks": [
		{"ref": "a", "block": "echo", "input": {"n": "${flow.input.n}"}},
		{"ref": "b", "block": "echo", "input": {"n": "${a.output.n + 1}"}},
		{"ref": "c", "block": "echo", "input": {"n": "${b.output.n + 1}"}}
	], "output": "${c.output.n}"}`)
	r := b.start(name, `{"n": 1}`)
	next := &engine.PollParams{WorkerID: "w1", Queues: []string{"echo"}, Max: 4}
	task := b.one("echo")
	var order []string
	for {
		order = append(order, task.Path)
		var in struct{ N int }
		if err := json.Unmarshal(task.Input, &in); err != nil {
			t.Fatal(err)
		}
		ts, err := b.eng.Report(b.ctx, engine.ReportParams{TaskID: task.ID, Lease: task.Lease,
			Output: json.RawMessage(`{"n": ` + string(rune('0'+in.N)) + `}`), Next: next})
		if err != nil {
			t.Fatal(err)
		}
		if ts == nil {
			t.Fatal("a report with next answered nil, not a list")
		}
		if len(ts) == 0 {
			break
		}
		if len(ts) != 1 {
			t.Fatalf("next tasks: %d, want 1", len(ts))
		}
		task = ts[0]
	}
	if got := len(order); got != 3 || order[0] != "a" || order[2] != "c" {
		t.Fatalf("steps run: %v", order)
	}
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunSucceeded)
	jsonEq(t, "output", got.Output, `3`)

	// A stale report is refused and leases nothing.
	if _, err := b.eng.Report(b.ctx, engine.ReportParams{TaskID: task.ID, Lease: task.Lease, Output: json.RawMessage(`{}`), Next: next}); err == nil {
		t.Fatal("a second report of the same lease was accepted")
	}
}

// The attempt's deadline lives on its task row: it times the attempt out
// (and retries it) with no timer row, and only once.
func TestAttemptDeadlineOnTask(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(`{"name": "slow", "dispatch": {"kind": "worker"}, "timeout": "10s", "heartbeat_timeout": "1h",
		"retry": {"max_attempts": 2, "backoff": "fixed", "initial_interval": "1s"}}`)
	name := b.flow(`{"name": "slowflow", "blocks": [{"ref": "a", "block": "slow"}]}`)
	r := b.start(name, `{}`)
	t1 := b.one("slow")
	b.advance(9 * time.Second)
	wantStep(t, b.run(r.ID), "a", engine.StepRunning)
	b.advance(2 * time.Second)
	st := wantStep(t, b.run(r.ID), "a", engine.StepScheduled)
	if st.Attempt != 2 || st.Attempts[0].Status != engine.StepTimedOut || st.Attempts[0].WorkerID != "w1" {
		t.Fatalf("after the deadline: %+v", st)
	}
	hb, err := b.eng.Heartbeat(b.ctx, t1.ID, t1.Lease)
	if err != nil || !hb.CancelRequested {
		t.Fatalf("heartbeat of the timed-out attempt: %+v %v; want cancel requested", hb, err)
	}
	b.advance(2 * time.Second) // the deadline fired once: attempt 2 is not timed out by it
	t2 := b.one("slow")
	if t2.Attempt != 2 {
		t.Fatalf("retry attempt %d", t2.Attempt)
	}
	b.complete(t2, `{}`)
	wantStatus(t, b.run(r.ID), engine.RunSucceeded)
	// The late report of attempt 1 is accepted and changes nothing.
	b.complete(t1, `{"late": true}`)
	wantStatus(t, b.run(r.ID), engine.RunSucceeded)
}
