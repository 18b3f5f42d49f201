package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/internal/pgscratch"
	"github.com/weftlabs/weft/internal/store"
)

// BenchmarkDAGRun1000 runs a layered DAG of 1,000 no-op worker blocks
// (width 10, each block after two of the layer above) to the end, one
// in-process worker taking up to 100 tasks per poll and completing each:
// the time of one whole run, on SQLite (synchronous=FULL) and PostgreSQL.
func BenchmarkDAGRun1000(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "weft.db"), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		benchDAGRun(b, st, 1000)
	})
	b.Run("postgres", func(b *testing.B) {
		st, err := store.Open(context.Background(), pgscratch.ForTest(b, "weft_bench"), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		benchDAGRun(b, st, 1000)
	})
}

func benchDAGRun(b *testing.B, st *store.Store, n int) {
	ctx := context.Background()
	bb := &bundle{t: b, ctx: ctx, store: st, eng: engine.New(engine.Config{DisableCron: true}, st, nil)}
	bb.block(blockEcho)
	var blocks []string
	for i := 0; i < n; i++ {
		deps := "[]"
		if i >= 10 {
			deps = fmt.Sprintf(`["s%d", "s%d"]`, i-10, (i/10-1)*10+(i+1)%10)
		}
		blocks = append(blocks, fmt.Sprintf(`{"ref": "s%d", "block": "echo", "depends_on": %s}`, i, deps))
	}
	name := bb.flow(`{"name": "dag1000", "blocks": [` + strings.Join(blocks, ",") + `]}`)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := bb.start(name, `{}`)
		steps := 0
		for {
			ts := bb.poll("echo", 100)
			if len(ts) == 0 {
				break
			}
			for _, tk := range ts {
				bb.complete(tk, `{}`)
				steps++
			}
		}
		if got := bb.run(r.ID); got.Status != engine.RunSucceeded || steps != n {
			b.Fatalf("run %s after %d steps", got.Status, steps)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/run")
}
