package flows_test

import (
	"strings"
	"testing"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/flows"
)

var testBlocks = []string{
	`{"name": "data.load", "dispatch": {"kind": "worker"},
	  "input_schema": {"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}}}}`,
	`{"name": "model.train", "version": 1, "dispatch": {"kind": "worker"}}`,
	`{"name": "model.train", "version": 2, "dispatch": {"kind": "worker", "queue": "gpu"},
	  "input_schema": {"type": "object", "required": ["dataset", "algo"], "additionalProperties": false,
	    "properties": {"dataset": {"type": "string"}, "algo": {"enum": ["linear", "forest"]}, "depth": {"type": "integer", "minimum": 1}}}}`,
	`{"name": "notify.team", "dispatch": {"kind": "worker"}}`,
	`{"name": "model.unregister", "dispatch": {"kind": "worker"}}`,
}

func testCatalog(t testing.TB) *blocks.MemCatalog {
	t.Helper()
	cat, err := blocks.NewMemCatalog()
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range testBlocks {
		d, err := blocks.Parse([]byte(src))
		if err != nil {
			t.Fatalf("test block does not parse: %v", err)
		}
		if err := cat.Add(d); err != nil {
			t.Fatal(err)
		}
	}
	return cat
}

// flow builds a blueprint whose blocks are one per line, starting on line 2.
func flow(blocks ...string) string {
	return "{\"name\": \"t\", \"blocks\": [\n" + strings.Join(blocks, ",\n") + "\n]}"
}

const load = `{"ref": "load", "block": "data.load", "input": {"url": "${flow.input.url}"}}`

type want struct {
	ptr  string
	msg  string // substring
	line int    // 0: not checked
}

