package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/weftlabs/weft/blocks"
)

// failure is a failed task as reported to the server.
type failure struct {
	Message   string
	Type      string
	Retryable bool
}

func fatal(typ, format string, args ...any) *failure {
	return &failure{Message: fmt.Sprintf(format, args...), Type: typ}
}

func retryable(typ, format string, args ...any) *failure {
	return &failure{Message: fmt.Sprintf(format, args...), Type: typ, Retryable: true}
}

// Causes of a stopped task.
var (
	errCancelled = errors.New("the run was cancelled")
	errLeaseLost = errors.New("the task's lease was lost (the server gave the task to another worker)")
)

type timeoutError struct{ d time.Duration }

func (e timeoutError) Error() string { return fmt.Sprintf("timed out after %s", e.d) }

// runTask runs one task to its report and returns the next task the
// report leased, if any.
func (r *Runner) runTask(ctx context.Context, t task) *task {
	log := r.log.With("task_id", t.ID, "run_id", t.RunID, "step", t.Path, "attempt", t.Attempt)
	def, err := r.definition(ctx, t.Block, t.Version)
	if err != nil {
		f := retryable("worker", "%v", err)
		if isRefused(err) {
			f.Retryable = false
		}
		return r.finish(ctx, log, t, nil, f)
	}
	if def.Dispatch.Kind != blocks.DispatchCommand {
		return r.finish(ctx, log, t, nil, fatal("worker", "block %s@%d is a %q block, not a command block: serve its queue with a worker written for it", def.Name, def.Version, def.Dispatch.Kind))
	}
	h, err := r.hold(ctx, def.Resources)
	if err != nil {
		return r.finish(ctx, log, t, nil, retryable("resources", "%v", err))
	}
	output, f := r.execute(ctx, log, t, def, h)
	r.release(h)
	return r.finish(ctx, log, t, output, f)
}

// execute prepares the task's folder, runs its process and reads its
// output; it returns the output or the failure.
func (r *Runner) execute(ctx context.Context, log interface{ Warn(string, ...any) }, t task, def *blocks.Definition, h holding) (json.RawMessage, *failure) {
	td := <-r.dirs
	defer func() {
		if err := cleanSlot(td); err != nil {
			r.log.Warn("empty a task folder; making a new one", "dir", td, "err", err)
			td = fmt.Sprintf("%s.%s", td, t.ID)
			for _, sub := range []string{inDir, outDir, workDir} {
				_ = os.MkdirAll(filepath.Join(td, sub), 0o755)
			}
		}
		r.dirs <- td
	}()
	in, out := filepath.Join(td, inDir), filepath.Join(td, outDir)
	input := t.Input
	if len(bytes.TrimSpace(input)) == 0 || string(bytes.TrimSpace(input)) == "null" {
		input = json.RawMessage("{}")
	}
	inFile, outFile := filepath.Join(td, "input.json"), filepath.Join(td, "output.json")
	if err := os.WriteFile(inFile, input, 0o644); err != nil {
		return nil, retryable("worker", "write WEFT_INPUT: %v", err)
	}
	ship := newShipper(r, t)
	defer ship.close()

	var inArts []artifactRef
	var v any
	if json.Unmarshal(input, &v) == nil {
		inArts = findArtifacts(v, nil)
	}
	for _, a := range inArts {
		if err := r.cl.download(ctx, a.ID, filepath.Join(in, a.Name)); err != nil {
			return nil, retryable("artifact", "download input artifact %s (%s) into WEFT_ARTIFACTS_IN: %v", a.Name, a.ID, err)
		}
	}

	ds := def.Dispatch
	argv := ds.Command
	if ds.Script != "" {
		script := filepath.Join(td, "script")
		if err := os.WriteFile(script, []byte(ds.Script), 0o644); err != nil {
			return nil, retryable("worker", "write script: %v", err)
		}
		argv = append(slices.Clone(ds.Interpreter), script)
	}
	work := ds.Workdir
	if work == "" {
		work = filepath.Join(td, workDir)
	}
	env := os.Environ()
	for _, k := range sortedKeys(ds.Env) {
		env = append(env, k+"="+ds.Env[k])
	}
	env = append(env, "WEFT_INPUT="+inFile, "WEFT_OUTPUT="+outFile, "WEFT_ARTIFACTS_IN="+in, "WEFT_ARTIFACTS_OUT="+out,
		"WEFT_RUN_ID="+t.RunID, "WEFT_STEP="+t.Path, fmt.Sprintf("WEFT_ATTEMPT=%d", t.Attempt), "WEFT_TASK_ID="+t.ID)
	if len(r.cfg.GPUs) > 0 {
		env = append(env, "CUDA_VISIBLE_DEVICES="+strings.Join(h.gpus, ","))
	}

	run, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	if def.Timeout > 0 {
		d := time.Duration(def.Timeout)
		var cancelT context.CancelFunc
		run, cancelT = context.WithTimeoutCause(run, d, timeoutError{d})
		defer cancelT()
	}
	beats := r.heartbeat(run, log, t, stop)

	res, err := runProc(run, procSpec{Argv: argv, Dir: work, Env: env, Grace: r.cfg.KillGrace}, ship.line)
	stop(nil)
	<-beats
	var nf *notFoundError
	switch {
	case errors.As(err, &nf):
		ship.say("error", nf.Error())
		return nil, fatal("command_not_found", "%s", nf.Error())
	case err != nil:
		ship.say("error", err.Error())
		return nil, retryable("worker", "%v", err)
	case res.Stopped != nil:
		var te timeoutError
		msg := res.Stopped.Error()
		ship.say("error", "stopped: "+msg)
		switch {
		case errors.As(res.Stopped, &te):
			return nil, retryable("timeout", "%s", msg)
		case errors.Is(res.Stopped, errCancelled):
			return nil, fatal("cancelled", "%s", msg)
		}
		return nil, retryable("stopped", "%s", msg)
	case res.ExitCode != 0:
		msg := fmt.Sprintf("exit status %d", res.ExitCode)
		if res.Signal != "" {
			msg = "killed by signal " + res.Signal
		}
		ship.say("error", msg)
		if tail := ship.lastLines(); tail != "" {
			msg += "; last output: " + tail
		}
		if slices.Contains(ds.FatalExitCodes, res.ExitCode) {
			return nil, fatal("exit_code", "%s", msg)
		}
		return nil, retryable("exit_code", "%s", msg)
	}
	output, f := r.readOutput(outFile)
	if f != nil {
		ship.say("error", f.Message)
		return nil, f
	}
	if f := r.uploadAll(ctx, t, out); f != nil {
		ship.say("error", f.Message)
		return nil, f
	}
	return output, nil
}

