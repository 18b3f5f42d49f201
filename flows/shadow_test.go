package flows_test

import (
	"strings"
	"testing"

	"github.com/weftlabs/weft/flows"
)

// Refs may take the names of the expression language's functions; where
// such a ref is in scope its name means the ref, and the function of that
// name cannot be called (flows/doc.go, "Names").
func TestRefsShadowFunctions(t *testing.T) {
	t.Parallel()
	cat := testCatalog(t)
	names := []string{"first", "sum", "count", "max", "filter", "split", "len"}
	var blocks []string
	for i, n := range names {
		blocks = append(blocks, `{"ref": "`+n+`", "type": "lambda", "expr": "`+string(rune('1'+i))+`"}`)
	}
	blocks = append(blocks, `{"ref": "total", "type": "lambda", "expr": "first.output + sum.output + count.output + max.output + filter.output + split.output + len.output"}`)
	bp, err := flows.Parse([]byte(flow(blocks...)), cat)
	if err != nil {
		t.Fatalf("refs named like functions were refused: %v", err)
	}
	env := map[string]any{}
	for i, n := range names {
		env[n] = map[string]any{"output": i + 1}
	}
	v, err := bp.Nodes["total"].ExprProg.Eval(env)
	if err != nil {
		t.Fatal(err)
	}
	if v != 28 {
		t.Fatalf("total = %v, want 28 (1+...+7 read from the refs)", v)
	}

	// Before the ref (not in scope yet) and in a flow without it, the
	// function is there.
	bp, err = flows.Parse([]byte(flow(
		`{"ref": "a", "type": "lambda", "expr": "sum([1, 2, 3]) + max(4, 5) + count([1, 2], # > 1) + len(split('a,b', ','))"}`,
		`{"ref": "sum", "type": "lambda", "expr": "a.output"}`)), cat)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := bp.Nodes["a"].ExprProg.Eval(map[string]any{}); err != nil || v != 14 {
		t.Fatalf("functions before the ref: %v, %v; want 14", v, err)
	}

	// Calling the hidden function where the ref is in scope is an upload
	// error at that expression, saying what to do.
	_, err = flows.Parse([]byte(flow(
		`{"ref": "sum", "type": "lambda", "expr": "1"}`,
		`{"ref": "b", "type": "lambda", "expr": "sum([1, 2])"}`,
		`{"ref": "c", "block": "notify.team", "input": {"x": "${first(flow.input.xs)}"}}`,
		`{"ref": "first", "type": "lambda", "expr": "1"}`)), cat)
	probs := flows.Problems(err)
	if len(probs) != 1 {
		t.Fatalf("want one problem, got %v", err)
	}
	p := probs[0]
	if p.Pointer != "/blocks/1/expr" || p.Line != 3 || !strings.Contains(p.Msg, `hides the function sum()`) || !strings.Contains(p.Msg, "rename the ref") {
		t.Fatalf("problem = %s at %s line %d", p.Msg, p.Pointer, p.Line)
	}
}