func TestParseRules(t *testing.T) {
	t.Parallel()
	cat := testCatalog(t)
	tests := []struct {
		name string
		doc  string
		want []want // nil: valid
	}{
		{"valid sequence", flow(load, `{"ref": "train", "block": "model.train", "input": {"dataset": "${load.output.path}", "algo": "linear"}}`), nil},
		{"bad json", "{\"name\": \"t\",\n \"blocks\": [}", []want{{"", "not valid JSON", 2}}},
		{"empty document", "", []want{{"", "empty", 0}}},
		{"not an object", "[1]", []want{{"", "must be a JSON object", 1}}},
		{"unknown root key", "{\"name\": \"t\",\n \"blocsk\": []}", []want{{"", `missing required key "blocks"`, 1}, {"/blocsk", `unknown key "blocsk" (did you mean "blocks"?)`, 2}}},
		{"unknown node key", flow(`{"ref": "load", "block": "notify.team", "inptu": {"url": "x"}}`), []want{{"/blocks/0/inptu", `unknown key "inptu" (did you mean "input"?)`, 2}}},
		{"duplicate ref", flow(load, load), []want{{"/blocks/1/ref", `ref "load" is already used at /blocks/0`, 3}}},
		{"bad ref name", flow(`{"ref": "Load", "block": "notify.team"}`), []want{{"/blocks/0/ref", `invalid ref "Load": use lowercase letters`, 2}}},
		{"reserved ref", flow(`{"ref": "item", "block": "notify.team"}`, `{"ref": "flow", "block": "notify.team"}`), []want{
			{"/blocks/0/ref", `ref "item" is reserved (it is a name the engine puts in scope)`, 2},
			{"/blocks/1/ref", `ref "flow" is reserved (it is a name the engine puts in scope)`, 3}}},
		{"duplicate json key", flow(`{"ref": "a", "ref": "b", "block": "notify.team"}`), []want{{"/blocks/0/ref", "key appears twice", 0}}},
		{"unknown block", flow(`{"ref": "load", "block": "data.lod", "input": {"url": "x"}}`), []want{{"/blocks/0/block", `unknown block "data.lod" (did you mean "data.load"?): store its definition first`, 2}}},
		{"unknown version", flow(`{"ref": "a", "block": "model.train@7"}`), []want{{"/blocks/0/block", `block "model.train" has no version 7 (the latest is 2)`, 2}}},
		{"bad block name", flow(`{"ref": "a", "block": "model.train@x"}`), []want{{"/blocks/0/block", `invalid name "model.train@x"`, 2}}},
		{"missing block", flow(`{"ref": "a"}`), []want{{"/blocks/0", `missing required key "block"`, 2}}},
		{"unknown type", flow(`{"ref": "a", "type": "mapp"}`), []want{{"/blocks/0/type", `not "mapp" (did you mean "map"?)`, 2}}},
		{"key of another type", flow(`{"ref": "a", "block": "notify.team", "items": "flow.input.x"}`), []want{{"/blocks/0/items", `key "items" does not apply to an external block`, 2}}},
		{"ref later in sequence", flow(`{"ref": "load", "block": "data.load", "input": {"url": "${prep.output.url}"}}`, `{"ref": "prep", "block": "notify.team"}`),
			[]want{{"/blocks/0/input/url", `${prep.output.url}: ref "prep" (/blocks/1) is not in scope here`, 2}}},
		{"typo in name", flow(load, `{"ref": "train", "block": "notify.team"}`, `{"ref": "best", "type": "lambda", "expr": "trian.output"}`),
			[]want{{"/blocks/2/expr", `unknown name "trian" (did you mean "train"?); in scope here: flow, load, train`, 4}}},
		{"expr does not compile", flow(`{"ref": "best", "type": "lambda", "expr": "flow.input.x >="}`), []want{{"/blocks/0/expr", `expression "flow.input.x >=" does not compile`, 2}}},
		{"template in bare expression", flow(`{"ref": "best", "type": "lambda", "expr": "${flow.input.x}"}`), []want{{"/blocks/0/expr", "write a bare expression here, without ${...}", 2}}},
		{"unclosed template", flow(`{"ref": "n", "block": "notify.team", "input": {"text": "a ${flow.input"}}`), []want{{"/blocks/0/input/text", "unclosed ${", 2}}},
		{"fork siblings", flow(`{"ref": "f", "type": "fork", "branches": [[{"ref": "a", "block": "notify.team"}], [{"ref": "b", "block": "notify.team", "input": {"x": "${a.output}"}}]]}`),
			[]want{{"/blocks/0/branches/1/0/input/x", `ref "a" (/blocks/0/branches/0/0) is not in scope here`, 2}}},
		{"after fork all branches", flow(`{"ref": "f", "type": "fork", "join": "any", "branches": [[{"ref": "a", "block": "notify.team"}], [{"ref": "b", "block": "notify.team"}]]}`,
			`{"ref": "best", "type": "lambda", "expr": "[a.output, b.output, f.output]"}`), nil},
		{"fork join", flow(`{"ref": "f", "type": "fork", "join": "some", "branches": [[{"ref": "a", "block": "notify.team"}]]}`), []want{{"/blocks/0/join", `must be one of "all", "any", not "some"`, 2}}},
		{"fork empty branch", flow(`{"ref": "f", "type": "fork", "branches": [[]]}`), []want{{"/blocks/0/branches/0", "must hold at least 1 item(s)", 2}}},
		{"fork no branches", flow(`{"ref": "f", "type": "fork", "branches": []}`), []want{{"/blocks/0/branches", "must hold at least 1 item(s)", 2}}},
		{"key of another system type", flow(`{"ref": "x", "type": "lambda", "expr": "1", "block": "notify.team", "cases": {}}`), []want{
			{"/blocks/0/block", `key "block" does not apply to a lambda block; it takes: expr, retry, timeout, optional, catch, compensate`, 2},
			{"/blocks/0/cases", "must hold at least 1 key(s)", 2}}},
		{"fork own ref inside", flow(`{"ref": "f", "type": "fork", "branches": [[{"ref": "a", "type": "lambda", "expr": "f.output"}]]}`), []want{{"/blocks/0/branches/0/0/expr", `ref "f" (/blocks/0) is not in scope here`, 2}}},
		{"map scope", flow(`{"ref": "each", "type": "map", "items": "flow.input.list", "concurrency": 2, "do": [{"ref": "step1", "type": "lambda", "expr": "item.x + index"}, {"ref": "step2", "type": "lambda", "expr": "step1.output"}]}`,
			`{"ref": "collect", "type": "lambda", "expr": "each.output"}`), nil},
		{"map inner ref outside", flow(`{"ref": "each", "type": "map", "items": "flow.input.list", "do": [{"ref": "step1", "type": "lambda", "expr": "item"}]}`,
			`{"ref": "collect", "type": "lambda", "expr": "step1.output"}`), []want{{"/blocks/1/expr", `ref "step1" (/blocks/0/do/0) is not in scope here`, 3}}},
		{"item outside map", flow(`{"ref": "x", "type": "lambda", "expr": "item.name"}`), []want{{"/blocks/0/expr", `"item" is in scope only inside a map's "do"`, 2}}},
		{"map without items", flow(`{"ref": "each", "type": "map", "do": [{"ref": "step1", "type": "lambda", "expr": "1"}]}`), []want{{"/blocks/0", `missing required key "items"`, 2}}},
		{"map with empty do", flow(`{"ref": "each", "type": "map", "items": "[1]", "do": []}`), []want{{"/blocks/0/do", "must hold at least 1 item(s)", 2}}},
		{"loop scope", flow(`{"ref": "again", "type": "loop", "max_iterations": 5, "while": "iteration < 3 && fit.output.loss > 0.1", "do": [{"ref": "fit", "type": "lambda", "expr": "iteration"}]}`,
			`{"ref": "after", "type": "lambda", "expr": "again.output"}`), nil},
		{"loop without bound", flow(`{"ref": "again", "type": "loop", "while": "true", "do": [{"ref": "fit", "type": "lambda", "expr": "1"}]}`), []want{{"/blocks/0", `missing required key "max_iterations"`, 2}}},
		{"iteration outside loop", flow(`{"ref": "x", "type": "lambda", "expr": "iteration"}`), []want{{"/blocks/0/expr", `"iteration" is in scope only inside a loop`, 2}}},
		{"decision", flow(load, `{"ref": "gate", "type": "decision", "expr": "load.output.ok ? 'good' : 'bad'", "cases": {"good": [{"ref": "n1", "block": "notify.team", "input": {"t": "${load.output}"}}], "bad": []}, "default": [{"ref": "n2", "type": "fail", "message": "no case ${gate.input}"}]}`),
			[]want{{"/blocks/1/default/0/message", `ref "gate" (/blocks/1) is not in scope here`, 3}}},
		{"decision case ref after", flow(`{"ref": "gate", "type": "decision", "expr": "'a'", "cases": {"a": [{"ref": "n1", "block": "notify.team"}]}}`, `{"ref": "x", "type": "lambda", "expr": "n1.output"}`),
			[]want{{"/blocks/1/expr", `ref "n1" (/blocks/0/cases/a/0) is not in scope here`, 3}}},
		{"decision without cases", flow(`{"ref": "gate", "type": "decision", "expr": "'a'"}`), []want{{"/blocks/0", `missing required key "cases"`, 2}}},
		{"missing key still checks the rest", flow(`{"ref": "gate", "type": "decision", "expr": "gaet.output"}`), []want{
			{"/blocks/0", `missing required key "cases"`, 2}, {"/blocks/0/expr", `unknown name "gaet"; in scope here: flow`, 2}}},
		{"decision with no case", flow(`{"ref": "gate", "type": "decision", "expr": "'a'", "cases": {}}`), []want{{"/blocks/0/cases", "must hold at least 1 key(s)", 2}}},
		{"wait nothing", flow(`{"ref": "w", "type": "wait"}`), []want{{"/blocks/0", `a wait needs exactly one of "duration", "until" or "signal" (it has none)`, 2}}},
		{"wait two", flow(`{"ref": "w", "type": "wait", "duration": "1h", "signal": "ok"}`), []want{{"/blocks/0", "(it has duration and signal)", 2}}},
		{"wait timeout with duration", flow(`{"ref": "w", "type": "wait", "duration": "1h", "timeout": "2h"}`), []want{{"/blocks/0/timeout", `"timeout" applies to a wait on a signal or until`, 2}}},
		{"wait signal timeout", flow(`{"ref": "w", "type": "wait", "signal": "approval", "timeout": "24h"}`), nil},
		{"wait until", flow(`{"ref": "w", "type": "wait", "until": "tomorrow"}`), []want{{"/blocks/0/until", `until "tomorrow" is not an RFC 3339 time`, 2}}},
		{"wait until template", flow(`{"ref": "w", "type": "wait", "until": "${flow.input.at}", "timeout": "1d"}`), nil},
		{"invalid duration", flow(`{"ref": "n", "block": "notify.team", "timeout": "5 minutes"}`), []want{{"/blocks/0/timeout", `invalid duration "5 minutes": write a number with a unit`, 2}}},
		{"retry backoff", flow(`{"ref": "n", "block": "notify.team", "retry": {"max_attempts": 0, "backoff": "linear"}}`), []want{
			{"/blocks/0/retry/backoff", `must be one of "fixed", "exponential", not "linear"`, 2}, {"/blocks/0/retry/max_attempts", "must be at least 1, not 0", 2}}},
		{"retry intervals", flow(`{"ref": "n", "block": "notify.team", "retry": {"initial_interval": "1m", "max_interval": "1s"}}`), []want{{"/blocks/0/retry/max_interval", "max_interval (1s) is shorter than initial_interval (1m0s)", 2}}},
		{"subflow self", flow(`{"ref": "s", "type": "subflow", "flow": "t@2"}`), []want{{"/blocks/0/flow", `flow "t" starts itself as a subflow`, 2}}},
		{"subflow other", flow(`{"ref": "s", "type": "subflow", "flow": "other@2", "input": {"x": "${flow.input.x}"}}`), nil},
		{"fail without message", flow(`{"ref": "f", "type": "fail"}`), []want{{"/blocks/0", `missing required key "message"`, 2}}},
		{"const input enum", flow(`{"ref": "t", "block": "model.train", "input": {"dataset": "${flow.input.d}", "algo": "lin"}}`), []want{{"/blocks/0/input/algo", `must be one of "linear", "forest", not "lin" (did you mean "linear"?) (input_schema of block model.train@2)`, 2}}},
		{"const input required", flow(`{"ref": "t", "block": "model.train", "input": {"algo": "linear"}}`), []want{{"/blocks/0/input", `missing required key "dataset" (input_schema of block model.train@2)`, 2}}},
		{"const input unknown key", flow(`{"ref": "t", "block": "model.train", "input": {"dataset": "d", "algo": "linear", "dpeth": 3}}`), []want{{"/blocks/0/input/dpeth", `unknown key "dpeth" (did you mean "depth"?)`, 2}}},
		{"const input type", flow(`{"ref": "t", "block": "model.train", "input": {"dataset": 5, "algo": "forest", "depth": 0}}`), []want{
			{"/blocks/0/input/dataset", "must be a string, not an integer", 2}, {"/blocks/0/input/depth", "must be at least 1, not 0", 2}}},
		{"templated input skipped", flow(`{"ref": "t", "block": "model.train", "input": {"dataset": "${flow.input.d}", "algo": "${flow.input.algo}", "depth": "${flow.input.depth}"}}`), nil},
		{"exact version skips schema", flow(`{"ref": "t", "block": "model.train@1", "input": {"anything": 1}}`), nil},
		{"compensate", flow(`{"ref": "reg", "block": "notify.team", "compensate": {"block": "model.unregister", "input": {"uri": "${reg.output.uri}"}}}`), nil},
		{"compensate unknown", flow(`{"ref": "reg", "block": "notify.team", "compensate": {"block": "model.unreg", "inptu": {}}}`), []want{
			{"/blocks/0/compensate/block", `unknown block "model.unreg"`, 2}, {"/blocks/0/compensate/inptu", `unknown key "inptu" (did you mean "input"?)`, 2}}},
		{"catch sees own ref", flow(`{"ref": "t", "block": "notify.team", "catch": [{"ref": "c", "block": "notify.team", "input": {"e": "${t.error}"}}]}`,
			`{"ref": "x", "type": "lambda", "expr": "c.output"}`), []want{{"/blocks/1/expr", `ref "c" (/blocks/0/catch/0) is not in scope here`, 3}}},
		{"on_failure and output", "{\"name\": \"t\", \"blocks\": [\n" +
			`{"ref": "gate", "type": "decision", "expr": "'a'", "cases": {"a": [{"ref": "reg", "block": "notify.team"}]}},` + "\n" +
			`{"ref": "each", "type": "map", "items": "[1]", "do": [{"ref": "step1", "type": "lambda", "expr": "item"}]}` + "\n" +
			"],\n" + `"output": {"uri": "${reg.output.uri}", "n": "${len(each.output)}"},` + "\n" +
			`"on_failure": [{"ref": "alert", "block": "notify.team", "input": {"t": "${flow.error} ${gate.output}"}}, {"ref": "again", "type": "lambda", "expr": "alert.output ?? step1.output"}]}`,
			[]want{{"/on_failure/1/expr", `ref "step1" (/blocks/1/do/0) is not in scope here`, 6}}},
		{"cron", "{\"name\": \"t\", \"blocks\": [\n" + load + "],\n" + `"input_schema": {"type": "object", "properties": {"url": {"type": "string"}}},` + "\n" +
			`"triggers": [{"cron": "@daily"}, {"cron": "0 3 * * MON", "input": {"url": "u"}},` + "\n" + `{"cron": "61 * * * *"}, {"cron": "0 3 * * MON", "input": {"url": 3}}]}`,
			[]want{{"/triggers/2/cron", `invalid cron "61 * * * *"`, 5}, {"/triggers/3/input/url", "must be a string, not an integer (the flow's input_schema)", 5}}},
		{"remote ref in input_schema", "{\"name\": \"t\", \"blocks\": [" + load + "],\n" + `"input_schema": {"$ref": "https://example.com/s.json"}}`, []want{{"/input_schema/$ref", "remote $ref", 2}}},
		{"flow name", `{"name": "House Prices", "blocks": [` + load + `]}`, []want{{"/name", `invalid name "House Prices"`, 1}}},
		{"empty blocks", `{"name": "t", "blocks": []}`, []want{{"/blocks", "must hold at least 1 item(s)", 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bp, err := flows.Parse([]byte(tt.doc), cat)
			probs := flows.Problems(err)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got errors, want none:\n%v", err)
				}
				if bp == nil || len(bp.Nodes) == 0 {
					t.Fatalf("got no blueprint")
				}
				return
			}
			if err == nil {
				t.Fatalf("got no error, want %v", tt.want)
			}
			if len(probs) != len(tt.want) {
				t.Errorf("got %d problems, want %d:\n%v", len(probs), len(tt.want), err)
			}
			for _, w := range tt.want {
				found := false
				for _, p := range probs {
					if p.Pointer == w.ptr && strings.Contains(p.Msg, w.msg) && (w.line == 0 || p.Line == w.line) {
						found = true
					}
				}
				if !found {
					t.Errorf("missing problem %s (line %d): %q\ngot:\n%v", w.ptr, w.line, w.msg, err)
				}
			}
			for _, p := range probs {
				if p.Line == 0 && strings.TrimSpace(tt.doc) != "" {
					t.Errorf("problem %v has no line", p)
				}
			}
		})
	}
}

