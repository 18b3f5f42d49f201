// Package runner runs command blocks: it polls the server's task API for
// the queues it serves, runs each task as a child process in its own
// process group with the WEFT_* files and folders, ships what the process
// prints as the step's log, uploads the files it leaves as artifacts,
// heartbeats, and reports the exit status. It counts the resources each
// task holds against what the worker offers. weft worker and weft serve
// --run-commands both use it.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/weftlabs/weft/blocks"
)

// Config configures a Runner.
type Config struct {
	Server   string // base URL of the server, such as http://127.0.0.1:8080
	Token    string // a worker token, when the server requires one
	WorkerID string // default: host-pid
	Queues   []string
	// QueuesFunc, when set, says the queues before each poll instead of
	// Queues (weft serve --run-commands serves the queues of the command
	// blocks stored, which change as blocks are uploaded).
	QueuesFunc func(ctx context.Context) ([]string, error)
	Slots      int // tasks run at once; default: the CPU count
	// Resources is what the worker offers (cpu, memory_gb, gpu, …): a task
	// holds its block's resources until it ends. Nil offers none, so only
	// tasks asking for none are taken.
	Resources map[string]float64
	// GPUs are the device indices handed out to tasks asking for gpu, in
	// CUDA_VISIBLE_DEVICES. Default: 0 … Resources["gpu"]-1.
	GPUs      []string
	Dir       string        // task folders live here; default: a temporary folder
	KillGrace time.Duration // SIGTERM to SIGKILL when a task is stopped; default 10s
	StopGrace time.Duration // on stop, how long running tasks may finish; default 5m
	PollWait  time.Duration // long-poll wait; default 30s
	MaxOutput int64         // the largest WEFT_OUTPUT; default 1 MiB
	Logger    *slog.Logger
	Client    *http.Client
}

func (c Config) withDefaults() Config {
	if c.WorkerID == "" {
		h, _ := os.Hostname()
		c.WorkerID = fmt.Sprintf("%s-%d", h, os.Getpid())
	}
	if c.Slots <= 0 {
		c.Slots = max(1, int(detectCPU()))
	}
	if c.KillGrace <= 0 {
		c.KillGrace = 10 * time.Second
	}
	if c.StopGrace <= 0 {
		c.StopGrace = 5 * time.Minute
	}
	if c.PollWait <= 0 {
		c.PollWait = 30 * time.Second
	}
	if c.MaxOutput <= 0 {
		c.MaxOutput = 1 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Client == nil {
		// Every slot reports, heartbeats and ships logs: keep a connection
		// per slot rather than the default two.
		c.Client = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: c.Slots + 4,
			IdleConnTimeout: 90 * time.Second}}
	}
	if g := c.Resources["gpu"]; g > 0 && len(c.GPUs) == 0 {
		for i := 0; i < int(g); i++ {
			c.GPUs = append(c.GPUs, fmt.Sprint(i))
		}
	}
	c.Server = strings.TrimRight(c.Server, "/")
	return c
}

func (c Config) validate() error {
	if c.Server == "" {
		return errors.New("server: give the server's URL, such as http://127.0.0.1:8080")
	}
	if len(c.Queues) == 0 && c.QueuesFunc == nil {
		return errors.New("queues: name at least one queue (a command block's queue is dispatch.queue, else its name)")
	}
	for _, q := range c.Queues {
		if blocks.IsHTTPQueue(q) {
			return fmt.Errorf("queues: %s belongs to the server's HTTP dispatcher", q)
		}
	}
	for k, v := range c.Resources {
		if v < 0 || math.IsNaN(v) {
			return fmt.Errorf("resources: %s must not be negative", k)
		}
	}
	return nil
}

// Runner polls for command tasks and runs them.
type Runner struct {
	cfg Config
	cl  *client
	log *slog.Logger

	mu       sync.Mutex
	slots    int                // free slots
	free     map[string]float64 // resources not held by a task
	gpus     []string           // GPU indices not held
	changed  chan struct{}      // a slot or resources were given back
	defs     map[string]*blocks.Definition
	stopping bool

	queuesNow []string // QueuesFunc's last answer
	queuesAt  time.Time
	dirs      chan string // free slot folders
}

