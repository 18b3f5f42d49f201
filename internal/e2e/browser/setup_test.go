package browser

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/flows"
	"github.com/weftlabs/weft/internal/artifact"
	"github.com/weftlabs/weft/internal/auth"
	"github.com/weftlabs/weft/internal/store"
	"github.com/weftlabs/weft/server"
)

// Blocks and flows the tests use: one worker queue, a flow that waits for
// approval, and a flow whose "train" step fails on its first attempt when
// the input asks for it.
var testBlocks = []string{
	`{"name": "e2e.work", "title": "Do some work", "dispatch": {"kind": "worker"},
	  "input_schema": {"type": "object"}, "retry": {"max_attempts": 1}}`,
	`{"name": "e2e.flaky", "title": "Fails once when asked", "dispatch": {"kind": "worker", "queue": "e2e.work"},
	  "retry": {"max_attempts": 1}}`,
}

const pipelineFlow = `{
  "name": "e2e-pipeline",
  "title": "End-to-end pipeline",
  "description": "Loads, trains two models in parallel, waits for approval, publishes.",
  "input_schema": {"type": "object", "required": ["dataset"], "properties": {
    "dataset": {"type": "string", "description": "where the rows are", "default": "rows.csv"},
    "rows": {"type": "integer", "default": 10},
    "verbose": {"type": "boolean"}
  }},
  "blocks": [
    {"ref": "load", "block": "e2e.work", "input": {"url": "${flow.input.dataset}"}},
    {"ref": "train", "type": "fork", "branches": [
      [{"ref": "linear", "block": "e2e.work", "input": {"algo": "linear"}}],
      [{"ref": "forest", "block": "e2e.work", "input": {"algo": "forest"}}]
    ]},
    {"ref": "approve", "type": "wait", "signal": "approval", "timeout": "1h"},
    {"ref": "gate", "type": "decision", "expr": "approve.output.approved ? 'yes' : 'no'", "cases": {
      "yes": [{"ref": "publish", "block": "e2e.work", "input": {"what": "${load.output}"}}],
      "no": [{"ref": "drop", "block": "e2e.work"}]
    }}
  ],
  "output": {"published": "${publish.output}"}
}`

const flakyFlow = `{
  "name": "e2e-flaky",
  "input_schema": {"type": "object", "properties": {"flaky": {"type": "boolean"}, "n": {"type": "integer"}}},
  "blocks": [
    {"ref": "prep", "block": "e2e.work", "input": {"n": "${flow.input.n ?? 0}"}},
    {"ref": "train", "block": "e2e.flaky", "input": {"flaky": "${flow.input.flaky ?? false}"}},
    {"ref": "report", "block": "e2e.work", "input": {"model": "${train.output}"}}
  ]
}`

type bundle struct {
	url    string
	blobs  *artifact.Folder
	st     *store.Store
	eng    *engine.Engine
	worker *worker
	tokens map[auth.Role]string
}

type options struct {
	auth bool
	// wrap, when set, wraps the server's handler (to watch requests).
	wrap func(http.Handler) http.Handler
}

func setup(t *testing.T, o options) *bundle {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "weft.db"), quietLogger())
	if err != nil {
		cancel()
		t.Fatalf("open store: %v", err)
	}
	b := &bundle{st: st, tokens: map[auth.Role]string{}}
	eng := engine.New(engine.Config{}, st, quietLogger())
	b.eng = eng
	done := make(chan struct{})
	go func() { defer close(done); _ = eng.Run(ctx) }()
	b.worker = startWorker(ctx, eng)
	t.Cleanup(func() {
		cancel()
		<-done
		b.worker.wg.Wait()
		st.Close()
	})
	for _, raw := range testBlocks {
		def, err := server.ParseBlock([]byte(raw))
		if err != nil {
			t.Fatalf("block: %v", err)
		}
		if _, _, err := st.PutBlock(ctx, def, []byte(raw)); err != nil {
			t.Fatalf("put block: %v", err)
		}
	}
	if o.auth {
		for _, r := range []auth.Role{auth.Viewer, auth.Operator, auth.Admin} {
			tok, secret, err := server.NewToken(string(r), "e2e-"+string(r), "")
			if err != nil {
				t.Fatal(err)
			}
			if err := st.CreateToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
			b.tokens[r] = secret
		}
	}
	if b.blobs, err = artifact.OpenFolder(filepath.Join(t.TempDir(), "artifacts")); err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Config{AuthRequired: o.auth, AuthReason: "test"},
		server.Deps{Engine: eng, Catalog: st, Tokens: st, Logger: quietLogger(), Logs: st,
			Artifacts: server.ArtifactDeps{Meta: st, Blobs: b.blobs}})
	var h http.Handler = srv
	if o.wrap != nil {
		h = o.wrap(srv)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	b.url = hs.URL
	return b
}

