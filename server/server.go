// Package server is Weft's HTTP surface: the JSON API under /api/v1, the
// worker protocol, webhooks, health and metrics, and the server-rendered UI.
//
// Authentication (docs/operations.md): API tokens travel as Authorization:
// Bearer (the UI's login keeps the same token in the weft_token cookie);
// only their SHA-256 is stored. Roles: viewer (every GET, /metrics,
// /flows/validate) < operator (start runs, cancel/pause/resume/retry/rerun,
// bulk actions, signals, task reports) < admin (upload blocks and flows,
// manage tokens); worker (poll and report tasks only); webhook (start one
// flow through /api/v1/hooks/{flow}). Task reports (complete, fail,
// heartbeat) sent without any credentials are let through: the lease they
// carry is an unguessable capability the engine checks (this is how a
// service answering an HTTP block's callback_url reports). /healthz,
// /readyz and /api/v1/schema/* are always open. With Config.AuthRequired
// false everything is open and the caller counts as admin.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/blocks/jsoncheck"
)

// Config configures the HTTP server.
type Config struct {
	// PublicURL is the address workers and HTTP blocks use to call back,
	// e.g. http://127.0.0.1:8080.
	PublicURL string
	// MaxBodyBytes limits request bodies (default 10 MiB); larger is 413.
	MaxBodyBytes int64
	// MaxArtifactBytes limits one artifact upload (default 5 GiB).
	MaxArtifactBytes int64
	// MaxOutputBytes limits a task's JSON output (default 1 MiB); larger
	// is 413 output_too_large and fails the attempt.
	MaxOutputBytes int64
	// AuthRequired turns token checks on (set by cmd/weft from the listen
	// address and the tokens configured, docs/operations.md).
	AuthRequired bool
	// AuthReason says why auth is on or off; it is logged at start.
	AuthReason string
	// MinCronInterval is the shortest time allowed between two firings of
	// an uploaded flow's cron trigger (flows.DefaultMinCronInterval when
	// zero).
	MinCronInterval time.Duration
	// MaxLogBytes bounds one step's log (default engine.DefaultMaxLog).
	MaxLogBytes int64
	// RunnerToken, when set, is a secret that acts as a worker token: the
	// command runner inside weft serve --run-commands presents it. It is
	// made anew at each start and never stored.
	RunnerToken string
}

// Deps are the parts the server calls.
type Deps struct {
	Engine  Engine
	Catalog Catalog
	// Tokens looks up API tokens; required when AuthRequired.
	Tokens TokenStore
	// Ready reports database readiness for /readyz; when nil, Catalog is
	// used if it implements Readier.
	Ready  Readier
	Logger *slog.Logger
	// Registry receives the server's metrics and is served at /metrics;
	// a new registry when nil.
	Registry *prometheus.Registry
	// Artifacts is the artifact store (docs/concepts.md); its endpoints answer
	// 501 when it is not set.
	Artifacts ArtifactDeps
	// BlockStoredFunc, when set, is called after a block definition was
	// stored (the HTTP dispatcher uses it to start polling a new queue).
	BlockStoredFunc func(def *blocks.Definition)
	// CheckBlockFunc, when set, is asked about a block definition that
	// parsed, before it is stored: problems it names refuse the upload
	// (the Kubernetes dispatcher checks the Job namespace).
	CheckBlockFunc func(ctx context.Context, def *blocks.Definition) []*jsoncheck.ValidationError
	// Logs keeps step logs; without it the log endpoints answer 501.
	Logs LogStore
}

// Readier reports whether the database is reachable and migrated.
type Readier interface {
	Ready(ctx context.Context) error
}

// ReadyFunc adapts a function (such as the store's Ping) to Readier.
type ReadyFunc func(ctx context.Context) error

// Ready calls f.
func (f ReadyFunc) Ready(ctx context.Context) error { return f(ctx) }

// Server implements http.Handler.
type Server struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	echo    *echo.Echo
	metrics *metrics
	// htmlError, when set by the pages, renders errors for browsers
	// outside /api/.
	htmlError func(c echo.Context, status int, msg string)

	health  health
	logWake logWaker // wakes log follows in this process

	drainOnce sync.Once
	draining  chan struct{}
}

// New builds the server and its routes.
func New(cfg Config, deps Deps) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 10 << 20
	}
	if cfg.MaxArtifactBytes <= 0 {
		cfg.MaxArtifactBytes = DefaultMaxArtifactBytes
	}
	if cfg.MaxOutputBytes <= 0 {
		cfg.MaxOutputBytes = DefaultMaxOutputBytes
	}
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	if deps.Ready == nil {
		if r, ok := deps.Catalog.(Readier); ok {
			deps.Ready = r
		}
	}
	s := &Server{cfg: cfg, deps: deps, log: log, echo: echo.New(), draining: make(chan struct{})}
	s.health.duration = fullFor
	s.metrics = newMetrics(deps.Registry, deps.Engine)
	s.echo.HideBanner = true
	s.echo.HidePort = true
	s.echo.HTTPErrorHandler = s.handleError
	s.routes()
	if cfg.AuthRequired {
		log.Info("authentication required: send Authorization: Bearer <token>", "reason", cfg.AuthReason)
	} else {
		log.Warn("authentication off: every request is allowed", "reason", cfg.AuthReason)
	}
	return s
}

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// Drain ends parked long-polls and run waits (they answer at once, empty
// or with the run as it is), so a graceful shutdown need not wait for
// them. Other requests are left to finish.
func (s *Server) Drain() { s.drainOnce.Do(func() { close(s.draining) }) }

// parkCtx is the request's context, also ended by Drain.
func (s *Server) parkCtx(c echo.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(c.Request().Context())
	go func() {
		select {
		case <-s.draining:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
