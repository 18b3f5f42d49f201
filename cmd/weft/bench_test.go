package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weftlabs/weft/internal/bench"
	"github.com/weftlabs/weft/internal/pgscratch"
)

// weft bench at a twentieth of its size, as a test that every workload
// completes on the stack weft serve runs and that an idle server leaves
// the database alone. The race detector slows it tenfold: make test runs
// it without (TestBenchSmall*).
func TestBenchSmallSQLite(t *testing.T) {
	t.Parallel()
	checkBench(t, filepath.Join(t.TempDir(), "bench.db"))
}

func TestBenchSmallPostgres(t *testing.T) {
	t.Parallel()
	// weft bench makes and drops its own scratch database on the server.
	pgscratch.ForTest(t, "weft_bench_probe")
	checkBench(t, pgscratch.ServerURL())
}

func checkBench(t *testing.T, db string) {
	var out strings.Builder
	rs, err := benchmark(context.Background(), benchOptions{db: db}, bench.Config{Workloads: []int{1, 2, 3, 4, 5, 6}, Scale: 20, IdleFor: 3 * time.Second, Out: &out})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, r := range rs {
		got[r.Name] = r.Value
	}
	for _, name := range []string{"per-step overhead p50", "steps/s", "map total", "heap in use"} {
		if got[name] <= 0 {
			t.Errorf("%s = %v, want a positive measurement", name, got[name])
		}
	}
	for _, name := range []string{"chain of 2: per step", "chain of 20: per step", "50 parallel, 8 slots: per step"} {
		if got[name] <= 0 {
			t.Errorf("command steps: %s = %v, want a positive measurement", name, got[name])
		}
	}
	if n := got["statements while idle"]; n > 3 {
		t.Errorf("idle server with 10 long-polling workers issued %v statements in 3s, want at most 1 per second", n)
	}
}
