// Package dispatch delivers the tasks of HTTP blocks (dispatch.kind "http")
// to the services that run them (docs/blocks.md). The engine queues a step of
// block B on queue "http:B"; the Dispatcher long-polls those queues in
// process, POSTs each task and reports the answer: 2xx JSON completes the
// step with the body, 202 leaves the task leased until the service calls
// callback_url, 4xx fails without retry (408 and 429 are retried), 5xx,
// connection errors and timeouts fail with retry.
//
// Secrets: ${secrets.NAME} in dispatch.url and dispatch.headers is resolved
// when the request is made, from the environment of weft serve: NAME
// itself when it starts with WEFT_ (${secrets.WEFT_LLM_KEY} reads
// WEFT_LLM_KEY), else WEFT_SECRET_NAME (${secrets.TRAINER_TOKEN} reads
// WEFT_SECRET_TRAINER_TOKEN); the server's own settings (WEFT_DB, ...) are
// refused. Every resolved value (4 characters or more) is replaced by
// [redacted] in what is reported: step errors, outputs, events and logs.
package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/engine"
)

// Tasks is the part of the engine the dispatcher uses.
type Tasks interface {
	Poll(ctx context.Context, p engine.PollParams) ([]engine.Task, error)
	Complete(ctx context.Context, taskID, lease string, output json.RawMessage) error
	Fail(ctx context.Context, taskID, lease string, e engine.TaskError) error
	Heartbeat(ctx context.Context, taskID, lease string) (engine.HeartbeatResult, error)
}

// Blocks finds HTTP blocks and their definitions.
type Blocks interface {
	blocks.Catalog
	ListBlocks(ctx context.Context) ([]engine.BlockSummary, error)
}

// Logs appends to a step's log under its task's lease (implemented by the
// store); the dispatcher writes there what a failing service answered.
type Logs interface {
	AppendLogs(ctx context.Context, p engine.LogAppend) (engine.LogAppended, error)
}

// Config configures a Dispatcher.
type Config struct {
	// PublicURL is the server's address as services see it; callback URLs
	// are built from it.
	PublicURL string
	// Concurrency bounds requests in flight (default 16).
	Concurrency int
	// DefaultTimeout bounds a request when neither dispatch.timeout nor the
	// block's timeout is set (default 5 minutes).
	DefaultTimeout time.Duration
	// PollWait is how long one long-poll parks (default 30s).
	PollWait time.Duration
	// DrainTimeout is how long Run waits for requests in flight after its
	// context ends before abandoning them (default 8s).
	DrainTimeout time.Duration
	// MaxResponseBytes bounds a service's answer (default 10 MiB).
	MaxResponseBytes int64
	// WorkerID names the dispatcher in attempts (default "http-dispatch").
	WorkerID string
	// Client sends the requests (default: a client without a global timeout).
	Client *http.Client
	// LookupEnvFunc reads secrets (default os.LookupEnv).
	LookupEnvFunc func(string) (string, bool)
	// Registerer receives the dispatcher's metrics when set.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Logs, when set, receives the bodies of failed answers as step log
	// lines; MaxLogBytes bounds a step's log there.
	Logs        Logs
	MaxLogBytes int64
}

func (c Config) withDefaults() Config {
	if c.Concurrency <= 0 {
		c.Concurrency = 16
	}
	if c.DefaultTimeout <= 0 {
		c.DefaultTimeout = 5 * time.Minute
	}
	if c.PollWait <= 0 {
		c.PollWait = 30 * time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 8 * time.Second
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = 10 << 20
	}
	if c.WorkerID == "" {
		c.WorkerID = "http-dispatch"
	}
	if c.Client == nil {
		c.Client = &http.Client{}
	}
	if c.LookupEnvFunc == nil {
		c.LookupEnvFunc = os.LookupEnv
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	return c
}

// Dispatcher delivers HTTP block tasks. Create it with New, start it with Run.
type Dispatcher struct {
	cfg    Config
	tasks  Tasks
	blocks Blocks
	log    *slog.Logger
	sem    chan struct{}
	wake   chan struct{}
	m      *dispatchMetrics
}

// New builds a Dispatcher.
func New(cfg Config, tasks Tasks, cat Blocks) *Dispatcher {
	cfg = cfg.withDefaults()
	return &Dispatcher{
		cfg: cfg, tasks: tasks, blocks: cat, log: cfg.Logger,
		sem:  make(chan struct{}, cfg.Concurrency),
		wake: make(chan struct{}, 1),
		m:    newDispatchMetrics(cfg.Registerer),
	}
}

// BlockStored tells the dispatcher a block definition was stored, so a new
// HTTP block's queue is polled at once.
func (d *Dispatcher) BlockStored(def *blocks.Definition) {
	if def == nil || def.Dispatch.Kind != blocks.DispatchHTTP {
		return
	}
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run polls and delivers until ctx ends, then waits up to DrainTimeout for
// requests in flight before abandoning them (their tasks are retried).
func (d *Dispatcher) Run(ctx context.Context) error {
	deliverCtx, abandon := context.WithCancel(context.WithoutCancel(ctx))
	defer abandon()
	var wg sync.WaitGroup
	d.loop(ctx, deliverCtx, &wg)

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d.cfg.DrainTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		d.log.Warn("abandoning http deliveries still in flight at shutdown")
		abandon()
		<-done
	}
	return nil
}

func (d *Dispatcher) loop(ctx, deliverCtx context.Context, wg *sync.WaitGroup) {
	for ctx.Err() == nil {
		queues, err := d.queues(ctx)
		if err != nil {
			d.log.Error("list http blocks", "err", err)
			d.sleep(ctx, time.Second)
			continue
		}
		if len(queues) == 0 {
			// Nothing to poll: look again when a block is stored here, or
			// after a poll period (another replica may have stored one).
			d.sleep(ctx, d.cfg.PollWait)
			continue
		}
		free := d.acquire(ctx)
		if free == 0 {
			return
		}
		pollCtx, cancel := context.WithCancel(ctx)
		stopWatch := make(chan struct{})
		go func() {
			select {
			case <-d.wake:
				cancel()
			case <-stopWatch:
			}
		}()
		d.log.Debug("polling http queues", "queues", queues, "max", free)
		tasks, err := d.tasks.Poll(pollCtx, engine.PollParams{
			WorkerID: d.cfg.WorkerID, Queues: queues, Max: free, Wait: d.cfg.PollWait,
		})
		d.log.Debug("polled http queues", "tasks", len(tasks), "err", err)
		close(stopWatch)
		refreshed := pollCtx.Err() != nil && ctx.Err() == nil
		cancel()
		for i := len(tasks); i < free; i++ {
			<-d.sem
		}
		for _, t := range tasks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-d.sem }()
				d.deliver(deliverCtx, t)
			}()
		}
		if err != nil && ctx.Err() == nil && !refreshed {
			d.log.Error("poll http queues", "err", err)
			d.sleep(ctx, time.Second)
		}
	}
}

