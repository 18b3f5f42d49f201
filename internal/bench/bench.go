// Package bench measures a running weft server end to end: workers that
// speak the worker protocol over HTTP in this process, and clients that
// start and wait for runs. `weft bench` (cmd/weft) wires the real store,
// engine and HTTP server on loopback and hands them here as a Target.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Config selects what to measure.
type Config struct {
	// Workloads to run, 1..6 (1..5 when empty); 0 first measures the
	// database's floor (one committed single-row update).
	Workloads []int
	// Scale divides every workload's size (1 = the sizes of the issue);
	// tests use larger values to stay quick.
	Scale int
	// IdleFor is workload 4's idle period (default 60s).
	IdleFor time.Duration
	Out     io.Writer
}

// Target is the server measured, with what the workloads read besides
// its API.
type Target struct {
	// URL is the server's base URL (http://127.0.0.1:port).
	URL string
	// Database names the store for the first line of output, such as
	// "sqlite (/tmp/weft-bench-1/bench.db)".
	Database string
	// Statements counts the SQL statements the store has issued so far.
	Statements func() int64
	// Commits counts the write transactions the store has committed.
	Commits func() int64
	// Floor measures the database's physical floor: the mean time of one
	// committed single-row update (nil: not measured).
	Floor func(ctx context.Context) (time.Duration, error)
	// PollsActive counts the task polls the server is still answering. A
	// workload's workers are gone only when it is back to zero: a poll
	// whose worker went away (cancelled at the workload's end) must not
	// take the next workload's tasks.
	PollsActive func() int64
}

// Result is one measured figure.
type Result struct {
	Workload int
	Name     string
	Value    float64
	Unit     string
	Detail   string
}

type env struct {
	errMu  sync.Mutex
	errs   int
	errMsg string

	cfg    Config
	target Target
	base   string
	hc     *http.Client
}

// Run runs the workloads against t and returns their figures, printing
// each as it comes.
func Run(ctx context.Context, t Target, cfg Config) ([]Result, error) {
	if cfg.Scale < 1 {
		cfg.Scale = 1
	}
	if cfg.IdleFor <= 0 {
		cfg.IdleFor = 60 * time.Second
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if len(cfg.Workloads) == 0 {
		cfg.Workloads = []int{1, 2, 3, 4, 5}
	}
	sort.Ints(cfg.Workloads)
	e := &env{cfg: cfg, target: t, base: t.URL,
		hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512}, Timeout: 2 * time.Minute}}
	defer e.hc.CloseIdleConnections()
	if err := e.deploy(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Out, "weft bench on %s, GOMAXPROCS=%d\n", t.Database, runtime.GOMAXPROCS(0))
	var out []Result
	if len(cfg.Workloads) > 0 && cfg.Workloads[0] == 0 {
		cfg.Workloads = cfg.Workloads[1:]
		if t.Floor == nil {
			return nil, fmt.Errorf("workload 0: this target cannot measure its database's floor")
		}
		d, err := t.Floor(ctx)
		if err != nil {
			return nil, fmt.Errorf("floor: %w", err)
		}
		r := Result{0, "floor: one committed update", ms(d), "ms", fmt.Sprintf("%.0f/s", float64(time.Second)/float64(d))}
		fmt.Fprintf(cfg.Out, "workload %d  %-28s %12.3f %-10s %s\n", r.Workload, r.Name, r.Value, r.Unit, r.Detail)
		out = append(out, r)
	}
	var err error
	for _, w := range cfg.Workloads {
		var rs []Result
		switch w {
		case 1:
			rs, err = e.chain(ctx)
		case 2:
			rs, err = e.manyRuns(ctx)
		case 3:
			rs, err = e.bigMap(ctx)
		case 4:
			rs, err = e.idle(ctx)
		case 5:
			rs, err = e.inFlight(ctx)
		case 6:
			rs, err = e.commands(ctx)
		default:
			err = fmt.Errorf("unknown workload %d (1..6)", w)
		}
		if err != nil {
			return out, fmt.Errorf("workload %d: %w", w, err)
		}
		for _, r := range rs {
			fmt.Fprintf(cfg.Out, "workload %d  %-28s %12.3f %-10s %s\n", r.Workload, r.Name, r.Value, r.Unit, r.Detail)
		}
		out = append(out, rs...)
	}
	if e.errs > 0 {
		return out, fmt.Errorf("%d worker reports failed; the first: %s", e.errs, e.errMsg)
	}
	return out, nil
}