// New returns a Runner for cfg.
func New(cfg Config) (*Runner, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg, cl: &client{base: cfg.Server, token: cfg.Token, hc: cfg.Client}, log: cfg.Logger,
		slots: cfg.Slots, free: map[string]float64{}, gpus: append([]string(nil), cfg.GPUs...),
		changed: make(chan struct{}, 1), defs: map[string]*blocks.Definition{}}
	for k, v := range cfg.Resources {
		r.free[k] = v
	}
	return r, nil
}

// WorkerID is the id the runner polls under.
func (r *Runner) WorkerID() string { return r.cfg.WorkerID }

// Run polls and runs tasks until ctx ends; then it stops polling and lets
// running tasks finish within StopGrace, after which they are stopped
// (SIGTERM, then SIGKILL) and reported as failed, to be tried again.
func (r *Runner) Run(ctx context.Context) error {
	dir := r.cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "weft-worker-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	dir = filepath.Join(dir, strings.NewReplacer("/", "_", "\\", "_").Replace(r.cfg.WorkerID))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("task folder: %w", err)
	}
	if err := r.makeSlotDirs(dir, r.cfg.Slots); err != nil {
		return err
	}
	// Tasks outlive ctx by StopGrace; reports outlive the tasks.
	work, stopWork := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopWork(nil)
	var wg sync.WaitGroup
	r.log.Info("command runner started", "worker_id", r.cfg.WorkerID, "queues", strings.Join(r.cfg.Queues, ","), "slots", r.cfg.Slots,
		"resources", fmt.Sprint(r.cfg.Resources))
	backoff := time.Second
	for ctx.Err() == nil {
		n := r.takeSlots(ctx)
		if n == 0 {
			break
		}
		body := r.pollBody(n, r.cfg.PollWait)
		if len(body.Queues) == 0 {
			// No command blocks yet: look again soon.
			r.giveSlots(n)
			select {
			case <-ctx.Done():
			case <-time.After(min(r.cfg.PollWait, 2*time.Second)):
			}
			continue
		}
		tasks, err := r.cl.poll(ctx, body)
		r.giveSlots(n - len(tasks))
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			r.log.Warn("poll failed; trying again", "err", err, "in", backoff.String())
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		backoff = time.Second
		for _, t := range tasks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.slot(work, t)
			}()
		}
	}
	r.mu.Lock()
	r.stopping = true
	r.mu.Unlock()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(r.cfg.StopGrace):
		r.log.Warn("stop grace passed; stopping the tasks still running", "grace", r.cfg.StopGrace.String())
		stopWork(errWorkerStopped)
		<-done
	}
	r.log.Info("command runner stopped", "worker_id", r.cfg.WorkerID)
	return nil
}

var errWorkerStopped = errors.New("the worker stopped before the task finished")

func (r *Runner) pollBody(n int, wait time.Duration) pollBody {
	qs := r.queues()
	b := pollBody{WorkerID: r.cfg.WorkerID, Queues: qs, Max: n, Resources: r.cfg.Resources}
	if wait > 0 {
		b.Wait = wait.String()
	}
	return b
}

// queues are the queues to poll: Queues, or what QueuesFunc said at
// most a second ago.
func (r *Runner) queues() []string {
	if r.cfg.QueuesFunc == nil {
		return r.cfg.Queues
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.queuesAt) > time.Second {
		qs, err := r.cfg.QueuesFunc(context.Background())
		if err != nil {
			r.log.Warn("list the queues to serve", "err", err)
		} else {
			r.queuesNow, r.queuesAt = qs, time.Now()
		}
	}
	return r.queuesNow
}

// slot runs t, then each next task its report leased, in one slot.
func (r *Runner) slot(ctx context.Context, t task) {
	for {
		next := r.runTask(ctx, t)
		if next == nil {
			r.giveSlots(1)
			return
		}
		t = *next
	}
}

