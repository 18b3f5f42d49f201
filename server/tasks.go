package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/engine"
)

// Poll bounds (DESIGN.md §6).
const (
	maxPollTasks = 100
	maxPollWait  = 60 * time.Second
	defPollWait  = 30 * time.Second
)

type pollRequest struct {
	WorkerID  string             `json:"worker_id"`
	Queues    []string           `json:"queues"`
	Max       int                `json:"max"`
	Wait      string             `json:"wait"`
	Resources map[string]float64 `json:"resources"`
}

// postTaskPoll long-polls for tasks: it parks until work exists or wait
// passes, then answers {"tasks": [...]}.
func (s *Server) postTaskPoll(c echo.Context) error {
	var req pollRequest
	if _, err := decodeBody(c, &req, false); err != nil {
		return err
	}
	var problems []string
	if strings.TrimSpace(req.WorkerID) == "" {
		problems = append(problems, "worker_id is required: name the worker (e.g. its host and pid)")
	}
	if len(req.Queues) == 0 {
		problems = append(problems, "queues is required: list the queues this worker serves (a worker block's queue is its name unless dispatch.queue says otherwise)")
	}
	for _, q := range req.Queues {
		if blocks.IsHTTPQueue(q) {
			problems = append(problems, "queue "+q+" belongs to the server's HTTP dispatcher")
		}
	}
	if req.Max == 0 {
		req.Max = 1
	}
	if req.Max < 0 || req.Max > maxPollTasks {
		problems = append(problems, "max must be between 1 and 100")
	}
	wait := defPollWait
	if req.Wait != "" {
		d, err := blocks.ParseDuration(req.Wait)
		switch {
		case err != nil:
			problems = append(problems, "wait: "+err.Error())
		case d > maxPollWait:
			problems = append(problems, "wait must be at most 60s")
		default:
			wait = d
		}
	}
	if len(problems) > 0 {
		return badRequest("%s", strings.Join(problems, "; "))
	}
	start := time.Now()
	ctx, cancel := s.parkCtx(c)
	defer cancel()
	tasks, err := s.deps.Engine.Poll(ctx, engine.PollParams{
		WorkerID: req.WorkerID, Queues: req.Queues, Max: req.Max, Wait: wait, Resources: req.Resources,
	})
	if err != nil {
		if c.Request().Context().Err() != nil {
			return nil // the worker went away
		}
		if ctx.Err() == nil {
			return err
		}
		tasks = nil // draining: answer empty, the worker polls again elsewhere
	}
	if tasks == nil {
		tasks = []engine.Task{}
	}
	if len(tasks) > 0 && c.Request().Context().Err() != nil {
		// The worker left after the claim: give the tasks back now
		// rather than let their leases lapse.
		s.releaseLost(c, tasks)
		return nil
	}
	s.metrics.polled(tasks, time.Since(start))
	if err := c.JSON(http.StatusOK, map[string]any{"tasks": tasks}); err != nil {
		s.releaseLost(c, tasks) // the answer did not get out
		return err
	}
	return nil
}

// releaseLost gives back tasks whose poll answer did not reach the worker.
func (s *Server) releaseLost(c echo.Context, tasks []engine.Task) {
	if len(tasks) == 0 {
		return
	}
	if err := s.deps.Engine.Release(context.WithoutCancel(c.Request().Context()), tasks); err != nil {
		s.log.Warn("give back tasks of a lost poll answer; their leases will lapse", "err", err)
	}
}

type leaseRequest struct {
	Lease string `json:"lease"`
}

type completeRequest struct {
	Lease  string          `json:"lease"`
	Output json.RawMessage `json:"output"`
}

type failRequest struct {
	Lease string `json:"lease"`
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	} `json:"error"`
	Retryable bool `json:"retryable"`
}

func needLease(lease string) error {
	if lease == "" {
		return badRequest("lease is required: send back the lease the poll answered, unchanged")
	}
	return nil
}

// postTaskComplete reports a task's output: 204, or 409 lease_conflict.
func (s *Server) postTaskComplete(c echo.Context) error {
	var req completeRequest
	if _, err := decodeBody(c, &req, false); err != nil {
		return err
	}
	if err := needLease(req.Lease); err != nil {
		return err
	}
	id := c.Param("id")
	if err := s.deps.Engine.Complete(c.Request().Context(), id, req.Lease, rawOrNull(req.Output)); err != nil {
		return err
	}
	s.metrics.reported(id, "succeeded")
	return c.NoContent(http.StatusNoContent)
}

// postTaskFail reports a task's failure: 204, or 409 lease_conflict.
func (s *Server) postTaskFail(c echo.Context) error {
	var req failRequest
	if _, err := decodeBody(c, &req, false); err != nil {
		return err
	}
	if err := needLease(req.Lease); err != nil {
		return err
	}
	if req.Error.Message == "" {
		req.Error.Message = "the worker reported a failure without a message"
	}
	id := c.Param("id")
	err := s.deps.Engine.Fail(c.Request().Context(), id, req.Lease, engine.TaskError{
		Message: req.Error.Message, Type: req.Error.Type, Retryable: req.Retryable,
	})
	if err != nil {
		return err
	}
	s.metrics.reported(id, "failed")
	return c.NoContent(http.StatusNoContent)
}

// postTaskHeartbeat extends a task's lease.
func (s *Server) postTaskHeartbeat(c echo.Context) error {
	var req leaseRequest
	if _, err := decodeBody(c, &req, false); err != nil {
		return err
	}
	if err := needLease(req.Lease); err != nil {
		return err
	}
	res, err := s.deps.Engine.Heartbeat(c.Request().Context(), c.Param("id"), req.Lease)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}
