package flows_test

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/weftlabs/weft/flows"
)

func exprEnv() map[string]any {
	return map[string]any{
		"flow": map[string]any{"input": map[string]any{"n": 2.0, "s": "ab", "list": []any{1.0, 2.0, 3.0}, "obj": map[string]any{"k": "v"}}, "run_id": "r1"},
		"load": map[string]any{"output": map[string]any{"rows": []any{map[string]any{"x": 1.0}}, "ok": true}, "status": "succeeded", "attempts": 1},
	}
}

var exprScope = []string{"flow", "load"}

func TestValueTemplates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"single keeps list", "${load.output.rows}", []any{map[string]any{"x": 1.0}}},
		{"single keeps number", "${flow.input.n + 1}", 3.0},
		{"single keeps bool", "${load.output.ok}", true},
		{"single keeps object", "${flow.input.obj}", map[string]any{"k": "v"}},
		{"single with spaces inside", "${ flow.input.n }", 2.0},
		{"interpolate", "n=${flow.input.n}, s=${flow.input.s}", "n=2, s=ab"},
		{"interpolate json", "list ${flow.input.list}", "list [1,2,3]"},
		{"interpolate null", "x=${flow.input.missing}", "x=null"},
		{"padded single interpolates", " ${flow.input.n}", " 2"},
		{"literal", "$${flow.input.n}", "${flow.input.n}"},
		{"literal and template", "$${x} ${flow.input.s}", "${x} ab"},
		{"braces in string", "${'{' + flow.input.s + '}'}", "{ab}"},
		{"nested object", map[string]any{"a": []any{"${flow.input.n}", 5.0}, "b": "c"}, map[string]any{"a": []any{2.0, 5.0}, "b": "c"}},
		{"constant", map[string]any{"a": 1.0}, map[string]any{"a": 1.0}},
		{"missing key is null", "${flow.input.nope}", nil},
		{"member of null is null", "${flow.input.nope.deeper.still}", nil},
		{"ref not run is null", "${load.input.x.y}", nil},
		{"default", "${flow.input.nope ?? 'd'}", "d"},
		{"builtins", "${len(flow.input.list) + sum(flow.input.list)}", 9.0},
		{"closures", "${map(flow.input.list, # * 2)}", []any{2.0, 4.0, 6.0}},
		{"ternary", "${load.output.ok ? 'yes' : 'no'}", "yes"},
		{"duration is pure", "${duration('90m') > duration('1h')}", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := flows.CompileValue(tt.in, exprScope)
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Eval(exprEnv())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normalize(got), normalize(tt.want)) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

