// Package storetest is the suite every engine.Store implementation must
// pass, run on SQLite and on PostgreSQL by internal/store's tests.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/weftlabs/weft/engine"
)

// Run runs the suite; open returns a fresh, migrated, empty store.
func Run(t *testing.T, open func(t *testing.T) engine.Store) {
	tests := map[string]func(t *testing.T, s engine.Store){
		"RunsAndRevGuard":      testRunsAndRevGuard,
		"Idempotency":          testIdempotency,
		"KeysetPages":          testKeysetPages,
		"ClaimVisibility":      testClaimVisibility,
		"LeaseFencing":         testLeaseFencing,
		"ConcurrencyCap":       testConcurrencyCap,
		"Resources":            testResources,
		"ResourcesHeld":        testResourcesHeld,
		"ConcurrentClaimsOnce": testConcurrentClaimsOnce,
		"AbandonTasks":         testAbandonTasks,
		"HoldTasks":            testHoldTasks,
		"TimersAndNextWake":    testTimersAndNextWake,
		"EventsAndPurge":       testEventsAndPurge,
		"CronFireOnce":         testCronFireOnce,
		"TxRollback":           testTxRollback,
		"ApplyMutation":        testApplyMutation,
		"ClaimDeadline":        testClaimDeadline,
		"ClaimsBefore":         testClaimsBefore,
		"TaskDetail":           testTaskDetail,
	}
	names := make([]string, 0, len(tests))
	for n := range tests {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		fn := tests[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, open(t))
		})
	}
}

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func mkRun(t *testing.T, s engine.Store, id string, created time.Time, mut ...func(*engine.Run)) engine.Run {
	t.Helper()
	r := engine.Run{ID: id, Flow: "f", Version: 1, Status: engine.RunRunning, Input: json.RawMessage(`{"a":1}`), CreatedAt: created,
		Trigger: "api", Meta: &engine.RunMeta{}, Rev: 1}
	for _, m := range mut {
		m(&r)
	}
	if err := s.CreateRun(context.Background(), r); err != nil {
		t.Fatalf("create run %s: %v", id, err)
	}
	return r
}

func mkTask(runID, id, queue string, mut ...func(*engine.TaskRecord)) engine.TaskRecord {
	tk := engine.TaskRecord{Task: engine.Task{ID: id, RunID: runID, Ref: "a", Path: "a", Block: queue, Version: 1, Attempt: 1, Input: json.RawMessage(`{}`)},
		Queue: queue, State: engine.TaskReady, VisibleAt: t0, LeaseDuration: time.Minute, CreatedAt: t0}
	for _, m := range mut {
		m(&tk)
	}
	return tk
}

func claim(t *testing.T, s engine.Store, queue string, max int, now time.Time, res map[string]float64) []engine.TaskRecord {
	t.Helper()
	ts, err := s.ClaimTasks(context.Background(), engine.ClaimParams{Queues: []string{queue}, Max: max, WorkerID: "w", Resources: res, Lease: fmt.Sprintf("L%d", now.UnixNano()), Now: now})
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	return ts
}