// readOutput reads WEFT_OUTPUT: {} when absent.
func (r *Runner) readOutput(file string) (json.RawMessage, *failure) {
	st, err := os.Stat(file)
	if errors.Is(err, os.ErrNotExist) {
		return json.RawMessage("{}"), nil
	}
	if err != nil {
		return nil, retryable("worker", "read WEFT_OUTPUT: %v", err)
	}
	if st.Size() > r.cfg.MaxOutput {
		return nil, fatal("output_too_large", "WEFT_OUTPUT %s holds %d bytes, over the output limit of %d: leave large results as files in WEFT_ARTIFACTS_OUT, which become the step's artifacts",
			file, st.Size(), r.cfg.MaxOutput)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, retryable("worker", "read WEFT_OUTPUT: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return json.RawMessage("{}"), nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		where := ""
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := lineCol(b, se.Offset)
			where = fmt.Sprintf(" at line %d, column %d", line, col)
		}
		return nil, fatal("invalid_output", "WEFT_OUTPUT %s is not valid JSON%s: %v", file, where, err)
	}
	return json.RawMessage(b), nil
}

func lineCol(b []byte, off int64) (int, int) {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	line, col := 1, 1
	for _, c := range b[:max(off-1, 0)] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// uploadAll uploads the files left in WEFT_ARTIFACTS_OUT.
func (r *Runner) uploadAll(ctx context.Context, t task, out string) *failure {
	ents, err := os.ReadDir(out)
	if err != nil {
		return retryable("artifact", "read WEFT_ARTIFACTS_OUT: %v", err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			return fatal("artifact", "WEFT_ARTIFACTS_OUT holds %q, which is not a file: leave files there (pack a folder into one archive)", e.Name())
		}
		if err := r.cl.upload(ctx, &t, e.Name(), filepath.Join(out, e.Name())); err != nil {
			if isRefused(err) && !isStatus(err, 409) {
				return fatal("artifact", "upload %s from WEFT_ARTIFACTS_OUT: %v", e.Name(), err)
			}
			return retryable("artifact", "upload %s from WEFT_ARTIFACTS_OUT: %v", e.Name(), err)
		}
	}
	return nil
}

// heartbeat extends the task's lease until ctx ends; it stops the task
// when the run was cancelled or the lease was lost. A server that cannot
// be reached is tried again: the task keeps running meanwhile.
func (r *Runner) heartbeat(ctx context.Context, log interface{ Warn(string, ...any) }, t task, stop context.CancelCauseFunc) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		expires := t.Deadline
		for {
			wait := time.Until(expires) / 3
			if expires.IsZero() || wait > 30*time.Second {
				wait = 30 * time.Second
			}
			wait = max(wait, 200*time.Millisecond)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			a, err := r.cl.heartbeat(ctx, &t)
			switch {
			case ctx.Err() != nil:
				return
			case isStatus(err, 409):
				log.Warn("lease lost; stopping the task", "err", err)
				stop(errLeaseLost)
				return
			case err != nil:
				log.Warn("heartbeat failed; the task goes on", "err", err)
				if !expires.IsZero() && time.Until(expires) < 2*time.Second {
					expires = time.Now().Add(3 * time.Second) // try again soon
				}
			case a.CancelRequested:
				stop(errCancelled)
				return
			default:
				expires = a.LeaseExpiresAt
			}
		}
	}()
	return done
}

