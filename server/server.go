// Package server is Weft's HTTP surface: the JSON API under /api/v1, the
// worker protocol, webhooks, health and metrics, and the server-rendered UI.
package server

import (
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
)

// Config configures the HTTP server.
type Config struct {
	// PublicURL is the address workers and HTTP blocks use to call back,
	// e.g. http://127.0.0.1:8080.
	PublicURL string
	// MaxBodyBytes limits request bodies (default 10 MiB); larger is 413.
	MaxBodyBytes int64
	// AuthRequired turns token checks on (set by cmd/weft from the listen
	// address and the tokens configured, DESIGN.md §11).
	AuthRequired bool
}

// Deps are the parts the server calls.
type Deps struct {
	Engine  Engine
	Catalog Catalog
	Logger  *slog.Logger
}

// Server implements http.Handler.
type Server struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	echo *echo.Echo
}

// New builds the server and its routes.
func New(cfg Config, deps Deps) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 10 << 20
	}
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, deps: deps, log: log, echo: echo.New()}
	s.echo.HideBanner = true
	s.echo.HidePort = true
	s.routes()
	return s
}

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }
