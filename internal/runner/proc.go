package runner

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// procSpec is one child process to run.
type procSpec struct {
	Argv  []string
	Dir   string
	Env   []string
	Grace time.Duration // SIGTERM to SIGKILL
}

// procResult is how a child process ended.
type procResult struct {
	ExitCode int    // -1 when killed by a signal or never started
	Signal   string // the signal that killed it, if one did
	Stopped  error  // the cause of the stop when the runner stopped it
}

// notFoundError is a program that does not exist.
type notFoundError struct{ name string }

func (e *notFoundError) Error() string { return "command not found: " + e.name }

// resolve finds argv[0] the way a shell would, without a shell: a name
// without a slash on PATH (from env), a path relative to dir.
func resolve(name, dir string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		st, err := os.Stat(p)
		if err != nil || st.IsDir() {
			return "", &notFoundError{name}
		}
		return p, nil
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		p := filepath.Join(d, name)
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &notFoundError{name}
}

// runProc runs spec in its own process group, sending each line it writes
// (stdout and stderr through one pipe, so their order is kept) to line.
// When ctx ends the group gets SIGTERM, then SIGKILL after spec.Grace; the
// cause of ctx becomes Stopped. Whatever the child left running in its
// group is killed when it exits, so no process outlives its task.
func runProc(ctx context.Context, spec procSpec, line func(string)) (procResult, error) {
	prog, err := resolve(spec.Argv[0], spec.Dir, spec.Env)
	if err != nil {
		return procResult{ExitCode: -1}, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return procResult{ExitCode: -1}, err
	}
	cmd := &exec.Cmd{Path: prog, Args: spec.Argv, Dir: spec.Dir, Env: spec.Env, Stdout: pw, Stderr: pw,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, exec.ErrNotFound) {
			return procResult{ExitCode: -1}, &notFoundError{spec.Argv[0]}
		}
		return procResult{ExitCode: -1}, fmt.Errorf("start %s: %w", spec.Argv[0], err)
	}
	pw.Close()
	pgid := cmd.Process.Pid
	read := make(chan struct{})
	go func() {
		defer close(read)
		readLines(pr, line)
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var res procResult
	var werr error
	select {
	case werr = <-done:
	case <-ctx.Done():
		res.Stopped = context.Cause(ctx)
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		grace := time.NewTimer(spec.Grace)
		select {
		case werr = <-done:
		case <-grace.C:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			werr = <-done
		}
		grace.Stop()
	}
	// Whatever the child started in its group goes with it.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-read:
	case <-time.After(2 * time.Second):
		// A process that left the group still holds the pipe: stop reading.
		pr.Close()
		<-read
	}
	pr.Close()
	res.ExitCode = 0
	if werr != nil {
		var ee *exec.ExitError
		if !errors.As(werr, &ee) {
			return procResult{ExitCode: -1}, werr
		}
		res.ExitCode = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal().String()
		}
	}
	return res, nil
}

// maxLine is the longest log line; longer ones are split.
const maxLine = 16 << 10

// readLines calls line for each line of r, without its newline.
func readLines(r io.Reader, line func(string)) {
	br := bufio.NewReaderSize(r, 64<<10)
	var cur []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if len(chunk) > 0 || (err == nil && !isPrefix) {
			cur = append(cur, chunk...)
		}
		for len(cur) > maxLine {
			line(string(cur[:maxLine]))
			cur = cur[maxLine:]
		}
		if err != nil {
			if len(cur) > 0 {
				line(string(cur))
			}
			return
		}
		if !isPrefix {
			line(string(cur))
			cur = cur[:0]
		}
	}
}