func testRunsAndRevGuard(t *testing.T, s engine.Store) {
	ctx := context.Background()
	r := mkRun(t, s, "r1", t0)
	got, err := s.LoadRun(ctx, "r1", true)
	if err != nil {
		t.Fatal(err)
	}
	if got.Rev != 1 || got.Status != engine.RunRunning || string(got.Input) != `{"a":1}` || !got.CreatedAt.Equal(t0) {
		t.Fatalf("loaded run: %+v", got)
	}
	fin := t0.Add(time.Minute)
	r.Status, r.Output, r.FinishedAt = engine.RunSucceeded, json.RawMessage(`{"ok":true}`), &fin
	r.Error = &engine.ErrorInfo{Message: "m", Step: "a"}
	r.Meta = &engine.RunMeta{Done: []string{"a"}, NextSeq: 3}
	if err := s.SaveRun(ctx, r, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveRun(ctx, r, 1); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("save with stale rev: got %v, want ErrConflict", err)
	}
	got, _ = s.LoadRun(ctx, "r1", false)
	if got.Rev != 2 || got.Status != engine.RunSucceeded || got.FinishedAt == nil || !got.FinishedAt.Equal(fin) ||
		got.Error == nil || got.Error.Step != "a" || got.Meta.NextSeq != 3 || len(got.Meta.Done) != 1 {
		t.Fatalf("after save: %+v meta %+v", got, got.Meta)
	}
	steps := []engine.Step{
		{Path: "b", Ref: "b", Status: engine.StepPending, Seq: 2, CreatedAt: t0},
		{Path: "a", Ref: "a", Status: engine.StepRunning, Seq: 1, Attempt: 1, Attempts: []engine.Attempt{{Number: 1, Status: engine.StepRunning, WorkerID: "w"}},
			Control: &engine.StepControl{Case: "x"}, CreatedAt: t0, StartedAt: &t0},
	}
	if err := s.UpsertSteps(ctx, "r1", steps); err != nil {
		t.Fatal(err)
	}
	steps[1].Status, steps[1].Output = engine.StepSucceeded, json.RawMessage(`5`)
	if err := s.UpsertSteps(ctx, "r1", steps[1:]); err != nil {
		t.Fatal(err)
	}
	got, _ = s.LoadRun(ctx, "r1", true)
	if len(got.Steps) != 2 || got.Steps[0].Path != "a" || got.Steps[0].Status != engine.StepSucceeded || string(got.Steps[0].Output) != "5" ||
		got.Steps[0].Control == nil || got.Steps[0].Control.Case != "x" || got.Steps[0].Attempts[0].WorkerID != "w" {
		t.Fatalf("steps: %+v", got.Steps)
	}
	if err := s.DeleteSteps(ctx, "r1", []string{"b"}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.LoadRun(ctx, "r1", true)
	if len(got.Steps) != 1 {
		t.Fatalf("after delete: %d steps", len(got.Steps))
	}
	if _, err := s.LoadRun(ctx, "nope", false); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("missing run: got %v, want ErrNotFound", err)
	}
}

func testIdempotency(t *testing.T, s engine.Store) {
	ctx := context.Background()
	mkRun(t, s, "r1", t0, func(r *engine.Run) { r.IdempotencyKey = "k" })
	mkRun(t, s, "r2", t0) // no key
	mkRun(t, s, "r3", t0) // no key: NULLs do not collide
	err := s.CreateRun(ctx, engine.Run{ID: "r4", Flow: "f", Version: 1, Status: engine.RunQueued, CreatedAt: t0, IdempotencyKey: "k", Meta: &engine.RunMeta{}})
	if !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("duplicate key: got %v, want ErrConflict", err)
	}
	got, err := s.RunByIdempotencyKey(ctx, "k")
	if err != nil || got.ID != "r1" {
		t.Fatalf("by key: %v %v", got.ID, err)
	}
	if _, err := s.RunByIdempotencyKey(ctx, "other"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("unknown key: got %v", err)
	}
}

