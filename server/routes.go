package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/weftlabs/weft/internal/auth"
)

// routes registers every route: the JSON API under /api/v1 and the HTML pages.
func (s *Server) routes() {
	e := s.echo
	e.Use(middleware.RequestID())
	e.Use(s.metrics.observe)
	e.Use(s.accessLog)
	e.Use(s.recoverPanic)
	e.Use(s.limitBody)
	e.Use(s.sameOrigin)
	e.Use(checkURL)
	e.Use(apiContentType)

	viewer := s.require(auth.Viewer)
	operator := s.require(auth.Operator)
	worker := s.require(auth.Worker)
	admin := s.require(auth.Admin)

	e.GET("/healthz", s.getHealthz)
	e.GET("/readyz", s.getReadyz)
	e.GET("/metrics", s.getMetrics, viewer)

	api := e.Group("/api/v1")
	api.GET("/schema/flow.json", s.getFlowSchema)
	api.GET("/schema/block.json", s.getBlockSchema)

	api.PUT("/blocks", s.putBlock, admin)
	api.GET("/blocks", s.listBlocks, viewer)
	api.GET("/blocks/:name", s.getBlock, viewer)
	api.GET("/blocks/:name/versions", s.listBlockVersions, viewer)
	api.GET("/blocks/:name/versions/:version", s.getBlockVersion, s.requireReader)

	api.POST("/flows/validate", s.postFlowValidate, viewer)
	api.POST("/flows", s.postFlow, admin)
	api.GET("/flows", s.listFlows, viewer)
	api.GET("/flows/:name", s.getFlow, viewer)
	api.GET("/flows/:name/versions", s.listFlowVersions, viewer)
	api.GET("/flows/:name/versions/:version", s.getFlowVersion, viewer)
	api.POST("/flows/:name/runs", s.postRun, operator)

	api.GET("/runs", s.listRuns, viewer)
	api.POST("/runs/bulk", s.postRunsBulk, operator)
	api.GET("/runs/:id", s.getRun, viewer)
	api.GET("/runs/:id/wait", s.getRunWait, viewer)
	api.GET("/runs/:id/events", s.listRunEvents, viewer)
	api.GET("/runs/:id/logs", s.getRunLogs, viewer)
	api.POST("/runs/:id/cancel", s.postRunCancel, operator)
	api.POST("/runs/:id/pause", s.postRunPause, operator)
	api.POST("/runs/:id/resume", s.postRunResume, operator)
	api.POST("/runs/:id/retry", s.postRunRetry, operator)
	api.POST("/runs/:id/rerun", s.postRunRerun, operator)
	api.POST("/runs/:id/signals/:name", s.postRunSignal, operator)

	api.POST("/tasks/poll", s.postTaskPoll, worker)
	api.POST("/tasks/:id/heartbeat", s.postTaskHeartbeat, s.requireLease)
	api.POST("/tasks/:id/complete", s.postTaskComplete, s.requireLease, s.limitOutput)
	api.POST("/tasks/:id/fail", s.postTaskFail, s.requireLease)
	api.POST("/tasks/:id/logs", s.postTaskLogs, s.requireLease)
	api.PUT("/tasks/:id/artifacts/:name", s.putTaskArtifact, s.requireLease)
	api.GET("/runs/:id/artifacts", s.listRunArtifacts, viewer)
	api.GET("/artifacts/:id", s.getArtifact, s.requireReader)
	api.HEAD("/artifacts/:id", s.getArtifact, s.requireReader)

	api.POST("/hooks/:flow", s.postHook, s.requireHook)

	api.POST("/import/conductor", s.postImportConductor, admin)

	api.POST("/tokens", s.postToken, admin)
	api.GET("/tokens", s.listTokens, admin)
	api.DELETE("/tokens/:id", s.deleteToken, admin)

	s.conductorRoutes()
	s.pageRoutes()
}

// accessLog writes one slog line per request.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		res := c.Response()
		level := slog.LevelInfo
		switch {
		case res.Status == http.StatusServiceUnavailable:
			level = slog.LevelWarn
		case res.Status >= 500:
			level = slog.LevelError
		case c.Path() == "/healthz" || c.Path() == "/readyz" || c.Path() == "/metrics" || c.Path() == "/api/v1/tasks/poll",
			c.Path() == "/api/tasks/poll/batch/:tasktype" || c.Path() == "/api/tasks/poll/:tasktype" || c.Path() == "/api/tasks/update-v2":
			level = slog.LevelDebug
		}
		s.log.LogAttrs(c.Request().Context(), level, "http request",
			slog.String("method", c.Request().Method),
			slog.String("path", c.Request().URL.Path),
			slog.Int("status", res.Status),
			slog.Int64("bytes", res.Size),
			slog.Duration("duration", time.Since(start)),
			slog.String("request_id", res.Header().Get(echo.HeaderXRequestID)),
			slog.String("remote", c.RealIP()),
		)
		return nil
	}
}

// recoverPanic turns a handler panic into a 500 with the stack logged.
func (s *Server) recoverPanic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.log.Error("handler panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return next(c)
	}
}
