package dispatch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/flows"
	"github.com/weftlabs/weft/internal/dispatch"
	"github.com/weftlabs/weft/internal/store"
	"github.com/weftlabs/weft/server"
)

// bundle is a store, a running engine, the server (for callbacks) and a
// running dispatcher.
type bundle struct {
	st   *store.Store
	eng  *engine.Engine
	disp *dispatch.Dispatcher
	api  string // the server's URL
}

const secretValue = "tok-very-secret-123"

func setup(t *testing.T) *bundle {
	t.Helper()
	return setupWith(t, secretValue, nil)
}

// setupWith is setup with the value of ${secrets.SERVICE_TOKEN} and, when
// log is set, the engine, server and dispatcher logging to it.
func setupWith(t *testing.T, secret string, log *slog.Logger) *bundle {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "weft.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Config{}, st, log)
	engDone := make(chan struct{})
	go func() { defer close(engDone); eng.Run(ctx) }()

	// Auth on: the 202 callback carries only the lease, no token.
	srv := server.New(server.Config{AuthRequired: true}, server.Deps{Engine: eng, Catalog: st, Tokens: st, Logger: log})
	api := httptest.NewServer(srv)

	d := dispatch.New(dispatch.Config{
		PublicURL: api.URL, PollWait: 5 * time.Second, DrainTimeout: time.Second, Logs: st,
		LookupEnvFunc: func(k string) (string, bool) {
			if k == "WEFT_SECRET_SERVICE_TOKEN" {
				return secret, true
			}
			return "", false
		},
		Logger: log,
	}, eng, st)
	dDone := make(chan struct{})
	go func() { defer close(dDone); d.Run(ctx) }()
	t.Cleanup(func() {
		api.Close()
		cancel()
		<-dDone
		<-engDone
		st.Close()
	})
	return &bundle{st: st, eng: eng, disp: d, api: api.URL}
}

// flowFor stores an http block pointing at url and a one-step flow using it.
func (b *bundle) flowFor(t *testing.T, name, url string, extra string, blockExtra ...string) string {
	t.Helper()
	ctx := context.Background()
	raw := fmt.Sprintf(`{"name": %q, "dispatch": {"kind": "http", "url": %q,
	  "headers": {"Authorization": "Bearer ${secrets.SERVICE_TOKEN}"}%s},
	  "retry": {"max_attempts": 3, "initial_interval": "400ms"}%s}`, name, url, extra, strings.Join(blockExtra, ""))
	def, err := server.ParseBlock([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.st.PutBlock(ctx, def, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	b.disp.BlockStored(def)
	flow := fmt.Sprintf(`{"name": "f-%s", "blocks": [{"ref": "call", "block": %q, "input": {"x": "${flow.input.x}"}}],
	  "output": {"got": "${call.output}"}}`, name, name)
	bp, err := flows.Parse([]byte(flow), b.st)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.st.PutFlow(ctx, bp); err != nil {
		t.Fatal(err)
	}
	return bp.Name
}

// runToEnd starts a run and waits until it is finished.
func (b *bundle) runToEnd(t *testing.T, flow string) engine.Run {
	t.Helper()
	ctx := context.Background()
	run, _, err := b.eng.StartRun(ctx, engine.StartParams{Flow: flow, Input: json.RawMessage(`{"x": 21}`), Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !run.Status.Finished() {
		if time.Now().After(deadline) {
			t.Fatalf("run %s still %s after 20s", run.ID, run.Status)
		}
		run, err = b.eng.WaitRun(ctx, run.ID, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
	}
	run, err = b.eng.GetRun(ctx, run.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// service is a real HTTP service on loopback that records what it got.
type service struct {
	mu   sync.Mutex
	reqs []recorded
	srv  *httptest.Server
}

type recorded struct {
	path, auth, key string
	body            map[string]any
}

func newService(t *testing.T, h func(w http.ResponseWriter, r *http.Request, n int, body map[string]any)) *service {
	t.Helper()
	s := &service{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		json.Unmarshal(raw, &body)
		s.mu.Lock()
		s.reqs = append(s.reqs, recorded{path: r.URL.Path, auth: r.Header.Get("Authorization"),
			key: r.Header.Get("Idempotency-Key"), body: body})
		n := len(s.reqs)
		s.mu.Unlock()
		h(w, r, n, body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *service) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

func step(t *testing.T, run engine.Run) engine.Step {
	t.Helper()
	for _, st := range run.Steps {
		if st.Ref == "call" {
			return st
		}
	}
	t.Fatalf("run %s has no step call: %+v", run.ID, run.Steps)
	return engine.Step{}
}

func TestHTTPPushSucceeds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	svc := newService(t, func(w http.ResponseWriter, r *http.Request, n int, body map[string]any) {
		in, _ := body["input"].(map[string]any)
		fmt.Fprintf(w, `{"doubled": %v}`, in["x"].(float64)*2)
	})
	run := b.runToEnd(t, b.flowFor(t, "svc.ok", svc.srv.URL+"/ok", ""))
	if run.Status != engine.RunSucceeded {
		t.Fatalf("run %s: %v", run.Status, run.Error)
	}
	if string(run.Output) != `{"got":{"doubled":42}}` {
		t.Fatalf("output = %s, want {\"got\":{\"doubled\":42}}", run.Output)
	}
	reqs := svc.requests()
	if len(reqs) != 1 {
		t.Fatalf("service got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.auth != "Bearer "+secretValue {
		t.Errorf("Authorization = %q, want the resolved secret", r.auth)
	}
	if r.key == "" || r.key != r.body["task_id"] {
		t.Errorf("Idempotency-Key %q, task_id %v: want equal and set", r.key, r.body["task_id"])
	}
	for _, k := range []string{"run_id", "ref", "attempt", "input", "callback_url", "lease"} {
		if _, ok := r.body[k]; !ok {
			t.Errorf("envelope lacks %s: %v", k, r.body)
		}
	}
	if r.body["run_id"] != run.ID || r.body["ref"] != "call" {
		t.Errorf("envelope run_id/ref = %v/%v", r.body["run_id"], r.body["ref"])
	}
}

func TestHTTPPushInputBody(t *testing.T) {
	t.Parallel()
	b := setup(t)
	svc := newService(t, func(w http.ResponseWriter, r *http.Request, n int, body map[string]any) {
		fmt.Fprintf(w, `{"choices": [{"message": {"content": "x was %v"}}]}`, body["x"])
	})
	run := b.runToEnd(t, b.flowFor(t, "svc.chat", svc.srv.URL+"/v1/chat/completions", `, "body": "input"`))
	if run.Status != engine.RunSucceeded {
		t.Fatalf("run %s: %v", run.Status, run.Error)
	}
	reqs := svc.requests()
	if len(reqs) != 1 || reqs[0].body["x"] != float64(21) || reqs[0].body["task_id"] != nil {
		t.Fatalf("service got %+v, want the bare input {x: 21}", reqs)
	}
	if !strings.Contains(string(run.Output), "x was 21") {
		t.Fatalf("output = %s", run.Output)
	}
}

func TestHTTPPush4xxFailsWithoutRetry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	svc := newService(t, func(w http.ResponseWriter, r *http.Request, n int, body map[string]any) {
		w.WriteHeader(http.StatusBadRequest)
		// A careless service echoes the credentials it was sent.
		fmt.Fprintf(w, `{"error": "bad x", "you_sent": %q}`, r.Header.Get("Authorization"))
	})
	run := b.runToEnd(t, b.flowFor(t, "svc.bad", svc.srv.URL+"/bad", ""))
	if run.Status != engine.RunFailed {
		t.Fatalf("run %s, want failed", run.Status)
	}
	if n := len(svc.requests()); n != 1 {
		t.Fatalf("service got %d requests, want 1 (a 4xx is not retried)", n)
	}
	st := step(t, run)
	if st.Error == nil || !strings.Contains(st.Error.Message, "400") || !strings.Contains(st.Error.Message, "bad x") {
		t.Fatalf("step error = %+v, want the 400 and the body", st.Error)
	}
	evs, err := b.eng.Events(context.Background(), run.ID, 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := json.Marshal(struct {
		Run    engine.Run
		Events []engine.Event
	}{run, evs})
	if bytes.Contains(all, []byte(secretValue)) {
		t.Fatalf("the secret appears in the run or its events: %s", all)
	}
	if !bytes.Contains(all, []byte(dispatch.Redacted)) {
		t.Fatalf("the echoed secret was not replaced by %s: %s", dispatch.Redacted, st.Error.Message)
	}
	// The whole answer is in the step's log, redacted too.
	lines, err := b.st.Logs(context.Background(), engine.LogQuery{RunID: run.ID})
	if err != nil || len(lines) != 1 {
		t.Fatalf("step log = %+v (%v), want the answer in one line", lines, err)
	}
	if l := lines[0]; l.Level != engine.LogError || l.Attempt != 1 || !strings.Contains(l.Message, "400 Bad Request") ||
		!strings.Contains(l.Message, `"error": "bad x"`) || strings.Contains(l.Message, secretValue) || !strings.Contains(l.Message, dispatch.Redacted) {
		t.Fatalf("step log line = %+v, want the 400 answer's body, redacted, at level error", l)
	}
}

func TestHTTPPush5xxThenSucceeds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	svc := newService(t, func(w http.ResponseWriter, r *http.Request, n int, body map[string]any) {
		if n == 1 {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{"ok": true}`)
	})
	run := b.runToEnd(t, b.flowFor(t, "svc.flaky", svc.srv.URL+"/flaky", ""))
	if run.Status != engine.RunSucceeded {
		t.Fatalf("run %s: %v", run.Status, run.Error)
	}
	reqs := svc.requests()
	if len(reqs) != 2 {
		t.Fatalf("service got %d requests, want 2", len(reqs))
	}
	if a1, a2 := reqs[0].body["attempt"], reqs[1].body["attempt"]; a1 != float64(1) || a2 != float64(2) {
		t.Fatalf("attempts = %v, %v; want 1, 2", a1, a2)
	}
	if st := step(t, run); st.Attempt != 2 {
		t.Fatalf("step attempt = %d, want 2", st.Attempt)
	}
	lines, err := b.st.Logs(context.Background(), engine.LogQuery{RunID: run.ID})
	if err != nil || len(lines) != 1 || lines[0].Attempt != 1 || !strings.Contains(lines[0].Message, "warming up") {
		t.Fatalf("step log = %+v (%v), want attempt 1's 503 answer", lines, err)
	}
}

func TestHTTPPushAcceptedThenCallback(t *testing.T) {
	t.Parallel()
	b := setup(t)
	callback := make(chan int, 1)
	svc := newService(t, func(w http.ResponseWriter, r *http.Request, n int, body map[string]any) {
		w.WriteHeader(http.StatusAccepted)
		cb, _ := body["callback_url"].(string)
		lease, _ := body["lease"].(string)
		go func() {
			out, _ := json.Marshal(map[string]any{"lease": lease, "output": map[string]any{"later": true}})
			resp, err := http.Post(cb, "application/json", bytes.NewReader(out))
			if err != nil {
				callback <- 0
				return
			}
			resp.Body.Close()
			callback <- resp.StatusCode
		}()
	})
	run := b.runToEnd(t, b.flowFor(t, "svc.async", svc.srv.URL+"/async", ""))
	if run.Status != engine.RunSucceeded {
		t.Fatalf("run %s: %v", run.Status, run.Error)
	}
	if string(run.Output) != `{"got":{"later":true}}` {
		t.Fatalf("output = %s", run.Output)
	}
	select {
	case code := <-callback:
		if code != http.StatusNoContent {
			t.Fatalf("callback answered %d, want 204", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no callback answer")
	}
}

func TestHTTPPushTimesOut(t *testing.T) {
	t.Parallel()
	b := setup(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	svc := newService(t, func(w http.ResponseWriter, r *http.Request, n int, body map[string]any) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	run := b.runToEnd(t, b.flowFor(t, "svc.slow", svc.srv.URL+"/slow", `, "timeout": "150ms"`))
	if run.Status != engine.RunFailed {
		t.Fatalf("run %s, want failed", run.Status)
	}
	st := step(t, run)
	if st.Error == nil || !strings.Contains(st.Error.Message, "did not answer within 150ms") {
		t.Fatalf("step error = %+v", st.Error)
	}
	if n := len(svc.requests()); n != 3 {
		t.Fatalf("service got %d requests, want 3 (timeouts are retried up to max_attempts)", n)
	}
}

func TestHTTPPushHeartbeatsKeepTheLease(t *testing.T) {
	t.Parallel()
	b := setup(t)
	svc := newService(t, func(w http.ResponseWriter, r *http.Request, n int, body map[string]any) {
		// The work takes three leases' time; heartbeats must keep it.
		select {
		case <-time.After(1800 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		fmt.Fprint(w, `{"done": true}`)
	})
	name := b.flowFor(t, "svc.long", svc.srv.URL+"/long", "", `, "heartbeat_timeout": "600ms"`)
	run := b.runToEnd(t, name)
	if run.Status != engine.RunSucceeded {
		t.Fatalf("run %s: %v", run.Status, run.Error)
	}
	if n := len(svc.requests()); n != 1 || step(t, run).Attempt != 1 {
		t.Fatalf("service got %d requests, step attempt %d; want 1 and 1 (the lease was kept)", n, step(t, run).Attempt)
	}
}

func TestHTTPPushCancelledRunAbortsRequest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	started := make(chan struct{}, 1)
	aborted := make(chan struct{}, 1)
	svc := newService(t, func(w http.ResponseWriter, r *http.Request, n int, body map[string]any) {
		started <- struct{}{}
		select {
		case <-r.Context().Done():
			aborted <- struct{}{}
		case <-time.After(20 * time.Second):
		}
	})
	name := b.flowFor(t, "svc.cancel", svc.srv.URL+"/cancel", "", `, "heartbeat_timeout": "600ms"`)
	ctx := context.Background()
	run, _, err := b.eng.StartRun(ctx, engine.StartParams{Flow: name, Input: json.RawMessage(`{"x": 1}`)})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the service was never called")
	}
	if err := b.eng.Cancel(ctx, run.ID, "test"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-aborted:
	case <-time.After(5 * time.Second):
		t.Fatal("the request was not aborted within 5s of the cancel")
	}
	got, err := b.eng.WaitRun(ctx, run.ID, 10*time.Second)
	if err != nil || got.Status != engine.RunCancelled {
		t.Fatalf("run %s, %v; want cancelled", got.Status, err)
	}
}

// lockedBuffer is a log sink safe for concurrent writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Finding 3: a secret holding both " and < (and &, ', a space) is
// redacted from step output, step errors, events, the log and the run
// page, whichever way the service wrote it back; in a URL it travels
// percent-encoded and arrives intact.
func TestHTTPPushRedactsEveryEncoding(t *testing.T) {
	t.Parallel()
	const secret = `p"w<d>&'x y`
	logs := &lockedBuffer{}
	b := setupWith(t, secret, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	tok, tokSecret, err := server.NewToken("viewer", "page", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.st.CreateToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	var gotKey string
	var mu sync.Mutex
	svc := newService(t, func(w http.ResponseWriter, r *http.Request, n int, body map[string]any) {
		auth := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch r.URL.Path {
		case "/echo": // as Python's json.dumps writes it, and HTML-escaped inside JSON
			w.Header().Set("Content-Type", "application/json")
			py := strings.NewReplacer(`"`, `\"`, "<", "<", "'", "'").Replace(auth)
			fmt.Fprintf(w, `{"token": "%s", "page": "<b>%s</b>", "q": %q}`, py, html.EscapeString(auth), url.QueryEscape(auth))
		case "/fail":
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, "upstream refused %s (%s) for %s", auth, html.EscapeString(auth), r.URL.RequestURI())
		case "/key":
			mu.Lock()
			gotKey = r.URL.Query().Get("key")
			mu.Unlock()
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "bad key in %s", r.URL.RequestURI())
		}
	})
	echo := b.runToEnd(t, b.flowFor(t, "svc.echo", svc.srv.URL+"/echo", ""))
	if echo.Status != engine.RunSucceeded {
		t.Fatalf("echo run %s: %v", echo.Status, echo.Error)
	}
	failed := b.runToEnd(t, b.flowFor(t, "svc.fail", svc.srv.URL+"/fail", `, "timeout": "5s"`))
	keyed := b.runToEnd(t, b.flowFor(t, "svc.key", svc.srv.URL+"/key?key=${secrets.SERVICE_TOKEN}&v=1", ""))
	if failed.Status != engine.RunFailed || keyed.Status != engine.RunFailed {
		t.Fatalf("runs %s and %s, want failed", failed.Status, keyed.Status)
	}
	mu.Lock()
	if gotKey != secret {
		t.Errorf("the service read the key as %q, want the secret unchanged (URL-encoded on the way)", gotKey)
	}
	mu.Unlock()

	var seen strings.Builder
	for _, run := range []engine.Run{echo, failed, keyed} {
		evs, err := b.eng.Events(context.Background(), run.ID, 0, 500)
		if err != nil {
			t.Fatal(err)
		}
		j, _ := json.Marshal(struct {
			Run    engine.Run
			Events []engine.Event
		}{run, evs})
		seen.Write(j)
		req, _ := http.NewRequest("GET", b.api+"/runs/"+run.ID, nil)
		req.Header.Set("Authorization", "Bearer "+tokSecret)
		req.Header.Set("Accept", "text/html")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("run page %d: %.300s", resp.StatusCode, page)
		}
		seen.Write(page)
		// the API answer too
		req, _ = http.NewRequest("GET", b.api+"/api/v1/runs/"+run.ID, nil)
		req.Header.Set("Authorization", "Bearer "+tokSecret)
		if resp, err = http.DefaultClient.Do(req); err == nil {
			a, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			seen.Write(a)
		}
	}
	seen.WriteString(logs.String())
	all := seen.String()
	for _, enc := range []string{secret, `p\"w<d>`, `p\"w\u003cd`, `p&#34;w&lt;d&gt;`, `p&quot;w&lt;d`, url.QueryEscape(secret),
		strings.ReplaceAll(url.QueryEscape(secret), "+", "%20"), url.PathEscape(secret), `w<d>&'x y`} {
		if i := strings.Index(all, enc); i >= 0 {
			t.Errorf("the secret appears as %q: …%s…", enc, all[max(0, i-120):min(len(all), i+80)])
		}
	}
	if !strings.Contains(all, dispatch.Redacted) {
		t.Fatal("nothing was redacted: the test did not see the echoed secret at all")
	}
}

// Finding 5: a service that answers text Weft does not store (bytes that
// are not UTF-8, nesting past 256 levels) fails the step with where, and
// the run stays readable as JSON.
func TestHTTPPushRefusesBadText(t *testing.T) {
	t.Parallel()
	b := setup(t)
	svc := newService(t, func(w http.ResponseWriter, r *http.Request, n int, body map[string]any) {
		if r.URL.Path == "/utf8" {
			w.Write([]byte("{\"s\": \"a\xffb\"}"))
			return
		}
		w.Write([]byte(strings.Repeat("[", 300) + strings.Repeat("]", 300)))
	})
	for path, want := range map[string]string{"/utf8": "not valid UTF-8", "/deep": "nest more than 256 levels"} {
		run := b.runToEnd(t, b.flowFor(t, "svc"+strings.ReplaceAll(path, "/", "."), svc.srv.URL+path, ""))
		st := step(t, run)
		if run.Status != engine.RunFailed || st.Error == nil || !strings.Contains(st.Error.Message, want) {
			t.Fatalf("%s: run %s, step error %+v; want failed with %q", path, run.Status, st.Error, want)
		}
		if j, err := json.Marshal(run); err != nil || !json.Valid(j) {
			t.Fatalf("%s: the run is no longer JSON: %v", path, err)
		}
	}
}
