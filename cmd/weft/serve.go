package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/flows"
	"github.com/weftlabs/weft/internal/artifact"
	"github.com/weftlabs/weft/internal/dispatch"
	"github.com/weftlabs/weft/internal/runner"
	"github.com/weftlabs/weft/internal/store"
	"github.com/weftlabs/weft/server"
)

// serveOptions are weft serve's settings.
type serveOptions struct {
	db, addr, auth, publicURL string
	load                      listFlag
	retention                 string
	cronMinInterval           string
	maxBody                   int64
	maxLog                    int64
	artifacts                 string
	maxArtifact, maxOutput    int64
	dispatchConcurrency       int
	logLevel, logFormat       string
	runCommands               bool
	commandSlots              int
	kube                      *kubeOptions
}

func serveFlags(fs *flag.FlagSet) *serveOptions {
	o := &serveOptions{}
	fs.StringVar(&o.db, "db", "weft.db", "database: a postgres:// URL or a SQLite file path")
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&o.auth, "auth", "auto", "auto: open on loopback while no token exists, required otherwise; on; off")
	fs.StringVar(&o.publicURL, "public-url", "", "address services and workers call back on (default http://<addr>)")
	fs.Var(&o.load, "load", "store the block and flow definitions in this directory at start (repeatable)")
	fs.StringVar(&o.retention, "retention", "30d", "how long finished runs are kept (0 keeps them)")
	fs.StringVar(&o.cronMinInterval, "cron-min-interval", "1m", "shortest time allowed between two firings of a flow's cron trigger")
	fs.Int64Var(&o.maxBody, "max-body", 10<<20, "largest request body in bytes; larger is 413")
	fs.Int64Var(&o.maxLog, "max-log", engine.DefaultMaxLog, "bytes of log kept per step; past it one truncation marker, later lines dropped")
	fs.StringVar(&o.artifacts, "artifacts", "", "artifact store: a folder, or s3://bucket/prefix?endpoint=http://host:port&region=R (credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); default: artifacts/ beside the SQLite file, ./artifacts on PostgreSQL")
	fs.Int64Var(&o.maxArtifact, "max-artifact", server.DefaultMaxArtifactBytes, "largest artifact upload in bytes; larger is 413")
	fs.Int64Var(&o.maxOutput, "max-output", server.DefaultMaxOutputBytes, "largest task output (JSON) in bytes; larger is 413 output_too_large and fails the attempt")
	fs.IntVar(&o.dispatchConcurrency, "dispatch-concurrency", 16, "HTTP block requests in flight at most")
	fs.BoolVar(&o.runCommands, "run-commands", false, "also run command blocks in this process, on the queues of the command blocks stored (a single box needs no weft worker)")
	fs.IntVar(&o.commandSlots, "command-slots", 0, "with --run-commands: command tasks run at once (default: the CPU count)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "text or json")
	o.kube = kubeFlags(fs)
	return o
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlags("serve", stderr)
	o := serveFlags(fs)
	fs.Usage = usage(fs, "serve [flags]", "Run the server: the JSON API, worker protocol, web UI, the engine and HTTP\ndispatch. Stops cleanly on SIGINT or SIGTERM within 10 seconds.")
	if err := parse(fs, args, getenv); err != nil {
		return err
	}
	log, err := newLogger(stderr, o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	retention, err := blocks.ParseDuration(o.retention)
	if err != nil {
		return fmt.Errorf("--retention: %w", err)
	}
	cronMin, err := blocks.ParseDuration(o.cronMinInterval)
	if err != nil || cronMin <= 0 {
		return fmt.Errorf("--cron-min-interval %q: write a duration such as 1m or 5m", o.cronMinInterval)
	}

	afterClaim, err := failpoint(getenv("WEFT_FAILPOINT"), log)
	if err != nil {
		return err
	}

	st, err := store.Open(ctx, o.db, log)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer st.Close()

	blobs, err := artifact.Open(ctx, o.artifacts, defaultArtifactDir(o.db))
	if err != nil {
		return fmt.Errorf("--artifacts: %w", err)
	}
	if _, folder := blobs.(*artifact.Folder); folder && strings.HasPrefix(o.db, "postgres") {
		log.Warn("artifacts are kept in a local folder: replicas on other hosts cannot serve them; set --artifacts to an s3:// URL", "store", blobs.String())
	}
	log.Info("artifact store", "store", blobs.String())

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if len(o.load) > 0 {
		if err := loadDefinitions(ctx, st, o.load, flows.ParseOptions{MinCronInterval: cronMin}, log); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.addr, err)
	}
	tokens, err := st.CountTokens(ctx)
	if err != nil {
		ln.Close()
		return err
	}
	required, reason, err := authMode(o.auth, ln.Addr(), tokens)
	if err != nil {
		ln.Close()
		return err
	}
	if required && tokens == 0 {
		log.Warn("authentication is required but no token exists: create one with `weft token create --role admin --db " + o.db + "`")
	}
	public := o.publicURL
	if public == "" {
		public = publicURLFor(ln.Addr())
	}

	if retention == 0 {
		retention = -1 // 0 keeps finished runs forever
	}
	kubeCfg, err := o.kube.kubeConfig(getenv, public)
	if err != nil {
		ln.Close()
		return err
	}
	if kubeCfg != nil {
		kubeCfg.WorkerID = kubeWorkerID(ln.Addr())
	}
	runnerToken := ""
	if o.runCommands {
		runnerToken = newRunnerToken()
	}
	stk := startStack(ctx, st, stackOptions{
		engine: engine.Config{Retention: retention, AfterClaimFunc: afterClaim},
		server: server.Config{PublicURL: public, MaxBodyBytes: o.maxBody, MaxLogBytes: o.maxLog, MaxArtifactBytes: o.maxArtifact, MaxOutputBytes: o.maxOutput,
			AuthRequired: required, AuthReason: reason, MinCronInterval: cronMin, RunnerToken: runnerToken},
		artifacts: blobs,
		dispatch:  &dispatch.Config{PublicURL: public, Concurrency: o.dispatchConcurrency, DrainTimeout: 3 * time.Second},
		kube:      kubeCfg,
		registry:  reg,
		log:       log,
	})
	srv := stk.srv
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	log.Info("weft serving", "addr", ln.Addr().String(), "public_url", public, "db", redactDSN(o.db), "auth_required", required)
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())

	var runnerDone chan struct{}
	if o.runCommands {
		runnerDone, err = startRunner(ctx, st, o, publicURLFor(ln.Addr()), runnerToken, log)
		if err != nil {
			hs.Close()
			stk.stop(time.Now().Add(5 * time.Second))
			return err
		}
	}

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case serveErr = <-served:
	}
	if runnerDone != nil {
		<-runnerDone // its tasks report before the server stops
	}

	// Stop accepting and end parked polls; let running requests finish;
	// then stop claiming HTTP work; then stop the engine's loops.
	deadline := time.Now().Add(9 * time.Second)
	srv.Drain()
	sctx, cancel := context.WithDeadline(context.Background(), deadline.Add(-3*time.Second))
	if err := hs.Shutdown(sctx); err != nil {
		log.Warn("requests still running at shutdown were cut", "err", err)
		hs.Close()
	}
	cancel()
	stk.stop(deadline)
	log.Info("stopped")
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}

