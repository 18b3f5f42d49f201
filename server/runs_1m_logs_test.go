package server_test

import (
	"context"
	"os"
	"testing"
	"time"
)

// BenchmarkRunsList1MWithLogs is BenchmarkRunsList1M with 3 log lines per
// run (3,000,000 lines) stored first: the runs list must not notice them.
func BenchmarkRunsList1MWithLogs(b *testing.B) {
	if os.Getenv("WEFT_BENCH_1M") != "1" {
		b.Skip("set WEFT_BENCH_1M=1 to seed 1,000,000 runs with logs and time the runs list")
	}
	n := 1_000_000
	seed := func(b *testing.B, lt *listTarget) *listTarget {
		t0 := time.Now()
		if err := lt.st.SeedLogs(context.Background(), 3); err != nil {
			b.Fatal(err)
		}
		b.Logf("seeded %d log lines in %v", 3*n, time.Since(t0))
		return lt
	}
	b.Run("postgres", func(b *testing.B) { st, u := openPostgresTB(b); benchRunsList(b, seed(b, newListTarget(b, st, u, n))) })
	b.Run("sqlite", func(b *testing.B) { st, u := openSQLiteTB(b); benchRunsList(b, seed(b, newListTarget(b, st, u, n))) })
}
