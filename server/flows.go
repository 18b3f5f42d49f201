package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/flows"
)

// postFlow validates and stores a blueprint: 201 for a new version, 200
// when identical to a stored one, 422 with every problem.
func (s *Server) postFlow(c echo.Context) error {
	bp, err := s.parseFlow(c)
	if err != nil {
		return err
	}
	v, created, err := s.deps.Catalog.PutFlow(c.Request().Context(), bp)
	if err != nil {
		if errors.Is(err, engine.ErrConflict) {
			return &apiError{status: http.StatusConflict, code: "conflict",
				msg: "flow " + bp.Name + " version " + itoa(bp.Version) + " already exists with different content; leave out version to store the next one"}
		}
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, stored{Name: bp.Name, Version: v})
}

// postFlowValidate validates a blueprint and stores nothing.
func (s *Server) postFlowValidate(c echo.Context) error {
	bp, err := s.parseFlow(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"valid": true, "name": bp.Name, "problems": []any{}})
}

func (s *Server) parseFlow(c echo.Context) (*flows.Blueprint, error) {
	body, err := readBody(c)
	if err != nil {
		return nil, err
	}
	if err := checkJSON(body); err != nil {
		return nil, err
	}
	bp, err := flows.ParseWith(body, s.deps.Catalog, s.parseOptions())
	if err != nil {
		return nil, err
	}
	ctx := c.Request().Context()
	if err := flows.CheckSubflowCycles(bp, func(name string, version int) (*flows.Blueprint, error) {
		return s.deps.Catalog.GetFlow(ctx, name, version)
	}); err != nil {
		return nil, err
	}
	return bp, nil
}

// listFlows lists every flow with its latest version.
func (s *Server) listFlows(c echo.Context) error {
	fs, err := s.deps.Catalog.ListFlows(c.Request().Context())
	if err != nil {
		return err
	}
	if fs == nil {
		fs = []engine.FlowSummary{}
	}
	return c.JSON(http.StatusOK, map[string]any{"flows": fs})
}

// getFlow shows the latest version of a flow as uploaded.
func (s *Server) getFlow(c echo.Context) error { return s.showFlow(c, 0) }

// getFlowVersion shows one version of a flow as uploaded.
func (s *Server) getFlowVersion(c echo.Context) error {
	v, err := pathInt(c, "version")
	if err != nil {
		return err
	}
	return s.showFlow(c, v)
}

func (s *Server) showFlow(c echo.Context, version int) error {
	bp, err := s.deps.Catalog.GetFlow(c.Request().Context(), c.Param("name"), version)
	if err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return notFound("no flow %s; upload it with POST /api/v1/flows", nameAt(c.Param("name"), version))
		}
		return err
	}
	return c.JSONBlob(http.StatusOK, flowJSON(bp))
}

// flowJSON is the uploaded document with its stored version set.
func flowJSON(bp *flows.Blueprint) []byte {
	var m map[string]json.RawMessage
	if len(bp.Raw) == 0 || json.Unmarshal(bp.Raw, &m) != nil {
		b, _ := json.Marshal(bp)
		return b
	}
	m["version"] = json.RawMessage(strconv.Itoa(bp.Version))
	b, err := json.Marshal(m)
	if err != nil {
		b, _ = json.Marshal(bp)
	}
	return b
}

// listFlowVersions lists the stored versions of a flow.
func (s *Server) listFlowVersions(c echo.Context) error {
	vs, err := s.deps.Catalog.FlowVersions(c.Request().Context(), c.Param("name"))
	if err == nil && len(vs) == 0 {
		err = engine.ErrNotFound
	}
	if err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return notFound("no flow %s", c.Param("name"))
		}
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"name": c.Param("name"), "versions": vs})
}

func itoa(n int) string { return strconv.Itoa(n) }

// parseOptions are the rules uploaded flows are held to.
func (s *Server) parseOptions() flows.ParseOptions {
	return flows.ParseOptions{MinCronInterval: s.cfg.MinCronInterval}
}