// finish reports the task and returns the next task the report leased.
// A server that cannot be reached is tried again until the lease would
// have lapsed (and a little after: a late report is refused harmlessly).
func (r *Runner) finish(ctx context.Context, log interface {
	Warn(string, ...any)
	Debug(string, ...any)
}, t task, output json.RawMessage, f *failure) *task {
	r.mu.Lock()
	stopping := r.stopping
	r.mu.Unlock()
	var next *pollBody
	if !stopping && ctx.Err() == nil {
		if b := r.pollBody(1, 0); len(b.Queues) > 0 {
			next = &b
		}
	}
	giveUp := time.Now().Add(time.Minute)
	if d := time.Until(t.Deadline) + time.Minute; d > time.Minute {
		giveUp = time.Now().Add(d)
	}
	backoff := 200 * time.Millisecond
	for {
		tasks, err := r.cl.report(context.WithoutCancel(ctx), &t, output, f, next)
		switch {
		case err == nil:
			if len(tasks) > 0 {
				return &tasks[0]
			}
			return nil
		case isStatus(err, 413) && f == nil:
			var ae *apiError
			errors.As(err, &ae)
			f = fatal("output_too_large", "%s (leave large results as files in WEFT_ARTIFACTS_OUT)", ae.Message)
			continue
		case isStatus(err, 409):
			log.Warn("report refused: the lease is gone (the task was given to another worker or the run moved on)", "err", err)
			return nil
		case isRefused(err):
			log.Warn("report refused", "err", err)
			return nil
		case time.Now().After(giveUp) || ctx.Err() != nil:
			log.Warn("report failed; giving up (the task will be tried again when its lease lapses)", "err", err)
			return nil
		}
		log.Warn("report failed; trying again", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// artifactRef is an input artifact: {"artifact": {"id", "name", …}}.
type artifactRef struct{ ID, Name string }

func findArtifacts(v any, out []artifactRef) []artifactRef {
	switch x := v.(type) {
	case map[string]any:
		if a, ok := x["artifact"].(map[string]any); ok && len(x) == 1 {
			id, _ := a["id"].(string)
			name, _ := a["name"].(string)
			if id != "" && name != "" && !strings.ContainsAny(name, "/\\") && name != "." && name != ".." {
				return append(out, artifactRef{ID: id, Name: name})
			}
		}
		for _, k := range sortedKeys(x) {
			out = findArtifacts(x[k], out)
		}
	case []any:
		for _, e := range x {
			out = findArtifacts(e, out)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// shipper sends a task's log lines to the server in batches while it runs.
type shipper struct {
	r    *Runner
	t    task
	mu   sync.Mutex
	buf  []logLine
	tail []string
	gone bool // the lease is gone: lines are dropped
	kick chan struct{}
	quit chan struct{}
	done chan struct{}
}

func newShipper(r *Runner, t task) *shipper {
	s := &shipper{r: r, t: t, kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s
}

const tailLines = 5

func (s *shipper) line(msg string) { s.add("info", msg) }

// say adds a line of the runner's own.
func (s *shipper) say(level, msg string) { s.add(level, "weft: "+msg) }

func (s *shipper) add(level, msg string) {
	s.mu.Lock()
	s.buf = append(s.buf, logLine{TS: time.Now().UTC().Format(time.RFC3339Nano), Level: level, Message: msg})
	if level == "info" {
		s.tail = append(s.tail, msg)
		if len(s.tail) > tailLines {
			s.tail = s.tail[1:]
		}
	}
	n := len(s.buf)
	s.mu.Unlock()
	if n >= 500 {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// lastLines is the end of what the process printed, for a failure message.
func (s *shipper) lastLines() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := strings.Join(s.tail, " | ")
	if len(out) > 1000 {
		out = "…" + out[len(out)-1000:]
	}
	return out
}

func (s *shipper) loop() {
	defer close(s.done)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.quit:
			s.flush()
			return
		case <-tick.C:
		case <-s.kick:
		}
		s.flush()
	}
}

func (s *shipper) flush() {
	for {
		s.mu.Lock()
		lines := s.buf
		if len(lines) > 500 {
			lines = lines[:500]
		}
		s.buf = s.buf[len(lines):]
		gone := s.gone
		s.mu.Unlock()
		if len(lines) == 0 || gone {
			return
		}
		var err error
		for try := 0; try < 3; try++ {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = s.r.cl.appendLogs(ctx, &s.t, lines)
			cancel()
			if err == nil || isRefused(err) {
				break
			}
			time.Sleep(time.Duration(try+1) * 200 * time.Millisecond)
		}
		if isStatus(err, 409) {
			s.mu.Lock()
			s.gone = true
			s.mu.Unlock()
		} else if err != nil {
			s.r.log.Warn("ship log lines", "task_id", s.t.ID, "err", err)
		}
	}
}

// close sends what is left and stops.
func (s *shipper) close() {
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	<-s.done
}