// normalize turns integers into float64, as JSON decoding would.
func normalize(v any) any {
	switch t := v.(type) {
	case int:
		return float64(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = normalize(e)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range t {
			out[k] = normalize(e)
		}
		return out
	}
	return v
}

func TestValueConstAndNames(t *testing.T) {
	t.Parallel()
	v, err := flows.CompileValue(map[string]any{"a": "$${x}", "b": 1.0}, exprScope)
	if err != nil || !v.IsConst() {
		t.Fatalf("got %v, const %v; want constant", err, v.IsConst())
	}
	v, err = flows.CompileValue(map[string]any{"a": "${load.output.x}", "b": "${flow.input.y} ${load.status}"}, exprScope)
	if err != nil || v.IsConst() {
		t.Fatalf("got %v; want templated", err)
	}
	if got := v.Names(); !reflect.DeepEqual(got, []string{"flow", "load"}) {
		t.Errorf("got names %v, want [flow load]", got)
	}
	e, err := flows.CompileExpr("let x = load.output; x.rows", exprScope)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Names(); !reflect.DeepEqual(got, []string{"load"}) {
		t.Errorf("got names %v, want [load]", got)
	}
}

func TestExprErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src, compile, eval string
	}{
		{"unknown name", "trian.output", `unknown name "trian"; in scope here: flow, load`, ""},
		{"typo suggestion", "laod.output", `unknown name "laod" (did you mean "load"?); in scope here: flow, load`, ""},
		{"syntax", "flow.input.n +", `expression "flow.input.n +" does not compile: unexpected token EOF`, ""},
		{"empty", "  ", "expression is empty", ""},
		{"no clock", "now()", `unknown name "now"`, ""},
		{"reserved", "__budget", "", ""},
		{"arithmetic on null", "flow.input.nope + 1", "", `evaluate "flow.input.nope + 1": cannot add null and`},
		{"index out of range", "flow.input.list[7]", "", "index out of range"},
		{"node bound", strings.Repeat("1 + ", flows.MaxExprNodes) + "1", "does not compile", ""},
		{"repeat bound", "repeat('x', 100000000)", "", "larger than 16 MiB"},
		{"nested repeat bound", "repeat(repeat('ab', 1000000), 1000000)", "", "larger than 16 MiB"},
		{"range bound", "map(1..100000000, #)", "", "memory budget exceeded"},
		{"doubling bound", doubling("'xxxxxxxx'", "A+A", 40) + "; len(z)", "", "larger than 16 MiB"},
		{"shared structure bound", doubling("[1,1]", "[A,A]", 40) + "; len(toJSON(z))", "", "larger than 16 MiB"},
		{"shared result bound", doubling("[1,1]", "[A,A]", 40) + "; z", "", "larger than 16 MiB"},
		{"replace bound", doubling("'xxxxxxxx'", "replace(A, 'x', 'xx')", 40) + "; len(z)", "", "larger than 16 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := flows.CompileExpr(tt.src, exprScope)
			if tt.compile != "" || tt.name == "reserved" {
				if err == nil {
					t.Fatalf("compiled; want error %q", tt.compile)
				}
				if !strings.Contains(err.Error(), tt.compile) {
					t.Fatalf("got %q, want %q", err, tt.compile)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.Eval(exprEnv())
			if err == nil || !strings.Contains(err.Error(), tt.eval) {
				t.Fatalf("got %v, want error %q", err, tt.eval)
			}
		})
	}
}

// TestExprBoundsFailEarly: an expression that would build a huge value
// stops at the bound, having allocated a small multiple of it, not after
// building it. Memory is measured, not time (a timed check fails on a
// loaded machine); the test is not parallel, so nothing else in the
// package allocates meanwhile.
func TestExprBoundsFailEarly(t *testing.T) {
	for name, src := range map[string]string{
		"doubling": doubling("'xxxxxxxx'", "A+A", 40) + "; len(z)",
		"replace":  doubling("'xxxxxxxx'", "replace(A, 'x', 'xx')", 40) + "; len(z)",
		"shared":   doubling("[1,1]", "[A,A]", 40) + "; len(toJSON(z))",
		"repeat":   "repeat(repeat('ab', 1000000), 1000000)",
	} {
		e, err := flows.CompileExpr(src, exprScope)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err = e.Eval(exprEnv())
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), "larger than 16 MiB") {
			t.Fatalf("%s: got %v, want the 16 MiB bound", name, err)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 256<<20 {
			t.Errorf("%s: allocated %d MiB before failing; the bound must stop it near 16 MiB", name, got>>20)
		}
	}
}

// doubling writes let v0 = seed; let v1 = step(v0); ...; let z = v(n-1),
// with A in step standing for the previous name.
func doubling(seed, step string, n int) string {
	var b strings.Builder
	b.WriteString("let v0 = " + seed)
	for i := 1; i < n; i++ {
		b.WriteString(fmt.Sprintf("; let v%d = %s", i, strings.ReplaceAll(step, "A", fmt.Sprintf("v%d", i-1))))
	}
	b.WriteString(fmt.Sprintf("; let z = v%d", n-1))
	return b.String()
}

func TestUnknownNameErrorType(t *testing.T) {
	t.Parallel()
	_, err := flows.CompileExpr("x.y", []string{"flow"})
	var un *flows.UnknownNameError
	if !errors.As(err, &un) || un.Name != "x" || !reflect.DeepEqual(un.Scope, []string{"flow"}) {
		t.Fatalf("got %#v", err)
	}
}

func TestExprConcurrentEval(t *testing.T) {
	t.Parallel()
	e, err := flows.CompileExpr("flow.input.s + string(len(load.output.rows))", exprScope)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 8)
	for range 8 {
		go func() {
			for range 200 {
				v, err := e.Eval(exprEnv())
				if err == nil && v != "ab1" {
					err = errors.New("got " + flows.Stringify(v))
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