func (d *Dispatcher) acquire(ctx context.Context) int { return Acquire(ctx, d.sem) }

func (d *Dispatcher) sleep(ctx context.Context, dur time.Duration) { Sleep(ctx, dur, d.wake) }

// queues lists the queues of every stored HTTP block.
func (d *Dispatcher) queues(ctx context.Context) ([]string, error) {
	bs, err := d.blocks.ListBlocks(ctx)
	if err != nil {
		return nil, err
	}
	var qs []string
	for _, b := range bs {
		if b.Kind == blocks.DispatchHTTP {
			qs = append(qs, blocks.HTTPQueue(b.Name))
		}
	}
	sort.Strings(qs)
	return qs, nil
}

// report is what delivering one task came to.
type report struct {
	output  json.RawMessage // complete with this when fail is nil and !pending
	fail    *engine.TaskError
	pending bool // 202: the service calls back
	lost    bool // the lease moved on or the run was cancelled: report nothing
}

// deliver sends one task and reports the answer.
func (d *Dispatcher) deliver(ctx context.Context, t engine.Task) {
	start := time.Now()
	log := d.log.With("task_id", t.ID, "run_id", t.RunID, "step_ref", t.Path, "block", t.Block, "attempt", t.Attempt)
	r := d.send(ctx, t, log)
	outcome := "succeeded"
	switch {
	case r.lost:
		outcome = "abandoned"
	case r.pending:
		outcome = "accepted"
	case r.fail != nil && r.fail.Retryable:
		outcome = "retryable_error"
	case r.fail != nil:
		outcome = "error"
	}
	d.m.observe(t.Block, outcome, time.Since(start))
	if r.lost || r.pending {
		log.Debug("http delivery left to the service or abandoned", "outcome", outcome)
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var err error
	if r.fail != nil {
		log.Warn("http block failed", "err", r.fail.Message, "retryable", r.fail.Retryable)
		err = d.tasks.Fail(rctx, t.ID, t.Lease, *r.fail)
	} else {
		err = d.tasks.Complete(rctx, t.ID, t.Lease, r.output)
	}
	if errors.Is(err, engine.ErrConflict) {
		log.Info("http block answered after its lease moved on; answer dropped")
	} else if err != nil {
		log.Error("report http block result", "err", err)
	}
}

// envelope is the body of an "envelope" delivery (docs/blocks.md).
type envelope struct {
	TaskID       string          `json:"task_id"`
	RunID        string          `json:"run_id"`
	Ref          string          `json:"ref"`
	Path         string          `json:"path,omitempty"`
	Block        string          `json:"block"`
	Version      int             `json:"version"`
	Attempt      int             `json:"attempt"`
	Input        json.RawMessage `json:"input"`
	Lease        string          `json:"lease"`
	Deadline     time.Time       `json:"deadline"`
	CallbackURL  string          `json:"callback_url,omitempty"`
	FailURL      string          `json:"fail_url,omitempty"`
	HeartbeatURL string          `json:"heartbeat_url,omitempty"`
}

func (d *Dispatcher) taskURL(id, what string) string {
	if d.cfg.PublicURL == "" {
		return ""
	}
	return d.cfg.PublicURL + "/api/v1/tasks/" + id + "/" + what
}

func permanent(format string, args ...any) report {
	return report{fail: &engine.TaskError{Message: fmt.Sprintf(format, args...), Type: "dispatch"}}
}

func (d *Dispatcher) body(t engine.Task, def *blocks.Definition) ([]byte, error) {
	input := t.Input
	if len(input) == 0 {
		input = json.RawMessage("{}")
	}
	if def.Dispatch.Body == "input" {
		return input, nil
	}
	return json.Marshal(envelope{
		TaskID: t.ID, RunID: t.RunID, Ref: t.Ref, Path: t.Path, Block: t.Block, Version: t.Version,
		Attempt: t.Attempt, Input: input, Lease: t.Lease, Deadline: t.Deadline,
		CallbackURL: d.taskURL(t.ID, "complete"), FailURL: d.taskURL(t.ID, "fail"),
		HeartbeatURL: d.taskURL(t.ID, "heartbeat"),
	})
}

func timeoutOf(def *blocks.Definition, fallback time.Duration) time.Duration {
	if def.Dispatch.Timeout > 0 {
		return time.Duration(def.Dispatch.Timeout)
	}
	if def.Timeout > 0 {
		return time.Duration(def.Timeout)
	}
	return fallback
}
