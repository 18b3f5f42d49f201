package server

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/weftlabs/weft/ui"
)

// getRunJSONText serves a run's or a step's input or output as pretty
// JSON text: what the run page's live part leaves out when it is large.
func (s *Server) getRunJSONText(c echo.Context) error {
	id, step, part := c.Param("id"), c.QueryParam("step"), c.QueryParam("part")
	if part != "input" && part != "output" {
		return s.pageError(c, http.StatusBadRequest, "Unknown part "+quote(part)+".", "Ask for part=input or part=output.")
	}
	run, err := s.deps.Engine.GetRun(c.Request().Context(), id, step != "")
	if err != nil {
		return s.engineError(c, err, "Run "+quote(id))
	}
	var raw json.RawMessage
	found := step == ""
	if found {
		raw = run.Input
		if part == "output" {
			raw = run.Output
		}
	}
	for _, st := range run.Steps {
		if st.Path == step {
			found = true
			raw = st.Input
			if part == "output" {
				raw = st.Output
			}
		}
	}
	if !found {
		return s.pageError(c, http.StatusNotFound, "Run "+quote(id)+" has no step "+quote(step)+".", "")
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("X-Content-Type-Options", "nosniff")
	text := ui.PrettyJSON(raw)
	if max, err := strconv.Atoi(c.QueryParam("max")); err == nil && max > 0 {
		text, _ = ui.Cut(text, max)
	}
	return c.String(http.StatusOK, text)
}
