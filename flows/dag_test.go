package flows_test

import (
	"strings"
	"testing"

	"github.com/weftlabs/weft/flows"
)

func TestDAGCompiles(t *testing.T) {
	t.Parallel()
	cat := testCatalog(t)
	bp, err := flows.Parse([]byte(flow(
		`{"ref": "train", "type": "lambda", "expr": "prep.output + 1", "depends_on": ["prep"]}`,
		`{"ref": "prep", "type": "lambda", "expr": "1"}`,
		`{"ref": "score", "type": "lambda", "expr": "prep.output * 2", "depends_on": ["prep"]}`,
		`{"ref": "report", "type": "lambda", "expr": "train.output + score.output + prep.output", "depends_on": ["train", "score"]}`,
		`{"ref": "alert", "type": "lambda", "expr": "'failed'", "depends_on": ["train", "score"], "trigger_rule": "one_failed"}`,
	)), cat)
	if err != nil {
		t.Fatal(err)
	}
	g := bp.Blocks[0].DAG
	if g == nil || g.Pointer != "/blocks" {
		t.Fatalf("no DAG on the list: %+v", g)
	}
	var order, sinks []string
	for _, n := range g.Order {
		order = append(order, n.Ref)
	}
	for _, n := range g.Sinks {
		sinks = append(sinks, n.Ref)
	}
	if got := strings.Join(order, " "); got != "prep train score report alert" {
		t.Fatalf("order = %s", got)
	}
	if got := strings.Join(sinks, " "); got != "report alert" {
		t.Fatalf("sinks = %s", got)
	}
	if bp.Nodes["alert"].Rule() != flows.RuleOneFailed || bp.Nodes["report"].Rule() != flows.RuleAllSuccess {
		t.Fatal("trigger rules not compiled")
	}
}

