package engine

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/weftlabs/weft/flows"
)

// layeredDAG is a DAG list of n external blocks in layers of width 10;
// each block depends on two blocks of the layer above, the first layer
// on nothing.
func layeredDAG(n int) string {
	var sb strings.Builder
	sb.WriteString(`{"name": "dag", "blocks": [`)
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		deps := "[]"
		if i >= 10 {
			a, b := i-10, (i/10-1)*10+(i+1)%10
			deps = fmt.Sprintf(`["s%d", "s%d"]`, a, b)
			if a == b {
				deps = fmt.Sprintf(`["s%d"]`, a)
			}
		}
		fmt.Fprintf(&sb, `{"ref": "s%d", "block": "once", "depends_on": %s}`, i, deps)
	}
	sb.WriteString(`]}`)
	return sb.String()
}

// dagRun is a run of layeredDAG(n) with every block succeeded but the
// last, which is running, and the report that completes it.
func dagRun(bp *flows.Blueprint, n int) (Run, change) {
	run := Run{ID: "r1", Flow: bp.Name, Version: bp.Version, Status: RunRunning, Input: json.RawMessage(`{}`),
		Meta: &RunMeta{NextSeq: n}, Rev: 1}
	for i := 0; i < n; i++ {
		st := Step{Path: fmt.Sprintf("s%d", i), Ref: fmt.Sprintf("s%d", i), Block: "once", Status: StepSucceeded,
			Output: json.RawMessage(`{}`), Attempt: 1, Seq: i, Attempts: []Attempt{{Number: 1, Status: StepSucceeded}}}
		if i == n-1 {
			st.Status, st.Output = StepRunning, nil
			st.Attempts[0].Status = StepRunning
		}
		run.Steps = append(run.Steps, st)
	}
	return run, change{Kind: chCompleted, Path: fmt.Sprintf("s%d", n-1), Attempt: 1, Output: json.RawMessage(`{}`)}
}

// Deciding a DAG looks at each block and edge a bounded number of times:
// the work of one decision, counted (not timed), is linear in the DAG's
// size (BenchmarkDecideDAG gives the times).
func TestDecideDAGIsLinear(t *testing.T) {
	t.Parallel()
	for _, n := range []int{100, 1000, 4000} { // 10,000 in the benchmark
		bp := pureBlueprint(t, layeredDAG(n))
		size := 0
		for _, nd := range bp.Blocks[0].DAG.Nodes {
			size += 1 + len(nd.Upstream)
		}
		run, last := dagRun(bp, n)
		d := newDecider(bp, run, t0, schemaValidator{})
		if err := d.apply(last); err != nil {
			t.Fatal(err)
		}
		d.drive()
		if d.run.Status != RunSucceeded {
			t.Fatalf("n=%d: run %s", n, d.run.Status)
		}
		if d.dagWork < size || d.dagWork > 3*size {
			t.Fatalf("n=%d: %d blocks and edges looked at for a DAG of %d blocks and edges; want between 1 and 3 times its size", n, d.dagWork, size)
		}
		t.Logf("n=%d: size %d, work %d", n, size, d.dagWork)
	}
}

// BenchmarkDecideDAG decides the completion of the last running block of
// a layered DAG whose other blocks have all succeeded: one decision on a
// DAG of n blocks. It should grow linearly with n.
func BenchmarkDecideDAG(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("blocks=%d", n), func(b *testing.B) {
			bp := pureBlueprint(b, layeredDAG(n))
			run, last := dagRun(bp, n)
			next, _, err := advance(bp, run, last, t0, schemaValidator{})
			if err != nil || next.Status != RunSucceeded {
				b.Fatalf("decision: %v, run %s", err, next.Status)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := advance(bp, run, last, t0, schemaValidator{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/block")
		})
	}
}
