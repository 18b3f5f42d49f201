package blocks_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weftlabs/weft/blocks"
)

func TestParseRules(t *testing.T) {
	t.Parallel()
	type want struct {
		ptr, msg string
		line     int
	}
	// def builds a definition with extra lines after the name, one key per line.
	def := func(lines ...string) string {
		return "{\n\"name\": \"model.train\",\n" + strings.Join(lines, ",\n") + "\n}"
	}
	worker := `"dispatch": {"kind": "worker"}`
	tests := []struct {
		name string
		doc  string
		want []want
	}{
		{"minimal", def(worker), nil},
		{"full", def(`"version": 2`, `"dispatch": {"kind": "worker", "queue": "gpu"}`,
			`"input_schema": {"type": "object", "required": ["dataset"], "properties": {"dataset": {"type": "string"}}}`,
			`"output_schema": {"type": "object", "properties": {"r2": {"type": "number"}}}`,
			`"retry": {"max_attempts": 3, "backoff": "exponential", "initial_interval": "2s", "max_interval": "1m"}`,
			`"timeout": "2h"`, `"heartbeat_timeout": "60s"`, `"concurrency": 2`, `"resources": {"cpu": 4, "gpu": 1}`), nil},
		{"http", def(`"dispatch": {"kind": "http", "url": "${secrets.LLM_URL}", "method": "POST", "headers": {"Authorization": "Bearer ${secrets.KEY}"}, "body": "input"}`), nil},
		{"bad json", "{\n\"name\": \"a\",,\n}", []want{{"", "not valid JSON", 2}}},
		{"not an object", `"x"`, []want{{"", "must be a JSON object", 1}}},
		{"missing dispatch", def(`"title": "x"`), []want{{"", `missing required key "dispatch"`, 1}}},
		{"bad name", "{\"name\": \"Model Train\", " + worker + "}", []want{{"/name", `invalid name "Model Train": use lowercase letters`, 1}}},
		{"unknown key", def(worker, `"inptu_schema": {}`), []want{{"/inptu_schema", `unknown key "inptu_schema" (did you mean "input_schema"?)`, 4}}},
		{"dispatch kind", def(`"dispatch": {"kind": "wrker"}`), []want{{"/dispatch/kind", `must be one of "worker", "http", "command", "kubernetes", not "wrker" (did you mean "worker"?)`, 3}}},
		{"http needs url", def(`"dispatch": {"kind": "http"}`), []want{{"/dispatch", `an http block needs "url"`, 3}}},
		{"http bad url", def(`"dispatch": {"kind": "http", "url": "trainer:8081"}`), []want{{"/dispatch/url", `is not an absolute http(s) URL`, 3}}},
		{"http template not secret", def(`"dispatch": {"kind": "http", "url": "http://x/${flow.input.y}"}`), []want{{"/dispatch/url", "only ${secrets.NAME} templates are allowed here", 3}}},
		{"worker on an http queue", def(`"dispatch": {"kind": "worker", "queue": "http:train"}`), []want{{"/dispatch/queue", `queue "http:train" is reserved`, 3}}},
		{"worker with url", def(`"dispatch": {"kind": "worker", "url": "http://x"}`), []want{{"/dispatch/url", `"url" applies to http blocks only`, 3}}},
		{"durations", def(worker, `"timeout": "2 hours"`, `"heartbeat_timeout": 60`), []want{
			{"/timeout", `invalid duration "2 hours"`, 4}, {"/heartbeat_timeout", "must be a string, not an integer", 5}}},
		{"retry", def(worker, `"retry": {"backoff": "linear", "max_attempts": 0, "initial_interval": "1m", "max_interval": "1s"}`), []want{
			{"/retry/backoff", `must be one of "fixed", "exponential", not "linear"`, 4}, {"/retry/max_attempts", "must be at least 1", 4},
			{"/retry/max_interval", "shorter than initial_interval", 4}}},
		{"retry intervals", def(worker, `"retry": {"initial_interval": "1m", "max_interval": "1s"}`), []want{{"/retry/max_interval", "max_interval (1s) is shorter than initial_interval (1m0s)", 4}}},
		{"input schema invalid", def(worker, `"input_schema": {"type": "strin"}`), []want{{"/input_schema/type", `type "strin" is not a JSON Schema type`, 4}}},
		{"input schema remote ref", def(worker, `"input_schema": {"properties": {"a": {"$ref": "http://example.com/a.json"}}}`), []want{{"/input_schema/properties/a/$ref", "remote $ref", 4}}},
		{"input schema local ref", def(worker, `"input_schema": {"properties": {"a": {"$ref": "#/definitions/a"}}, "definitions": {"a": {"type": "string"}}}`), nil},
		{"schema self loop", def(worker, `"input_schema": {"$ref": "#"}`), []want{{"/input_schema", `the schema at "#" refers back to itself`, 4}}},
		{"schema definition loop", def(worker, `"input_schema": {"allOf": [{"$ref": "#/definitions/a"}], "definitions": {"a": {"not": {"$ref": "#/definitions/b"}}, "b": {"$ref": "#/definitions/a"}}}`),
			[]want{{"/input_schema/definitions/a", `the schema at "#/definitions/a" refers back to itself`, 4}}},
		{"recursive schema", def(worker, `"input_schema": {"type": "object", "properties": {"child": {"$ref": "#"}}}`), nil},
		{"schema id", def(worker, `"input_schema": {"$id": "http://example.com/", "properties": {"a": {"$ref": "#/definitions/x"}}}`), []want{{"/input_schema/$id", "$id is not supported", 4}}},
		{"schema anchor ref", def(worker, `"input_schema": {"$ref": "#foo"}`), []want{{"/input_schema/$ref", "is not a JSON pointer", 4}}},
		{"output schema unknown draft", def(worker, `"output_schema": {"$schema": "https://example.com/my-schema"}`), []want{{"/output_schema/$schema", "is not supported", 4}}},
		{"schema not object", def(worker, `"output_schema": 5`), []want{{"/output_schema", "must be an object or a boolean, not an integer", 4}}},
		{"duplicate key", def(worker, `"title": "a"`, `"title": "b"`), []want{{"/title", "key appears twice", 5}}},
		{"command", def(`"dispatch": {"kind": "command", "queue": "cpu", "command": ["python3", "train.py", "--fast"], "workdir": "/srv/ml", "env": {"MODE": "fast"}, "fatal_exit_codes": [2, 3]}`), nil},
		{"script", def(`"dispatch": {"kind": "command", "script": "echo hi", "interpreter": ["bash", "-eu"]}`), nil},
		{"command needs a program", def(`"dispatch": {"kind": "command"}`), []want{{"/dispatch", `a command block needs "command"`, 3}}},
		{"command and script", def(`"dispatch": {"kind": "command", "command": ["true"], "script": "true", "interpreter": ["sh"]}`), []want{{"/dispatch/script", `not both`, 3}}},
		{"script needs interpreter", def(`"dispatch": {"kind": "command", "script": "echo hi"}`), []want{{"/dispatch", `a script needs "interpreter"`, 3}}},
		{"interpreter without script", def(`"dispatch": {"kind": "command", "command": ["true"], "interpreter": ["sh"]}`), []want{{"/dispatch/interpreter", `"interpreter" runs a "script"`, 3}}},
		{"empty program", def(`"dispatch": {"kind": "command", "command": [" "]}`), []want{{"/dispatch/command/0", "the program to run is empty", 3}}},
		{"command as a string", def(`"dispatch": {"kind": "command", "command": "python3 train.py"}`), []want{{"/dispatch/command", "must be an array, not a string", 3}, {"/dispatch", `a command block needs "command"`, 3}}},
		{"command env reserved", def(`"dispatch": {"kind": "command", "command": ["true"], "env": {"WEFT_INPUT": "x"}}`), []want{{"/dispatch/env/WEFT_INPUT", "set by the runner", 3}}},
		{"command env bad name", def(`"dispatch": {"kind": "command", "command": ["true"], "env": {"A-B": "x"}}`), []want{{"/dispatch/env/A-B", `invalid environment variable name "A-B"`, 3}}},
		{"command fatal code range", def(`"dispatch": {"kind": "command", "command": ["true"], "fatal_exit_codes": [0]}`), []want{{"/dispatch/fatal_exit_codes/0", "must be at least 1", 3}}},
		{"command with url", def(`"dispatch": {"kind": "command", "command": ["true"], "url": "http://x"}`), []want{{"/dispatch/url", `"url" applies to http blocks only`, 3}}},
		{"worker with command", def(`"dispatch": {"kind": "worker", "command": ["true"]}`), []want{{"/dispatch/command", `"command" applies to command blocks only`, 3}}},
		{"http with script", def(`"dispatch": {"kind": "http", "url": "http://x", "script": "x"}`), []want{{"/dispatch/script", `"script" applies to command blocks only`, 3}}},
		{"negative concurrency", def(worker, `"concurrency": -1`), []want{{"/concurrency", "must be at least 0, not -1", 4}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := blocks.Parse([]byte(tt.doc))
			if tt.want == nil {
				if err != nil || d == nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			probs := blocks.Problems(err)
			if len(probs) != len(tt.want) {
				t.Errorf("got %d problems, want %d:\n%v", len(probs), len(tt.want), err)
			}
			for _, w := range tt.want {
				found := false
				for _, p := range probs {
					if p.Pointer == w.ptr && strings.Contains(p.Msg, w.msg) && p.Line == w.line {
						found = true
					}
				}
				if !found {
					t.Errorf("missing %s line %d %q; got:\n%v", w.ptr, w.line, w.msg, err)
				}
			}
		})
	}
}

func TestParseFields(t *testing.T) {
	t.Parallel()
	d, err := blocks.Parse([]byte(`{"name": "a.b", "version": 3, "dispatch": {"kind": "worker", "queue": "gpu"},
		"retry": {"max_attempts": 4, "backoff": "fixed", "initial_interval": "1.5d"}, "timeout": "1h30m", "resources": {"gpu": 1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "a.b" || d.Version != 3 || d.Queue() != "gpu" || d.Retry.Attempts() != 4 ||
		time.Duration(d.Retry.InitialInterval) != 36*time.Hour || time.Duration(d.Timeout) != 90*time.Minute || d.Resources["gpu"] != 1 {
		t.Errorf("got %+v", d)
	}
}

func TestParseCommand(t *testing.T) {
	t.Parallel()
	d, err := blocks.Parse([]byte(`{"name": "train", "dispatch": {"kind": "command", "queue": "gpu", "script": "print(1)", "interpreter": ["python3", "-u"],
		"workdir": "/srv", "env": {"A": "1"}, "fatal_exit_codes": [2]}}`))
	if err != nil {
		t.Fatal(err)
	}
	ds := d.Dispatch
	if d.TaskQueue() != "gpu" || ds.Script != "print(1)" || strings.Join(ds.Interpreter, " ") != "python3 -u" || ds.Workdir != "/srv" ||
		ds.Env["A"] != "1" || len(ds.FatalExitCodes) != 1 || ds.FatalExitCodes[0] != 2 {
		t.Errorf("got %+v", ds)
	}
	d, err = blocks.Parse([]byte(`{"name": "noop", "dispatch": {"kind": "command", "command": ["true"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if d.TaskQueue() != "noop" {
		t.Errorf("queue: got %q, want the block's name", d.TaskQueue())
	}
}

func TestValidateInputOutput(t *testing.T) {
	t.Parallel()
	d, err := blocks.Parse([]byte(`{"name": "model.train", "dispatch": {"kind": "worker"},
		"input_schema": {"type": "object", "required": ["dataset"], "properties": {
			"dataset": {"type": "string"}, "rows": {"type": "array", "items": {"type": "object", "required": ["x"], "properties": {"x": {"type": "number"}}}}}},
		"output_schema": {"type": "object", "required": ["r2"], "properties": {"r2": {"type": "number", "maximum": 1}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		check func(any) error
		v     any
		want  string // "" valid
	}{
		{"valid input", d.ValidateInput, map[string]any{"dataset": "s3://x", "rows": []any{map[string]any{"x": 1.0}}}, ""},
		{"missing field", d.ValidateInput, map[string]any{}, "input.dataset: is required"},
		{"wrong type", d.ValidateInput, map[string]any{"dataset": 5}, "input.dataset: must be a string, not an integer"},
		{"nested", d.ValidateInput, map[string]any{"dataset": "a", "rows": []any{map[string]any{}, map[string]any{"x": "one"}}},
			"input.rows[0].x: is required; input.rows[1].x: must be a number, not a string"},
		{"not an object", d.ValidateInput, []any{1}, "input: must be an object, not an array"},
		{"valid output", d.ValidateOutput, map[string]any{"r2": 0.9}, ""},
		{"bad output", d.ValidateOutput, map[string]any{"r2": 3}, "output.r2: must be at most 1, not 3"},
		{"null output", d.ValidateOutput, nil, "output: must be an object, not null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.check(tt.v)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			var sm *blocks.SchemaMismatchError
			if err == nil || err.Error() != tt.want || !errors.As(err, &sm) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}

	// No schema: anything goes. Concurrent use shares one compiled schema.
	none := &blocks.Definition{Name: "x"}
	if err := none.ValidateInput(map[string]any{"a": 1}); err != nil {
		t.Errorf("no schema: got %v", err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.ValidateInput(map[string]any{}); err == nil {
				errs <- errors.New("missing field accepted")
			}
			if err := d.ValidateOutput(map[string]any{"r2": 0.5}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestMemCatalog(t *testing.T) {
	t.Parallel()
	cat, err := blocks.NewMemCatalog(&blocks.Definition{Name: "a", Version: 1}, &blocks.Definition{Name: "a", Version: 3}, &blocks.Definition{Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := cat.Block("a", 0); err != nil || d.Version != 3 {
		t.Errorf("latest a: got %v, %v; want version 3", d, err)
	}
	if d, err := cat.Block("a", 1); err != nil || d.Version != 1 {
		t.Errorf("a@1: got %v, %v", d, err)
	}
	if d, err := cat.Block("b", 0); err != nil || d.Version != 1 {
		t.Errorf("b: got %v, %v; want version 1 assigned", d, err)
	}
	if _, err := cat.Block("a", 2); !errors.Is(err, blocks.ErrUnknownBlock) || !strings.Contains(err.Error(), "latest is 3") {
		t.Errorf("a@2: got %v", err)
	}
	if _, err := cat.Block("c", 0); !errors.Is(err, blocks.ErrUnknownBlock) {
		t.Errorf("c: got %v", err)
	}
	if err := cat.Add(&blocks.Definition{Name: "a", Version: 3}); err == nil {
		t.Error("adding a@3 twice: got no error")
	}
	if got := strings.Join(cat.Names(), ","); got != "a,b" {
		t.Errorf("got names %s", got)
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"30s": 30 * time.Second, "1h30m": 90 * time.Minute, "1d": 24 * time.Hour, "0.5d": 12 * time.Hour} {
		if got, err := blocks.ParseDuration(in); err != nil || got != want {
			t.Errorf("%s: got %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"1d2d", "d", "-1d", "-5s", "5 s", "soon", "1e9d"} {
		if _, err := blocks.ParseDuration(in); err == nil {
			t.Errorf("%s: got no error", in)
		}
	}
}