func testKeysetPages(t *testing.T, s engine.Store) {
	ctx := context.Background()
	for i := 0; i < 25; i++ {
		created := t0.Add(time.Duration(i/2) * time.Second) // pairs share a creation time
		mkRun(t, s, fmt.Sprintf("r%02d", i), created, func(r *engine.Run) {
			if i%3 == 0 {
				r.Flow = "other"
			}
			if i%2 == 0 {
				r.Status = engine.RunFailed
			}
		})
	}
	var all []string
	cursor := ""
	for pages := 0; ; pages++ {
		p, err := s.ListRuns(ctx, engine.RunFilter{Limit: 10, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Runs {
			all = append(all, r.ID)
		}
		if p.NextCursor == "" {
			if pages != 2 || len(p.Runs) != 5 {
				t.Fatalf("pages: got %d pages, last %d runs", pages+1, len(p.Runs))
			}
			break
		}
		cursor = p.NextCursor
	}
	if len(all) != 25 {
		t.Fatalf("got %d runs over pages, want 25: %v", len(all), all)
	}
	for i := 1; i < len(all); i++ {
		if all[i-1] <= all[i] {
			t.Fatalf("not newest first at %d: %v", i, all)
		}
	}
	p, _ := s.ListRuns(ctx, engine.RunFilter{Flow: "other", Statuses: []engine.RunStatus{engine.RunFailed}, Limit: 100})
	for _, r := range p.Runs {
		if r.Flow != "other" || r.Status != engine.RunFailed {
			t.Fatalf("filter leaked %+v", r)
		}
	}
	if len(p.Runs) != 5 { // i in 0,6,12,18,24
		t.Fatalf("flow+status filter: got %d, want 5", len(p.Runs))
	}
	p, _ = s.ListRuns(ctx, engine.RunFilter{Since: t0.Add(11 * time.Second), Limit: 100})
	if len(p.Runs) != 3 {
		t.Fatalf("since: got %d, want 3", len(p.Runs))
	}
	p, _ = s.ListRuns(ctx, engine.RunFilter{Search: "r07", Limit: 100})
	if len(p.Runs) != 1 || p.Runs[0].ID != "r07" {
		t.Fatalf("search: %+v", p.Runs)
	}
	if _, err := s.ListRuns(ctx, engine.RunFilter{Cursor: "!!"}); !errors.Is(err, engine.ErrInvalidInput) {
		t.Fatalf("bad cursor: got %v, want ErrInvalidInput", err)
	}
}

func testClaimVisibility(t *testing.T, s engine.Store) {
	ctx := context.Background()
	mkRun(t, s, "r1", t0)
	if err := s.AddTasks(ctx, []engine.TaskRecord{
		mkTask("r1", "t1", "q"),
		mkTask("r1", "t2", "q", func(tk *engine.TaskRecord) { tk.VisibleAt = t0.Add(time.Minute); tk.Path = "b" }),
		mkTask("r1", "t3", "other"),
	}); err != nil {
		t.Fatal(err)
	}
	got := claim(t, s, "q", 10, t0, nil)
	if len(got) != 1 || got[0].ID != "t1" || got[0].State != engine.TaskLeased || got[0].LeaseExpiresAt == nil ||
		!got[0].LeaseExpiresAt.Equal(t0.Add(time.Minute)) || got[0].WorkerID != "w" {
		t.Fatalf("claim at t0: %+v", got)
	}
	if again := claim(t, s, "q", 10, t0.Add(59*time.Second), nil); len(again) != 0 {
		t.Fatalf("delayed task claimed early: %+v", again)
	}
	if later := claim(t, s, "q", 10, t0.Add(time.Minute), nil); len(later) != 1 || later[0].ID != "t2" {
		t.Fatalf("delayed task at its time: %+v", later)
	}
}

func testLeaseFencing(t *testing.T, s engine.Store) {
	ctx := context.Background()
	mkRun(t, s, "r1", t0)
	_ = s.AddTasks(ctx, []engine.TaskRecord{mkTask("r1", "t1", "q")})
	tk := claim(t, s, "q", 1, t0, nil)[0]
	if _, err := s.ExtendLease(ctx, "t1", "stale", t0.Add(time.Hour)); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("extend with stale lease: got %v", err)
	}
	ext, err := s.ExtendLease(ctx, "t1", tk.Lease, t0.Add(time.Hour))
	if err != nil || !ext.LeaseExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("extend: %+v %v", ext, err)
	}
	if err := s.ConsumeTask(ctx, "t1", "stale"); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("consume with stale lease: got %v", err)
	}
	if err := s.ConsumeTask(ctx, "t1", tk.Lease); err != nil {
		t.Fatal(err)
	}
	if err := s.ConsumeTask(ctx, "t1", tk.Lease); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("second consume: got %v", err)
	}
	if _, err := s.GetTask(ctx, "t1"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("consumed task: got %v", err)
	}
}

