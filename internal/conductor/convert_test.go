package conductor

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// wf wraps tasks (JSON) in a workflow definition named "demo".
func wf(tasks string, extra ...string) []byte {
	return []byte(`{"name": "demo", "version": 1, ` + strings.Join(append(extra, ""), ", ") + `"tasks": ` + tasks + `}`)
}

func mustJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("test JSON %s: %v", s, err)
	}
	return v
}

// convertOne converts doc and validates it with no stored blocks.
func convertOne(t *testing.T, doc []byte) (*Result, map[string]any) {
	t.Helper()
	res := Convert([]Source{{Name: "wf.json", Data: doc}})
	res.Validate(nil)
	var bp map[string]any
	if len(res.Flows) > 0 {
		if err := json.Unmarshal(res.Flows[0].JSON, &bp); err != nil {
			t.Fatal(err)
		}
	}
	return res, bp
}

const tdefs = `{"name": "enc", "retryCount": 2, "retryLogic": "EXPONENTIAL_BACKOFF", "retryDelaySeconds": 5,
	"timeoutSeconds": 120, "responseTimeoutSeconds": 30, "concurrentExecLimit": 4}`

func TestConvertMappings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		doc    []byte
		blocks string // the blueprint's "blocks", as JSON
		output string // the blueprint's "output" when set
	}{
		{
			name:   "SIMPLE becomes a worker block; parameters rewritten",
			doc:    wf(`[{"name": "enc", "taskReferenceName": "enc", "type": "SIMPLE", "inputParameters": {"url": "${workflow.input.url}", "id": "run ${workflow.workflowId}", "n": 3}}]`),
			blocks: `[{"ref": "enc", "block": "enc", "input": {"url": "${flow.input.url}", "id": "run ${flow.run_id}", "n": 3}}]`,
			output: `"${enc.output}"`,
		},
		{
			name: "output parameters read task outputs, whole and by path",
			doc: wf(`[{"name": "a", "taskReferenceName": "a", "type": "SIMPLE"}, {"name": "b", "taskReferenceName": "b", "inputParameters": {"all": "${a.output}", "x": "${a.output.items[0]['file-name']}", "in": "${a.input.k}"}}]`,
				`"outputParameters": {"r": "${b.output.result}", "w": "${workflow.input}"}`),
			blocks: `[{"ref": "a", "block": "a", "input": {}}, {"ref": "b", "block": "b", "input": {"all": "${a.output}", "x": "${a.output.items[0][\"file-name\"]}", "in": "${a.input.k}"}}]`,
			output: `{"r": "${b.output.result}", "w": "${flow.input}"}`,
		},
		{
			name:   "HTTP becomes an http block; the response body is its output",
			doc:    wf(`[{"name": "get", "taskReferenceName": "get", "type": "HTTP", "inputParameters": {"http_request": {"uri": "http://svc.local/x", "method": "POST", "body": {"q": "${workflow.input.q}"}}}}, {"name": "use", "taskReferenceName": "use", "inputParameters": {"v": "${get.output.response.body.value}"}}]`),
			blocks: `[{"ref": "get_task", "block": "http.demo.get_task", "input": {"q": "${flow.input.q}"}}, {"ref": "use", "block": "use", "input": {"v": "${get_task.output.value}"}}]`,
			output: `"${use.output}"`,
		},
		{
			name: "SWITCH value-param becomes a decision with a default",
			doc: wf(`[{"name": "sw", "taskReferenceName": "sw", "type": "SWITCH", "evaluatorType": "value-param", "expression": "kind", "inputParameters": {"kind": "${workflow.input.kind}"},
				"decisionCases": {"fedex": [{"name": "ship_fedex", "taskReferenceName": "fedex"}]}, "defaultCase": [{"name": "ship_ups", "taskReferenceName": "ups"}]}]`),
			blocks: `[{"ref": "sw", "type": "decision", "expr": "string((flow.input.kind))", "cases": {"fedex": [{"ref": "fedex", "block": "ship_fedex", "input": {}}]}, "default": [{"ref": "ups", "block": "ship_ups", "input": {}}]}]`,
			output: `"${sw.output}"`,
		},
		{
			name: "SWITCH javascript becomes a decision expression",
			doc: wf(`[{"name": "sw", "taskReferenceName": "sw", "type": "SWITCH", "evaluatorType": "javascript", "expression": "$.n > 10 && $.kind === 'big' ? 'large' : 'small'", "inputParameters": {"n": "${workflow.input.n}", "kind": "big"},
				"decisionCases": {"large": [{"name": "l", "taskReferenceName": "l"}], "small": [{"name": "s", "taskReferenceName": "s"}]}}]`),
			blocks: `[{"ref": "sw", "type": "decision", "expr": "string((flow.input.n) > 10 && \"big\" == 'big' ? 'large' : 'small')", "cases": {"large": [{"ref": "l", "block": "l", "input": {}}], "small": [{"ref": "s", "block": "s", "input": {}}]}, "default": []}]`,
			output: `"${sw.output}"`,
		},
		{
			name: "DECISION (the older SWITCH) becomes a decision",
			doc: wf(`[{"name": "d", "taskReferenceName": "d", "type": "DECISION", "caseValueParam": "c", "inputParameters": {"c": "${workflow.input.c}"},
				"decisionCases": {"1": [{"name": "one", "taskReferenceName": "one"}]}}]`),
			blocks: `[{"ref": "d", "type": "decision", "expr": "string((flow.input.c))", "cases": {"1": [{"ref": "one_task", "block": "one", "input": {}}]}, "default": []}]`,
			output: `"${d.output}"`,
		},
		{
			name: "FORK_JOIN and its JOIN become a fork; the JOIN's output is the fork's",
			doc: wf(`[{"name": "f", "taskReferenceName": "f", "type": "FORK_JOIN", "forkTasks": [[{"name": "a", "taskReferenceName": "a"}], [{"name": "b", "taskReferenceName": "b"}]]},
				{"name": "j", "taskReferenceName": "j", "type": "JOIN", "joinOn": ["a", "b"]},
				{"name": "c", "taskReferenceName": "c", "inputParameters": {"both": "${j.output}", "x": "${a.output.x}"}}]`),
			blocks: `[{"ref": "f", "type": "fork", "branches": [[{"ref": "a", "block": "a", "input": {}}], [{"ref": "b", "block": "b", "input": {}}]]}, {"ref": "c", "block": "c", "input": {"both": "${f.output}", "x": "${a.output.x}"}}]`,
			output: `"${c.output}"`,
		},
		{
			name: "FORK_JOIN_DYNAMIC with forkTaskName becomes a map",
			doc: wf(`[{"name": "df", "taskReferenceName": "df", "type": "FORK_JOIN_DYNAMIC", "inputParameters": {"forkTaskName": "resize", "forkTaskInputs": "${workflow.input.images}"}},
				{"name": "j", "taskReferenceName": "j", "type": "JOIN"}]`),
			blocks: `[{"ref": "df", "type": "map", "items": "(flow.input.images)", "do": [{"ref": "df_task", "block": "resize", "input": {"input": "${item}", "index": "${index}"}}]}]`,
			output: `"${df.output}"`,
		},
		{
			name: "DO_WHILE becomes a loop bounded by its condition",
			doc: wf(`[{"name": "lp", "taskReferenceName": "lp", "type": "DO_WHILE", "inputParameters": {"max": 3}, "loopCondition": "if ($.lp['iteration'] < 3 && $.step['more']) { true; } else { false; }",
				"loopOver": [{"name": "step", "taskReferenceName": "step", "inputParameters": {"i": "${lp.output.iteration}"}}]}]`),
			blocks: `[{"ref": "lp", "type": "loop", "while": "iteration < 3 && (step.output)['more']", "max_iterations": 3, "do": [{"ref": "step", "block": "step", "input": {"i": "${(iteration + 1)}"}}]}]`,
			output: `"${lp.output}"`,
		},
		{
			name: "the last task of a loop or SWITCH case read after it reads the loop's or decision's output",
			doc: wf(`[{"name": "lp", "taskReferenceName": "lp", "type": "DO_WHILE", "loopCondition": "$.lp['iteration'] < 2",
				"loopOver": [{"name": "step", "taskReferenceName": "step"}]},
				{"name": "sw", "taskReferenceName": "sw", "type": "SWITCH", "evaluatorType": "value-param", "expression": "k", "inputParameters": {"k": "x"},
				"decisionCases": {"x": [{"name": "inner", "taskReferenceName": "inner"}]}},
				{"name": "after", "taskReferenceName": "after", "inputParameters": {"s": "${step.output.v}", "i": "${inner.output.w}"}}]`,
				`"outputParameters": {"s": "${step.output.v}", "i": "${inner.output.w}"}`),
			blocks: `[{"ref": "lp", "type": "loop", "while": "iteration < 2", "max_iterations": 2, "do": [{"ref": "step", "block": "step", "input": {}}]},
				{"ref": "sw", "type": "decision", "expr": "string(\"x\")", "cases": {"x": [{"ref": "inner", "block": "inner", "input": {}}]}, "default": []},
				{"ref": "after", "block": "after", "input": {"s": "${lp.output.v}", "i": "${sw.output.w}"}}]`,
			output: `{"s": "${lp.output.v}", "i": "${inner.output.w}"}`,
		},
		{
			name:   "SUB_WORKFLOW becomes a subflow",
			doc:    wf(`[{"name": "s", "taskReferenceName": "child", "type": "SUB_WORKFLOW", "subWorkflowParam": {"name": "Child-Flow", "version": 2}, "inputParameters": {"x": "${workflow.input.x}"}}]`),
			blocks: `[{"ref": "child", "type": "subflow", "flow": "child-flow", "input": {"x": "${flow.input.x}"}}]`,
			output: `"${child.output}"`,
		},
		{
			name: "WAIT with a duration, WAIT without, and HUMAN become waits",
			doc: wf(`[{"name": "w1", "taskReferenceName": "pause", "type": "WAIT", "inputParameters": {"duration": "1 days 2 hours 30 seconds"}},
				{"name": "w2", "taskReferenceName": "until_told", "type": "WAIT"},
				{"name": "h", "taskReferenceName": "approve", "type": "HUMAN"}]`),
			blocks: `[{"ref": "pause", "type": "wait", "duration": "26h0m30s"}, {"ref": "until_told", "type": "wait", "signal": "until_told"}, {"ref": "approve", "type": "wait", "signal": "approve"}]`,
			output: `"${approve.output}"`,
		},
		{
			name: "INLINE becomes a lambda whose output has result",
			doc: wf(`[{"name": "in", "taskReferenceName": "calc", "type": "INLINE", "inputParameters": {"evaluatorType": "javascript", "a": "${workflow.input.a}",
				"expression": "function e() { if ($.a > 1) { return 'many'; } else { return 'one'; } } e();"}}]`),
			blocks: `[{"ref": "calc", "type": "lambda", "expr": "{\"result\": ((flow.input.a) > 1) ? ('many') : ('one')}"}]`,
			output: `"${calc.output}"`,
		},
		{
			name: "INLINE with if/else returning objects, as in Conductor's documentation",
			doc: wf(`[{"name": "in", "taskReferenceName": "check", "type": "INLINE", "inputParameters": {"evaluatorType": "graaljs", "value": "${workflow.input.value}",
				"expression": "function e() { if ($.value == 1){return {\"result\": true}} else { return {\"result\": false}}} e();"}}]`),
			blocks: `[{"ref": "check", "type": "lambda", "expr": "{\"result\": ((flow.input.value) == 1) ? ({\"result\": true}) : ({\"result\": false})}"}]`,
			output: `"${check.output}"`,
		},
		{
			name:   "TERMINATE FAILED becomes fail",
			doc:    wf(`[{"name": "a", "taskReferenceName": "a"}, {"name": "t", "taskReferenceName": "stop", "type": "TERMINATE", "inputParameters": {"terminationStatus": "FAILED", "terminationReason": "bad ${workflow.input.x}"}}]`),
			blocks: `[{"ref": "a", "block": "a", "input": {}}, {"ref": "stop", "type": "fail", "message": "bad ${flow.input.x}"}]`,
		},
		{
			name: "TERMINATE COMPLETED last ends the flow with its output",
			doc: wf(`[{"name": "a", "taskReferenceName": "a"}, {"name": "t", "taskReferenceName": "done", "type": "TERMINATE",
				"inputParameters": {"terminationStatus": "COMPLETED", "workflowOutput": {"v": "${a.output.v}"}}}]`),
			blocks: `[{"ref": "a", "block": "a", "input": {}}]`,
			output: `{"v": "${a.output.v}"}`,
		},
		{
			name: "TERMINATE COMPLETED in a SWITCH case moves what follows into the other case",
			doc: wf(`[{"name": "sw", "taskReferenceName": "sw", "type": "SWITCH", "evaluatorType": "value-param", "expression": "k", "inputParameters": {"k": "${workflow.input.k}"},
				"decisionCases": {"stop": [{"name": "t", "taskReferenceName": "done", "type": "TERMINATE", "inputParameters": {"terminationStatus": "COMPLETED"}}]},
				"defaultCase": [{"name": "a", "taskReferenceName": "a"}]},
				{"name": "b", "taskReferenceName": "b"}]`),
			blocks: `[{"ref": "sw", "type": "decision", "expr": "string((flow.input.k))", "cases": {"stop": []}, "default": [{"ref": "a", "block": "a", "input": {}}, {"ref": "b", "block": "b", "input": {}}]}]`,
			output: `"${sw.output}"`,
		},
		{
			name:   "task references become Weft refs",
			doc:    wf(`[{"name": "a", "taskReferenceName": "Load-Data"}, {"name": "b", "taskReferenceName": "item", "inputParameters": {"x": "${Load-Data.output.rows}"}}]`),
			blocks: `[{"ref": "load_data", "block": "a", "input": {}}, {"ref": "item_task", "block": "b", "input": {"x": "${load_data.output.rows}"}}]`,
			output: `"${item_task.output}"`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, bp := convertOne(t, tc.doc)
			if len(res.Problems) > 0 {
				t.Fatalf("problems: %v\nblueprint: %s", res.Problems, res.Flows[0].JSON)
			}
			if got, want := bp["blocks"], mustJSON(t, tc.blocks); !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				t.Fatalf("blocks:\n got %s\nwant %s", g, tc.blocks)
			}
			if tc.output != "" {
				if got, want := bp["output"], mustJSON(t, tc.output); !reflect.DeepEqual(got, want) {
					g, _ := json.Marshal(got)
					t.Fatalf("output: got %s, want %s", g, tc.output)
				}
			}
			if len(res.Complete) != 1 {
				t.Fatalf("complete = %v, want [demo]", res.Complete)
			}
		})
	}
}

