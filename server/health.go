package server

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/flows"
)

// getHealthz answers 200 while the process serves.
func (s *Server) getHealthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// getReadyz answers 200 when the database is reachable and migrated, else
// 503; also 503 for a while after a write failed because the database or
// its disk was full (a full disk still answers the read the check makes).
func (s *Server) getReadyz(c echo.Context) error {
	if s.deps.Ready == nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable",
			"reason": "no readiness check configured"})
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
	defer cancel()
	if err := s.deps.Ready.Ready(ctx); err != nil {
		s.log.Warn("not ready", "err", err)
		c.Response().Header().Set("Retry-After", retryAfter)
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": err.Error()})
	}
	if why := s.health.full(); why != "" {
		c.Response().Header().Set("Retry-After", retryAfter)
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable",
			"reason": why + " (a write failed in the last " + fullFor.String() + "); free space, then writes succeed again"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

// getFlowSchema serves the blueprint JSON Schema.
func (s *Server) getFlowSchema(c echo.Context) error { return serveSchema(c, flowSchema()) }

// getBlockSchema serves the block definition JSON Schema.
func (s *Server) getBlockSchema(c echo.Context) error { return serveSchema(c, blockSchema()) }

func serveSchema(c echo.Context, b []byte) error {
	if len(b) == 0 {
		return notFound("this build has no JSON Schema for %s", c.Path())
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=300")
	return c.Blob(http.StatusOK, "application/schema+json", b)
}

func flowSchema() []byte  { return flows.SchemaJSON }
func blockSchema() []byte { return blocks.SchemaJSON }