func testConcurrencyCap(t *testing.T, s engine.Store) {
	ctx := context.Background()
	mkRun(t, s, "r1", t0)
	var tasks []engine.TaskRecord
	for i := 0; i < 5; i++ {
		tasks = append(tasks, mkTask("r1", fmt.Sprintf("t%d", i), "q", func(tk *engine.TaskRecord) { tk.Concurrency = 2; tk.Path = fmt.Sprint(i) }))
	}
	_ = s.AddTasks(ctx, tasks)
	if got := claim(t, s, "q", 5, t0, nil); len(got) != 2 {
		t.Fatalf("cap 2: got %d", len(got))
	}
	if got := claim(t, s, "q", 5, t0, nil); len(got) != 0 {
		t.Fatalf("cap reached: got %d", len(got))
	}
	// Concurrent claimers never exceed the cap together.
	mkRun(t, s, "r2", t0)
	tasks = nil
	for i := 0; i < 10; i++ {
		tasks = append(tasks, mkTask("r2", fmt.Sprintf("u%d", i), "q2", func(tk *engine.TaskRecord) { tk.Block = "capped"; tk.Concurrency = 3; tk.Path = fmt.Sprint(i) }))
	}
	_ = s.AddTasks(ctx, tasks)
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts, err := s.ClaimTasks(ctx, engine.ClaimParams{Queues: []string{"q2"}, Max: 3, WorkerID: fmt.Sprint(g), Lease: fmt.Sprint("g", g), Now: t0})
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += len(ts)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if total != 3 {
		t.Fatalf("concurrent claims under cap 3: got %d", total)
	}
}

func testResources(t *testing.T, s engine.Store) {
	ctx := context.Background()
	mkRun(t, s, "r1", t0)
	_ = s.AddTasks(ctx, []engine.TaskRecord{
		mkTask("r1", "gpu", "q", func(tk *engine.TaskRecord) {
			tk.Resources = map[string]float64{"gpu": 1, "memory_gb": 16}
			tk.Path = "g"
		}),
	})
	if got := claim(t, s, "q", 5, t0, nil); len(got) != 0 {
		t.Fatalf("no offer: got %d", len(got))
	}
	if got := claim(t, s, "q", 5, t0, map[string]float64{"gpu": 1, "memory_gb": 8}); len(got) != 0 {
		t.Fatalf("too little memory: got %d", len(got))
	}
	got := claim(t, s, "q", 5, t0, map[string]float64{"gpu": 2, "memory_gb": 32})
	if len(got) != 1 || got[0].Resources["gpu"] != 1 {
		t.Fatalf("fitting offer: %+v", got)
	}
}

