package engine_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/flows"
	"github.com/weftlabs/weft/internal/store"
)

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock(t time.Time) *testClock { return &testClock{now: t} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type bundle struct {
	t     testing.TB
	ctx   context.Context
	eng   *engine.Engine
	store *store.Store
	clock *testClock
}

func setup(t testing.TB) *bundle {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenWith(ctx, filepath.Join(t.TempDir(), "weft.db"), nil, store.Options{SQLiteSynchronous: "OFF"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	clock := newTestClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	eng := engine.New(engine.Config{NowFunc: clock.Now, DisableCron: true}, st, nil)
	return &bundle{t: t, ctx: ctx, eng: eng, store: st, clock: clock}
}

// block stores a block definition given as JSON.
func (b *bundle) block(src string) {
	b.t.Helper()
	def, err := blocks.Parse([]byte(src))
	if err != nil {
		b.t.Fatalf("block: %v", err)
	}
	if _, _, err := b.store.PutBlock(b.ctx, def, []byte(src)); err != nil {
		b.t.Fatalf("put block: %v", err)
	}
}

// flow stores a blueprint given as JSON and returns its name.
func (b *bundle) flow(src string) string {
	b.t.Helper()
	bp, err := flows.Parse([]byte(src), b.store)
	if err != nil {
		b.t.Fatalf("flow: %v", err)
	}
	if _, _, err := b.store.PutFlow(b.ctx, bp); err != nil {
		b.t.Fatalf("put flow: %v", err)
	}
	return bp.Name
}

func (b *bundle) start(flow string, input string) engine.Run {
	b.t.Helper()
	r, _, err := b.eng.StartRun(b.ctx, engine.StartParams{Flow: flow, Input: json.RawMessage(input)})
	if err != nil {
		b.t.Fatalf("start %s: %v", flow, err)
	}
	return r
}

func (b *bundle) run(id string) engine.Run {
	b.t.Helper()
	r, err := b.eng.GetRun(b.ctx, id, true)
	if err != nil {
		b.t.Fatal(err)
	}
	return r
}

// poll claims up to max tasks of queue without waiting.
func (b *bundle) poll(queue string, max int) []engine.Task {
	b.t.Helper()
	ts, err := b.eng.Poll(b.ctx, engine.PollParams{WorkerID: "w1", Queues: []string{queue}, Max: max})
	if err != nil {
		b.t.Fatalf("poll %s: %v", queue, err)
	}
	return ts
}

// one claims exactly one task of queue.
func (b *bundle) one(queue string) engine.Task {
	b.t.Helper()
	ts := b.poll(queue, 1)
	if len(ts) != 1 {
		b.t.Fatalf("poll %s: got %d tasks, want 1", queue, len(ts))
	}
	return ts[0]
}

func (b *bundle) complete(t engine.Task, output string) {
	b.t.Helper()
	if err := b.eng.Complete(b.ctx, t.ID, t.Lease, json.RawMessage(output)); err != nil {
		b.t.Fatalf("complete %s: %v", t.Path, err)
	}
}

func (b *bundle) fail(t engine.Task, msg string, retryable bool) {
	b.t.Helper()
	if err := b.eng.Fail(b.ctx, t.ID, t.Lease, engine.TaskError{Message: msg, Retryable: retryable}); err != nil {
		b.t.Fatalf("fail %s: %v", t.Path, err)
	}
}

func (b *bundle) tick() {
	b.t.Helper()
	if _, _, err := b.eng.Tick(b.ctx); err != nil {
		b.t.Fatalf("tick: %v", err)
	}
}

func (b *bundle) advance(d time.Duration) {
	b.t.Helper()
	b.clock.Advance(d)
	b.tick()
}

func step(r engine.Run, path string) engine.Step {
	for _, s := range r.Steps {
		if s.Path == path {
			return s
		}
	}
	return engine.Step{Path: path, Status: "absent"}
}

func wantStatus(t testing.TB, r engine.Run, want engine.RunStatus) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("run status: got %s, want %s (error %+v; steps %s)", r.Status, want, r.Error, stepList(r))
	}
}

func wantStep(t testing.TB, r engine.Run, path string, want engine.StepStatus) engine.Step {
	t.Helper()
	s := step(r, path)
	if s.Status != want {
		t.Fatalf("step %s: got %s, want %s (error %+v; steps %s)", path, s.Status, want, s.Error, stepList(r))
	}
	return s
}

func stepList(r engine.Run) string {
	out := ""
	for _, s := range r.Steps {
		out += s.Path + "=" + string(s.Status) + " "
	}
	return out
}

func jsonEq(t testing.TB, what string, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: got invalid JSON %q", what, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad want %q", what, want)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("%s: got %s, want %s", what, gb, wb)
	}
}

const blockEcho = `{"name": "echo", "dispatch": {"kind": "worker"}}`

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
