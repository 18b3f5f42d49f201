package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/internal/bench"
	"github.com/weftlabs/weft/internal/pgscratch"
	"github.com/weftlabs/weft/internal/store"
	"github.com/weftlabs/weft/server"
)

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlags("bench", stderr)
	db := fs.String("db", "", "a SQLite file path (default: a new file in a temporary folder) or a postgres:// URL of a server on which a scratch database is created and dropped")
	workloads := fs.String("workloads", "1,2,3,4,5", "comma-separated workloads: 0 the database's floor (one committed single-row update), 1 chain of 400 steps, 2 1,000 runs x 5 steps, 3 map of 10,000, 4 idle 60 s, 5 10,000 runs in flight, 6 command steps running true (chains of 40 and 400, 1,000 parallel on 8 slots) against true run directly")
	scale := fs.Int("scale", 1, "divide every workload's size by this")
	idle := fs.Duration("idle", 60*time.Second, "workload 4's idle period")
	sync := fs.String("sqlite-synchronous", "", "PRAGMA synchronous for SQLite (default FULL)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the workloads to this file (go tool pprof reads it)")
	fs.Usage = usage(fs, "bench [flags]", "Benchmark the engine end to end: the real store, engine and HTTP server on loopback,\nwith workers speaking the worker protocol over HTTP in this process. Figures go to stdout.")
	if err := parse(fs, args, getenv); err != nil {
		return err
	}
	var ws []int
	for _, w := range strings.Split(*workloads, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 0 || n > 6 {
			return fmt.Errorf("--workloads: %q is not a workload number 0..6", w)
		}
		ws = append(ws, n)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	_, err := benchmark(ctx, benchOptions{db: *db, sqliteSynchronous: *sync},
		bench.Config{Workloads: ws, Scale: *scale, IdleFor: *idle, Out: stdout})
	return err
}

// benchOptions say what weft bench runs the workloads on.
type benchOptions struct {
	// db is a SQLite file path (""; a new file in a temporary folder) or
	// the postgres:// URL of a server, on which a scratch database is
	// made and dropped.
	db                string
	sqliteSynchronous string
}

// benchmark runs the workloads of cfg on the stack weft serve runs (the
// real store, engine and HTTP server, on loopback) and returns their
// figures.
func benchmark(ctx context.Context, o benchOptions, cfg bench.Config) (rs []bench.Result, err error) {
	dsn := o.db
	switch {
	case dsn == "":
		dir, err := os.MkdirTemp("", "weft-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		dsn = filepath.Join(dir, "bench.db")
	case strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://"):
		scratch, drop, err := pgscratch.Create(ctx, dsn, "weft_bench")
		if err != nil {
			return nil, err
		}
		defer func() {
			if derr := drop(); derr != nil && err == nil {
				err = derr
			}
		}()
		dsn = scratch
	}

	log := slog.New(slog.DiscardHandler)
	st, err := store.OpenWith(ctx, dsn, log, store.Options{SQLiteSynchronous: o.sqliteSynchronous})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	count := st.CountStatements() // before any goroutine uses the store

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	url := "http://" + ln.Addr().String()
	stk := startStack(ctx, st, stackOptions{
		engine: engine.Config{DisableCron: true},
		server: server.Config{PublicURL: url},
		log:    log,
	})
	var polls atomic.Int64
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/api/v1/tasks/") {
			polls.Add(1)
			defer polls.Add(-1)
		}
		stk.srv.ServeHTTP(w, r)
	})}
	go hs.Serve(ln)
	defer func() {
		// Requests end before the engine and the store they use.
		deadline := time.Now().Add(10 * time.Second)
		stk.srv.Drain()
		sctx, cancel := context.WithDeadline(context.Background(), deadline)
		if err := hs.Shutdown(sctx); err != nil {
			hs.Close()
		}
		cancel()
		stk.stop(deadline)
	}()

	return bench.Run(ctx, bench.Target{
		URL:         url,
		Database:    fmt.Sprintf("%s (%s)", st.Dialect(), redactBenchDB(dsn)),
		Statements:  count,
		Commits:     st.Commits,
		Floor:       func(ctx context.Context) (time.Duration, error) { return st.Floor(ctx, 2000) },
		PollsActive: polls.Load,
	}, cfg)
}

// redactBenchDB hides the user and password of a postgres:// URL.
func redactBenchDB(dsn string) string {
	if i := strings.Index(dsn, "@"); i > 0 && strings.Contains(dsn, "://") {
		return dsn[:strings.Index(dsn, "://")+3] + "…" + dsn[i:]
	}
	return dsn
}