// testResourcesHeld: what a worker holds leased counts against what it
// offers, within one claim and across claims running at once.
func testResourcesHeld(t *testing.T, s engine.Store) {
	ctx := context.Background()
	mkRun(t, s, "r1", t0)
	var tasks []engine.TaskRecord
	for i := 0; i < 3; i++ {
		tasks = append(tasks, mkTask("r1", fmt.Sprintf("g%d", i), "gpu", func(tk *engine.TaskRecord) {
			tk.Resources = map[string]float64{"gpu": 1}
			tk.Path = fmt.Sprintf("g%d", i)
		}))
	}
	for i := 0; i < 3; i++ {
		tasks = append(tasks, mkTask("r1", fmt.Sprintf("c%d", i), "cpu", func(tk *engine.TaskRecord) {
			tk.Resources = map[string]float64{"cpu": 2}
			tk.Path = fmt.Sprintf("c%d", i)
		}))
	}
	if err := s.AddTasks(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	offer := map[string]float64{"gpu": 1, "cpu": 4}
	claimAs := func(worker, queue string, max int) []engine.TaskRecord {
		t.Helper()
		ts, err := s.ClaimTasks(ctx, engine.ClaimParams{Queues: []string{queue}, Max: max, WorkerID: worker, Resources: offer,
			Lease: fmt.Sprint(worker, queue, time.Now().UnixNano()), Now: t0})
		if err != nil {
			t.Fatalf("claim: %v", err)
		}
		return ts
	}
	// One poll asking for three gpu:1 tasks gets one.
	got := claimAs("w1", "gpu", 3)
	if len(got) != 1 {
		t.Fatalf("worker offering gpu:1 asked for 3 gpu:1 tasks: got %d, want 1", len(got))
	}
	if again := claimAs("w1", "gpu", 3); len(again) != 0 {
		t.Fatalf("worker holding its one gpu: got %d more gpu tasks, want 0", len(again))
	}
	// Another worker's holdings do not count against w2.
	if other := claimAs("w2", "gpu", 1); len(other) != 1 {
		t.Fatalf("second worker: got %d gpu tasks, want 1", len(other))
	}
	// Its task reported, w1 may take the next.
	if err := s.ConsumeTask(ctx, got[0].ID, got[0].Lease); err != nil {
		t.Fatal(err)
	}
	if next := claimAs("w1", "gpu", 3); len(next) != 1 {
		t.Fatalf("worker whose gpu is free again: got %d, want 1", len(next))
	}
	// cpu:4 offered, cpu:2 tasks: polls at once get two between them.
	var mu sync.Mutex
	var wg sync.WaitGroup
	total := 0
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts, err := s.ClaimTasks(ctx, engine.ClaimParams{Queues: []string{"cpu"}, Max: 3, WorkerID: "w3", Resources: offer,
				Lease: fmt.Sprint("w3-", g, time.Now().UnixNano()), Now: t0})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			total += len(ts)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if total != 2 {
		t.Fatalf("worker offering cpu:4, concurrent polls for cpu:2 tasks: got %d, want 2", total)
	}
}

func testConcurrentClaimsOnce(t *testing.T, s engine.Store) {
	ctx := context.Background()
	mkRun(t, s, "r1", t0)
	var tasks []engine.TaskRecord
	for i := 0; i < 40; i++ {
		tasks = append(tasks, mkTask("r1", fmt.Sprintf("t%02d", i), "q", func(tk *engine.TaskRecord) { tk.Path = fmt.Sprint(i) }))
	}
	_ = s.AddTasks(ctx, tasks)
	seen := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 5; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ts, err := s.ClaimTasks(ctx, engine.ClaimParams{Queues: []string{"q"}, Max: 3, WorkerID: fmt.Sprint(g), Lease: fmt.Sprint("g", g, time.Now().UnixNano()), Now: t0})
				if err != nil {
					t.Error(err)
					return
				}
				if len(ts) == 0 {
					return
				}
				mu.Lock()
				for _, tk := range ts {
					seen[tk.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 40 {
		t.Fatalf("claimed %d distinct tasks, want 40", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("task %s claimed %d times", id, n)
		}
	}
}

func testAbandonTasks(t *testing.T, s engine.Store) {
	ctx := context.Background()
	mkRun(t, s, "r1", t0)
	_ = s.AddTasks(ctx, []engine.TaskRecord{mkTask("r1", "t1", "q"), mkTask("r1", "t2", "q2", func(tk *engine.TaskRecord) { tk.Path = "b" })})
	leased := claim(t, s, "q", 1, t0, nil)[0]
	if err := s.AbandonTasks(ctx, "r1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTask(ctx, "t2"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("ready task kept: %v", err)
	}
	got, err := s.GetTask(ctx, "t1")
	if err != nil || !got.CancelRequested || got.Lease != leased.Lease {
		t.Fatalf("leased task: %+v %v", got, err)
	}
}

func testTimersAndNextWake(t *testing.T, s engine.Store) {
	ctx := context.Background()
	mkRun(t, s, "r1", t0)
	if _, ok, err := s.NextWake(ctx, t0); err != nil || ok {
		t.Fatalf("empty store: ok=%v err=%v", ok, err)
	}
	_ = s.AddTimers(ctx, []engine.Timer{
		{RunID: "r1", Path: "a", Kind: engine.TimerWake, DueAt: t0.Add(time.Hour)},
		{RunID: "r1", Path: "b", Kind: engine.TimerWaitTimeout, DueAt: t0.Add(2 * time.Hour)},
	})
	_ = s.AddTasks(ctx, []engine.TaskRecord{mkTask("r1", "t1", "q", func(tk *engine.TaskRecord) { tk.VisibleAt = t0.Add(30 * time.Minute) })})
	next, ok, err := s.NextWake(ctx, t0)
	if err != nil || !ok || !next.Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("next wake: %v %v %v", next, ok, err)
	}
	claim(t, s, "q", 1, t0.Add(30*time.Minute), nil) // lease until +31m
	next, _, _ = s.NextWake(ctx, t0.Add(30*time.Minute))
	if !next.Equal(t0.Add(31 * time.Minute)) {
		t.Fatalf("next wake is the lease expiry: got %v", next)
	}
	exp, _ := s.ExpiredLeases(ctx, t0.Add(31*time.Minute), 10)
	if len(exp) != 1 || exp[0].ID != "t1" {
		t.Fatalf("expired leases: %+v", exp)
	}
	due, err := s.DueTimers(ctx, t0.Add(90*time.Minute), 10)
	if err != nil || len(due) != 1 || due[0].Path != "a" || due[0].Kind != engine.TimerWake {
		t.Fatalf("due timers: %+v %v", due, err)
	}
	if again, _ := s.DueTimers(ctx, t0.Add(90*time.Minute), 10); len(again) != 0 {
		t.Fatalf("timer returned twice")
	}
	if err := s.DeleteTimers(ctx, "r1", []string{"b"}); err != nil {
		t.Fatal(err)
	}
	if left, _ := s.DueTimers(ctx, t0.Add(10*time.Hour), 10); len(left) != 0 {
		t.Fatalf("deleted timer fired: %+v", left)
	}
}

func testEventsAndPurge(t *testing.T, s engine.Store) {
	ctx := context.Background()
	fin := t0.Add(time.Minute)
	mkRun(t, s, "old", t0, func(r *engine.Run) { r.Status = engine.RunSucceeded; r.FinishedAt = &fin })
	mkRun(t, s, "live", t0)
	evs := []engine.Event{
		{RunID: "old", Time: t0, Actor: "api", Kind: "run.queued", To: "queued"},
		{RunID: "old", Time: t0, Actor: "engine", Kind: "step.running", Path: "a", From: "scheduled", To: "running", Detail: json.RawMessage(`{"x":1}`)},
	}
	if err := s.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	got, err := s.Events(ctx, "old", 0, 10)
	if err != nil || len(got) != 2 || got[1].Path != "a" || got[1].From != "scheduled" || string(got[1].Detail) != `{"x":1}` || got[0].Seq >= got[1].Seq {
		t.Fatalf("events: %+v %v", got, err)
	}
	if after, _ := s.Events(ctx, "old", got[0].Seq, 10); len(after) != 1 {
		t.Fatalf("after seq: %d", len(after))
	}
	_ = s.UpsertSteps(ctx, "old", []engine.Step{{Path: "a", Ref: "a", Status: engine.StepSucceeded, CreatedAt: t0}})
	_ = s.AddTimers(ctx, []engine.Timer{{RunID: "old", Path: "a", Kind: engine.TimerWake, DueAt: t0}})
	n, err := s.PurgeRuns(ctx, t0.Add(2*time.Minute), 500)
	if err != nil || n != 1 {
		t.Fatalf("purge: %d %v", n, err)
	}
	if _, err := s.LoadRun(ctx, "old", true); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("purged run: %v", err)
	}
	if left, _ := s.Events(ctx, "old", 0, 10); len(left) != 0 {
		t.Fatalf("events of purged run left: %d", len(left))
	}
	if due, _ := s.DueTimers(ctx, t0.Add(time.Hour), 10); len(due) != 0 {
		t.Fatalf("timers of purged run left: %d", len(due))
	}
	if _, err := s.LoadRun(ctx, "live", false); err != nil {
		t.Fatalf("unfinished run purged: %v", err)
	}
}

func testCronFireOnce(t *testing.T, s engine.Store) {
	ctx := context.Background()
	due := t0.Add(3 * time.Hour)
	ok, err := s.ClaimCronFire(ctx, "nightly", due, "", t0)
	if err != nil || !ok {
		t.Fatalf("first fire: %v %v", ok, err)
	}
	ok, err = s.ClaimCronFire(ctx, "nightly", due, "", t0)
	if err != nil || ok {
		t.Fatalf("second fire: %v %v", ok, err)
	}
	last, found, err := s.LastCronFire(ctx, "nightly")
	if err != nil || !found || !last.Equal(due) {
		t.Fatalf("last fire: %v %v %v", last, found, err)
	}
}

func testTxRollback(t *testing.T, s engine.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	err := s.InTx(ctx, func(tx engine.Store) error {
		mkRun(t, tx, "r1", t0)
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx error: %v", err)
	}
	if _, err := s.LoadRun(ctx, "r1", false); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("rolled-back run exists: %v", err)
	}
}

func testHoldTasks(t *testing.T, s engine.Store) {
	ctx := context.Background()
	mkRun(t, s, "r1", t0)
	_ = s.AddTasks(ctx, []engine.TaskRecord{mkTask("r1", "t1", "q")})
	if err := s.HoldTasks(ctx, "r1", true, t0); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, s, "q", 5, t0, nil); len(got) != 0 {
		t.Fatalf("held task claimed")
	}
	if err := s.HoldTasks(ctx, "r1", false, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got := claim(t, s, "q", 5, t0.Add(time.Minute), nil)
	if len(got) != 1 {
		t.Fatalf("released task: got %d", len(got))
	}
	_ = s.AddTasks(ctx, []engine.TaskRecord{mkTask("r1", "t2", "q", func(tk *engine.TaskRecord) { tk.State = engine.TaskHeld; tk.Path = "b" })})
	if err := s.AbandonTasks(ctx, "r1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTask(ctx, "t2"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("abandoned held task kept: %v", err)
	}
}

// Apply writes a whole decision, or (on a moved run) nothing that
// survives the transaction.
func testApplyMutation(t *testing.T, s engine.Store) {
	ctx := context.Background()
	r := mkRun(t, s, "r1", t0)
	r.Rev = 1
	m := engine.Mutation{Run: r, ReadRev: 1, Now: t0,
		Steps:  []engine.Step{{Path: "a", Ref: "a", Type: "task", Status: engine.StepScheduled, Seq: 1, Attempt: 1, CreatedAt: t0}},
		Tasks:  []engine.TaskRecord{mkTask("r1", "t1", "q"), mkTask("r1", "t2", "q", func(tk *engine.TaskRecord) { tk.Path = "b" })},
		Timers: []engine.Timer{{RunID: "r1", Path: "w", Kind: engine.TimerWake, DueAt: t0.Add(time.Hour)}},
		Events: []engine.Event{{RunID: "r1", Time: t0, Actor: "engine", Kind: "step.scheduled", Path: "a"}},
		Notify: []string{"q"}}
	m.Run.Status = engine.RunRunning
	if err := s.InTx(ctx, func(tx engine.Store) error { return tx.Apply(ctx, m) }); err != nil {
		t.Fatalf("apply: %v", err)
	}
	got, err := s.LoadRun(ctx, "r1", true)
	if err != nil {
		t.Fatal(err)
	}
	if got.Rev != 2 || len(got.Steps) != 1 || got.Steps[0].Status != engine.StepScheduled {
		t.Fatalf("after apply: rev %d steps %+v", got.Rev, got.Steps)
	}
	if ts := claim(t, s, "q", 10, t0, nil); len(ts) != 2 {
		t.Fatalf("tasks applied: %d, want 2", len(ts))
	}
	evs, _ := s.Events(ctx, "r1", 0, 10)
	if len(evs) != 1 || evs[0].Kind != "step.scheduled" {
		t.Fatalf("events: %+v", evs)
	}

	// A second decision read at rev 1 is refused whole: its step, task,
	// event and timer writes roll back with it.
	stale := engine.Mutation{Run: r, ReadRev: 1, Now: t0,
		Steps:  []engine.Step{{Path: "c", Ref: "c", Type: "task", Status: engine.StepScheduled, Seq: 2, Attempt: 1, CreatedAt: t0}},
		Tasks:  []engine.TaskRecord{mkTask("r1", "t3", "q2")},
		Events: []engine.Event{{RunID: "r1", Time: t0, Actor: "engine", Kind: "step.scheduled", Path: "c"}},
		Timers: []engine.Timer{{RunID: "r1", Path: "x", Kind: engine.TimerWake, DueAt: t0}}}
	err = s.InTx(ctx, func(tx engine.Store) error { return tx.Apply(ctx, stale) })
	if !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("stale apply: got %v, want ErrConflict", err)
	}
	got, _ = s.LoadRun(ctx, "r1", true)
	if got.Rev != 2 || len(got.Steps) != 1 {
		t.Fatalf("after a refused apply: rev %d, %d steps", got.Rev, len(got.Steps))
	}
	if ts := claim(t, s, "q2", 10, t0, nil); len(ts) != 0 {
		t.Fatalf("a refused apply left %d tasks", len(ts))
	}
	if evs, _ := s.Events(ctx, "r1", 0, 10); len(evs) != 1 {
		t.Fatalf("a refused apply left events: %+v", evs)
	}
	if due, _ := s.DueTimers(ctx, t0, 10); len(due) != 0 {
		t.Fatalf("a refused apply left timers: %+v", due)
	}
}

