package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
		dir, err := os.MkdirTemp("", "weft-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "weft")
		cmd := exec.Command("go", "build", "-o", builtBin, "./cmd/weft")
		cmd.Dir = repoRoot()
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

func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is one `weft serve` process.
type proc struct {
	t    testing.TB
	bin  string
	args []string
	addr string
	log  string
	env  []string // more environment, NAME=value
	cmd  *exec.Cmd
	done chan struct{}
}

func startServe(t testing.TB, db, addr, logPath string, extra ...string) *proc {
	t.Helper()
	p := &proc{t: t, bin: weftBinary(t), addr: addr, log: logPath,
		args: append([]string{"serve", "--db", db, "--addr", addr}, extra...)}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *proc) url() string { return "http://" + p.addr }

func (p *proc) start() {
	p.t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	fmt.Fprintf(f, "\n==== start %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(p.args, " "))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(append(os.Environ(), "WEFT_LOG_LEVEL=warn"), p.env...)
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	if err := waitReady(p.url(), 30*time.Second, p.done); err != nil {
		p.t.Fatalf("server %s did not become ready: %v\n%s", p.addr, err, tail(p.log))
	}
}

// kill9 ends the process abruptly, as a power cut or OOM kill would.
func (p *proc) kill9() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.cmd = nil
}

// exited waits up to within for the process to end by itself.
func (p *proc) exited(within time.Duration) bool {
	if p.cmd == nil {
		return true
	}
	select {
	case <-p.done:
		p.cmd = nil
		return true
	case <-time.After(within):
		return false
	}
}

func (p *proc) stop() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func waitReady(base string, within time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("process exited")
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("timed out")
}

// api is a tiny JSON client for the HTTP API.
type api struct {
	base  string
	hc    *http.Client
	token string // sent as Authorization: Bearer when set
}

func newAPI(base string) *api {
	return &api{base: base, hc: &http.Client{Timeout: 90 * time.Second}}
}

type httpError struct {
	status int
	body   string
}

func (e *httpError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.status, e.body) }

func (a *api) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case []byte:
			rd = bytes.NewReader(b)
		default:
			buf, err := json.Marshal(b)
			if err != nil {
				return err
			}
			rd = bytes.NewReader(buf)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return &httpError{status: resp.StatusCode, body: string(data)}
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

type run struct {
	ID         string          `json:"id"`
	Status     string          `json:"status"`
	Output     json.RawMessage `json:"output"`
	Error      json.RawMessage `json:"error"`
	FinishedAt *time.Time      `json:"finished_at"`
	Steps      []struct {
		Path    string `json:"path"`
		Status  string `json:"status"`
		Attempt int    `json:"attempt"`
	} `json:"steps"`
}

type event struct {
	Kind string `json:"kind"`
	Path string `json:"path"`
	From string `json:"from"`
	To   string `json:"to"`
}

type task struct {
	ID      string          `json:"id"`
	Lease   string          `json:"lease"`
	RunID   string          `json:"run_id"`
	Path    string          `json:"path"`
	Ref     string          `json:"ref"`
	Block   string          `json:"block"`
	Attempt int             `json:"attempt"`
	Input   json.RawMessage `json:"input"`
}

// workerPool runs Go workers that speak the worker protocol over HTTP to a
// rotating set of servers, surviving their deaths.
type workerPool struct {
	bases    []string
	queues   []string
	handle   func(task) (any, error)
	accepted sync.Map // "runID/path" -> *int64: completions the server acknowledged (204)
	done     atomic.Int64
	wg       sync.WaitGroup
}

func (w *workerPool) start(ctx context.Context, n int) {
	for i := 0; i < n; i++ {
		w.wg.Add(1)
		go func(i int) {
			defer w.wg.Done()
			w.loop(ctx, i)
		}(i)
	}
}

func (w *workerPool) loop(ctx context.Context, i int) {
	id := fmt.Sprintf("go-worker-%d", i)
	for n := i; ctx.Err() == nil; n++ {
		a := newAPI(w.bases[n%len(w.bases)])
		var res struct {
			Tasks []task `json:"tasks"`
		}
		err := a.do(ctx, "POST", "/api/v1/tasks/poll", map[string]any{
			"worker_id": id, "queues": w.queues, "max": 8, "wait": "2s"}, &res)
		if err != nil {
			if ctx.Err() == nil {
				time.Sleep(20 * time.Millisecond) // server down: back off, then try another replica
			}
			continue
		}
		for _, tk := range res.Tasks {
			out, herr := w.handle(tk)
			var rerr error
			if herr != nil {
				rerr = a.do(ctx, "POST", "/api/v1/tasks/"+tk.ID+"/fail", map[string]any{
					"lease": tk.Lease, "error": map[string]any{"message": herr.Error()}, "retryable": true}, nil)
			} else {
				rerr = a.do(ctx, "POST", "/api/v1/tasks/"+tk.ID+"/complete", map[string]any{
					"lease": tk.Lease, "output": out}, nil)
			}
			if rerr == nil && herr == nil {
				key := tk.RunID + "/" + tk.Path
				c, _ := w.accepted.LoadOrStore(key, new(int64))
				atomic.AddInt64(c.(*int64), 1)
				w.done.Add(1)
			}
		}
	}
}

// pgDatabase gives the test its own PostgreSQL database.
func pgDatabase(t testing.TB) string { return pgscratch.ForTest(t, "weft_e2e") }

func waitFor(t testing.TB, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s; last state: %s", within, what, last)
}
