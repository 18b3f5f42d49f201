package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Tests of command blocks run by real `weft worker` processes against a
// real `weft serve`, with real child processes; what they check is what a
// user sees through the API (run status, error, output, log, artifacts)
// and, for stopped tasks, /proc.

func needPython(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3 is required under CI=true")
		}
		t.Skip("SKIPPING: no python3")
	}
}

// workerProc is one `weft worker` process.
type workerProc struct {
	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  string
}

func startWorker(t testing.TB, server, logPath string, args ...string) *workerProc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(weftBinary(t), append([]string{"worker", "--server", server}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &workerProc{t: t, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { w.err = cmd.Wait(); f.Close(); close(w.done) }()
	t.Cleanup(func() {
		select {
		case <-w.done:
		default:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-w.done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-w.done
			}
		}
	})
	return w
}

// deploy stores block and flow definitions.
func deploy(t *testing.T, a *api, blocks []string, flows []string) {
	t.Helper()
	for _, b := range blocks {
		if err := a.do(context.Background(), "PUT", "/api/v1/blocks", []byte(b), nil); err != nil {
			t.Fatalf("upload block %s: %v", b, err)
		}
	}
	for _, f := range flows {
		if err := a.do(context.Background(), "POST", "/api/v1/flows", []byte(f), nil); err != nil {
			t.Fatalf("upload flow %s: %v", f, err)
		}
	}
}

// oneStep is a flow named after block that runs it once with the flow's
// input as "args" and outputs its output.
func oneStep(block string) string {
	return fmt.Sprintf(`{"name": %q, "blocks": [{"ref": "s", "block": %q, "input": {"args": "${flow.input}"}}], "output": "${s.output}"}`, block, block)
}

func startRun(t *testing.T, a *api, flow string, input any) string {
	t.Helper()
	var r run
	if err := a.do(context.Background(), "POST", "/api/v1/flows/"+flow+"/runs", map[string]any{"input": input}, &r); err != nil {
		t.Fatalf("start %s: %v", flow, err)
	}
	return r.ID
}

// runView is a run as the API shows it, with its error message and the
// first step's attempt.
type runView struct {
	Status string          `json:"status"`
	Output json.RawMessage `json:"output"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
	Steps []struct {
		Path    string `json:"path"`
		Status  string `json:"status"`
		Attempt int    `json:"attempt"`
	} `json:"steps"`
}

func waitRun(t *testing.T, a *api, id string) runView {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		var r runView
		if err := a.do(context.Background(), "GET", "/api/v1/runs/"+id+"/wait?timeout=20s", nil, &r); err != nil {
			t.Fatalf("wait run %s: %v", id, err)
		}
		switch r.Status {
		case "succeeded", "failed", "cancelled", "timed_out":
			return r
		}
	}
	t.Fatalf("run %s did not finish", id)
	return runView{}
}

func runLog(t *testing.T, a *api, id string) []string {
	t.Helper()
	var out struct {
		Lines []struct {
			Message string `json:"message"`
		} `json:"lines"`
	}
	if err := a.do(context.Background(), "GET", "/api/v1/runs/"+id+"/logs", nil, &out); err != nil {
		t.Fatalf("logs of %s: %v", id, err)
	}
	var msgs []string
	for _, l := range out.Lines {
		msgs = append(msgs, l.Message)
	}
	return msgs
}

func errMsg(r runView) string {
	if r.Error == nil {
		return ""
	}
	return r.Error.Message
}

// waitFile waits for a file a task writes and returns its content.
func waitFile(t *testing.T, path string) string {
	t.Helper()
	var b []byte
	waitFor(t, 60*time.Second, "file "+path, func() (bool, string) {
		var err error
		b, err = os.ReadFile(path)
		return err == nil && strings.HasSuffix(string(b), "\n"), fmt.Sprint(err)
	})
	return strings.TrimSpace(string(b))
}

// alive reports whether pid is a process that has not ended (a zombie
// waiting for its parent counts as ended).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func pidsIn(t *testing.T, s string) []int {
	t.Helper()
	var out []int
	for _, f := range strings.Fields(s) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("pid %q: %v", f, err)
		}
		out = append(out, n)
	}
	return out
}

func waitGone(t *testing.T, pids []int) {
	t.Helper()
	waitFor(t, 30*time.Second, "the task's processes to end", func() (bool, string) {
		for _, p := range pids {
			if alive(p) {
				return false, fmt.Sprintf("pid %d is still running", p)
			}
		}
		return true, ""
	})
}

// The blocks of TestCommandBlocks.
var commandBlocks = []string{
	// Prints to stdout and stderr in turn, writes an output and an artifact.
	`{"name": "c.ok", "dispatch": {"kind": "command", "queue": "cmd", "interpreter": ["python3", "-u"], "env": {"GREETING": "hello"}, "script":
"import json, os, sys\nx = json.load(open(os.environ['WEFT_INPUT']))['args']['x']\nfor i in range(3):\n    print('out', i, flush=True)\n    print('err', i, file=sys.stderr, flush=True)\nopen(os.path.join(os.environ['WEFT_ARTIFACTS_OUT'], 'report.txt'), 'w').write('report %d' % x)\njson.dump({'y': x * 2, 'greeting': os.environ['GREETING'], 'step': os.environ['WEFT_STEP'], 'attempt': os.environ['WEFT_ATTEMPT'], 'run': os.environ['WEFT_RUN_ID']}, open(os.environ['WEFT_OUTPUT'], 'w'))\n"}}`,
	// Reads the artifact c.ok left, through WEFT_ARTIFACTS_IN.
	`{"name": "c.read", "dispatch": {"kind": "command", "queue": "cmd", "command": ["python3", "-c", "import json, os; d = os.environ['WEFT_ARTIFACTS_IN']; json.dump({'text': open(os.path.join(d, 'report.txt')).read()}, open(os.environ['WEFT_OUTPUT'], 'w'))"]}}`,
	`{"name": "c.exit3", "dispatch": {"kind": "command", "queue": "cmd", "command": ["sh", "-c", "echo failing; exit 3"], "fatal_exit_codes": [4]},
	  "retry": {"max_attempts": 2, "initial_interval": "100ms"}}`,
	`{"name": "c.exit4", "dispatch": {"kind": "command", "queue": "cmd", "command": ["sh", "-c", "exit 4"], "fatal_exit_codes": [4]},
	  "retry": {"max_attempts": 3, "initial_interval": "100ms"}}`,
	`{"name": "c.missing", "dispatch": {"kind": "command", "queue": "cmd", "command": ["no-such-program-weft", "--flag"]}}`,
	`{"name": "c.badjson", "dispatch": {"kind": "command", "queue": "cmd", "interpreter": ["sh"], "script": "printf '{\n  \"a\": 1,\n  \"b\": }' > \"$WEFT_OUTPUT\""}}`,
	`{"name": "c.big", "dispatch": {"kind": "command", "queue": "cmd", "command": ["python3", "-c", "import json, os; json.dump({'blob': 'x' * 5000}, open(os.environ['WEFT_OUTPUT'], 'w'))"]}}`,
	// Starts a grandchild, writes both pids, then waits: timed out after 5s.
	`{"name": "c.slow", "dispatch": {"kind": "command", "queue": "cmd", "interpreter": ["bash", "-eu"], "script":
"re='\"dir\": *\"([^\"]*)\"'\n[[ $(cat \"$WEFT_INPUT\") =~ $re ]]\ndir=${BASH_REMATCH[1]}\nsleep 1000 &\necho \"$$ $!\" > \"$dir/pids.tmp\"\nmv \"$dir/pids.tmp\" \"$dir/pids\"\nwait\n"},
	  "timeout": "5s"}`,
	`{"name": "c.hang", "dispatch": {"kind": "command", "queue": "cmd", "interpreter": ["bash", "-eu"], "script":
"re='\"dir\": *\"([^\"]*)\"'\n[[ $(cat \"$WEFT_INPUT\") =~ $re ]]\ndir=${BASH_REMATCH[1]}\ntrap '' TERM\nsleep 1000 &\necho \"$$ $!\" > \"$dir/pids.tmp\"\nmv \"$dir/pids.tmp\" \"$dir/pids\"\nwhile true; do sleep 0.1; done\n"},
	  "heartbeat_timeout": "3s"}`,
}

func TestCommandBlocks(t *testing.T) {
	t.Parallel()
	needPython(t)
	dir := t.TempDir()
	srv := startServe(t, filepath.Join(dir, "weft.db"), freeAddr(t), filepath.Join(dir, "server.log"))
	a := newAPI(srv.url())
	var flows []string
	for _, b := range []string{"c.ok", "c.exit3", "c.exit4", "c.missing", "c.badjson", "c.big", "c.slow", "c.hang"} {
		flows = append(flows, oneStep(b))
	}
	flows = append(flows, `{"name": "c.pass", "blocks": [
  {"ref": "make", "block": "c.ok", "input": {"args": {"x": 5}}},
  {"ref": "read", "block": "c.read", "input": {"report": "${make.artifacts['report.txt']}"}}], "output": "${read.output}"}`)
	deploy(t, a, commandBlocks, flows)
	startWorker(t, srv.url(), filepath.Join(dir, "worker.log"), "--queues", "cmd", "--slots", "4", "--max-output", "1000", "--kill-grace", "1s")

	t.Run("OutputLogAndArtifact", func(t *testing.T) {
		t.Parallel()
		id := startRun(t, a, "c.ok", map[string]any{"x": 21})
		r := waitRun(t, a, id)
		if r.Status != "succeeded" {
			t.Fatalf("run %s: got %s (%s), want succeeded", id, r.Status, errMsg(r))
		}
		var out map[string]any
		_ = json.Unmarshal(r.Output, &out)
		if out["y"] != 42.0 || out["greeting"] != "hello" || out["step"] != "s" || out["attempt"] != "1" || out["run"] != id {
			t.Errorf("output: got %s", r.Output)
		}
		want := []string{"out 0", "err 0", "out 1", "err 1", "out 2", "err 2"}
		if got := runLog(t, a, id); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("log: got %q, want %q", got, want)
		}
		var arts struct {
			Artifacts []struct {
				Name string `json:"name"`
				Size int64  `json:"size"`
			} `json:"artifacts"`
		}
		if err := a.do(context.Background(), "GET", "/api/v1/runs/"+id+"/artifacts", nil, &arts); err != nil {
			t.Fatal(err)
		}
		if len(arts.Artifacts) != 1 || arts.Artifacts[0].Name != "report.txt" || arts.Artifacts[0].Size != int64(len("report 21")) {
			t.Errorf("artifacts: got %+v, want report.txt of 9 bytes", arts.Artifacts)
		}
	})
	t.Run("InputArtifact", func(t *testing.T) {
		t.Parallel()
		r := waitRun(t, a, startRun(t, a, "c.pass", map[string]any{}))
		if r.Status != "succeeded" || !strings.Contains(string(r.Output), `"report 5"`) {
			t.Fatalf("got %s %s (%s), want the artifact's text in the output", r.Status, r.Output, errMsg(r))
		}
	})
	t.Run("RetryableExit", func(t *testing.T) {
		t.Parallel()
		id := startRun(t, a, "c.exit3", map[string]any{})
		r := waitRun(t, a, id)
		if r.Status != "failed" || r.Steps[0].Attempt != 2 || !strings.Contains(errMsg(r), "exit status 3") || !strings.Contains(errMsg(r), "failing") {
			t.Fatalf("got %s at attempt %d (%s), want failed after 2 attempts with exit status 3 and the last output", r.Status, r.Steps[0].Attempt, errMsg(r))
		}
	})
	t.Run("FatalExit", func(t *testing.T) {
		t.Parallel()
		r := waitRun(t, a, startRun(t, a, "c.exit4", map[string]any{}))
		if r.Status != "failed" || r.Steps[0].Attempt != 1 || !strings.Contains(errMsg(r), "exit status 4") {
			t.Fatalf("got %s at attempt %d (%s), want failed at once with exit status 4", r.Status, r.Steps[0].Attempt, errMsg(r))
		}
	})
	t.Run("CommandNotFound", func(t *testing.T) {
		t.Parallel()
		r := waitRun(t, a, startRun(t, a, "c.missing", map[string]any{}))
		if r.Status != "failed" || !strings.Contains(errMsg(r), "command not found: no-such-program-weft") {
			t.Fatalf("got %s (%s), want failed with command not found", r.Status, errMsg(r))
		}
		// The worker goes on.
		if r := waitRun(t, a, startRun(t, a, "c.ok", map[string]any{"x": 1})); r.Status != "succeeded" {
			t.Fatalf("the next task: got %s (%s)", r.Status, errMsg(r))
		}
	})
	t.Run("InvalidOutput", func(t *testing.T) {
		t.Parallel()
		r := waitRun(t, a, startRun(t, a, "c.badjson", map[string]any{}))
		msg := errMsg(r)
		if r.Status != "failed" || !strings.Contains(msg, "WEFT_OUTPUT") || !strings.Contains(msg, "output.json") || !strings.Contains(msg, "line 3, column 8") ||
			!strings.Contains(msg, "invalid character '}'") {
			t.Fatalf("got %s (%s), want failed naming the file, line 3, column 8 and the JSON error", r.Status, msg)
		}
	})
	t.Run("OutputTooLarge", func(t *testing.T) {
		t.Parallel()
		r := waitRun(t, a, startRun(t, a, "c.big", map[string]any{}))
		if r.Status != "failed" || !strings.Contains(errMsg(r), "WEFT_ARTIFACTS_OUT") {
			t.Fatalf("got %s (%s), want failed telling to leave files in WEFT_ARTIFACTS_OUT", r.Status, errMsg(r))
		}
	})
	t.Run("Timeout", func(t *testing.T) {
		t.Parallel()
		tmp := t.TempDir()
		id := startRun(t, a, "c.slow", map[string]any{"dir": tmp})
		pids := pidsIn(t, waitFile(t, filepath.Join(tmp, "pids")))
		r := waitRun(t, a, id)
		if r.Status != "timed_out" && r.Status != "failed" {
			t.Fatalf("got %s (%s), want timed out", r.Status, errMsg(r))
		}
		if !strings.Contains(errMsg(r), "timed out") {
			t.Errorf("error: got %q, want it to say timed out", errMsg(r))
		}
		waitGone(t, pids)
	})
	t.Run("CancelKillsGroup", func(t *testing.T) {
		t.Parallel()
		tmp := t.TempDir()
		id := startRun(t, a, "c.hang", map[string]any{"dir": tmp})
		pids := pidsIn(t, waitFile(t, filepath.Join(tmp, "pids")))
		if err := a.do(context.Background(), "POST", "/api/v1/runs/"+id+"/cancel", map[string]any{}, nil); err != nil {
			t.Fatal(err)
		}
		if r := waitRun(t, a, id); r.Status != "cancelled" {
			t.Fatalf("got %s, want cancelled", r.Status)
		}
		// The script ignores SIGTERM: SIGKILL after the grace ends it.
		waitGone(t, pids)
		waitFor(t, 30*time.Second, "the stop in the step's log", func() (bool, string) {
			logs := strings.Join(runLog(t, a, id), "\n")
			return strings.Contains(logs, "stopped: the run was cancelled"), logs
		})
	})
}

// holdBlock waits for a release file in its input's dir, having written
// its pid; heartbeat_timeout 2s makes a lost worker's lease lapse soon.
const holdBlock = `{"name": "c.hold", "dispatch": {"kind": "command", "queue": "hold", "interpreter": ["bash", "-eu"], "script":
"re='\"dir\": *\"([^\"]*)\"'\n[[ $(cat \"$WEFT_INPUT\") =~ $re ]]\ndir=${BASH_REMATCH[1]}\necho \"$$\" > \"$dir/pid.$WEFT_ATTEMPT.tmp\"\nmv \"$dir/pid.$WEFT_ATTEMPT.tmp\" \"$dir/pid.$WEFT_ATTEMPT\"\nwhile [ ! -e \"$dir/release\" ]; do sleep 0.05; done\necho \"{\\\"attempt\\\": $WEFT_ATTEMPT}\" > \"$WEFT_OUTPUT\"\n"},
  "heartbeat_timeout": "2s", "retry": {"max_attempts": 3, "initial_interval": "100ms"}}`

// A worker SIGTERM'd while a task runs stops polling, lets the task
// finish, reports it and exits 0.
func TestWorkerSIGTERMFinishesTask(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startServe(t, filepath.Join(dir, "weft.db"), freeAddr(t), filepath.Join(dir, "server.log"))
	a := newAPI(srv.url())
	deploy(t, a, []string{holdBlock}, []string{oneStep("c.hold")})
	w := startWorker(t, srv.url(), filepath.Join(dir, "worker.log"), "--queues", "hold", "--slots", "1")
	id := startRun(t, a, "c.hold", map[string]any{"dir": dir})
	pid := pidsIn(t, waitFile(t, filepath.Join(dir, "pid.1")))[0]
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !alive(pid) {
		t.Fatalf("the task's process %d ended at the worker's SIGTERM", pid)
	}
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the worker did not exit after its task finished\n%s", tail(w.log))
	}
	if w.err != nil {
		t.Errorf("worker exit: %v, want 0\n%s", w.err, tail(w.log))
	}
	r := waitRun(t, a, id)
	if r.Status != "succeeded" || r.Steps[0].Attempt != 1 {
		t.Fatalf("got %s at attempt %d (%s), want succeeded at attempt 1", r.Status, r.Steps[0].Attempt, errMsg(r))
	}
}

// A worker killed with SIGKILL takes its child with it; the task's lease
// lapses and another worker runs it as the next attempt.
func TestWorkerKill9Redelivered(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startServe(t, filepath.Join(dir, "weft.db"), freeAddr(t), filepath.Join(dir, "server.log"))
	a := newAPI(srv.url())
	deploy(t, a, []string{holdBlock}, []string{oneStep("c.hold")})
	w := startWorker(t, srv.url(), filepath.Join(dir, "worker1.log"), "--queues", "hold", "--slots", "1")
	id := startRun(t, a, "c.hold", map[string]any{"dir": dir})
	pid := pidsIn(t, waitFile(t, filepath.Join(dir, "pid.1")))[0]
	if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-w.done
	waitGone(t, []int{pid})
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	startWorker(t, srv.url(), filepath.Join(dir, "worker2.log"), "--queues", "hold", "--slots", "1")
	r := waitRun(t, a, id)
	if r.Status != "succeeded" || r.Steps[0].Attempt != 2 || !strings.Contains(string(r.Output), `"attempt": 2`) && !strings.Contains(string(r.Output), `"attempt":2`) {
		t.Fatalf("got %s at attempt %d, output %s (%s), want succeeded by attempt 2", r.Status, r.Steps[0].Attempt, r.Output, errMsg(r))
	}
}

// resourceBlock: each task marks itself running in its input's dir, waits
// until want tasks run (or a while), records the most it saw running at
// once and its CUDA_VISIBLE_DEVICES, then ends.
func resourceBlock(name, queue, resources string) string {
	return `{"name": "` + name + `", "dispatch": {"kind": "command", "queue": "` + queue + `", "interpreter": ["python3", "-u"], "script":
"import glob, json, os, time\nargs = json.load(open(os.environ['WEFT_INPUT']))['args']\nd, want = args['dir'], args['want']\nme = os.path.join(d, 'running.' + os.environ['WEFT_TASK_ID'])\nopen(me, 'w').close()\nmost = 0\nend = time.time() + 60\nseen_want = None\nwhile time.time() < end:\n    n = len(glob.glob(os.path.join(d, 'running.*')))\n    most = max(most, n)\n    if n >= want and seen_want is None:\n        seen_want = time.time()\n    if seen_want is not None and time.time() - seen_want > 1.0:\n        break\n    time.sleep(0.05)\nos.remove(me)\njson.dump({'most': most, 'cuda': os.environ.get('CUDA_VISIBLE_DEVICES')}, open(os.environ['WEFT_OUTPUT'], 'w'))\n"},
  "resources": ` + resources + `}`
}

// A worker offering gpu:1 given three gpu:1 tasks runs them one at a
// time, each on GPU 0; a worker offering cpu:4 runs two cpu:2 tasks
// together and never a third.
func TestWorkerResources(t *testing.T) {
	t.Parallel()
	needPython(t)
	dir := t.TempDir()
	srv := startServe(t, filepath.Join(dir, "weft.db"), freeAddr(t), filepath.Join(dir, "server.log"))
	a := newAPI(srv.url())
	deploy(t, a, []string{resourceBlock("c.gpu", "gpu", `{"gpu": 1}`), resourceBlock("c.cpu", "cpu", `{"cpu": 2}`)},
		[]string{oneStep("c.gpu"), oneStep("c.cpu")})
	gdir, cdir := filepath.Join(dir, "g"), filepath.Join(dir, "c")
	for _, d := range []string{gdir, cdir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var gpuRuns, cpuRuns []string
	for i := 0; i < 3; i++ {
		gpuRuns = append(gpuRuns, startRun(t, a, "c.gpu", map[string]any{"dir": gdir, "want": 1}))
		cpuRuns = append(cpuRuns, startRun(t, a, "c.cpu", map[string]any{"dir": cdir, "want": 2}))
	}
	startWorker(t, srv.url(), filepath.Join(dir, "gpu-worker.log"), "--queues", "gpu", "--slots", "3", "--gpu", "1", "--cpu", "4", "--memory-gb", "8")
	startWorker(t, srv.url(), filepath.Join(dir, "cpu-worker.log"), "--queues", "cpu", "--slots", "3", "--gpu", "0", "--cpu", "4", "--memory-gb", "8")
	check := func(ids []string, wantMost []float64, wantCUDA any) {
		t.Helper()
		var mosts []float64
		for _, id := range ids {
			r := waitRun(t, a, id)
			var out struct {
				Most float64 `json:"most"`
				CUDA any     `json:"cuda"`
			}
			_ = json.Unmarshal(r.Output, &out)
			if r.Status != "succeeded" {
				t.Fatalf("run %s: got %s (%s)", id, r.Status, errMsg(r))
			}
			if out.CUDA != wantCUDA {
				t.Errorf("run %s: CUDA_VISIBLE_DEVICES %v, want %v", id, out.CUDA, wantCUDA)
			}
			mosts = append(mosts, out.Most)
		}
		most := 0.0
		for _, m := range mosts {
			most = max(most, m)
		}
		if !containsFloat(wantMost, most) {
			t.Errorf("most tasks running at once: got %v (per task %v), want %v", most, mosts, wantMost)
		}
	}
	check(gpuRuns, []float64{1}, "0")
	check(cpuRuns, []float64{2}, nil)
}

func containsFloat(xs []float64, x float64) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// A worker that loses the server keeps its task's process running and
// reports the task when the server is back, within the lease.
func TestWorkerOutlivesServerRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startServe(t, filepath.Join(dir, "weft.db"), freeAddr(t), filepath.Join(dir, "server.log"))
	a := newAPI(srv.url())
	block := strings.Replace(holdBlock, `"heartbeat_timeout": "2s"`, `"heartbeat_timeout": "5m"`, 1)
	deploy(t, a, []string{block}, []string{oneStep("c.hold")})
	w := startWorker(t, srv.url(), filepath.Join(dir, "worker.log"), "--queues", "hold", "--slots", "1")
	id := startRun(t, a, "c.hold", map[string]any{"dir": dir})
	pid := pidsIn(t, waitFile(t, filepath.Join(dir, "pid.1")))[0]
	srv.stop()
	if !alive(pid) {
		t.Fatalf("the task's process %d ended when the server stopped", pid)
	}
	// The task ends while the server is away; its report waits.
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitGone(t, []int{pid})
	select {
	case <-w.done:
		t.Fatalf("the worker exited while the server was away\n%s", tail(w.log))
	default:
	}
	srv.start()
	r := waitRun(t, a, id)
	if r.Status != "succeeded" || r.Steps[0].Attempt != 1 {
		t.Fatalf("got %s at attempt %d (%s), want succeeded at attempt 1, reported once the server was back\n%s",
			r.Status, r.Steps[0].Attempt, errMsg(r), tail(w.log))
	}
}

func createToken(t *testing.T, db, role string) string {
	t.Helper()
	out, err := exec.Command(weftBinary(t), "token", "create", "--role", role, "--db", db).Output()
	if err != nil {
		t.Fatalf("weft token create --role %s: %v", role, err)
	}
	return strings.TrimSpace(string(out))
}

// With tokens required, weft serve --run-commands runs command blocks with
// the secret it makes at start, and weft worker with a worker token (which
// may read the block's definition and the input artifacts).
func TestCommandsWithAuth(t *testing.T) {
	t.Parallel()
	blocks := []string{
		`{"name": "c.make", "dispatch": {"kind": "command", "queue": "auth", "interpreter": ["sh", "-eu"], "script": "echo made; printf 'data' > \"$WEFT_ARTIFACTS_OUT/d.txt\""}}`,
		`{"name": "c.use", "dispatch": {"kind": "command", "queue": "auth", "interpreter": ["sh", "-eu"], "script": "printf '{\"got\": \"%s\"}' \"$(cat \"$WEFT_ARTIFACTS_IN/d.txt\")\" > \"$WEFT_OUTPUT\""}}`,
	}
	flow := `{"name": "c.auth", "blocks": [{"ref": "m", "block": "c.make"}, {"ref": "u", "block": "c.use", "input": {"d": "${m.artifacts['d.txt']}"}}], "output": "${u.output}"}`
	for _, mode := range []string{"run-commands", "worker"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			db := filepath.Join(dir, "weft.db")
			admin := createToken(t, db, "admin")
			extra := []string{"--auth", "on"}
			if mode == "run-commands" {
				extra = append(extra, "--run-commands")
			}
			srv := startServe(t, db, freeAddr(t), filepath.Join(dir, "server.log"), extra...)
			a := newAPI(srv.url())
			a.token = admin
			deploy(t, a, blocks, []string{flow})
			if mode == "worker" {
				startWorker(t, srv.url(), filepath.Join(dir, "worker.log"), "--queues", "auth", "--token", createToken(t, db, "worker"))
			}
			id := startRun(t, a, "c.auth", map[string]any{})
			r := waitRun(t, a, id)
			if r.Status != "succeeded" || !strings.Contains(string(r.Output), `"got": "data"`) && !strings.Contains(string(r.Output), `"got":"data"`) {
				t.Fatalf("got %s %s (%s), want succeeded with the artifact's content\n%s", r.Status, r.Output, errMsg(r), tail(filepath.Join(dir, "server.log")))
			}
			if got := runLog(t, a, id); len(got) == 0 || got[0] != "made" {
				t.Errorf("log: got %q, want the script's line", got)
			}
		})
	}
}

// A worker away from the server past its task's lease: the task is
// redelivered as the next attempt, and the first attempt's process is
// stopped once the worker learns its lease is gone (or its late report is
// refused); the run ends once, with the second attempt's output.
func TestWorkerPastLease(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startServe(t, filepath.Join(dir, "weft.db"), freeAddr(t), filepath.Join(dir, "server.log"))
	a := newAPI(srv.url())
	block := strings.Replace(holdBlock, `[ ! -e \"$dir/release\" ]`, `[ ! -e \"$dir/release.$WEFT_ATTEMPT\" ]`, 1)
	if block == holdBlock {
		t.Fatal("the hold block's release file did not change")
	}
	deploy(t, a, []string{block}, []string{oneStep("c.hold")})
	w := startWorker(t, srv.url(), filepath.Join(dir, "worker.log"), "--queues", "hold", "--slots", "1")
	id := startRun(t, a, "c.hold", map[string]any{"dir": dir})
	pid1 := pidsIn(t, waitFile(t, filepath.Join(dir, "pid.1")))[0]
	srv.stop()
	time.Sleep(3 * time.Second) // away for longer than the 2s lease
	if !alive(pid1) {
		t.Fatalf("the task's process %d ended while the server was away", pid1)
	}
	srv.start()
	pid2 := pidsIn(t, waitFile(t, filepath.Join(dir, "pid.2")))[0]
	waitGone(t, []int{pid1})
	if err := os.WriteFile(filepath.Join(dir, "release.2"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := waitRun(t, a, id)
	if r.Status != "succeeded" || r.Steps[0].Attempt != 2 || !strings.Contains(string(r.Output), "2") {
		t.Fatalf("got %s at attempt %d, output %s (%s), want succeeded by attempt 2", r.Status, r.Steps[0].Attempt, r.Output, errMsg(r))
	}
	waitGone(t, []int{pid2})
	if l := tail(w.log); !strings.Contains(l, "lease lost") && !strings.Contains(l, "report refused") {
		t.Errorf("worker log does not say the first attempt's lease was gone:\n%s", l)
	}
	select {
	case <-w.done:
		t.Fatalf("the worker exited\n%s", tail(w.log))
	default:
	}
}
