package server

import (
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/weftlabs/weft/engine"
)

// postHook starts a run of a flow from a webhook: the body is the run's
// input; an Idempotency-Key header makes redeliveries start one run.
func (s *Server) postHook(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(body)) != "" {
		if err := checkJSON(body); err != nil {
			return err
		}
	}
	return s.start(c, engine.StartParams{
		Flow:           c.Param("flow"),
		Input:          emptyObject(body),
		IdempotencyKey: c.Request().Header.Get("Idempotency-Key"),
		Trigger:        "webhook",
		Actor:          "webhook:" + principalOf(c).name,
	})
}
