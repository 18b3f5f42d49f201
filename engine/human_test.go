package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/internal/store"
)

const humanFlow = `{"name": "review", "blocks": [
	{"ref": "train", "block": "echo"},
	{"ref": "gate", "type": "decision", "expr": "'good'", "cases": {"good": [
		{"ref": "approve", "type": "wait", "signal": "approval", "assignee": "reviewers", "sla": "4h", "timeout": "48h",
		 "form": {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}},
		 "on_sla": [{"ref": "escalate", "block": "notify"}]}]}},
	{"ref": "done", "type": "lambda", "expr": "gate.output.ok"}], "output": "${done.output}"}`

// humanBundle is a database with the blocks and the flow of humanFlow.
func humanBundle(t *testing.T, open func() *store.Store) *bundle {
	t.Helper()
	clock := newTestClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	st := open()
	b := &bundle{t: t, ctx: context.Background(), store: st, clock: clock,
		eng: engine.New(engine.Config{NowFunc: clock.Now, DisableCron: true}, st, nil)}
	b.block(`{"name": "echo", "dispatch": {"kind": "worker"}}`)
	b.block(`{"name": "notify", "dispatch": {"kind": "worker"}}`)
	b.flow(humanFlow)
	return b
}

func eventsOf(t *testing.T, b *bundle, runID, kind string) []engine.Event {
	t.Helper()
	evs, err := b.eng.Events(b.ctx, runID, 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	var out []engine.Event
	for _, e := range evs {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// testHumanStep walks a human step on one database: the run is waiting
// (and listed so), a bad payload is refused and the run keeps waiting,
// the SLA escalates once, also after a restart, and the approval is in
// the history with who gave it.
func testHumanStep(t *testing.T, open func() *store.Store) {
	b := humanBundle(t, open)
	r := b.start("review", `{}`)
	b.complete(b.one("echo"), `1`)
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunWaiting)
	wantStep(t, got, "gate", engine.StepWaiting) // the decision around the wait
	if len(got.WaitingFor) != 1 || got.WaitingFor[0].Signal != "approval" || got.WaitingFor[0].Assignee != "reviewers" ||
		got.WaitingFor[0].SLADueAt == nil || !got.WaitingFor[0].SLADueAt.Equal(b.clock.Now().Add(4*time.Hour)) {
		t.Fatalf("waiting for: %+v", got.WaitingFor)
	}
	page, err := b.eng.ListRuns(b.ctx, engine.RunFilter{Statuses: []engine.RunStatus{engine.RunWaiting}})
	if err != nil || len(page.Runs) != 1 || page.Runs[0].ID != r.ID {
		t.Fatalf("runs waiting: %+v, %v", page.Runs, err)
	}
	page, err = b.eng.ListRuns(b.ctx, engine.RunFilter{Statuses: []engine.RunStatus{engine.RunRunning}})
	if err != nil || len(page.Runs) != 0 {
		t.Fatalf("runs running: %+v, %v", page.Runs, err)
	}
	mine, err := b.eng.WaitingForYou(b.ctx, 10)
	if err != nil || len(mine) != 1 || mine[0].RunID != r.ID || mine[0].Path != "approve" || mine[0].SLA != "4h0m0s" {
		t.Fatalf("waiting for you: %+v, %v", mine, err)
	}

	// A payload that breaks the form: pointers, and the run keeps waiting.
	err = b.eng.Signal(b.ctx, r.ID, "approval", json.RawMessage(`{"ok": "yes"}`), "operator:ann")
	if ps := blocks.Problems(err); len(ps) != 1 || ps[0].Pointer != "/ok" {
		t.Fatalf("bad payload: got %v, want one problem at /ok", err)
	}
	// A signal it does not wait for: refused, naming the one it waits for.
	err = b.eng.Signal(b.ctx, r.ID, "deploy", nil, "operator:ann")
	var sr *engine.SignalRefused
	if !errors.As(err, &sr) || len(sr.Waiting) != 1 || sr.Waiting[0] != "approval" {
		t.Fatalf("unknown signal: got %v", err)
	}
	wantStatus(t, b.run(r.ID), engine.RunWaiting)

	// The SLA passes: the escalation runs once.
	b.advance(4*time.Hour + time.Second)
	got = b.run(r.ID)
	wantStatus(t, got, engine.RunRunning)
	wantStep(t, got, "approve", engine.StepWaiting)
	esc := b.one("notify")
	b.complete(esc, `{}`)
	wantStatus(t, b.run(r.ID), engine.RunWaiting)

	// A restart: a new engine on the same database fires nothing again.
	b.eng = engine.New(engine.Config{NowFunc: b.clock.Now, DisableCron: true}, b.store, nil)
	b.advance(time.Hour)
	b.advance(10 * time.Hour)
	if ts := b.poll("notify", 5); len(ts) != 0 {
		t.Fatalf("escalated again after a restart: %+v", ts)
	}
	if evs := eventsOf(t, b, r.ID, "step.sla_passed"); len(evs) != 1 {
		t.Fatalf("sla_passed events: %+v, want one", evs)
	}

	if err := b.eng.Signal(b.ctx, r.ID, "approval", json.RawMessage(`{"ok": true}`), "operator:ann"); err != nil {
		t.Fatal(err)
	}
	got = b.run(r.ID)
	wantStatus(t, got, engine.RunSucceeded)
	jsonEq(t, "output", got.Output, `true`)
	ok := false
	for _, e := range eventsOf(t, b, r.ID, "step.succeeded") {
		if e.Path == "approve" && e.Actor == "operator:ann" && e.Time.Equal(b.clock.Now()) {
			ok = true
		}
	}
	if !ok {
		t.Fatalf("history does not say who approved and when: %+v", eventsOf(t, b, r.ID, "step.succeeded"))
	}
}

func TestHumanStepSQLite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "weft.db")
	testHumanStep(t, func() *store.Store {
		st, err := store.Open(context.Background(), path, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	})
}

func TestHumanStepPostgres(t *testing.T) {
	t.Parallel()
	dsn := pgDatabase(t)
	testHumanStep(t, func() *store.Store { return openPG(t, dsn) })
}

// Two replicas sharing PostgreSQL tick at once after the SLA passed: the
// escalation runs once.
func TestHumanStepSLAOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	dsn := pgDatabase(t)
	b := humanBundle(t, func() *store.Store { return openPG(t, dsn) })
	other := engine.New(engine.Config{NowFunc: b.clock.Now, DisableCron: true}, openPG(t, dsn), nil)
	var runs []string
	for i := 0; i < 5; i++ {
		r := b.start("review", `{}`)
		b.complete(b.one("echo"), `1`)
		runs = append(runs, r.ID)
	}
	b.clock.Advance(5 * time.Hour)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, e := range []*engine.Engine{b.eng, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = e.Tick(b.ctx)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	b.tick()
	if ts := b.poll("notify", 20); len(ts) != len(runs) {
		t.Fatalf("escalations: got %d, want %d (one per run)", len(ts), len(runs))
	}
	for _, id := range runs {
		if evs := eventsOf(t, b, id, "step.sla_passed"); len(evs) != 1 {
			t.Fatalf("run %s: %d sla_passed events, want 1", id, len(evs))
		}
	}
}
