package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildWeft compiles the binary into a temporary directory.
func buildWeft(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "weft")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type result struct {
	code           int
	stdout, stderr string
}

func runWeft(t *testing.T, bin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("weft %v: %v", args, err)
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func TestCLIServeDeployRun(t *testing.T) {
	t.Parallel()
	bin := buildWeft(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "weft.db")

	// An HTTP block service on loopback.
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var env struct {
			Input struct {
				N float64 `json:"n"`
			} `json:"input"`
		}
		json.NewDecoder(r.Body).Decode(&env)
		if r.URL.Path == "/fail" {
			http.Error(w, "no model named m7 here", http.StatusNotFound)
			return
		}
		fmt.Fprintf(w, `{"square": %v}`, env.Input.N*env.Input.N)
	}))
	defer svc.Close()

	defs := filepath.Join(dir, "defs")
	os.MkdirAll(filepath.Join(defs, "blocks"), 0o755)
	os.WriteFile(filepath.Join(defs, "blocks", "svc.square.json"),
		[]byte(fmt.Sprintf(`{"name": "svc.square", "dispatch": {"kind": "http", "url": %q}}`, svc.URL+"/square")), 0o600)
	os.WriteFile(filepath.Join(defs, "blocks", "svc.fail.json"),
		[]byte(fmt.Sprintf(`{"name": "svc.fail", "dispatch": {"kind": "http", "url": %q}}`, svc.URL+"/fail")), 0o600)
	os.WriteFile(filepath.Join(defs, "b-flow.json"), []byte(`{"name": "cli-fail", "blocks": [{"ref": "fl", "block": "svc.fail"}]}`), 0o600)
	os.WriteFile(filepath.Join(defs, "a-flow.json"), []byte(`{"name": "cli-flow",
	  "blocks": [
	    {"ref": "sq", "block": "svc.square", "input": {"n": "${flow.input.n}"}},
	    {"ref": "plus", "type": "lambda", "expr": "sq.output.square + 1"}
	  ],
	  "output": {"result": "${plus.output}"}}`), 0o600)

	// A token first: then the server on loopback requires it.
	tok := runWeft(t, bin, nil, "token", "create", "--role", "admin", "--name", "ci", "--db", db)
	if tok.code != 0 || !strings.HasPrefix(strings.TrimSpace(tok.stdout), "weft_") {
		t.Fatalf("token create: %d %s %s", tok.code, tok.stdout, tok.stderr)
	}
	token := strings.TrimSpace(tok.stdout)

	serve := exec.Command(bin, "serve", "--addr", "127.0.0.1:0")
	serve.Env = append(os.Environ(), "WEFT_DB="+db)
	stdout, _ := serve.StdoutPipe()
	serveErr := &syncBuffer{}
	serve.Stderr = serveErr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = serve.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default:
			serve.Process.Kill()
			<-exited
		}
	}()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "listening on ") {
				lines <- strings.TrimPrefix(sc.Text(), "listening on ")
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	var url string
	select {
	case url = <-lines:
	case <-exited:
		t.Fatalf("serve exited: %v\n%s", waitErr, serveErr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not start in 30s\n%s", serveErr.String())
	}

	noTok := runWeft(t, bin, nil, "deploy", "--server", url, defs)
	if noTok.code != 1 || !strings.Contains(noTok.stderr, "authentication required") {
		t.Fatalf("deploy without token: %d %s", noTok.code, noTok.stderr)
	}
	dep := runWeft(t, bin, []string{"WEFT_TOKEN=" + token, "WEFT_SERVER=" + url}, "deploy", defs)
	if dep.code != 0 || !strings.Contains(dep.stdout, "block svc.square@1 stored") || !strings.Contains(dep.stdout, "flow cli-flow@1 stored") {
		t.Fatalf("deploy: %d\n%s\n%s", dep.code, dep.stdout, dep.stderr)
	}
	run := runWeft(t, bin, nil, "run", "cli-flow", "--input", `{"n": 7}`, "--wait", "--server", url, "--token", token)
	if run.code != 0 {
		t.Fatalf("run --wait: %d\n%s\n%s", run.code, run.stdout, run.stderr)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(run.stdout), &out); err != nil || out["result"] != float64(50) {
		t.Fatalf("run output = %q (%v), want {\"result\": 50}", run.stdout, err)
	}
	if !strings.Contains(run.stderr, "sq") || !strings.Contains(run.stderr, "succeeded") {
		t.Fatalf("run --wait printed no step progress:\n%s", run.stderr)
	}
	// A failing HTTP block's answer is in its step's log.
	failed := runWeft(t, bin, []string{"WEFT_TOKEN=" + token, "WEFT_SERVER=" + url}, "run", "cli-fail")
	failedID := strings.TrimSpace(failed.stdout)
	if failed.code != 0 || failedID == "" {
		t.Fatalf("run cli-fail: %d %s %s", failed.code, failed.stdout, failed.stderr)
	}
	// --follow prints the lines and returns once the step has ended.
	logs := runWeft(t, bin, []string{"WEFT_TOKEN=" + token, "WEFT_SERVER=" + url}, "logs", failedID, "--step", "fl", "--follow")
	if logs.code != 0 || !strings.Contains(logs.stdout, "no model named m7 here") || !strings.Contains(logs.stdout, "error") || !strings.Contains(logs.stdout, "fl#1") {
		t.Fatalf("logs --follow: %d\n%s\n%s", logs.code, logs.stdout, logs.stderr)
	}
	if again := runWeft(t, bin, []string{"WEFT_TOKEN=" + token, "WEFT_SERVER=" + url}, "logs", failedID); again.stdout != logs.stdout {
		t.Fatalf("logs without --follow printed\n%s\nwant\n%s", again.stdout, logs.stdout)
	}
	if r := runWeft(t, bin, []string{"WEFT_TOKEN=" + token, "WEFT_SERVER=" + url}, "logs", "no-such-run"); r.code != 1 || !strings.Contains(r.stderr, "404") {
		t.Fatalf("logs of an unknown run: %d %s", r.code, r.stderr)
	}
	runs := runWeft(t, bin, []string{"WEFT_TOKEN=" + token}, "runs", "--server", url)
	if runs.code != 0 || !strings.Contains(runs.stdout, "cli-flow") || !strings.Contains(runs.stdout, "succeeded") {
		t.Fatalf("runs: %d\n%s\n%s", runs.code, runs.stdout, runs.stderr)
	}

	// weft artifacts: list a run's artifacts and download one, checked.
	api := func(method, path, lease string, body io.Reader) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, url+path, body)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		if lease != "" { // an artifact upload: raw bytes
			req.Header.Set("X-Weft-Lease", lease)
			req.Header.Set("Content-Type", "application/octet-stream")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	api("PUT", "/api/v1/blocks", "", strings.NewReader(`{"name": "cli.art", "dispatch": {"kind": "worker"}}`)).Body.Close()
	api("POST", "/api/v1/flows", "", strings.NewReader(`{"name": "cli-art", "blocks": [{"ref": "make", "block": "cli.art"}]}`)).Body.Close()
	var started struct{ ID string }
	resp := api("POST", "/api/v1/flows/cli-art/runs", "", strings.NewReader(`{"input": {}}`))
	json.NewDecoder(resp.Body).Decode(&started)
	resp.Body.Close()
	var polled struct{ Tasks []struct{ ID, Lease string } }
	resp = api("POST", "/api/v1/tasks/poll", "", strings.NewReader(`{"worker_id": "cli", "queues": ["cli.art"], "wait": "10s"}`))
	json.NewDecoder(resp.Body).Decode(&polled)
	resp.Body.Close()
	if len(polled.Tasks) != 1 {
		t.Fatalf("poll cli.art: %+v", polled)
	}
	resp = api("PUT", "/api/v1/tasks/"+polled.Tasks[0].ID+"/artifacts/model.bin", polled.Tasks[0].Lease, strings.NewReader("weights v1"))
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("upload: %d", resp.StatusCode)
	}
	ls := runWeft(t, bin, []string{"WEFT_TOKEN=" + token}, "artifacts", started.ID, "--server", url)
	if ls.code != 0 || !strings.Contains(ls.stdout, "model.bin") || !strings.Contains(ls.stdout, "make") {
		t.Fatalf("artifacts: %d\n%s\n%s", ls.code, ls.stdout, ls.stderr)
	}
	dest := filepath.Join(dir, "got.bin")
	get := runWeft(t, bin, []string{"WEFT_TOKEN=" + token}, "artifacts", started.ID, "--get", "model.bin", "-o", dest, "--server", url)
	if b, _ := os.ReadFile(dest); get.code != 0 || string(b) != "weights v1" {
		t.Fatalf("artifacts --get: %d %q\n%s", get.code, b, get.stderr)
	}
	if r := runWeft(t, bin, []string{"WEFT_TOKEN=" + token}, "artifacts", started.ID, "--get", "nope", "--server", url); r.code == 0 || !strings.Contains(r.stderr, "no artifact") {
		t.Fatalf("artifacts --get nope: %d %s", r.code, r.stderr)
	}

	start := time.Now()
	serve.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("serve exited with %v after SIGTERM\n%s", waitErr, serveErr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("serve still running 10s after SIGTERM")
	}
	t.Logf("serve stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(serveErr.String(), "authentication required") {
		t.Errorf("serve did not log the auth mode:\n%s", serveErr.String())
	}

	if r := runWeft(t, bin, nil, "bench", "--workloads", "1,7"); r.code == 0 || !strings.Contains(r.stderr, `"7" is not a workload`) {
		t.Fatalf("bench --workloads 1,7: %d %s", r.code, r.stderr)
	}
	if r := runWeft(t, bin, nil, "bench", "--workloads", "1", "--scale", "40"); r.code != 0 || !strings.Contains(r.stdout, "per-step overhead p50") {
		t.Fatalf("bench --workloads 1: %d %s %s", r.code, r.stdout, r.stderr)
	}
	for _, c := range []string{"serve", "migrate", "deploy", "run", "runs", "logs", "artifacts", "bench"} {
		if r := runWeft(t, bin, nil, c, "--help"); r.code != 0 || !strings.Contains(r.stderr, "usage: weft "+c) {
			t.Errorf("weft %s --help: %d %s", c, r.code, r.stderr)
		}
	}
	if r := runWeft(t, bin, nil, "token", "--help"); r.code != 0 {
		t.Errorf("weft token --help: %d", r.code)
	}
	if r := runWeft(t, bin, nil, "--help"); r.code != 0 || !strings.Contains(r.stdout, "deploy") {
		t.Errorf("weft --help: %d %s", r.code, r.stdout)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
