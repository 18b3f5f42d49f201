package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The crash flow: a step, a 2-way fork, a map over three values, a final
// step. For input n its output is v = 4n + 238.
const crashBlock = `{"name": "t.add", "dispatch": {"kind": "worker"},
  "input_schema": {"type": "object", "required": ["x", "y"], "properties": {"x": {"type": "number"}, "y": {"type": "number"}}},
  "output_schema": {"type": "object", "required": ["v"], "properties": {"v": {"type": "number"}}},
  "retry": {"max_attempts": 10, "backoff": "fixed", "initial_interval": "100ms"},
  "heartbeat_timeout": "2s"}`

const crashFlow = `{"name": "crash", "blocks": [
  {"ref": "a", "block": "t.add", "input": {"x": "${flow.input.n}", "y": 1}},
  {"ref": "f", "type": "fork", "branches": [
    [{"ref": "b", "block": "t.add", "input": {"x": "${a.output.v}", "y": 10}}],
    [{"ref": "c", "block": "t.add", "input": {"x": "${a.output.v}", "y": 100}}]]},
  {"ref": "m", "type": "map", "items": "[b.output.v, c.output.v, 7]", "concurrency": 2, "do": [
    {"ref": "sq", "block": "t.add", "input": {"x": "${item}", "y": "${item}"}}]},
  {"ref": "d", "block": "t.add", "input": {"x": "${m.output[0].v + m.output[1].v}", "y": "${m.output[2].v}"}}
], "output": {"v": "${d.output.v}"}}`

// addWorker implements t.add, slowly enough that kills land mid-flight.
func addWorker(tk task) (any, error) {
	var in struct{ X, Y float64 }
	if err := json.Unmarshal(tk.Input, &in); err != nil {
		return nil, err
	}
	time.Sleep(2 * time.Millisecond)
	return map[string]any{"v": in.X + in.Y}, nil
}

func deployCrashFlow(t *testing.T, a *api) {
	t.Helper()
	ctx := context.Background()
	if err := a.do(ctx, "PUT", "/api/v1/blocks", []byte(crashBlock), nil); err != nil {
		t.Fatalf("upload block: %v", err)
	}
	if err := a.do(ctx, "POST", "/api/v1/flows", []byte(crashFlow), nil); err != nil {
		t.Fatalf("upload flow: %v", err)
	}
}

func TestCrashRecoverySQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	crashTest(t, filepath.Join(dir, "weft.db"), filepath.Join(dir, "server.log"))
}

func TestCrashRecoveryPostgres(t *testing.T) {
	t.Parallel()
	crashTest(t, pgDatabase(t), filepath.Join(t.TempDir(), "server.log"))
}

func crashTest(t *testing.T, db, logPath string) {
	const runs = 200
	addr := freeAddr(t)
	srv := startServe(t, db, addr, logPath)
	a := newAPI(srv.url())
	deployCrashFlow(t, a)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &workerPool{bases: []string{srv.url()}, queues: []string{"t.add"}, handle: addWorker}
	w.start(ctx, 4)
	defer w.wg.Wait()
	defer cancel()

	ids := make([]string, runs)
	for i := range ids {
		var r run
		body := map[string]any{"input": map[string]any{"n": i}, "idempotency_key": fmt.Sprintf("crash-%d", i)}
		for {
			err := a.do(ctx, "POST", "/api/v1/flows/crash/runs", body, &r)
			if err == nil {
				break
			}
			if !strings.Contains(err.Error(), "connection refused") {
				t.Fatalf("start run %d: %v", i, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		ids[i] = r.ID
		// Kill the server three times while runs are being started and worked on.
		if i == 40 || i == 110 || i == 170 {
			srv.kill9()
			srv.start()
		}
	}
	// And once more while only the workers are busy.
	waitFor(t, 60*time.Second, "some progress", func() (bool, string) {
		return w.done.Load() > runs*3, fmt.Sprint(w.done.Load(), " completions")
	})
	srv.kill9()
	srv.start()

	finished := 0
	waitFor(t, 3*time.Minute, "every run to finish", func() (bool, string) {
		finished = 0
		var page struct {
			Runs       []run  `json:"runs"`
			NextCursor string `json:"next_cursor"`
		}
		if err := a.do(ctx, "GET", "/api/v1/runs?flow=crash&status=succeeded&limit=500", nil, &page); err != nil {
			return false, err.Error()
		}
		finished = len(page.Runs)
		return finished == runs, fmt.Sprintf("%d of %d succeeded", finished, runs)
	})

	twice := checkCrashRuns(t, a, ids, w)
	t.Logf("%d runs succeeded through 4 kill -9s; %d completions acknowledged; %d steps accepted twice", finished, w.done.Load(), twice)
}

// checkCrashRuns asserts what a user of the crash flow must see after any
// number of crashes: run i succeeded with v = 4i + 238, every step
// succeeded, the history has each step succeed once and the run finish
// once, and no completion was acknowledged twice. It returns how many
// steps were acknowledged twice (0 unless it failed the test).
func checkCrashRuns(t *testing.T, a *api, ids []string, w *workerPool) int {
	t.Helper()
	ctx := context.Background()
	for i, id := range ids {
		var r run
		if err := a.do(ctx, "GET", "/api/v1/runs/"+id, nil, &r); err != nil {
			t.Fatal(err)
		}
		var out struct{ V float64 }
		json.Unmarshal(r.Output, &out)
		if want := float64(4*i + 238); r.Status != "succeeded" || out.V != want {
			t.Errorf("run %d (%s): status %s output %s, want succeeded with v=%v", i, id, r.Status, r.Output, want)
		}
		if len(r.Steps) == 0 {
			t.Errorf("run %s has no steps", id)
		}
		finished, succeeded := 0, map[string]int{}
		for _, e := range events(t, a, id) {
			switch {
			case e.Path == "" && (e.To == "succeeded" || e.To == "failed"):
				finished++
			case e.Path != "" && e.To == "succeeded":
				succeeded[e.Path]++
			}
		}
		if finished != 1 {
			t.Errorf("run %s finished %d times in its history, want 1", id, finished)
		}
		for _, s := range r.Steps {
			if s.Status != "succeeded" {
				t.Errorf("run %s step %s is %s, want succeeded", id, s.Path, s.Status)
			}
			if succeeded[s.Path] != 1 {
				t.Errorf("run %s step %s: %d succeeded events in history, want exactly 1", id, s.Path, succeeded[s.Path])
			}
		}
	}
	twice := 0
	w.accepted.Range(func(k, v any) bool {
		if n := atomic.LoadInt64(v.(*int64)); n > 1 {
			twice++
			t.Errorf("step %s: %d completions accepted, want at most 1", k, n)
		}
		return true
	})
	return twice
}
