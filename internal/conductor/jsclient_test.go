package conductor_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weftlabs/weft/internal/pgscratch"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// weftBinary builds cmd/weft once per test binary.
func weftBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "weft-conductor-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "weft")
		cmd := exec.Command("go", "build", "-o", builtBin, "./cmd/weft")
		cmd.Dir = filepath.Join("..", "..")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/weft: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// needNodeClient finds node and the installed Conductor client; missing
// either skips the test, or fails it under CI=true.
func needNodeClient(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join("jsclient", "node_modules", "@io-orkes", "conductor-javascript", "package.json"))
	}
	if err != nil {
		msg := fmt.Sprintf("Node.js and the Conductor client are needed (apt-get install nodejs npm; cd internal/conductor/jsclient && npm install --legacy-peer-deps): %v", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPED: " + msg)
	}
	return node
}

type server struct {
	url, token, db, log string
}

// serve starts weft serve on a SQLite file with authentication on and an
// admin token.
func serve(t *testing.T) *server { return serveOn(t, "") }

// serveOn starts weft serve on db (a postgres:// URL, or "" for a new
// SQLite file) with authentication on and an admin token.
func serveOn(t *testing.T, db string) *server {
	t.Helper()
	bin := weftBinary(t)
	dir := t.TempDir()
	if db == "" {
		db = filepath.Join(dir, "weft.db")
	}
	s := &server{db: db, log: filepath.Join(dir, "serve.log")}
	out, err := exec.Command(bin, "token", "create", "--role", "admin", "--name", "conductor-test", "--db", s.db).Output()
	if err != nil {
		t.Fatalf("weft token create: %v", err)
	}
	s.token = strings.TrimSpace(string(out))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	logf, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--db", s.db, "--addr", addr, "--auth", "on")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(s.log)
			t.Logf("weft serve log:\n%s", b)
		}
	})
	s.url = "http://" + addr
	for start := time.Now(); ; {
		select {
		case <-done:
			t.Fatalf("weft serve exited")
		default:
		}
		if resp, err := http.Get(s.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(start) > 30*time.Second {
			t.Fatal("weft serve did not become ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

// get calls Weft's own API with the token.
func (s *server) get(t *testing.T, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, b)
	}
}

// runNode runs jsclient/run.mjs with args and returns its RESULT lines.
func runNode(t *testing.T, node string, s *server, args ...string) []map[string]any {
	t.Helper()
	cmd := exec.Command(node, append([]string{"run.mjs"}, args...)...)
	cmd.Dir = "jsclient"
	cmd.Env = append(os.Environ(), "WEFT_URL="+s.url, "WEFT_TOKEN="+s.token, "CONDUCTOR_SERVER_URL="+s.url)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node run.mjs %v: %v\nstdout:\n%s\nstderr:\n%s", args, err, out, stderr.String())
	}
	var results []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if r, ok := strings.CutPrefix(sc.Text(), "RESULT "); ok {
			var m map[string]any
			if err := json.Unmarshal([]byte(r), &m); err != nil {
				t.Fatalf("RESULT line %q: %v", r, err)
			}
			results = append(results, m)
		}
	}
	return results
}

// TestJavaScriptClient runs the unmodified Conductor JavaScript client
// against weft serve: its metadata client registers definitions, its
// TaskManager's workers poll and complete tasks, its WorkflowExecutor
// starts workflows and reads their status.
func TestJavaScriptClient(t *testing.T) {
	t.Parallel()
	node := needNodeClient(t)
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		javaScriptClient(t, node, serve(t))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		javaScriptClient(t, node, serveOn(t, pgscratch.ForTest(t, "weft_conductor")))
	})
}