// defaultArtifactDir is artifacts/ beside a SQLite file, else ./artifacts.
func defaultArtifactDir(db string) string {
	if strings.Contains(db, "://") || db == "" || strings.HasPrefix(db, ":memory:") {
		return "artifacts"
	}
	path, _, _ := strings.Cut(strings.TrimPrefix(db, "file:"), "?")
	return filepath.Join(filepath.Dir(path), "artifacts")
}

// authMode decides whether tokens are required (docs/operations.md).
func authMode(mode string, addr net.Addr, tokens int) (required bool, reason string, err error) {
	loopback := isLoopback(addr)
	switch mode {
	case "on":
		return true, "--auth=on", nil
	case "off":
		if !loopback {
			return false, "--auth=off while listening on " + addr.String() + ": anyone who can reach it can do anything", nil
		}
		return false, "--auth=off", nil
	case "auto", "":
		switch {
		case !loopback:
			return true, "listening on " + addr.String() + ", not loopback", nil
		case tokens > 0:
			return true, strconv.Itoa(tokens) + " token(s) exist", nil
		}
		return false, "listening on loopback with no tokens (local development)", nil
	}
	return false, "", fmt.Errorf("--auth %q: use auto, on or off", mode)
}

func isLoopback(addr net.Addr) bool {
	host := addr.String()
	if ta, ok := addr.(*net.TCPAddr); ok {
		return ta.IP != nil && ta.IP.IsLoopback()
	}
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		return false
	}
	ip := net.ParseIP(h)
	return h == "localhost" || (ip != nil && ip.IsLoopback())
}

