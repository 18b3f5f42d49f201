package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// Three replicas on one PostgreSQL, workers spread over all of them, 500
// runs, one replica killed half-way: every run finishes exactly once.
func TestReplicasShareOnePostgres(t *testing.T) {
	t.Parallel()
	const runs = 500
	db := pgDatabase(t)
	dir := t.TempDir()
	var reps []*proc
	for i := 0; i < 3; i++ {
		reps = append(reps, startServe(t, db, freeAddr(t), filepath.Join(dir, fmt.Sprintf("replica%d.log", i))))
	}
	deployCrashFlow(t, newAPI(reps[0].url()))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var bases []string
	for _, r := range reps {
		bases = append(bases, r.url())
	}
	w := &workerPool{bases: bases, queues: []string{"t.add"}, handle: addWorker}
	w.start(ctx, 6)
	defer w.wg.Wait()
	defer cancel()

	ids := make([]string, runs)
	for i := range ids {
		var r run
		body := map[string]any{"input": map[string]any{"n": i}}
		// Start on the replicas still alive, in turn.
		alive := reps[:3]
		if i >= runs/2 {
			alive = reps[1:]
		}
		if err := newAPI(alive[i%len(alive)].url()).do(ctx, "POST", "/api/v1/flows/crash/runs", body, &r); err != nil {
			t.Fatalf("start run %d: %v", i, err)
		}
		ids[i] = r.ID
		if i == runs/2 {
			reps[0].kill9()
		}
	}
	a := newAPI(reps[1].url())
	waitFor(t, 4*time.Minute, "every run to finish", func() (bool, string) {
		var page struct {
			Runs []run `json:"runs"`
		}
		if err := a.do(ctx, "GET", "/api/v1/runs?flow=crash&status=succeeded&limit=500", nil, &page); err != nil {
			return false, err.Error()
		}
		return len(page.Runs) == runs, fmt.Sprintf("%d of %d succeeded", len(page.Runs), runs)
	})
	checkCrashRuns(t, a, ids, w)
	t.Logf("%d runs on 3 replicas (one killed at run %d): all succeeded once; %d completions", runs, runs/2, w.done.Load())
}

func events(t *testing.T, a *api, id string) []event {
	t.Helper()
	var raw json.RawMessage
	if err := a.do(context.Background(), "GET", "/api/v1/runs/"+id+"/events?limit=500", nil, &raw); err != nil {
		t.Fatal(err)
	}
	var evs []event
	if json.Unmarshal(raw, &evs) == nil {
		return evs
	}
	var wrapped struct {
		Events []event `json:"events"`
	}
	if err := json.Unmarshal(raw, &wrapped); err != nil {
		t.Fatalf("events of %s: %v", id, err)
	}
	return wrapped.Events
}