func TestConvertTaskDef(t *testing.T) {
	t.Parallel()
	doc := []byte(`[` + tdefs + `, {"name": "limited", "retryCount": 0, "rateLimitPerFrequency": 5, "rateLimitFrequencyInSeconds": 1}, ` +
		string(wf(`[{"name": "enc", "taskReferenceName": "enc"}, {"name": "Odd.Type", "taskReferenceName": "odd"}]`, `"timeoutSeconds": 600, "failureWorkflow": "cleanup"`)) + `]`)
	res, bp := convertOne(t, doc)
	if len(res.Problems) > 0 {
		t.Fatalf("problems: %v", res.Problems)
	}
	got := map[string]any{}
	for _, b := range res.Blocks {
		got[b.Name] = mustJSON(t, string(b.JSON))
	}
	want := map[string]any{
		"enc": mustJSON(t, `{"name": "enc", "dispatch": {"kind": "worker", "queue": "enc"}, "retry": {"max_attempts": 3, "backoff": "exponential", "initial_interval": "5s"},
			"timeout": "120s", "heartbeat_timeout": "30s", "concurrency": 4}`),
		"limited":  mustJSON(t, `{"name": "limited", "dispatch": {"kind": "worker", "queue": "limited"}, "concurrency": 5}`),
		"odd.type": mustJSON(t, `{"name": "odd.type", "title": "Odd.Type", "dispatch": {"kind": "worker", "queue": "Odd.Type"}}`),
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Fatalf("blocks:\n got %s\nwant %s", g, w)
	}
	if bp["timeout"] != "600s" {
		t.Fatalf("flow timeout = %v, want 600s", bp["timeout"])
	}
	onf, _ := json.Marshal(bp["on_failure"])
	if !strings.Contains(string(onf), `"flow":"cleanup"`) || !strings.Contains(string(onf), `"type":"subflow"`) {
		t.Fatalf("on_failure = %s, want a subflow of cleanup", onf)
	}
	var notes []string
	for _, n := range res.Notes {
		notes = append(notes, n.String())
	}
	if !strings.Contains(strings.Join(notes, "\n"), "rateLimitPerFrequency 5 per 1s becomes concurrency 5") {
		t.Fatalf("notes %q do not explain the rate limit", notes)
	}
}