// putFlow stores a blueprint directly (the UI upload is tested on its own).
func (b *bundle) putFlow(t *testing.T, raw string) {
	t.Helper()
	bp, err := flows.Parse([]byte(raw), b.st)
	if err != nil {
		t.Fatalf("parse flow: %v", err)
	}
	if _, _, err := b.st.PutFlow(context.Background(), bp); err != nil {
		t.Fatalf("put flow: %v", err)
	}
}

// waitRun waits until the run satisfies ok.
func (b *bundle) waitRun(t *testing.T, id string, ok func(engine.Run) bool) engine.Run {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := b.eng.WaitRun(context.Background(), id, 2*time.Second)
		if err != nil {
			t.Fatalf("wait run %s: %v", id, err)
		}
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s is %s; gave up waiting", id, r.Status)
		}
		if r.Status.Finished() {
			t.Fatalf("run %s finished as %s (%v) before the condition held", id, r.Status, r.Error)
		}
		// a run waiting for a signal answers WaitRun at once: wait for
		// the worker to do something, or a short while
		select {
		case <-b.worker.activity:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// worker completes e2e.work tasks through the engine: the output echoes
// the input; a "train" step whose input says flaky fails its run's first
// attempt.
type worker struct {
	wg       sync.WaitGroup
	mu       sync.Mutex
	failed   map[string]bool // run ids whose flaky step already failed once
	activity chan struct{}
}

func startWorker(ctx context.Context, eng *engine.Engine) *worker {
	w := &worker{failed: map[string]bool{}, activity: make(chan struct{}, 1)}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for ctx.Err() == nil {
			tasks, err := eng.Poll(ctx, engine.PollParams{WorkerID: "e2e-worker", Queues: []string{"e2e.work"}, Max: 8, Wait: 2 * time.Second})
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, context.Canceled) {
					return
				}
				continue
			}
			for _, task := range tasks {
				w.handle(ctx, eng, task)
			}
			select {
			case w.activity <- struct{}{}:
			default:
			}
		}
	}()
	return w
}

func (w *worker) handle(ctx context.Context, eng *engine.Engine, task engine.Task) {
	var in map[string]any
	_ = json.Unmarshal(task.Input, &in)
	if task.Block == "e2e.flaky" && in["flaky"] == true {
		w.mu.Lock()
		first := !w.failed[task.RunID]
		w.failed[task.RunID] = true
		w.mu.Unlock()
		if first {
			_ = eng.Fail(ctx, task.ID, task.Lease, engine.TaskError{Message: "GPU fell off the bus (first attempt)", Type: "hardware"})
			return
		}
	}
	out, _ := json.Marshal(map[string]any{"ok": true, "ref": task.Ref, "input": in, "score": 0.91})
	_ = eng.Complete(ctx, task.ID, task.Lease, out)
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// screenshotDir is where screenshots go: $WEFT_SCREENSHOTS, or
// test-artifacts/screenshots at the repository root.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("WEFT_SCREENSHOTS")
	if dir == "" {
		wd, _ := os.Getwd()
		root := wd
		for root != "/" {
			if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
				break
			}
			root = filepath.Dir(root)
		}
		dir = filepath.Join(root, "test-artifacts", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// client is a cookie-keeping HTTP client that does not follow redirects.
func client() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Accept", "text/html")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func postForm(t *testing.T, c *http.Client, u string, form string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}
