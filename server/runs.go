package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/weftlabs/weft/engine"
)

// runAnswer is a run as the API shows it: steps always present (possibly
// empty) unless left out with ?steps=false.
type runAnswer struct {
	engine.Run
	Steps *[]engine.Step `json:"steps,omitempty"`
}

func answerRun(r engine.Run, withSteps bool) runAnswer {
	a := runAnswer{Run: r}
	if withSteps {
		steps := r.Steps
		if steps == nil {
			steps = []engine.Step{}
		}
		a.Steps = &steps
	}
	return a
}

type startRequest struct {
	Input          json.RawMessage `json:"input"`
	Version        int             `json:"version"`
	IdempotencyKey string          `json:"idempotency_key"`
}

// postRun starts a run of a flow: 201, or 200 with the existing run for a
// known idempotency key.
func (s *Server) postRun(c echo.Context) error {
	var req startRequest
	if _, err := decodeBody(c, &req, true); err != nil {
		return err
	}
	if req.Version < 0 {
		return badRequest("version must be a positive whole number, or left out for the latest")
	}
	return s.start(c, engine.StartParams{
		Flow:           c.Param("name"),
		Version:        req.Version,
		Input:          emptyObject(req.Input),
		IdempotencyKey: req.IdempotencyKey,
		Trigger:        "api",
		Actor:          principalOf(c).actor(),
	})
}

func (s *Server) start(c echo.Context, p engine.StartParams) error {
	run, created, err := s.deps.Engine.StartRun(c.Request().Context(), p)
	if err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return notFound("no flow %s; upload it with POST /api/v1/flows", nameAt(p.Flow, p.Version))
		}
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, answerRun(run, true))
}

func emptyObject(b json.RawMessage) json.RawMessage {
	if len(strings.TrimSpace(string(b))) == 0 || string(b) == "null" {
		return json.RawMessage("{}")
	}
	return b
}

func parseStatuses(v string) ([]engine.RunStatus, error) {
	if v == "" {
		return nil, nil
	}
	known := []engine.RunStatus{engine.RunQueued, engine.RunRunning, engine.RunWaiting, engine.RunPaused, engine.RunSucceeded,
		engine.RunFailed, engine.RunCancelled, engine.RunTimedOut}
	var out []engine.RunStatus
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		ok := false
		for _, k := range known {
			if string(k) == s {
				out, ok = append(out, k), true
			}
		}
		if !ok {
			return nil, badRequest("status %q is not a run status; use queued, running, waiting, paused, succeeded, failed, cancelled or timed_out", s)
		}
	}
	return out, nil
}