func TestConvertProblems(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		doc     []byte
		pointer string
		line    int
		msg     string
	}{
		{"unknown task type", wf(`[{"name": "x", "taskReferenceName": "x", "type": "JSON_JQ_TRANSFORM"}]`), "/tasks/0/type", 1, "INLINE"},
		{"javascript SWITCH that cannot be mapped", wf(`[{"name": "s", "taskReferenceName": "s", "type": "SWITCH", "evaluatorType": "javascript",
			"expression": "var x = $.a; x > 1 ? 'a' : 'b'", "inputParameters": {"a": 1}, "decisionCases": {"a": []}}]`), "/tasks/0/expression", 1, "more than one expression"},
		{"dynamic fork without its input parameters", wf(`[{"name": "d", "taskReferenceName": "d", "type": "FORK_JOIN_DYNAMIC",
			"dynamicForkTasksParam": "tasks", "dynamicForkTasksInputParamName": "inputs", "inputParameters": {}}, {"name": "j", "taskReferenceName": "j", "type": "JOIN"}]`),
			"/tasks/0/inputParameters", 1, `"tasks" and "inputs" are missing`},
		{"unknown reference", wf(`[{"name": "a", "taskReferenceName": "a", "inputParameters": {"x": "${nope.output.y}"}}]`), "/tasks/0/inputParameters/x", 1, `taskReferenceName "nope"`},
		{"workflow variables", wf(`[{"name": "a", "taskReferenceName": "a", "inputParameters": {"x": "${workflow.variables.y}"}}]`), "/tasks/0/inputParameters/x", 1, "no workflow.variables"},
		{"fork without join", wf(`[{"name": "f", "taskReferenceName": "f", "type": "FORK_JOIN", "forkTasks": [[{"name": "a", "taskReferenceName": "a"}]]}]`), "/tasks/0", 1, "followed by its JOIN"},
		{"HTTP URL decided at run time", wf(`[{"name": "h", "taskReferenceName": "h", "type": "HTTP", "inputParameters": {"http_request": {"uri": "${workflow.input.url}"}}}]`),
			"/tasks/0/inputParameters/http_request/uri", 1, "fixed URL"},
		{"a task inside a SWITCH read after it", wf(`[{"name": "s", "taskReferenceName": "s", "type": "SWITCH", "evaluatorType": "value-param", "expression": "k", "inputParameters": {"k": "a"},
			"decisionCases": {"a": [{"name": "in", "taskReferenceName": "inner"}, {"name": "in2", "taskReferenceName": "inner2"}]}},
			{"name": "after", "taskReferenceName": "after", "inputParameters": {"v": "${inner.output.v}"}}]`), "/tasks/1/inputParameters/v", 1, `task "inner" runs inside "s"`},
		{"duplicate reference", wf(`[{"name": "a", "taskReferenceName": "a"}, {"name": "b", "taskReferenceName": "a"}]`), "/tasks/1/taskReferenceName", 1, "used twice"},
		{"not JSON", []byte("{\n  \"name\": \"x\",\n  \"tasks\": [,]\n}"), "", 3, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, _ := convertOne(t, tc.doc)
			if len(res.Problems) == 0 {
				t.Fatalf("no problem reported; flows: %v", res.Flows)
			}
			var found bool
			for _, p := range res.Problems {
				if p.Pointer == tc.pointer && strings.Contains(p.Message, tc.msg) && (p.Line == tc.line || tc.line == 1 && p.Line > 0) && p.Source == "wf.json" {
					found = true
				}
			}
			if !found {
				t.Fatalf("problems %+v: none at %q line %d saying %q", res.Problems, tc.pointer, tc.line, tc.msg)
			}
			if len(res.Complete) != 0 {
				t.Fatalf("complete = %v, want none", res.Complete)
			}
		})
	}
}