func javaScriptClient(t *testing.T, node string, s *server) {
	results := runNode(t, node, s)
	if len(results) != 2 {
		t.Fatalf("got %d results, want 2: %v", len(results), results)
	}
	main, term := results[0], results[1]

	// SIMPLE, SWITCH, FORK_JOIN/JOIN, SUB_WORKFLOW, DO_WHILE and a retried
	// FAILED ran to COMPLETED with the right output.
	if main["status"] != "COMPLETED" {
		t.Fatalf("js_main: status %v, want COMPLETED: %v", main["status"], main)
	}
	want := map[string]any{"sum": 5.0, "tag": "big:5", "square": 25.0, "doubled": 10.0, "ticks": 3.0, "flaky_attempt": 2.0}
	if !reflect.DeepEqual(main["output"], want) {
		t.Fatalf("js_main output: got %v, want %v", main["output"], want)
	}
	statuses := map[string][]string{}
	for _, x := range main["tasks"].([]any) {
		m := x.(map[string]any)
		statuses[m["ref"].(string)] = append(statuses[m["ref"].(string)], m["type"].(string)+" "+m["status"].(string))
	}
	wantStatuses := map[string][]string{
		"add": {"js_add COMPLETED"}, "route": {"SWITCH COMPLETED"}, "tag_big": {"js_tag COMPLETED"}, "tag_small": {"js_tag SKIPPED"},
		"fan": {"FORK_JOIN COMPLETED"}, "square": {"js_square COMPLETED"}, "child": {"SUB_WORKFLOW COMPLETED"},
		"ticks": {"DO_WHILE COMPLETED"}, "tick": {"js_tick COMPLETED", "js_tick COMPLETED", "js_tick COMPLETED"}, "flaky": {"js_flaky COMPLETED"},
	}
	if !reflect.DeepEqual(statuses, wantStatuses) {
		t.Fatalf("js_main tasks: got %v, want %v", statuses, wantStatuses)
	}

	// FAILED_WITH_TERMINAL_ERROR failed the run without retry, although
	// the task definition allows three retries.
	if term["status"] != "FAILED" || term["calls"] != 1.0 || term["reason"] != "the input can never work" {
		t.Fatalf("js_fail: got %v, want FAILED after one call with the worker's reason", term)
	}

	// Conductor-started runs are ordinary Weft runs.
	var run struct {
		Flow   string
		Status string
		Steps  []struct {
			Ref      string
			Status   string
			Attempts []any
		}
	}
	s.get(t, "/api/v1/runs/"+main["id"].(string), &run)
	if run.Flow != "js_main" || run.Status != "succeeded" {
		t.Fatalf("Weft run of js_main: flow %q status %q, want js_main succeeded", run.Flow, run.Status)
	}
	s.get(t, "/api/v1/runs/"+term["id"].(string), &run)
	if run.Status != "failed" || len(run.Steps) != 1 || len(run.Steps[0].Attempts) != 1 {
		t.Fatalf("Weft run of js_fail: %+v, want failed with one step of one attempt", run)
	}
	var list struct{ Runs []struct{ ID string } }
	s.get(t, "/api/v1/runs?flow=js_main", &list)
	if len(list.Runs) != 1 || list.Runs[0].ID != main["id"] {
		t.Fatalf("runs of js_main: %+v, want the one run %v", list.Runs, main["id"])
	}
	// The worker's log lines are in the step log.
	var logs struct {
		Lines []struct{ Step, Message string }
	}
	s.get(t, "/api/v1/runs/"+main["id"].(string)+"/logs?step=add", &logs)
	if len(logs.Lines) != 1 || logs.Lines[0].Message != "adding 2 and 3" {
		t.Fatalf("log of step add: %+v, want the worker's line", logs.Lines)
	}
}