func TestParseFillsCompiledForm(t *testing.T) {
	t.Parallel()
	cat := testCatalog(t)
	doc := flow(load,
		`{"ref": "fan", "type": "fork", "branches": [[{"ref": "a", "block": "model.train", "input": {"dataset": "${load.output.p}", "algo": "linear"}}], [{"ref": "b", "block": "model.train@1"}]]}`,
		`{"ref": "each", "type": "map", "items": "load.output.rows", "do": [{"ref": "step1", "type": "lambda", "expr": "item * 2"}]}`,
		`{"ref": "gate", "type": "decision", "expr": "'x'", "cases": {"x": [{"ref": "w", "type": "wait", "until": "${flow.input.at}"}]}}`,
		`{"ref": "sub", "type": "subflow", "flow": "other@3"}`,
		`{"ref": "boom", "type": "fail", "message": "bad ${flow.input.x}", "compensate": {"block": "model.unregister"}}`)
	bp, err := flows.Parse([]byte(doc), cat)
	if err != nil {
		t.Fatal(err)
	}
	if got := bp.Pins; len(got) != 3 || got["data.load"] != 1 || got["model.train"] != 2 || got["model.unregister"] != 1 {
		t.Errorf("got pins %v, want data.load:1 model.train:2 model.unregister:1", got)
	}
	if n := len(bp.Nodes); n != 10 {
		t.Errorf("got %d nodes, want 10", n)
	}
	a, b, one, w := bp.Nodes["a"], bp.Nodes["b"], bp.Nodes["step1"], bp.Nodes["w"]
	if a.Pointer != "/blocks/1/branches/0/0" || a.Parent != bp.Nodes["fan"] || a.Def == nil || a.Def.Version != 2 || a.InputValue == nil || a.InputValue.IsConst() {
		t.Errorf("node a: pointer %q parent %v def %v", a.Pointer, a.Parent, a.Def)
	}
	if b.Def == nil || b.Def.Version != 1 {
		t.Errorf("node b: got def %v, want model.train@1", b.Def)
	}
	if one.ExprProg == nil || one.Parent.Ref != "each" || bp.Nodes["each"].ItemsProg == nil {
		t.Errorf("map not compiled")
	}
	if w.UntilValue == nil || w.Parent.Ref != "gate" || bp.Nodes["gate"].ExprProg == nil {
		t.Errorf("decision/wait not compiled")
	}
	if s := bp.Nodes["sub"]; s.FlowName != "other" || s.FlowVersion != 3 {
		t.Errorf("got subflow %q@%d, want other@3", s.FlowName, s.FlowVersion)
	}
	boom := bp.Nodes["boom"]
	if boom.MessageValue == nil || boom.Compensate == nil || boom.Compensate.Def == nil || boom.Compensate.Def.Name != "model.unregister" {
		t.Errorf("fail/compensate not compiled")
	}
	if string(bp.Raw) != doc {
		t.Errorf("Raw is not the uploaded text")
	}
	v, err := boom.MessageValue.Eval(map[string]any{"flow": map[string]any{"input": map[string]any{"x": 3.0}}})
	if err != nil || v != "bad 3" {
		t.Errorf("got %v, %v; want \"bad 3\"", v, err)
	}

	// A reload with pins resolves the unversioned name to the pin.
	bp2, err := flows.Compile([]byte(doc), cat, map[string]int{"model.train": 1})
	if err != nil {
		t.Fatal(err)
	}
	if d := bp2.Nodes["a"].Def; d.Version != 1 {
		t.Errorf("Compile with pin: got model.train@%d, want @1", d.Version)
	}
	if bp2.Pins["model.train"] != 1 {
		t.Errorf("Compile: got pins %v, want model.train:1", bp2.Pins)
	}
	// With pin 1, the constant input of a (v1 has no schema) is not checked; with
	// a pin that does not exist the message says so.
	_, err = flows.Compile([]byte(doc), cat, map[string]int{"model.train": 9})
	if p := flows.Problems(err); len(p) != 1 || p[0].Pointer != "/blocks/1/branches/0/0/block" || !strings.Contains(p[0].Msg, "has no version 9") {
		t.Errorf("Compile with a missing pin: got %v", err)
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	t.Parallel()
	doc := `{
  "name": "t",
  "blocks": [
    {"ref": "load", "block": "data.lod"},
    {"ref": "load", "block": "notify.team"},
    {"ref": "x", "type": "lambda", "expr": "nope"},
    {"ref": "w", "type": "wait"},
    {"ref": "l", "type": "loop", "do": [{"ref": "y", "type": "lambda", "expr": "1"}]},
    {"ref": "n", "block": "notify.team", "timeout": "soon", "inptu": {}}
  ],
  "triggers": [{"cron": "every day"}]
}`
	_, err := flows.Parse([]byte(doc), testCatalog(t))
	probs := flows.Problems(err)
	wantLines := []int{4, 5, 6, 7, 8, 9, 9, 11}
	if len(probs) != len(wantLines) {
		t.Fatalf("got %d problems, want %d:\n%v", len(probs), len(wantLines), err)
	}
	for i, p := range probs {
		if p.Line != wantLines[i] {
			t.Errorf("problem %d %v: got line %d, want %d", i, p, p.Line, wantLines[i])
		}
	}
}

func TestParseWithoutCatalog(t *testing.T) {
	t.Parallel()
	_, err := flows.Parse([]byte(flow(load)), nil)
	if p := flows.Problems(err); len(p) != 1 || !strings.Contains(p[0].Msg, "no block definitions are available") {
		t.Errorf("got %v", err)
	}
}

func TestSchemaJSONIsServedSchema(t *testing.T) {
	t.Parallel()
	if !strings.Contains(string(flows.SchemaJSON), `"additionalProperties": false`) || !strings.Contains(string(blocks.SchemaJSON), `"dispatch"`) {
		t.Error("embedded schemas are missing")
	}
}

func TestBlueprintValidateInput(t *testing.T) {
	t.Parallel()
	doc := `{"name": "t", "input_schema": {"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}}}, "blocks": [` + load + `]}`
	bp, err := flows.Parse([]byte(doc), testCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := bp.ValidateInput(map[string]any{"url": "x"}); err != nil {
		t.Errorf("valid input: %v", err)
	}
	if err := bp.ValidateInput(map[string]any{}); err == nil || err.Error() != "input.url: is required" {
		t.Errorf("got %v, want input.url: is required", err)
	}
	if err := bp.ValidateInput(map[string]any{"url": 3}); err == nil || err.Error() != "input.url: must be a string, not an integer" {
		t.Errorf("got %v", err)
	}
}

// The example of docs/blueprints.md validates as written.
func TestDesignExample(t *testing.T) {
	t.Parallel()
	cat, _ := blocks.NewMemCatalog()
	for _, name := range []string{"data.load", "data.prepare", "model.train", "model.register", "model.unregister", "notify.team"} {
		if err := cat.Add(&blocks.Definition{Name: name, Dispatch: blocks.Dispatch{Kind: blocks.DispatchWorker}}); err != nil {
			t.Fatal(err)
		}
	}
	doc := `{
  "name": "house-prices",
  "title": "House price model",
  "description": "Train, evaluate and register a regression model.",
  "input_schema": {"type": "object", "required": ["dataset_url"], "properties": {"dataset_url": {"type": "string"}}},
  "blocks": [
    {"ref": "load",  "block": "data.load",  "input": {"url": "${flow.input.dataset_url}"}},
    {"ref": "prep",  "block": "data.prepare", "input": {"rows": "${load.output.rows}"}, "retry": {"max_attempts": 5}},
    {"ref": "train", "type": "fork", "branches": [
        [{"ref": "linear", "block": "model.train", "input": {"dataset": "${prep.output.train}", "algo": "linear"}}],
        [{"ref": "forest", "block": "model.train", "input": {"dataset": "${prep.output.train}", "algo": "forest"}}]
    ]},
    {"ref": "best", "type": "lambda", "expr": "linear.output.r2 >= forest.output.r2 ? linear.output : forest.output"},
    {"ref": "gate", "type": "decision", "expr": "best.output.r2 >= 0.8 ? 'good' : 'bad'", "cases": {
        "good": [{"ref": "approve", "type": "wait", "signal": "approval", "timeout": "24h"},
                 {"ref": "register", "block": "model.register", "input": {"uri": "${best.output.model_uri}"},
                  "compensate": {"block": "model.unregister", "input": {"uri": "${best.output.model_uri}"}}}],
        "bad":  [{"ref": "notify", "block": "notify.team", "input": {"text": "r2=${best.output.r2}"}}]
    }}
  ],
  "output": {"model": "${register.output.uri}", "r2": "${best.output.r2}"},
  "on_failure": [{"ref": "alert", "block": "notify.team", "input": {"text": "run ${flow.run_id} failed: ${flow.error}"}}],
  "triggers": [{"cron": "0 3 * * MON"}]
}`
	bp, err := flows.Parse([]byte(doc), cat)
	if err != nil {
		t.Fatal(err)
	}
	// register did not run (the bad case): the output reads null there.
	out, err := bp.OutputValue.Eval(map[string]any{"best": map[string]any{"output": map[string]any{"r2": 0.5}}})
	if err != nil {
		t.Fatal(err)
	}
	if m := out.(map[string]any); m["model"] != nil || m["r2"] != 0.5 {
		t.Errorf("got output %v", out)
	}
}