// A claim records its time and the attempt's deadline on the task row;
// the deadline is reported as expired once it passes, and cleared once.
func testClaimDeadline(t *testing.T, s engine.Store) {
	ctx := context.Background()
	mkRun(t, s, "r1", t0)
	tk := mkTask("r1", "t1", "q", func(tk *engine.TaskRecord) { tk.Timeout = 10 * time.Second; tk.LeaseDuration = time.Hour })
	if err := s.AddTasks(ctx, []engine.TaskRecord{tk}); err != nil {
		t.Fatal(err)
	}
	ts := claim(t, s, "q", 1, t0, nil)
	if len(ts) != 1 || ts[0].ClaimedAt == nil || !ts[0].ClaimedAt.Equal(t0) || ts[0].DeadlineAt == nil || !ts[0].DeadlineAt.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("claimed: %+v", ts)
	}
	if next, ok, _ := s.NextWake(ctx, t0); !ok || !next.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("next wake: %v %v, want the deadline", next, ok)
	}
	if exp, _ := s.ExpiredLeases(ctx, t0.Add(9*time.Second), 10); len(exp) != 0 {
		t.Fatalf("expired before the deadline: %+v", exp)
	}
	exp, _ := s.ExpiredLeases(ctx, t0.Add(10*time.Second), 10)
	if len(exp) != 1 || exp[0].ID != "t1" {
		t.Fatalf("expired at the deadline: %+v", exp)
	}
	if err := s.ClearDeadline(ctx, "t1", ts[0].Lease); err != nil {
		t.Fatal(err)
	}
	if err := s.ClearDeadline(ctx, "t1", ts[0].Lease); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("second clear: %v, want ErrConflict", err)
	}
	if exp, _ := s.ExpiredLeases(ctx, t0.Add(11*time.Second), 10); len(exp) != 0 {
		t.Fatalf("expired after the clear: %+v", exp)
	}
	leased, err := s.LeasedTasks(ctx, "r1")
	if err != nil || len(leased) != 1 || leased[0].WorkerID != "w" {
		t.Fatalf("leased tasks: %+v %v", leased, err)
	}
}

