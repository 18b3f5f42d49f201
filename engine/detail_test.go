package engine_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/weftlabs/weft/engine"
)

// A claimed task's status detail shows on its running step, in the run's
// JSON, until it is cleared or the task is released or reported; a stale
// lease cannot set one.
func TestTaskDetailShowsOnRunningStep(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(`{"name": "echo", "dispatch": {"kind": "worker"}, "retry": {"max_attempts": 2}}`)
	name := b.flow(`{"name": "f", "blocks": [{"ref": "a", "block": "echo"}]}`)
	r := b.start(name, `{}`)
	const detail = "waiting for cluster capacity: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
	wantDetail := func(want string) {
		t.Helper()
		got := b.run(r.ID)
		st := wantStep(t, got, "a", engine.StepRunning)
		if st.StatusDetail != want {
			t.Fatalf("status detail: got %q, want %q", st.StatusDetail, want)
		}
		raw, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		if has := strings.Contains(string(raw), `"status_detail"`); has != (want != "") {
			t.Fatalf("step JSON %s: status_detail shown %v, want %v", raw, has, want != "")
		}
	}

	tk := b.one("echo")
	wantDetail("")
	if err := b.eng.SetTaskDetail(b.ctx, tk.ID, "not-the-lease", detail); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("wrong lease: got %v, want ErrConflict", err)
	}
	if err := b.eng.SetTaskDetail(b.ctx, tk.ID, tk.Lease, detail); err != nil {
		t.Fatal(err)
	}
	wantDetail(detail)
	if err := b.eng.SetTaskDetail(b.ctx, tk.ID, tk.Lease, ""); err != nil {
		t.Fatal(err)
	}
	wantDetail("")

	// A released task is offered again as it was before its claim.
	if err := b.eng.SetTaskDetail(b.ctx, tk.ID, tk.Lease, detail); err != nil {
		t.Fatal(err)
	}
	if err := b.eng.Release(b.ctx, []engine.Task{tk}); err != nil {
		t.Fatal(err)
	}
	if st := wantStep(t, b.run(r.ID), "a", engine.StepScheduled); st.StatusDetail != "" {
		t.Fatalf("released step has detail %q", st.StatusDetail)
	}
	tk = b.one("echo")
	wantDetail("")

	// A report ends the attempt and its detail; the next attempt starts
	// without one.
	if err := b.eng.SetTaskDetail(b.ctx, tk.ID, tk.Lease, detail); err != nil {
		t.Fatal(err)
	}
	b.fail(tk, "node lost", true)
	if err := b.eng.SetTaskDetail(b.ctx, tk.ID, tk.Lease, detail); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("reported task: got %v, want ErrConflict", err)
	}
	b.advance(2 * time.Second) // the retry's back-off
	tk = b.one("echo")
	if tk.Attempt != 2 {
		t.Fatalf("got attempt %d, want 2", tk.Attempt)
	}
	wantDetail("")
	if err := b.eng.SetTaskDetail(b.ctx, tk.ID, tk.Lease, detail); err != nil {
		t.Fatal(err)
	}
	wantDetail(detail)
	b.complete(tk, `{}`)
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunSucceeded)
	if st := step(got, "a"); st.StatusDetail != "" {
		t.Fatalf("succeeded step has detail %q", st.StatusDetail)
	}
}

// A long detail is cut to MaxStatusDetail bytes on a rune boundary.
func TestTaskDetailIsBounded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "f", "blocks": [{"ref": "a", "block": "echo"}]}`)
	r := b.start(name, `{}`)
	tk := b.one("echo")
	long := "waiting for cluster capacity: " + strings.Repeat("é", engine.MaxStatusDetail)
	if err := b.eng.SetTaskDetail(b.ctx, tk.ID, tk.Lease, long); err != nil {
		t.Fatal(err)
	}
	got := step(b.run(r.ID), "a").StatusDetail
	if len(got) > engine.MaxStatusDetail || len(got) < engine.MaxStatusDetail-4 || !utf8.ValidString(got) ||
		!strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "waiting for cluster capacity: éé") {
		t.Fatalf("cut detail: %d bytes, valid UTF-8 %v: %q…%q", len(got), utf8.ValidString(got), got[:40], got[len(got)-8:])
	}
}
