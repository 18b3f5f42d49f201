package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/internal/pgscratch"
	"github.com/weftlabs/weft/internal/store"
)

// pgDatabase gives the test its own PostgreSQL database.
func pgDatabase(t *testing.T) string { return pgscratch.ForTest(t, "weft_test") }

func openPG(t *testing.T, dsn string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestPostgresEndToEnd(t *testing.T) {
	t.Parallel()
	dsn := pgDatabase(t)
	st := openPG(t, dsn)
	clock := newTestClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	b := &bundle{t: t, ctx: context.Background(), store: st, clock: clock,
		eng: engine.New(engine.Config{NowFunc: clock.Now, DisableCron: true}, st, nil)}
	b.block(`{"name": "echo", "dispatch": {"kind": "worker"}, "retry": {"max_attempts": 2, "initial_interval": "1s"}}`)
	name := b.flow(`{"name": "pg", "blocks": [
		{"ref": "a", "block": "echo"},
		{"ref": "f", "type": "fork", "branches": [[{"ref": "x", "block": "echo"}], [{"ref": "y", "type": "lambda", "expr": "a.output * 3"}]]},
		{"ref": "w", "type": "wait", "signal": "ok"}
	], "output": {"x": "${f.output.x}", "y": "${f.output.y}", "sig": "${w.output}"}}`)
	r := b.start(name, `{}`)
	b.complete(b.one("echo"), `2`)
	b.fail(b.one("echo"), "flaky", true)
	b.advance(time.Second)
	b.complete(b.one("echo"), `"x"`)
	if err := b.eng.Signal(b.ctx, r.ID, "ok", []byte(`true`), ""); err != nil {
		t.Fatal(err)
	}
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunSucceeded)
	jsonEq(t, "output", got.Output, `{"x": "x", "y": 6, "sig": true}`)
}

func TestPostgresReplicasWakeEachOther(t *testing.T) {
	t.Parallel()
	dsn := pgDatabase(t)
	stA, stB := openPG(t, dsn), openPG(t, dsn)
	engA := engine.New(engine.Config{DisableCron: true}, stA, nil)
	engB := engine.New(engine.Config{DisableCron: true}, stB, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = engA.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	b := &bundle{t: t, ctx: context.Background(), store: stB, eng: engB}
	b.block(blockEcho)
	name := b.flow(`{"name": "rep", "blocks": [{"ref": "a", "block": "echo"}]}`)
	// A parks; B's new task must wake it through NOTIFY (or A's catch-up
	// right after its LISTEN connects), long before the poll's 30s wait.
	polled := make(chan []engine.Task, 1)
	go func() {
		ts, err := engA.Poll(ctx, engine.PollParams{WorkerID: "wa", Queues: []string{"echo"}, Wait: 30 * time.Second})
		if err != nil {
			t.Error(err)
		}
		polled <- ts
	}()
	run := b.start(name, `{}`)
	select {
	case ts := <-polled:
		if len(ts) != 1 || ts[0].RunID != run.ID {
			t.Fatalf("replica A got %+v", ts)
		}
		if err := engA.Complete(ctx, ts[0].ID, ts[0].Lease, []byte(`1`)); err != nil {
			t.Fatal(err)
		}
		got, err := engB.WaitRun(ctx, run.ID, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, got, engine.RunSucceeded)
		return
	case <-time.After(10 * time.Second):
	}
	t.Fatal("replica A's parked poll was not woken by replica B's new task")
}

func TestPostgresConcurrentWorkersOneRun(t *testing.T) {
	t.Parallel()
	dsn := pgDatabase(t)
	stores := []*store.Store{openPG(t, dsn), openPG(t, dsn)}
	engs := []*engine.Engine{engine.New(engine.Config{DisableCron: true}, stores[0], nil), engine.New(engine.Config{DisableCron: true}, stores[1], nil)}
	b := &bundle{t: t, ctx: context.Background(), store: stores[0], eng: engs[0]}
	b.block(blockEcho)
	name := b.flow(`{"name": "many", "blocks": [{"ref": "each", "type": "map", "items": "flow.input.n", "do": [{"ref": "sq", "block": "echo", "input": {"v": "${item}"}}]}]}`)
	items := "["
	for i := 0; i < 30; i++ {
		if i > 0 {
			items += ","
		}
		items += string(rune('0' + i%10))
	}
	items += "]"
	r := b.start(name, `{"n": `+items+`}`)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	errs := make(chan error, 6)
	for w := 0; w < 6; w++ {
		go func() {
			eng := engs[w%2]
			for {
				ts, err := eng.Poll(ctx, engine.PollParams{WorkerID: "w", Queues: []string{"echo"}, Max: 2, Wait: 0})
				if err != nil {
					errs <- err
					return
				}
				if len(ts) == 0 {
					errs <- nil
					return
				}
				for _, tk := range ts {
					if err := eng.Complete(ctx, tk.ID, tk.Lease, tk.Input); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	for w := 0; w < 6; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunSucceeded)
	var out []map[string]any
	_ = jsonUnmarshal(step(got, "each").Output, &out)
	if len(out) != 30 {
		t.Fatalf("map output has %d items, want 30", len(out))
	}
}