// A leased task carries a status detail under its lease: set, read back
// with the run's leased tasks, cleared by "", refused on a stale lease,
// and gone with the task.
func testTaskDetail(t *testing.T, s engine.Store) {
	ctx := context.Background()
	mkRun(t, s, "r1", t0)
	if err := s.AddTasks(ctx, []engine.TaskRecord{mkTask("r1", "t1", "q")}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTaskDetail(ctx, "t1", "", "too early"); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("detail of a ready task: got %v, want ErrConflict", err)
	}
	tk := claim(t, s, "q", 1, t0, nil)[0]
	if tk.StatusDetail != "" {
		t.Fatalf("claimed task has detail %q", tk.StatusDetail)
	}
	const detail = "waiting for cluster capacity: 0/1 nodes are available"
	if err := s.SetTaskDetail(ctx, "t1", tk.Lease, detail); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTaskDetail(ctx, "t1", "stale", "other"); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("detail under a stale lease: got %v, want ErrConflict", err)
	}
	leased, err := s.LeasedTasks(ctx, "r1")
	if err != nil || len(leased) != 1 || leased[0].StatusDetail != detail {
		t.Fatalf("leased tasks: %+v %v, want detail %q", leased, err, detail)
	}
	if got, err := s.GetTask(ctx, "t1"); err != nil || got.StatusDetail != detail {
		t.Fatalf("get task: detail %q %v, want %q", got.StatusDetail, err, detail)
	}
	if err := s.SetTaskDetail(ctx, "t1", tk.Lease, ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetTask(ctx, "t1"); got.StatusDetail != "" {
		t.Fatalf("cleared detail reads %q", got.StatusDetail)
	}
	if err := s.SetTaskDetail(ctx, "t1", tk.Lease, detail); err != nil {
		t.Fatal(err)
	}
	taken, err := s.TakeTask(ctx, "t1", tk.Lease)
	if err != nil || taken.StatusDetail != detail {
		t.Fatalf("take task: detail %q %v, want %q", taken.StatusDetail, err, detail)
	}
	if err := s.SetTaskDetail(ctx, "t1", tk.Lease, detail); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("detail of a reported task: got %v, want ErrConflict", err)
	}
}
