package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveWeft starts weft serve on a loopback port over a SQLite file and
// returns its address; it is stopped at the end of the test.
func serveWeft(t *testing.T, bin string) string {
	t.Helper()
	serve := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "weft.db"))
	stdout, _ := serve.StdoutPipe()
	serveErr := &syncBuffer{}
	serve.Stderr = serveErr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = serve.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = serve.Process.Kill()
		<-exited
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "listening on ") {
				lines <- strings.TrimPrefix(sc.Text(), "listening on ")
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case url := <-lines:
		return url
	case <-exited:
		t.Fatalf("serve exited:\n%s", serveErr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not start in 30s\n%s", serveErr.String())
	}
	return ""
}

// runWeftIn is runWeft with text on standard input.
func runWeftIn(t *testing.T, bin, in string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = os.Environ()
	cmd.Stdin = strings.NewReader(in)
	var out, errb strings.Builder
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

// TestCLIOperatorCommands drives runs with weft signal, approve, cancel,
// pause, resume, retry and rerun against a real server, and checks the
// exit codes of weft run --wait.
func TestCLIOperatorCommands(t *testing.T) {
	t.Parallel()
	bin := buildWeft(t)
	url := serveWeft(t, bin)
	dir := t.TempDir()
	files := map[string]string{
		"blocks/cli.work.json": `{"name": "cli.work", "dispatch": {"kind": "worker"}}`,
		"human.json": `{"name": "cli-human", "blocks": [
			{"ref": "approve", "type": "wait", "signal": "approval", "assignee": "leads", "sla": "2h",
			 "form": {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}}],
			"output": "${approve.output}"}`,
		"two.json": `{"name": "cli-two", "blocks": [{"ref": "both", "type": "fork", "branches": [
			[{"ref": "legal_ok", "type": "wait", "signal": "legal"}], [{"ref": "money_ok", "type": "wait", "signal": "finance"}]]}]}`,
		"work.json": `{"name": "cli-work", "blocks": [{"ref": "prep", "type": "lambda", "expr": "1"}, {"ref": "work", "block": "cli.work"}]}`,
		"boom.json": `{"name": "cli-boom", "blocks": [{"ref": "boom", "type": "fail", "message": "the data is bad"}]}`,
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	weft := func(args ...string) result { return runWeftIn(t, bin, "", append(args, "--server", url)...) }
	if r := weft("deploy", dir); r.code != 0 {
		t.Fatalf("deploy: %d %s %s", r.code, r.stdout, r.stderr)
	}
	status := func(id string) string {
		t.Helper()
		resp, err := http.Get(url + "/api/v1/runs/" + id + "?steps=false")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r struct{ Status string }
		_ = json.NewDecoder(resp.Body).Decode(&r)
		return r.Status
	}

	// run --wait stops at a human step with exit 3 and says how to go on.
	r := weft("run", "cli-human", "--wait")
	if r.code != 3 || !strings.Contains(r.stderr, "weft signal ") || !strings.Contains(r.stderr, " approval --payload") || !strings.Contains(r.stderr, "for leads") {
		t.Fatalf("run --wait at a human step: %d\n%s", r.code, r.stderr)
	}
	id := strings.Fields(r.stderr[strings.Index(r.stderr, "weft signal ")+len("weft signal "):])[0]
	if got := status(id); got != "waiting" {
		t.Fatalf("run %s is %s, want waiting", id, got)
	}
	if r := weft("runs", "--status", "waiting"); r.code != 0 || !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, "waiting") {
		t.Fatalf("runs --status waiting: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := weft("signal", id, "deploy"); r.code != 1 || !strings.Contains(r.stderr, "it waits for: approval") || !strings.Contains(r.stderr, "409") {
		t.Fatalf("signal it does not wait for: %d %s", r.code, r.stderr)
	}
	if r := weft("signal", id, "approval", "--payload", `{"ok": "yes"}`); r.code != 1 || !strings.Contains(r.stderr, "422") || !strings.Contains(r.stderr, "/ok") {
		t.Fatalf("signal breaking the form: %d %s", r.code, r.stderr)
	}
	if r := weft("signal", id, "approval", "--payload", `{"ok": `); r.code != 1 || !strings.Contains(r.stderr, "not valid JSON") {
		t.Fatalf("signal with bad JSON: %d %s", r.code, r.stderr)
	}
	if r := weft("approve", id, "--payload", `{"ok": true}`); r.code != 0 || !strings.Contains(r.stdout, "signal approval sent") {
		t.Fatalf("approve: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if got := status(id); got != "succeeded" {
		t.Fatalf("approved run is %s, want succeeded", got)
	}

	// Two signals wait: approve asks which one, listing them.
	r = weft("run", "cli-two")
	two := strings.TrimSpace(r.stdout)
	if r := weft("run", "cli-two", "--wait"); r.code != 3 {
		t.Fatalf("run --wait cli-two: %d %s", r.code, r.stderr)
	}
	if r := weft("approve", two); r.code != 2 || !strings.Contains(r.stderr, "1) legal") || !strings.Contains(r.stderr, "2) finance") ||
		!strings.Contains(r.stderr, "--signal NAME") {
		t.Fatalf("approve with two waiting, no answer: %d %s", r.code, r.stderr)
	}
	if r := runWeftIn(t, bin, "2\n", "approve", two, "--server", url); r.code != 0 || !strings.Contains(r.stdout, "signal finance sent") {
		t.Fatalf("approve, answering 2: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := weft("approve", two); r.code != 0 || !strings.Contains(r.stdout, "signal legal sent") {
		t.Fatalf("approve the last one: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if got := status(two); got != "succeeded" {
		t.Fatalf("run %s is %s, want succeeded", two, got)
	}

	// A failing run: exit 1.
	if r := weft("run", "cli-boom", "--wait"); r.code != 1 || !strings.Contains(r.stderr, "the data is bad") {
		t.Fatalf("run --wait of a failing flow: %d %s", r.code, r.stderr)
	}

	// Operator actions on a run whose task waits for a worker.
	work := strings.TrimSpace(weft("run", "cli-work").stdout)
	for _, step := range []struct{ cmd, want string }{
		{"pause", "paused"}, {"resume", "running"}, {"cancel", "cancelled"}, {"retry", "running"}, {"cancel", "cancelled"},
	} {
		if r := weft(step.cmd, work); r.code != 0 || strings.TrimSpace(r.stdout) != "run "+work+": "+step.want {
			t.Fatalf("%s: %d %q %s", step.cmd, r.code, r.stdout, r.stderr)
		}
	}
	if r := weft("resume", work); r.code != 1 || !strings.Contains(r.stderr, "409") {
		t.Fatalf("resume a cancelled run: %d %s", r.code, r.stderr)
	}
	r = weft("rerun", work, "--from", "work")
	if again := strings.TrimSpace(r.stdout); r.code != 0 || again == "" || again == work || status(again) != "running" {
		t.Fatalf("rerun --from work: %d %q %s", r.code, r.stdout, r.stderr)
	}
	if r := weft("rerun", work, "--from", "nope"); r.code != 1 || !strings.Contains(r.stderr, "nope") {
		t.Fatalf("rerun --from an unknown ref: %d %s", r.code, r.stderr)
	}
	if r := weft("rerun", work); r.code != 2 {
		t.Fatalf("rerun without --from: %d %s", r.code, r.stderr)
	}

	// Every command names the server it cannot reach.
	for _, args := range [][]string{
		{"signal", "r", "go"}, {"approve", "r"}, {"cancel", "r"}, {"pause", "r"}, {"resume", "r"}, {"retry", "r"},
		{"rerun", "r", "--from", "a"}, {"logs", "r"}, {"artifacts", "r"}, {"runs"}, {"run", "f"}, {"deploy", dir},
	} {
		r := runWeftIn(t, bin, "", append(args, "--server", "http://127.0.0.1:9")...)
		if r.code != 1 || !strings.Contains(r.stderr, "cannot reach the server at http://127.0.0.1:9") {
			t.Errorf("weft %s against no server: %d %s", args[0], r.code, r.stderr)
		}
	}
	for _, c := range []string{"signal", "approve", "cancel", "pause", "resume", "retry", "rerun"} {
		if r := weft(c, "--help"); r.code != 0 || !strings.Contains(r.stderr, "usage: weft "+c) {
			t.Errorf("weft %s --help: %d %s", c, r.code, r.stderr)
		}
	}
}
