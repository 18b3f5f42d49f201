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
	"syscall"

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
		{"import", "convert Conductor definitions into blocks and flows and store them (import conductor FILE...)", cmdImport},
		{"run", "start a run of a flow, optionally following it to the end", cmdRun},
		{"runs", "list runs", cmdRuns},
		{"logs", "print a run's step logs, optionally following them live", cmdLogs},
		{"artifacts", "list a run's artifacts or download one", cmdArtifacts},
		{"worker", "run command blocks: poll queues, run each task as a child process", cmdWorker},
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

func cmdValidate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if code := validate.Command(ctx, args, stdout, stderr); code != 0 {
		return &exitError{code: code}
	}
	return nil
}