const noopBlock = `{"name": "bench.noop", "dispatch": {"kind": "worker"}, "heartbeat_timeout": "5m"}`

var benchFlows = []string{
	`{"name": "bench-five", "blocks": [
	  {"ref": "a", "block": "bench.noop"},
	  {"ref": "f", "type": "fork", "branches": [[{"ref": "b", "block": "bench.noop"}], [{"ref": "c", "block": "bench.noop"}]]},
	  {"ref": "d", "block": "bench.noop"},
	  {"ref": "e", "block": "bench.noop"}]}`,
	`{"name": "bench-map", "input_schema": {"type": "object"}, "blocks": [
	  {"ref": "each", "type": "map", "items": "1..flow.input.n", "concurrency": 200, "do": [
	    {"ref": "work", "block": "bench.noop", "input": {"i": "${item}"}}]}]}`,
	`{"name": "bench-one", "blocks": [{"ref": "a", "block": "bench.noop"}]}`,
}

func chainFlow(n int) string {
	var b strings.Builder
	b.WriteString(`{"name": "bench-chain", "blocks": [`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"ref": "s%d", "block": "bench.noop"}`, i)
	}
	b.WriteString("]}")
	return b.String()
}

func (e *env) deploy(ctx context.Context) error {
	if err := e.call(ctx, "PUT", "/api/v1/blocks", []byte(noopBlock), nil); err != nil {
		return fmt.Errorf("upload block: %w", err)
	}
	for _, f := range append(benchFlows, chainFlow(400/e.cfg.Scale)) {
		if err := e.call(ctx, "POST", "/api/v1/flows", []byte(f), nil); err != nil {
			return fmt.Errorf("upload flow: %w", err)
		}
	}
	return nil
}

func (e *env) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(data))
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

type task struct {
	ID    string `json:"id"`
	Lease string `json:"lease"`
	RunID string `json:"run_id"`
}

// worker long-polls and completes every task at once (a no-op block),
// calling seen, when set, for each task just before completing it. The
// completion of its last task in hand asks for the next ones, which the
// server leases in the same transaction; it polls only when that finds
// nothing.
type worker struct {
	e     *env
	id    string
	max   int
	seen  func(task)
	count atomic.Int64
}

type taskList struct {
	Tasks []task `json:"tasks"`
}

func (w *worker) run(ctx context.Context) {
	var hand []task
	for ctx.Err() == nil {
		if len(hand) == 0 {
			var res taskList
			err := w.e.call(ctx, "POST", "/api/v1/tasks/poll", map[string]any{
				"worker_id": w.id, "queues": []string{"bench.noop"}, "max": w.max, "wait": "5s"}, &res)
			if err != nil {
				continue
			}
			hand = res.Tasks
			continue
		}
		t := hand[0]
		hand = hand[1:]
		if w.seen != nil {
			w.seen(t)
		}
		body := map[string]any{"lease": t.Lease, "output": map[string]any{"ok": true}}
		var res taskList
		var out any
		if len(hand) == 0 {
			body["next"] = map[string]any{"worker_id": w.id, "queues": []string{"bench.noop"}, "max": w.max}
			out = &res
		}
		if err := w.e.call(ctx, "POST", "/api/v1/tasks/"+t.ID+"/complete", body, out); err == nil {
			w.count.Add(1)
			hand = append(hand, res.Tasks...)
		} else if ctx.Err() == nil {
			w.e.reportErr(err)
		}
	}
}

func startWorkers(ctx context.Context, e *env, n, max int) (*sync.WaitGroup, []*worker) {
	var wg sync.WaitGroup
	ws := make([]*worker, n)
	for i := range ws {
		ws[i] = &worker{e: e, id: fmt.Sprintf("bench-%d", i), max: max}
		wg.Add(1)
		go func(w *worker) { defer wg.Done(); w.run(ctx) }(ws[i])
	}
	return &wg, ws
}

// stopWorkers ends the workers of wctx (stop cancels it, polls parked in
// the server included) and returns once the server has finished their
// polls too: a cancelled poll the server has not yet noticed could still
// claim the next workload's first task, and its answer would go nowhere.
func (e *env) stopWorkers(stop context.CancelFunc, wg *sync.WaitGroup) {
	stop()
	wg.Wait()
	if e.target.PollsActive == nil {
		return
	}
	deadline := time.Now().Add(30 * time.Second)
	for e.target.PollsActive() > 0 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
}

// reportErr records a worker call that failed; Run prints the count.
func (e *env) reportErr(err error) {
	e.errMu.Lock()
	defer e.errMu.Unlock()
	e.errs++
	if e.errMsg == "" {
		e.errMsg = err.Error()
	}
}

func (e *env) start(ctx context.Context, flow string, input any) (string, error) {
	var r struct {
		ID string `json:"id"`
	}
	err := e.call(ctx, "POST", "/api/v1/flows/"+flow+"/runs", map[string]any{"input": input}, &r)
	return r.ID, err
}

func (e *env) wait(ctx context.Context, id string) (string, error) {
	for {
		var r struct {
			Status string `json:"status"`
			Error  any    `json:"error"`
		}
		if err := e.call(ctx, "GET", "/api/v1/runs/"+id+"/wait?timeout=30s&steps=false", nil, &r); err != nil {
			return "", err
		}
		switch r.Status {
		case "succeeded":
			return r.Status, nil
		case "failed", "cancelled", "timed_out":
			return r.Status, fmt.Errorf("run %s %s: %v", id, r.Status, r.Error)
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
	}
}

// Workload 1: a chain of 400 no-op steps with one worker; the per-step
// overhead is the time from sending one step's completion to receiving the
// next step's task.
func (e *env) chain(ctx context.Context) ([]Result, error) {
	n := 400 / e.cfg.Scale
	var mu sync.Mutex
	var gaps []time.Duration
	var lastDone time.Time
	wctx, stop := context.WithCancel(ctx)
	// seen runs as a task arrives, just before its completion is sent: the
	// gap since the previous completion was sent is one step's overhead.
	w := &worker{e: e, id: "bench-chain", max: 1, seen: func(task) {
		mu.Lock()
		defer mu.Unlock()
		if !lastDone.IsZero() {
			gaps = append(gaps, time.Since(lastDone))
		}
		lastDone = time.Now()
	}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.run(wctx) }()
	start := time.Now()
	m := e.measure()
	id, err := e.start(ctx, "bench-chain", map[string]any{})
	if err == nil {
		_, err = e.wait(ctx, id)
	}
	total := time.Since(start)
	m.stop()
	e.stopWorkers(stop, &wg)
	if err != nil {
		return nil, err
	}
	p50, p99 := percentiles(gaps)
	return append([]Result{
		{1, "per-step overhead p50", ms(p50), "ms", fmt.Sprintf("%d steps", n)},
		{1, "per-step overhead p99", ms(p99), "ms", ""},
		{1, "chain total", total.Seconds(), "s", ""},
	}, m.per(1, int64(n))...), nil
}

// Workload 2: 1,000 runs of a 5-step flow (a 2-way fork inside), 100 in
// flight; steps/s and run latency.
func (e *env) manyRuns(ctx context.Context) ([]Result, error) {
	runs, inFlight := 1000/e.cfg.Scale, 100/e.cfg.Scale
	if inFlight < 1 {
		inFlight = 1
	}
	wctx, stop := context.WithCancel(ctx)
	wg, ws := startWorkers(wctx, e, 8, 16)
	defer e.stopWorkers(stop, wg)
	lat := make([]time.Duration, runs)
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	start := time.Now()
	m := e.measure()
	var rg sync.WaitGroup
	for i := 0; i < inFlight; i++ {
		rg.Add(1)
		go func() {
			defer rg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= runs {
					return
				}
				t0 := time.Now()
				id, err := e.start(ctx, "bench-five", map[string]any{})
				if err == nil {
					_, err = e.wait(ctx, id)
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				lat[k] = time.Since(t0)
			}
		}()
	}
	rg.Wait()
	wall := time.Since(start)
	m.stop()
	if firstErr != nil {
		return nil, firstErr
	}
	var steps int64
	for _, w := range ws {
		steps += w.count.Load()
	}
	p50, p99 := percentiles(lat)
	return append([]Result{
		{2, "steps/s", float64(steps) / wall.Seconds(), "steps/s", fmt.Sprintf("%d runs x 5 steps in %.2fs", runs, wall.Seconds())},
		{2, "run latency p50", ms(p50), "ms", ""},
		{2, "run latency p99", ms(p99), "ms", ""},
	}, m.per(2, steps)...), nil
}

// Workload 3: one map over 10,000 items with concurrency 200.
func (e *env) bigMap(ctx context.Context) ([]Result, error) {
	n := 10000 / e.cfg.Scale
	wctx, stop := context.WithCancel(ctx)
	wg, _ := startWorkers(wctx, e, 8, 32)
	defer e.stopWorkers(stop, wg)
	start := time.Now()
	m := e.measure()
	id, err := e.start(ctx, "bench-map", map[string]any{"n": n})
	if err == nil {
		_, err = e.wait(ctx, id)
	}
	if err != nil {
		return nil, err
	}
	d := time.Since(start)
	m.stop()
	return append([]Result{{3, "map total", d.Seconds(), "s", fmt.Sprintf("%d items, concurrency 200", n)}}, m.per(3, int64(n))...), nil
}

// Workload 4: an idle server with 10 workers long-polling; statements the
// store issued over the period.
func (e *env) idle(ctx context.Context) ([]Result, error) {
	wctx, stop := context.WithCancel(ctx)
	wg, _ := startWorkers(wctx, e, 10, 4)
	time.Sleep(2 * time.Second) // let the workers park
	before := e.target.Statements()
	time.Sleep(e.cfg.IdleFor)
	n := e.target.Statements() - before
	e.stopWorkers(stop, wg)
	return []Result{{4, "statements while idle", float64(n), "statements",
		fmt.Sprintf("%.2f per second over %s, 10 workers", float64(n)/e.cfg.IdleFor.Seconds(), e.cfg.IdleFor)}}, nil
}

// Workload 5: 10,000 runs in flight (each waiting on its first task); the
// heap of the whole process after a GC.
func (e *env) inFlight(ctx context.Context) ([]Result, error) {
	n := 10000 / e.cfg.Scale
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := e.start(ctx, "bench-one", map[string]any{}); err != nil {
				firstErr.CompareAndSwap(nil, err)
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, err
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	return []Result{
		{5, "heap in use", float64(after.HeapInuse) / (1 << 20), "MiB", fmt.Sprintf("%d runs in flight", n)},
		{5, "process memory from Go", float64(after.Sys) / (1 << 20), "MiB", "runtime.MemStats.Sys"},
	}, nil
}

func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)*50/100], s[min(len(s)-1, len(s)*99/100)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// meter reads what a workload cost: statements, commits and the process's
// CPU time (server and in-process workers together).
type meter struct {
	e                *env
	stmts, commits   int64
	cpu              time.Duration
	dStmts, dCommits int64
	dCPU             time.Duration
}

func (e *env) measure() *meter {
	m := &meter{e: e, cpu: cpuTime()}
	if e.target.Statements != nil {
		m.stmts = e.target.Statements()
	}
	if e.target.Commits != nil {
		m.commits = e.target.Commits()
	}
	return m
}

func (m *meter) stop() {
	m.dCPU = cpuTime() - m.cpu
	if m.e.target.Statements != nil {
		m.dStmts = m.e.target.Statements() - m.stmts
	}
	if m.e.target.Commits != nil {
		m.dCommits = m.e.target.Commits() - m.commits
	}
}

// per is the workload's cost per step.
func (m *meter) per(w int, steps int64) []Result {
	if steps <= 0 {
		return nil
	}
	n := float64(steps)
	rs := []Result{{w, "CPU per step", ms(m.dCPU) / n, "ms", "server and workers, this process"}}
	if m.e.target.Statements != nil {
		rs = append(rs, Result{w, "statements per step", float64(m.dStmts) / n, "", "every statement of the period"})
	}
	if m.e.target.Commits != nil {
		rs = append(rs, Result{w, "commits per step", float64(m.dCommits) / n, "", "write transactions"})
	}
	return rs
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
