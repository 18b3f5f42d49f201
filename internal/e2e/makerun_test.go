package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMakeRunPath runs what `make run` runs (scripts/run.sh: weft serve on
// a SQLite file with flows/examples loaded, the Python example workers and
// the offline LLM stand-in), then takes the README's tour headlessly: a
// house-prices run to the approval, the approval, the end. Its r2 must be
// what check_house_prices.py computes outside Weft.
func TestMakeRunPath(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3 is required under CI=true")
		}
		t.Skip("SKIPPING: no python3")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	llm := freeAddr(t)
	_, llmPort, _ := net.SplitHostPort(llm)
	logPath := filepath.Join(dir, "run.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "scripts/run.sh")
	cmd.Dir = repoRoot()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(os.Environ(),
		"WEFT_BIN="+weftBinary(t),
		"WEFT_ADDR="+addr,
		"WEFT_DB="+filepath.Join(dir, "weft.db"),
		"WEFT_LLM_URL=", // use the offline stand-in
		"WEFT_LLM_PORT="+llmPort,
		"WEFT_MODEL_REGISTRY="+filepath.Join(dir, "registry"),
		"WEFT_NOTIFY_FILE="+filepath.Join(dir, "notifications.jsonl"),
		"WEFT_REPORTS="+filepath.Join(dir, "reports"),
	)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM) // the script stops workers, then the server
		select {
		case <-exited:
		case <-time.After(40 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	t.Cleanup(func() { stop(); logf.Close() })

	base := "http://" + addr
	a := newAPI(base)
	ctx := context.Background()
	waitFor(t, 90*time.Second, "the examples to be loaded", func() (bool, string) {
		err := a.do(ctx, "GET", "/api/v1/flows/house-prices", nil, nil)
		if err != nil {
			return false, err.Error() + "\n" + tail(logPath)
		}
		return true, ""
	})

	var r run
	if err := a.do(ctx, "POST", "/api/v1/flows/house-prices/runs",
		map[string]any{"input": map[string]any{"dataset_url": "examples/data/house_prices.csv"}}, &r); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Minute, "the run to wait for approval", func() (bool, string) {
		var got run
		if err := a.do(ctx, "GET", "/api/v1/runs/"+r.ID+"/wait?timeout=5s", nil, &got); err != nil {
			return false, err.Error()
		}
		for _, s := range got.Steps {
			if s.Path == "approve" && s.Status == "waiting" {
				return true, ""
			}
		}
		if got.Status != "running" {
			t.Fatalf("run ended %s before the approval: %s\n%s", got.Status, got.Error, tail(logPath))
		}
		return false, fmt.Sprintf("run %s", got.Status)
	})
	if err := a.do(ctx, "POST", "/api/v1/runs/"+r.ID+"/signals/approval", map[string]any{"approved_by": "e2e"}, nil); err != nil {
		t.Fatal(err)
	}
	var done run
	waitFor(t, 2*time.Minute, "the run to finish", func() (bool, string) {
		if err := a.do(ctx, "GET", "/api/v1/runs/"+r.ID+"/wait?timeout=5s", nil, &done); err != nil {
			return false, err.Error()
		}
		return done.FinishedAt != nil, done.Status
	})
	if done.Status != "succeeded" {
		t.Fatalf("run %s: %s %s\n%s", r.ID, done.Status, done.Error, tail(logPath))
	}
	var out struct {
		Model    any     `json:"model"`
		Algo     string  `json:"algo"`
		R2       float64 `json:"r2"`
		LinearR2 float64 `json:"linear_r2"`
		ForestR2 float64 `json:"forest_r2"`
	}
	if err := json.Unmarshal(done.Output, &out); err != nil {
		t.Fatalf("output %s: %v", done.Output, err)
	}

	check := exec.Command("python3", "examples/check_house_prices.py", "--json")
	check.Dir = repoRoot()
	b, err := check.Output()
	if err != nil {
		t.Fatalf("check_house_prices.py: %v", err)
	}
	var want struct {
		LinearR2 float64 `json:"linear_r2"`
		ForestR2 float64 `json:"forest_r2"`
		Best     string  `json:"best"`
		R2       float64 `json:"r2"`
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if out.LinearR2 != want.LinearR2 || out.ForestR2 != want.ForestR2 || out.R2 != want.R2 || out.Algo != want.Best {
		t.Errorf("run output %s, want the figures computed outside Weft: %s", done.Output, strings.TrimSpace(string(b)))
	}
	if out.Model == nil {
		t.Errorf("run output %s names no registered model", done.Output)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "registry"))
	if len(entries) == 0 {
		t.Errorf("nothing was registered under %s", filepath.Join(dir, "registry"))
	}
	t.Logf("house-prices run %s succeeded after approval: best %s r2 %.6f (linear %.6f, forest %.6f); registered %v",
		r.ID, out.Algo, out.R2, out.LinearR2, out.ForestR2, out.Model)

	// The command-block pipeline runs in weft serve --run-commands: its
	// scripts' output is the steps' log.
	var cr run
	if err := a.do(ctx, "POST", "/api/v1/flows/ingest-train-register/runs", map[string]any{"input": map[string]any{}}, &cr); err != nil {
		t.Fatal(err)
	}
	var cdone run
	waitFor(t, 3*time.Minute, "the command pipeline to finish", func() (bool, string) {
		if err := a.do(ctx, "GET", "/api/v1/runs/"+cr.ID+"/wait?timeout=5s", nil, &cdone); err != nil {
			return false, err.Error()
		}
		return cdone.FinishedAt != nil, cdone.Status
	})
	if cdone.Status != "succeeded" {
		t.Fatalf("ingest-train-register run %s: %s %s\n%s", cr.ID, cdone.Status, cdone.Error, tail(logPath))
	}
	var clog struct {
		Lines []struct {
			Step    string `json:"step"`
			Message string `json:"message"`
		} `json:"lines"`
	}
	if err := a.do(ctx, "GET", "/api/v1/runs/"+cr.ID+"/logs?step=train", nil, &clog); err != nil {
		t.Fatal(err)
	}
	var trainLog []string
	for _, l := range clog.Lines {
		trainLog = append(trainLog, l.Message)
	}
	if got := strings.Join(trainLog, "\n"); !strings.Contains(got, "requirement python>=3.9") || !strings.Contains(got, "r2 0.") {
		t.Errorf("train step's log: got %q, want its requirement check and r2", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "registry", "house-prices-cmd", "v1", "metadata.json")); err != nil {
		t.Errorf("the command pipeline registered no model: %v", err)
	}

	stop()
	if s := tail(logPath); !strings.Contains(s, "stopping") {
		t.Errorf("run.sh did not stop cleanly:\n%s", s)
	}
}