// takeSlots waits for free slots and takes them all; 0 when ctx ended.
func (r *Runner) takeSlots(ctx context.Context) int {
	for {
		r.mu.Lock()
		n := r.slots
		r.slots = 0
		r.mu.Unlock()
		if n > 0 {
			return n
		}
		select {
		case <-ctx.Done():
			return 0
		case <-r.changed:
		}
	}
}

func (r *Runner) giveSlots(n int) {
	if n <= 0 {
		return
	}
	r.mu.Lock()
	r.slots += n
	r.mu.Unlock()
	r.signal()
}

func (r *Runner) signal() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// holding is what one task holds of the worker's resources.
type holding struct {
	need map[string]float64
	gpus []string
}

// hold takes need from the free resources, waiting while others hold
// them (the server hands out only what fits, so the wait is short: a
// task of a lapsed lease may still be ending). It fails when the worker
// could never fit need.
func (r *Runner) hold(ctx context.Context, need map[string]float64) (holding, error) {
	for k, v := range need {
		if v > 0 && r.cfg.Resources[k] < v {
			return holding{}, fmt.Errorf("the task needs %s %g; this worker offers %g", k, v, r.cfg.Resources[k])
		}
	}
	for {
		r.mu.Lock()
		fits := true
		for k, v := range need {
			if v > 0 && r.free[k] < v-1e-9 {
				fits = false
			}
		}
		if fits {
			h := holding{need: need}
			for k, v := range need {
				if v > 0 {
					r.free[k] -= v
				}
			}
			if g := int(math.Ceil(need["gpu"])); g > 0 && len(r.gpus) >= g {
				h.gpus = append([]string(nil), r.gpus[:g]...)
				r.gpus = r.gpus[g:]
			}
			r.mu.Unlock()
			return h, nil
		}
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return holding{}, context.Cause(ctx)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (r *Runner) release(h holding) {
	r.mu.Lock()
	for k, v := range h.need {
		if v > 0 {
			r.free[k] += v
		}
	}
	r.gpus = append(r.gpus, h.gpus...)
	sort.Strings(r.gpus)
	r.mu.Unlock()
}

// definition fetches (once) the block definition a task runs.
func (r *Runner) definition(ctx context.Context, name string, version int) (*blocks.Definition, error) {
	key := fmt.Sprintf("%s@%d", name, version)
	r.mu.Lock()
	d := r.defs[key]
	r.mu.Unlock()
	if d != nil {
		return d, nil
	}
	var def blocks.Definition
	if err := r.cl.call(ctx, http.MethodGet, fmt.Sprintf("/api/v1/blocks/%s/versions/%d", name, version), nil, &def); err != nil {
		return nil, fmt.Errorf("read block %s: %w", key, err)
	}
	r.mu.Lock()
	r.defs[key] = &def
	r.mu.Unlock()
	return &def, nil
}

// Folders of a slot, made once and emptied after each task: making and
// removing folders per task costs more than the rest of the runner's work.
const (
	inDir   = "artifacts-in"
	outDir  = "artifacts-out"
	workDir = "work"
)

// makeSlotDirs makes n slot folders under dir and puts them in the pool.
func (r *Runner) makeSlotDirs(dir string, n int) error {
	r.dirs = make(chan string, n)
	for i := 0; i < n; i++ {
		sd := filepath.Join(dir, fmt.Sprintf("slot-%d", i))
		for _, sub := range []string{inDir, outDir, workDir} {
			if err := os.MkdirAll(filepath.Join(sd, sub), 0o755); err != nil {
				return fmt.Errorf("task folder: %w", err)
			}
		}
		r.dirs <- sd
	}
	return nil
}

// emptyDir removes what is inside d, keeping d.
func emptyDir(d string) error {
	ents, err := os.ReadDir(d)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(d, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// cleanSlot empties a slot folder for its next task.
func cleanSlot(sd string) error {
	for _, sub := range []string{inDir, outDir, workDir} {
		if err := emptyDir(filepath.Join(sd, sub)); err != nil {
			return err
		}
	}
	for _, f := range []string{"output.json", "input.json", "script"} {
		if err := os.Remove(filepath.Join(sd, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}
