package validate_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/weftlabs/weft/internal/validate"
)

const examples = "../../flows/examples"

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = validate.Command(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEveryExample(t *testing.T) {
	t.Parallel()
	code, out, errs := run(t, examples)
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, errs)
	}
	flowsFiles, _ := filepath.Glob(examples + "/*.json")
	blockFiles, _ := filepath.Glob(examples + "/blocks/*.json")
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, "  /triggers/") { // due times of cron triggers
			lines = append(lines, l)
		}
	}
	if len(lines) != len(flowsFiles)+len(blockFiles) || len(flowsFiles) == 0 {
		t.Fatalf("got %d lines for %d flows and %d blocks:\n%s", len(lines), len(flowsFiles), len(blockFiles), out)
	}
	for _, want := range []string{
		examples + "/house-prices.json: flow house-prices ok (11 blocks)",
		examples + "/blocks/model.train.json: block model.train@1 ok",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

func TestMalformedFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := write(t, dir, "bad.json", "{\n  \"name\": \"x\",\n  \"blocks\": [\n    {\"ref\": \"a\" \"block\": \"b\"}\n  ]\n}\n")
	code, out, errs := run(t, p)
	want := p + ":4:17 /: not valid JSON: invalid character '\"' after object key:value pair; fix the syntax at this position\n"
	if code != 1 || out != "" || errs != want {
		t.Fatalf("exit %d\nstdout %q\nstderr %q\nwant   %q", code, out, errs, want)
	}
}

func TestTenMistakes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := write(t, dir, "ten.json", `{
  "name": "ten",
  "blocks": [
    {"ref": "load", "block": "data.lod"},
    {"ref": "load", "block": "notify.team", "input": {"text": "x"}},
    {"ref": "Best", "type": "lambda", "expr": "1"},
    {"ref": "x", "type": "lambda", "expr": "nope"},
    {"ref": "w", "type": "wait"},
    {"ref": "l", "type": "loop", "do": [{"ref": "y", "type": "lambda", "expr": "1"}]},
    {"ref": "n", "block": "notify.team", "timeout": "soon", "input": {"text": "t"}},
    {"ref": "m", "block": "notify.team", "input": {"text": "t"}, "inptu": {}},
    {"ref": "d", "type": "decision", "expr": "'a'"},
    {"ref": "f", "type": "fork", "join": "some", "branches": [[{"ref": "g", "block": "notify.team", "input": {"text": "${x.output}"}}]]}
  ]
}
`)
	code, out, errs := run(t, examples+"/blocks", p)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if strings.Count(out, " ok\n") != 23 && !strings.Contains(out, "block notify.team@1 ok") {
		t.Errorf("block lines missing:\n%s", out)
	}
	want := []string{
		p + `:4:21 /blocks/0/block: unknown block "data.lod": store its definition first`,
		p + `:5:6 /blocks/1/ref: ref "load" is already used at /blocks/0; every ref must be unique in the flow`,
		p + `:6:6 /blocks/2/ref: invalid ref "Best": use lowercase letters, digits and '_', starting with a letter (such as "train_model")`,
		p + `:7:36 /blocks/3/expr: unknown name "nope"; in scope here: flow, load`,
		p + `:8:5 /blocks/4: a wait needs exactly one of "duration", "until" or "signal" (it has none)`,
		p + `:9:5 /blocks/5: missing required key "max_iterations"`,
		p + `:10:42 /blocks/6/timeout: invalid duration "soon": write a number with a unit, such as "30s", "5m", "2h" or "1d"`,
		p + `:11:66 /blocks/7/inptu: unknown key "inptu" (did you mean "input"?)`,
		p + `:12:5 /blocks/8: missing required key "cases"`,
		p + `:13:34 /blocks/9/join: must be one of "all", "any", not "some"`,
	}
	got := strings.Split(strings.TrimSpace(errs), "\n")
	if len(got) != len(want) {
		t.Errorf("got %d lines, want %d:\n%s", len(got), len(want), errs)
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("line %d:\ngot  %s\nwant %s", i+1, got[i], want[i])
		}
	}
}

func TestBlockErrorsAndUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "blocks/a.json", "{\"name\": \"a\",\n \"dispatch\": {\"kind\": \"http\"}}")
	write(t, dir, "blocks/b.json", "{\"name\": \"b\", \"dispatch\": {\"kind\": \"worker\"}}")
	code, out, errs := run(t, dir)
	if code != 1 || !strings.Contains(errs, filepath.Join(dir, "blocks/a.json")+`:2:2 /dispatch: an http block needs "url"`) || !strings.Contains(out, "block b@1 ok") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if code, _, errs := run(t); code != 2 || !strings.Contains(errs, "usage: weft validate") {
		t.Errorf("no args: exit %d, %s", code, errs)
	}
	if code, _, errs := run(t, filepath.Join(dir, "missing")); code != 2 || !strings.Contains(errs, "no such file") {
		t.Errorf("missing path: exit %d, %s", code, errs)
	}
	if code, _, _ := run(t, "--help"); code != 0 {
		t.Errorf("--help: exit %d", code)
	}
}

func TestServerCatalog(t *testing.T) {
	t.Parallel()
	defs := map[string]string{
		"/api/v1/blocks/notify.team":            `{"name": "notify.team", "version": 4, "dispatch": {"kind": "worker"}, "input_schema": {"type": "object", "required": ["text"]}}`,
		"/api/v1/blocks/notify.team/versions/2": `{"name": "notify.team", "version": 2, "dispatch": {"kind": "worker"}}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := defs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	good := write(t, dir, "good.json", `{"name": "g", "blocks": [{"ref": "a", "block": "notify.team", "input": {"text": "x"}}, {"ref": "b", "block": "notify.team@2"}]}`)
	bad := write(t, dir, "bad.json", "{\"name\": \"b\", \"blocks\": [\n{\"ref\": \"a\", \"block\": \"notify.team@3\"},\n{\"ref\": \"b\", \"block\": \"nope\"}]}")
	code, out, errs := run(t, "--server", srv.URL, good, bad)
	if code != 1 || out != good+": flow g ok (2 blocks)\n" {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for _, want := range []string{bad + `:2:14 /blocks/0/block: block "notify.team" has no version 3 (the latest is 4)`, bad + `:3:14 /blocks/1/block: unknown block "nope"`} {
		if !strings.Contains(errs, want) {
			t.Errorf("missing %q in:\n%s", want, errs)
		}
	}
	if code, _, errs := run(t, "--server", "ftp://x", good); code != 2 || !strings.Contains(errs, "not an http(s) URL") {
		t.Errorf("bad server: exit %d %s", code, errs)
	}
}

// Finding 4: a schema the JSON Schema compiler used to panic on is a
// problem with its line, not a goroutine trace.
func TestSchemaTypeListOfNumbers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := write(t, dir, "f.json", "{\"name\": \"f\",\n \"input_schema\": {\"type\": [-1]},\n \"blocks\": [{\"ref\": \"a\", \"type\": \"lambda\", \"expr\": \"1\"}]}")
	code, _, errs := run(t, p)
	if code != 1 || !strings.Contains(errs, p+":2:28 /input_schema/type/0: each entry of \"type\" must be a type name") {
		t.Fatalf("exit %d, stderr:\n%s", code, errs)
	}
}

// weft validate refuses schedules that never fire or fire too often, and
// shows the next three due times of the others.
func TestCronTriggers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := write(t, dir, "good.json", `{"name": "g", "triggers": [{"cron": "0 3 * * MON"}], "blocks": [{"ref": "a", "type": "lambda", "expr": "1"}]}`)
	code, out, errs := run(t, good)
	if code != 0 || !regexp.MustCompile(`  /triggers/0 cron "0 3 \* \* MON": next due (\d{4}-\d\d-\d\dT03:00:00Z(, )?){3}\n`).MatchString(out) {
		t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	bad := write(t, dir, "bad.json", "{\"name\": \"b\",\n \"triggers\": [{\"cron\": \"@every 1ms\"}, {\"cron\": \"0 0 30 2 *\"}],\n \"blocks\": [{\"ref\": \"a\", \"type\": \"lambda\", \"expr\": \"1\"}]}")
	code, _, errs = run(t, bad)
	if code != 1 || !strings.Contains(errs, "/triggers/0/cron: cron \"@every 1ms\" fires every 1ms") ||
		!strings.Contains(errs, "/triggers/1/cron: cron \"0 0 30 2 *\" never fires") {
		t.Fatalf("exit %d, stderr:\n%s", code, errs)
	}
}
