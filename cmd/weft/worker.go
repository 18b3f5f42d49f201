package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/internal/runner"
)

// resourceFlag is a resource amount that remembers whether it was given.
type resourceFlag struct {
	v   float64
	set bool
}

func (r *resourceFlag) String() string {
	if r == nil || !r.set {
		return ""
	}
	return fmt.Sprint(r.v)
}

// Set parses a non-negative number.
func (r *resourceFlag) Set(s string) error {
	var v float64
	if _, err := fmt.Sscan(s, &v); err != nil || v < 0 {
		return fmt.Errorf("%q is not a non-negative number", s)
	}
	r.v, r.set = v, true
	return nil
}

func cmdWorker(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlags("worker", stderr)
	srv, tok := clientFlags(fs)
	queues := fs.String("queues", "", "comma-separated queues to serve (a command block's queue is dispatch.queue, else its name)")
	slots := fs.Int("slots", 0, "tasks run at once (default: the CPU count)")
	var cpu, mem, gpu resourceFlag
	fs.Var(&cpu, "cpu", "CPUs offered (default: the machine's)")
	fs.Var(&mem, "memory-gb", "memory offered in GB (default: the machine's)")
	fs.Var(&gpu, "gpu", "GPUs offered (default: those nvidia-smi lists)")
	id := fs.String("id", "", "worker id (default: host-pid)")
	dir := fs.String("dir", "", "folder for the tasks' files (default: a temporary folder)")
	killGrace := fs.String("kill-grace", "10s", "after SIGTERM to a stopped task's process group, wait this long before SIGKILL")
	stopGrace := fs.String("stop-grace", "5m", "on SIGTERM, how long running tasks may finish before they are stopped")
	maxOutput := fs.Int64("max-output", 1<<20, "largest WEFT_OUTPUT in bytes; a larger one fails the step (leave files in WEFT_ARTIFACTS_OUT)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	fs.Usage = usage(fs, "worker --queues a,b [flags]", "Run command blocks: poll the queues, run each task as a child process with\nthe WEFT_* files, ship its output as the step's log, upload the files it\nleaves as artifacts and report its exit status. SIGTERM stops polling and\nlets running tasks finish within --stop-grace.")
	if err := parse(fs, reorder(args, fs), getenv); err != nil {
		return err
	}
	if *tok == "" {
		*tok = getenv("WEFT_TOKEN")
	}
	var qs []string
	for _, q := range strings.Split(*queues, ",") {
		if q = strings.TrimSpace(q); q != "" {
			qs = append(qs, q)
		}
	}
	if len(qs) == 0 {
		return fmt.Errorf("--queues: name the queues to serve, such as --queues cpu,gpu")
	}
	kg, err := blocks.ParseDuration(*killGrace)
	if err != nil {
		return fmt.Errorf("--kill-grace: %w", err)
	}
	sg, err := blocks.ParseDuration(*stopGrace)
	if err != nil {
		return fmt.Errorf("--stop-grace: %w", err)
	}
	log, err := newLogger(stderr, *logLevel, "text")
	if err != nil {
		return err
	}
	m := runner.DetectMachine(ctx)
	res := map[string]float64{"cpu": m.CPU, "memory_gb": m.MemoryGB, "gpu": float64(len(m.GPUs))}
	gpus := m.GPUs
	for name, f := range map[string]*resourceFlag{"cpu": &cpu, "memory_gb": &mem, "gpu": &gpu} {
		if f.set {
			res[name] = f.v
		}
	}
	if gpu.set {
		n := int(gpu.v)
		if n <= len(gpus) {
			gpus = gpus[:n]
		} else {
			gpus = nil // the runner numbers them 0 … n-1
		}
	}
	if res["gpu"] == 0 {
		delete(res, "gpu")
	}
	r, err := runner.New(runner.Config{Server: *srv, Token: *tok, WorkerID: *id, Queues: qs, Slots: *slots, Resources: res, GPUs: gpus,
		Dir: *dir, KillGrace: kg, StopGrace: sg, MaxOutput: *maxOutput,
		Logger: log.With("component", "worker")})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "worker %s serving %s on %s\n", r.WorkerID(), strings.Join(qs, ","), *srv)
	return r.Run(ctx)
}

var _ flag.Value = (*resourceFlag)(nil)
