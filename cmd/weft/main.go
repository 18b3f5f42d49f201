// Command weft runs and drives the Weft workflow engine: the server (serve,
// migrate), definition tools (validate, deploy), runs (run, runs), tokens
// and benchmarks. Settings come from flags, then WEFT_* environment
// variables, then a config file (--config); every command takes --help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/weftlabs/weft/internal/bench"
	"github.com/weftlabs/weft/internal/pgscratch"
	"github.com/weftlabs/weft/internal/validate"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// command is one subcommand.
type command struct {
	name  string
	about string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error
}

func commands() []command {
	return []command{
		{"serve", "run the server: API, worker protocol, UI, engine and HTTP dispatch", cmdServe},
		{"migrate", "apply the database migrations and exit", cmdMigrate},
		{"validate", "check block and flow definition files without a server", cmdValidate},
		{"deploy", "upload block and flow definitions to a server (blocks first)", cmdDeploy},
		{"run", "start a run of a flow, optionally following it to the end", cmdRun},
		{"runs", "list runs", cmdRuns},
		{"artifacts", "list a run's artifacts or download one", cmdArtifacts},
		{"token", "manage API tokens (token create --role R)", cmdToken},
		{"bench", "benchmark the engine", cmdBench},
	}
}

// exitError carries an exit code other than 1.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, "usage: weft COMMAND [flags]\n\ncommands:")
		for _, c := range commands() {
			fmt.Fprintf(stdout, "  %-9s %s\n", c.name, c.about)
		}
		fmt.Fprintln(stdout, "\nRun weft COMMAND --help for a command's flags.")
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr, getenv)
		var ee *exitError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ee):
			if ee.msg != "" {
				fmt.Fprintln(stderr, "weft "+c.name+": "+ee.msg)
			}
			return ee.code
		case errors.Is(err, errUsage):
			return 2
		}
		fmt.Fprintln(stderr, "weft "+c.name+": "+err.Error())
		return 1
	}
	fmt.Fprintf(stderr, "weft: unknown command %q; run weft --help\n", args[0])
	return 2
}

// errUsage: the flag package already printed what was wrong.
var errUsage = errors.New("usage")

// newFlags builds a command's flag set that reports errors to stderr.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parse fills fs from args, the environment and the config file.
func parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	return settings(fs, args, getenv)
}

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlags("bench", stderr)
	db := fs.String("db", "", "a SQLite file path (default: a new file in a temporary folder) or a postgres:// URL of a server on which a scratch database is created and dropped")
	workloads := fs.String("workloads", "1,2,3,4,5", "comma-separated workloads: 1 chain of 400 steps, 2 1,000 runs x 5 steps, 3 map of 10,000, 4 idle 60 s, 5 10,000 runs in flight")
	scale := fs.Int("scale", 1, "divide every workload's size by this")
	idle := fs.Duration("idle", 60*time.Second, "workload 4's idle period")
	sync := fs.String("sqlite-synchronous", "", "PRAGMA synchronous for SQLite (default FULL)")
	fs.Usage = usage(fs, "bench [flags]", "Benchmark the engine end to end: the real store, engine and HTTP server on loopback,\nwith workers speaking the worker protocol over HTTP in this process. Figures go to stdout.")
	if err := parse(fs, args, getenv); err != nil {
		return err
	}
	var ws []int
	for _, w := range strings.Split(*workloads, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 1 || n > 5 {
			return fmt.Errorf("--workloads: %q is not a workload number 1..5", w)
		}
		ws = append(ws, n)
	}
	dsn := *db
	switch {
	case dsn == "":
		dir, err := os.MkdirTemp("", "weft-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dsn = filepath.Join(dir, "bench.db")
	case strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://"):
		scratch, drop, err := pgscratch.Create(ctx, dsn, "weft_bench")
		if err != nil {
			return err
		}
		defer drop()
		dsn = scratch
	}
	_, err := bench.Run(ctx, bench.Config{DB: dsn, Workloads: ws, Scale: *scale, IdleFor: *idle, SQLiteSynchronous: *sync, Out: stdout})
	return err
}

func cmdValidate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if code := validate.Command(ctx, args, stdout, stderr); code != 0 {
		return &exitError{code: code}
	}
	return nil
}
