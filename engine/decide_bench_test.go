package engine

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// BenchmarkDecideChain decides the completion of the last running step of
// a chain whose earlier steps have all succeeded: the cost of one step's
// decision as a run grows. Per step it should grow linearly with the run
// (the decider copies the steps it is given), not faster.
func BenchmarkDecideChain(b *testing.B) {
	for _, n := range []int{100, 1000, 2000} {
		b.Run(fmt.Sprintf("steps=%d", n), func(b *testing.B) {
			var sb strings.Builder
			sb.WriteString(`{"name": "chain", "blocks": [`)
			for i := 0; i < n; i++ {
				if i > 0 {
					sb.WriteString(",")
				}
				fmt.Fprintf(&sb, `{"ref": "s%d", "block": "once"}`, i)
			}
			sb.WriteString(`]}`)
			p := startPure(b, pureBlueprint(b, sb.String()), "")
			for i := 0; i < n-1; i++ {
				p.apply(change{Kind: chCompleted, Path: fmt.Sprintf("s%d", i), Attempt: 1, Output: json.RawMessage(`{}`)})
			}
			last := change{Kind: chCompleted, Path: fmt.Sprintf("s%d", n-1), Attempt: 1, Output: json.RawMessage(`{}`)}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := advance(p.bp, p.run, last, p.now, schemaValidator{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