type runList struct {
	Runs       []runAnswer `json:"runs"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

// listRuns lists runs newest first, keyset paginated.
func (s *Server) listRuns(c echo.Context) error {
	limit, err := queryLimit(c)
	if err != nil {
		return err
	}
	since, err := queryTime(c, "since")
	if err != nil {
		return err
	}
	until, err := queryTime(c, "until")
	if err != nil {
		return err
	}
	sts, err := parseStatuses(c.QueryParam("status"))
	if err != nil {
		return err
	}
	page, err := s.deps.Engine.ListRuns(c.Request().Context(), engine.RunFilter{
		Flow: c.QueryParam("flow"), Statuses: sts, Since: since, Until: until,
		Search: c.QueryParam("q"), Limit: limit, Cursor: c.QueryParam("cursor"),
	})
	if errors.Is(err, engine.ErrInvalidInput) {
		return badRequest("%s", err)
	}
	if err != nil {
		return err
	}
	out := runList{Runs: make([]runAnswer, 0, len(page.Runs)), NextCursor: page.NextCursor}
	for _, r := range page.Runs {
		out.Runs = append(out.Runs, answerRun(r, false))
	}
	return c.JSON(http.StatusOK, out)
}

// getRun shows a run with its steps (?steps=false leaves them out).
func (s *Server) getRun(c echo.Context) error {
	withSteps := c.QueryParam("steps") != "false"
	run, err := s.deps.Engine.GetRun(c.Request().Context(), c.Param("id"), withSteps)
	if err != nil {
		return runErr(c, err)
	}
	return c.JSON(http.StatusOK, answerRun(run, withSteps))
}

// Run wait bounds.
const (
	defaultWait = 30 * time.Second
	maxWait     = 5 * time.Minute
)

// getRunWait parks until the run settles or the timeout passes.
func (s *Server) getRunWait(c echo.Context) error {
	d, err := queryDuration(c, "timeout", defaultWait, maxWait)
	if err != nil {
		return err
	}
	ctx, cancel := s.parkCtx(c)
	defer cancel()
	run, err := s.deps.Engine.WaitRun(ctx, c.Param("id"), d)
	if err != nil && ctx.Err() != nil && c.Request().Context().Err() == nil {
		run, err = s.deps.Engine.GetRun(c.Request().Context(), c.Param("id"), false) // draining
	}
	if err != nil {
		return runErr(c, err)
	}
	withSteps := c.QueryParam("steps") != "false"
	if withSteps && run.Steps == nil {
		if r, err := s.deps.Engine.GetRun(c.Request().Context(), run.ID, true); err == nil {
			run = r
		}
	}
	return c.JSON(http.StatusOK, answerRun(run, withSteps))
}

// listRunEvents lists a run's history, oldest first, paged by cursor.
func (s *Server) listRunEvents(c echo.Context) error {
	limit, err := queryLimit(c)
	if err != nil {
		return err
	}
	var after int64
	if v := c.QueryParam("cursor"); v != "" {
		after, err = strconv.ParseInt(v, 10, 64)
		if err != nil || after < 0 {
			return badRequest("cursor %q is not one this server handed out", v)
		}
	}
	id := c.Param("id")
	evs, err := s.deps.Engine.Events(c.Request().Context(), id, after, limit)
	if err != nil {
		return runErr(c, err)
	}
	if len(evs) == 0 && after == 0 {
		if _, err := s.deps.Engine.GetRun(c.Request().Context(), id, false); err != nil {
			return runErr(c, err)
		}
	}
	out := map[string]any{"events": evs}
	if evs == nil {
		out["events"] = []engine.Event{}
	}
	if len(evs) == limit {
		out["next_cursor"] = strconv.FormatInt(evs[len(evs)-1].Seq, 10)
	}
	return c.JSON(http.StatusOK, out)
}

func runErr(c echo.Context, err error) error {
	if errors.Is(err, engine.ErrNotFound) {
		return notFound("no run %q", c.Param("id"))
	}
	return err
}

// postRunCancel cancels a run.
func (s *Server) postRunCancel(c echo.Context) error {
	return s.act(c, s.deps.Engine.Cancel)
}

// postRunPause pauses a run.
func (s *Server) postRunPause(c echo.Context) error {
	return s.act(c, s.deps.Engine.Pause)
}

// postRunResume resumes a paused run.
func (s *Server) postRunResume(c echo.Context) error {
	return s.act(c, s.deps.Engine.Resume)
}

// postRunRetry retries a failed run from its failed steps.
func (s *Server) postRunRetry(c echo.Context) error {
	return s.act(c, s.deps.Engine.Retry)
}

// act applies an operator action and answers the run.
func (s *Server) act(c echo.Context, fn func(ctx context.Context, runID, actor string) error) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	if err := fn(ctx, id, principalOf(c).actor()); err != nil {
		return runErr(c, err)
	}
	run, err := s.deps.Engine.GetRun(ctx, id, false)
	if err != nil {
		return runErr(c, err)
	}
	return c.JSON(http.StatusOK, answerRun(run, false))
}

type rerunRequest struct {
	From   string          `json:"from"`
	Input  json.RawMessage `json:"input"`
	Latest bool            `json:"latest"`
}

// postRunRerun reruns a run from a chosen block.
func (s *Server) postRunRerun(c echo.Context) error {
	var req rerunRequest
	if _, err := decodeBody(c, &req, false); err != nil {
		return err
	}
	if req.From == "" {
		return &apiError{status: http.StatusUnprocessableEntity, code: "validation_failed",
			msg: "from is required: name the ref to rerun from"}
	}
	if string(req.Input) == "null" {
		req.Input = nil
	}
	run, err := s.deps.Engine.Rerun(c.Request().Context(), c.Param("id"), engine.RerunParams{
		From: req.From, Input: req.Input, Latest: req.Latest, Actor: principalOf(c).actor(),
	})
	if err != nil {
		return runErr(c, err)
	}
	status := http.StatusOK
	if run.ID != c.Param("id") {
		status = http.StatusCreated
	}
	return c.JSON(status, answerRun(run, true))
}

// postRunSignal delivers a named signal; the body is its payload.
func (s *Server) postRunSignal(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := checkJSON(body); err != nil {
			return err
		}
	}
	err = s.deps.Engine.Signal(c.Request().Context(), c.Param("id"), c.Param("name"), rawOrNull(body), principalOf(c).actor())
	if err != nil {
		return runErr(c, err)
	}
	return c.NoContent(http.StatusNoContent)
}

type bulkRequest struct {
	Action string   `json:"action"`
	IDs    []string `json:"ids"`
	Flow   string   `json:"flow"`
	Status string   `json:"status"`
}

type bulkResult struct {
	ID    string `json:"id"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// maxBulk bounds the runs one bulk action touches.
const maxBulk = 500

// postRunsBulk applies cancel, pause, resume or retry to the listed runs
// (ids) or to the runs matching flow and status, at most 500, and answers
// each run's outcome.
func (s *Server) postRunsBulk(c echo.Context) error {
	var req bulkRequest
	if _, err := decodeBody(c, &req, false); err != nil {
		return err
	}
	var fn func(ctx context.Context, runID, actor string) error
	switch req.Action {
	case "cancel":
		fn = s.deps.Engine.Cancel
	case "pause":
		fn = s.deps.Engine.Pause
	case "resume":
		fn = s.deps.Engine.Resume
	case "retry":
		fn = s.deps.Engine.Retry
	default:
		return badRequest("action %q: use cancel, pause, resume or retry", req.Action)
	}
	ctx := c.Request().Context()
	ids := req.IDs
	if len(ids) == 0 {
		sts, err := parseStatuses(req.Status)
		if err != nil {
			return err
		}
		if req.Flow == "" && len(sts) == 0 {
			return badRequest("name the runs: ids, or a flow and/or status filter")
		}
		page, err := s.deps.Engine.ListRuns(ctx, engine.RunFilter{Flow: req.Flow, Statuses: sts, Limit: maxBulk})
		if err != nil {
			return err
		}
		for _, r := range page.Runs {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) > maxBulk {
		return badRequest("%d runs is over the maximum of %d per bulk action", len(ids), maxBulk)
	}
	actor := principalOf(c).actor()
	out := make([]bulkResult, 0, len(ids))
	for _, id := range ids {
		res := bulkResult{ID: id, OK: true}
		if err := fn(ctx, id, actor); err != nil {
			_, info := s.classify(err, c)
			res.OK, res.Error = false, info.Message
		}
		out = append(out, res)
	}
	return c.JSON(http.StatusOK, map[string]any{"results": out})
}