// Every problem of a DAG at once, each at its pointer and line.
func TestDAGProblems(t *testing.T) {
	t.Parallel()
	cat := testCatalog(t)
	tests := []struct {
		name string
		doc  string
		want []want
	}{
		{"cycle", flow(
			`{"ref": "ingest", "type": "lambda", "expr": "1", "depends_on": ["validate"]}`,
			`{"ref": "validate", "type": "lambda", "expr": "1", "depends_on": ["ingest"]}`,
			`{"ref": "ok", "type": "lambda", "expr": "1"}`),
			[]want{{"/blocks", "cycle ingest → validate → ingest: blocks that wait for each other never start", 1}}},
		{"longer cycle and a block after it", flow(
			`{"ref": "a", "type": "lambda", "expr": "1", "depends_on": ["c"]}`,
			`{"ref": "b", "type": "lambda", "expr": "1", "depends_on": ["a"]}`,
			`{"ref": "c", "type": "lambda", "expr": "1", "depends_on": ["b"]}`,
			`{"ref": "d", "type": "lambda", "expr": "1", "depends_on": ["c"]}`),
			[]want{{"/blocks", "cycle a → b → c → a", 1}}},
		{"self", flow(`{"ref": "a", "type": "lambda", "expr": "1", "depends_on": ["a"]}`),
			[]want{{"/blocks/0/depends_on/0", `"a" depends on itself`, 2}}},
		{"unknown dependency", flow(
			`{"ref": "prep", "type": "lambda", "expr": "1"}`,
			`{"ref": "train", "type": "lambda", "expr": "1", "depends_on": ["prpe"]}`),
			[]want{{"/blocks/1/depends_on/0", `unknown ref "prpe" in depends_on (did you mean "prep"?); the blocks of this list (/blocks) are: prep, train`, 3}}},
		{"dependency outside the list", flow(
			`{"ref": "f", "type": "fork", "branches": [[{"ref": "x", "type": "lambda", "expr": "1"}]]}`,
			`{"ref": "y", "type": "lambda", "expr": "1", "depends_on": ["f", "x"]}`),
			[]want{{"/blocks/1/depends_on/1", `depends_on names "x" (/blocks/0/branches/0/0), which is not in this list`, 3}}},
		{"ref not depended on", flow(
			`{"ref": "prep", "type": "lambda", "expr": "1"}`,
			`{"ref": "train", "type": "lambda", "expr": "1", "depends_on": ["prep"]}`,
			`{"ref": "score", "type": "lambda", "expr": "train.output", "depends_on": ["prep"]}`),
			[]want{{"/blocks/2/expr", `ref "train" (/blocks/1) is in the same DAG as "score", which does not depend on it`, 4}}},
		{"ref not depended on, in a template", flow(
			`{"ref": "prep", "type": "lambda", "expr": "1"}`,
			`{"ref": "train", "type": "lambda", "expr": "1"}`,
			`{"ref": "note", "block": "notify.team", "input": {"text": "r=${train.output}"}, "depends_on": ["prep"]}`),
			[]want{{"/blocks/2/input/text", `add "train" to the depends_on of "note"`, 4}}},
		{"trigger_rule in a sequence", flow(`{"ref": "a", "type": "lambda", "expr": "1", "trigger_rule": "all_done"}`),
			[]want{{"/blocks/0/trigger_rule", "trigger_rule applies in a DAG", 2}}},
		{"unknown rule", flow(`{"ref": "a", "type": "lambda", "expr": "1", "depends_on": [], "trigger_rule": "all_sucess"}`),
			[]want{{"/blocks/0/trigger_rule", "all_success", 2}}},
		{"all at once", flow(
			`{"ref": "a", "type": "lambda", "expr": "b.output", "depends_on": ["nope"]}`,
			`{"ref": "b", "type": "lambda", "expr": "1", "depends_on": ["c"]}`,
			`{"ref": "c", "type": "lambda", "expr": "1", "depends_on": ["b"]}`),
			[]want{
				{"/blocks/0/depends_on/0", `unknown ref "nope"`, 2},
				{"/blocks", "cycle b → c → b", 1},
				{"/blocks/0/expr", `ref "b" (/blocks/1) is in the same DAG as "a"`, 2}}},
		{"DAG inside a fork branch and a map", flow(
			`{"ref": "f", "type": "fork", "branches": [[
				{"ref": "p", "type": "lambda", "expr": "1"},
				{"ref": "q", "type": "lambda", "expr": "p.output", "depends_on": ["p"]},
				{"ref": "r", "type": "lambda", "expr": "q.output", "depends_on": ["p"]}]]}`,
			`{"ref": "m", "type": "map", "items": "[1]", "do": [
				{"ref": "u", "type": "lambda", "expr": "item"},
				{"ref": "v", "type": "lambda", "expr": "w.output", "depends_on": ["u"]},
				{"ref": "w", "type": "lambda", "expr": "1"}]}`),
			[]want{{"/blocks/0/branches/0/2/expr", `ref "q" (/blocks/0/branches/0/1) is in the same DAG as "r"`, 0},
				{"/blocks/1/do/1/expr", `ref "w" (/blocks/1/do/2) is in the same DAG as "v"`, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := flows.Parse([]byte(tt.doc), cat)
			probs := flows.Problems(err)
			if len(probs) != len(tt.want) {
				t.Fatalf("got %d problems, want %d: %v", len(probs), len(tt.want), err)
			}
			for _, w := range tt.want {
				found := false
				for _, p := range probs {
					if p.Pointer == w.ptr && strings.Contains(p.Msg, w.msg) && (w.line == 0 || p.Line == w.line) && p.Col > 0 {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem at %s line %d containing %q in:\n%v", w.ptr, w.line, w.msg, err)
				}
			}
		})
	}
}

// After a DAG list, the blocks of the sequence around it see all its refs.
func TestDAGScopeAfter(t *testing.T) {
	t.Parallel()
	_, err := flows.Parse([]byte(`{"name": "t", "blocks": [
		{"ref": "d", "type": "fork", "branches": [[
			{"ref": "a", "type": "lambda", "expr": "1"},
			{"ref": "b", "type": "lambda", "expr": "2", "depends_on": []}]]},
		{"ref": "sum", "type": "lambda", "expr": "a.output + b.output"}], "output": {"b": "${b.output}"}}`), testCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
}