// TestImportCommand imports Conductor files with weft import conductor:
// a file with problems stores nothing, not even the good files beside
// it, and says where each problem is; good files store blocks and flows.
func TestImportCommand(t *testing.T) {
	t.Parallel()
	s := serve(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "orders.json")
	bad := filepath.Join(dir, "broken.json")
	os.WriteFile(good, []byte(`{"name": "orders", "tasks": [
  {"name": "charge", "taskReferenceName": "charge", "type": "SIMPLE", "inputParameters": {"amount": "${workflow.input.amount}"}}
]}`), 0o644)
	os.WriteFile(bad, []byte(`{"name": "broken", "tasks": [
  {"name": "x", "taskReferenceName": "x", "type": "JSON_JQ_TRANSFORM"}
]}`), 0o644)
	tdefs := filepath.Join(dir, "taskdefs.json")
	os.WriteFile(tdefs, []byte(`[{"name": "charge", "retryCount": 2, "timeoutSeconds": 30}]`), 0o644)
	weft := func(args ...string) (string, string, int) {
		cmd := exec.Command(weftBinary(t), append([]string{"import", "conductor", "--server", s.url, "--token", s.token}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}

	_, stderr, code := weft(good, bad)
	if code != 1 || !strings.Contains(stderr, bad+": task type \"JSON_JQ_TRANSFORM\" cannot be converted") || !strings.Contains(stderr, "2:") || !strings.Contains(stderr, "/tasks/0/type") {
		t.Fatalf("import with a bad file: exit %d, stderr %q; want 1 naming %s line 2 /tasks/0/type", code, stderr, bad)
	}
	var fl struct{ Flows []struct{ Name string } }
	s.get(t, "/api/v1/flows", &fl)
	if len(fl.Flows) != 0 {
		t.Fatalf("flows after a failed import: %+v, want none", fl.Flows)
	}

	stdout, stderr, code := weft(good, tdefs)
	if code != 0 || stdout != "block charge@1\nflow orders@1\n" {
		t.Fatalf("import: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	var blk struct {
		Retry struct {
			MaxAttempts int `json:"max_attempts"`
		}
		Timeout string
	}
	s.get(t, "/api/v1/blocks/charge", &blk)
	if blk.Retry.MaxAttempts != 3 || blk.Timeout != "30s" {
		t.Fatalf("block charge: %+v, want 3 attempts and a 30s timeout from the task definition", blk)
	}
}

// TestConductorErrors checks Conductor's error shape for task updates
// that name no task, and that X-Authorization carries a Weft token.
func TestConductorErrors(t *testing.T) {
	t.Parallel()
	s := serve(t)
	call := func(method, path, auth, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("X-Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &m)
		return resp.StatusCode, m
	}
	for _, id := range []string{"nonsense", "aaaa-bbbb-6a735f616464"} {
		code, body := call(http.MethodPost, "/api/tasks", s.token, `{"taskId": "`+id+`", "workflowInstanceId": "w", "status": "COMPLETED", "outputData": {}}`)
		if code != http.StatusNotFound || body["status"] != 404.0 || !strings.Contains(fmt.Sprint(body["message"]), "No such task found by taskId: "+id) {
			t.Fatalf("update of task %s: %d %v, want 404 in Conductor's shape", id, code, body)
		}
	}
	if code, body := call(http.MethodGet, "/api/workflow/nope", s.token, ""); code != http.StatusNotFound || body["status"] != 404.0 {
		t.Fatalf("unknown workflow: %d %v, want 404 in Conductor's shape", code, body)
	}
	if code, _ := call(http.MethodGet, "/api/tasks/poll/batch/anything?count=1&timeout=1", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("poll without a token: %d, want 401", code)
	}
	if code, _ := call(http.MethodGet, "/api/tasks/poll/batch/anything?count=1&timeout=1", "wrong", ""); code != http.StatusUnauthorized {
		t.Fatalf("poll with a wrong X-Authorization: %d, want 401", code)
	}
	req, _ := http.NewRequest(http.MethodGet, s.url+"/api/tasks/poll/batch/anything?count=1&timeout=1", nil)
	req.Header.Set("X-Authorization", s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != "[]" {
		t.Fatalf("poll with the token as X-Authorization: %d %s, want 200 []", resp.StatusCode, b)
	}
}

// TestConductorInProgress drives the worker protocol by hand: an
// IN_PROGRESS update with callbackAfterSeconds gives the task back to be
// offered again later under a new id, with the same attempt; log lines
// sent with updates and to /api/tasks/{taskId}/log land in the step log.
func TestConductorInProgress(t *testing.T) {
	t.Parallel()
	s := serve(t)
	call := func(method, path, body string) (int, []byte) {
		req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("X-Authorization", s.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, b := call(http.MethodPost, "/api/metadata/workflow", `{"name": "slow", "version": 1, "tasks": [{"name": "slow_task", "taskReferenceName": "work", "type": "SIMPLE"}]}`); code != http.StatusOK {
		t.Fatalf("register: %d %s", code, b)
	}
	code, idb := call(http.MethodPost, "/api/workflow/slow", `{"n": 1}`)
	if code != http.StatusOK {
		t.Fatalf("start: %d %s", code, idb)
	}
	runID := string(idb)
	poll := func(timeoutMS int) []map[string]any {
		t.Helper()
		code, b := call(http.MethodGet, fmt.Sprintf("/api/tasks/poll/batch/slow_task?workerid=w1&count=5&timeout=%d", timeoutMS), "")
		var ts []map[string]any
		if code != http.StatusOK || json.Unmarshal(b, &ts) != nil {
			t.Fatalf("poll: %d %s", code, b)
		}
		return ts
	}
	first := poll(10000)
	if len(first) != 1 || first[0]["workflowInstanceId"] != runID || first[0]["referenceTaskName"] != "work" || first[0]["retryCount"] != 0.0 {
		t.Fatalf("first poll: %v", first)
	}
	id1 := first[0]["taskId"].(string)
	if code, b := call(http.MethodPost, "/api/tasks/"+id1+"/log", `"warming up"`); code != http.StatusOK {
		t.Fatalf("task log: %d %s", code, b)
	}
	if code, b := call(http.MethodPost, "/api/tasks", `{"taskId": "`+id1+`", "workflowInstanceId": "`+runID+`", "status": "IN_PROGRESS",
		"callbackAfterSeconds": 2, "logs": [{"log": "half way", "createdTime": 1}]}`); code != http.StatusOK || string(b) != id1 {
		t.Fatalf("IN_PROGRESS update: %d %s", code, b)
	}
	if again := poll(0); len(again) != 0 {
		t.Fatalf("a task given back for 2s was offered at once: %v", again)
	}
	second := poll(20000)
	if len(second) != 1 || second[0]["retryCount"] != 0.0 || second[0]["taskId"] == id1 {
		t.Fatalf("poll after the callback: %v, want the same attempt under a new id", second)
	}
	id2 := second[0]["taskId"].(string)
	// The old id no longer reports.
	if code, _ := call(http.MethodPost, "/api/tasks", `{"taskId": "`+id1+`", "status": "COMPLETED"}`); code != http.StatusNotFound {
		t.Fatalf("update under the old id: %d, want 404", code)
	}
	if code, b := call(http.MethodPost, "/api/tasks/update-v2", `{"taskId": "`+id2+`", "workflowInstanceId": "`+runID+`", "status": "COMPLETED", "outputData": {"done": true}}`); code != http.StatusNoContent {
		t.Fatalf("update-v2 with nothing next: %d %s, want 204", code, b)
	}
	var wf struct {
		Status string
		Output map[string]any
		Tasks  []struct{ Status, ReferenceTaskName string }
	}
	_, b := call(http.MethodGet, "/api/workflow/"+runID, "")
	if err := json.Unmarshal(b, &wf); err != nil || wf.Status != "COMPLETED" || wf.Output["done"] != true || len(wf.Tasks) != 1 || wf.Tasks[0].Status != "COMPLETED" {
		t.Fatalf("workflow: %s", b)
	}
	var logs struct{ Lines []struct{ Message string } }
	s.get(t, "/api/v1/runs/"+runID+"/logs?step=work", &logs)
	var got []string
	for _, l := range logs.Lines {
		got = append(got, l.Message)
	}
	if strings.Join(got, "|") != "warming up|half way" {
		t.Fatalf("step log: %q, want the two lines the worker sent", got)
	}
}

// TestConductorHumanTask completes a HUMAN task the Conductor way, by
// workflow id and reference name: the wait's signal carries the body.
func TestConductorHumanTask(t *testing.T) {
	t.Parallel()
	s := serve(t)
	call := func(method, path, body string) (int, []byte) {
		req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("X-Authorization", s.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, b := call(http.MethodPost, "/api/metadata/workflow", `{"name": "review", "tasks": [{"name": "approve", "taskReferenceName": "Approve-It", "type": "HUMAN"}]}`); code != http.StatusOK {
		t.Fatalf("register: %d %s", code, b)
	}
	code, idb := call(http.MethodPost, "/api/workflow", `{"name": "review", "input": {}}`)
	if code != http.StatusOK {
		t.Fatalf("start: %d %s", code, idb)
	}
	id := string(idb)
	if code, b := call(http.MethodPost, "/api/tasks/"+id+"/Approve-It/FAILED", `{}`); code != http.StatusBadRequest {
		t.Fatalf("FAILED by reference: %d %s, want 400", code, b)
	}
	if code, b := call(http.MethodPost, "/api/tasks/"+id+"/Approve-It/COMPLETED", `{"approved_by": "ann"}`); code != http.StatusOK {
		t.Fatalf("COMPLETED by reference: %d %s", code, b)
	}
	var run struct {
		Status string
		Output map[string]any
	}
	s.get(t, "/api/v1/runs/"+id+"/wait?timeout=30s", &run)
	if run.Status != "succeeded" || run.Output["approved_by"] != "ann" {
		t.Fatalf("run after the human task: %+v, want succeeded with the approval as output", run)
	}
}