// publicURLFor is http://addr, with an unspecified host made 127.0.0.1.
func publicURLFor(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// redactDSN hides a password in a postgres:// URL.
func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		if at := strings.LastIndex(dsn, "@"); at > i {
			cred := dsn[i+3 : at]
			if u, _, ok := strings.Cut(cred, ":"); ok {
				return dsn[:i+3] + u + ":***" + dsn[at:]
			}
		}
	}
	return dsn
}

// loadDefinitions stores the definitions under dirs: blocks first.
func loadDefinitions(ctx context.Context, st *store.Store, dirs []string, opt flows.ParseOptions, log *slog.Logger) error {
	blockDefs, flowDefs, err := findDefinitions(dirs)
	if err != nil {
		return fmt.Errorf("--load: %w", err)
	}
	var errs []error
	for _, d := range blockDefs {
		def, err := server.ParseBlock(d.raw)
		if err == nil {
			var v int
			v, _, err = st.PutBlock(ctx, def, d.raw)
			if err == nil {
				log.Info("block loaded", "block", def.Name, "version", v, "file", d.path)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.path, err))
		}
	}
	failed := inPasses(flowDefs, func(d definition) error {
		bp, err := flows.ParseWith(d.raw, st, opt)
		if err != nil {
			return err
		}
		if err := flows.CheckSubflowCycles(bp, func(name string, version int) (*flows.Blueprint, error) {
			return st.GetFlow(ctx, name, version)
		}); err != nil {
			return err
		}
		v, _, err := st.PutFlow(ctx, bp)
		if err == nil {
			log.Info("flow loaded", "flow", bp.Name, "version", v, "file", d.path)
		}
		return err
	})
	for p, err := range failed {
		errs = append(errs, fmt.Errorf("%s: %w", p, err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("--load: %w", errors.Join(errs...))
	}
	return nil
}

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlags("migrate", stderr)
	db := fs.String("db", "weft.db", "database: a postgres:// URL or a SQLite file path")
	fs.Usage = usage(fs, "migrate [flags]", "Apply the pending database migrations and exit.")
	if err := parse(fs, args, getenv); err != nil {
		return err
	}
	log, _ := newLogger(stderr, "info", "text")
	st, err := store.Open(ctx, *db, log)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	vs, err := st.AppliedMigrations(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "database %s is at migration %d\n", redactDSN(*db), last(vs))
	return nil
}

func last(vs []int) int {
	if len(vs) == 0 {
		return 0
	}
	return vs[len(vs)-1]
}

// startRunner runs command blocks in this process on the queues of the
// command blocks stored, calling the server on base; it stops polling when
// ctx ends and lets running tasks finish for a few seconds.
func startRunner(ctx context.Context, st *store.Store, o *serveOptions, base, token string, log *slog.Logger) (chan struct{}, error) {
	m := runner.DetectMachine(ctx)
	res := map[string]float64{"cpu": m.CPU, "memory_gb": m.MemoryGB}
	if len(m.GPUs) > 0 {
		res["gpu"] = float64(len(m.GPUs))
	}
	r, err := runner.New(runner.Config{Server: base, Token: token, WorkerID: "serve-" + strconv.Itoa(os.Getpid()), Slots: o.commandSlots,
		Resources: res, GPUs: m.GPUs, KillGrace: 2 * time.Second, StopGrace: 4 * time.Second, PollWait: 10 * time.Second, MaxOutput: o.maxOutput,
		Logger: log.With("component", "commands"),
		QueuesFunc: func(ctx context.Context) ([]string, error) {
			bs, err := st.ListBlocks(ctx)
			if err != nil {
				return nil, err
			}
			var qs []string
			for _, b := range bs {
				if b.Kind == blocks.DispatchCommand && !slices.Contains(qs, b.Queue) {
					qs = append(qs, b.Queue)
				}
			}
			return qs, nil
		}})
	if err != nil {
		return nil, fmt.Errorf("--run-commands: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(ctx); err != nil {
			log.Error("command runner stopped", "err", err)
		}
	}()
	return done, nil
}

// newRunnerToken is a fresh secret for the in-process command runner.
func newRunnerToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return "weft_run_" + hex.EncodeToString(b)
}
