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

// Poll bounds (docs/api.md).
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
	problems := checkWorker("", req.WorkerID, req.Queues, &req.Max)
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
	return s.handOver(c, tasks, time.Since(start))
}

// handOver answers {"tasks": [...]} with tasks leased for this request
// (a poll, or a report's next). When the worker left after they were
// leased, or the answer cannot be written, the tasks are given back at
// once rather than left leased until their leases lapse.
func (s *Server) handOver(c echo.Context, tasks []engine.Task, waited time.Duration) error {
	if tasks == nil {
		tasks = []engine.Task{}
	}
	if len(tasks) > 0 && c.Request().Context().Err() != nil {
		s.releaseLost(c, tasks)
		return nil
	}
	s.metrics.polled(tasks, waited)
	if err := c.JSON(http.StatusOK, map[string]any{"tasks": tasks}); err != nil {
		s.releaseLost(c, tasks)
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
	Next   *nextRequest    `json:"next"`
}

type failRequest struct {
	Lease string `json:"lease"`
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	} `json:"error"`
	Retryable bool         `json:"retryable"`
	Next      *nextRequest `json:"next"`
}

// nextRequest asks a report to lease the worker's next tasks in the same
// transaction: the answer is then 200 {"tasks": [...]} (possibly empty,
// and the worker long-polls) instead of 204.
type nextRequest struct {
	WorkerID  string             `json:"worker_id"`
	Queues    []string           `json:"queues"`
	Max       int                `json:"max"`
	Resources map[string]float64 `json:"resources"`
}

func (n *nextRequest) params() (*engine.PollParams, error) {
	if n == nil {
		return nil, nil
	}
	if problems := checkWorker("next.", n.WorkerID, n.Queues, &n.Max); len(problems) > 0 {
		return nil, badRequest("%s", strings.Join(problems, "; "))
	}
	return &engine.PollParams{WorkerID: n.WorkerID, Queues: n.Queues, Max: n.Max, Resources: n.Resources}, nil
}

// checkWorker checks what a worker says of itself when it asks for tasks
// (a poll, or a report's next): the problems, each naming its field
// under prefix. A max of 0 becomes 1.
func checkWorker(prefix, workerID string, queues []string, max *int) []string {
	var problems []string
	if strings.TrimSpace(workerID) == "" {
		problems = append(problems, prefix+"worker_id is required: name the worker (e.g. its host and pid)")
	}
	if len(queues) == 0 {
		problems = append(problems, prefix+"queues is required: list the queues this worker serves (a worker block's queue is its name unless dispatch.queue says otherwise)")
	}
	for _, q := range queues {
		if blocks.IsHTTPQueue(q) {
			problems = append(problems, prefix+"queues: queue "+q+" belongs to the server's HTTP dispatcher")
		} else if blocks.IsKubernetesQueue(q) {
			problems = append(problems, prefix+"queues: queue "+q+" belongs to the server's Kubernetes dispatcher")
		}
	}
	if *max == 0 {
		*max = 1
	}
	if *max < 0 || *max > maxPollTasks {
		problems = append(problems, prefix+"max must be between 1 and 100")
	}
	return problems
}

// reported answers a report: 204, or the next tasks when it asked for them.
func (s *Server) reported(c echo.Context, next *engine.PollParams, tasks []engine.Task) error {
	if next == nil {
		return c.NoContent(http.StatusNoContent)
	}
	return s.handOver(c, tasks, 0)
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
	next, err := req.Next.params()
	if err != nil {
		return err
	}
	id := c.Param("id")
	tasks, err := s.deps.Engine.Report(c.Request().Context(), engine.ReportParams{TaskID: id, Lease: req.Lease, Output: rawOrNull(req.Output), Next: next})
	if err != nil {
		return err
	}
	s.metrics.reported(id, "succeeded")
	return s.reported(c, next, tasks)
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
	next, err := req.Next.params()
	if err != nil {
		return err
	}
	id := c.Param("id")
	tasks, err := s.deps.Engine.Report(c.Request().Context(), engine.ReportParams{TaskID: id, Lease: req.Lease, Next: next,
		Error: &engine.TaskError{Message: req.Error.Message, Type: req.Error.Type, Retryable: req.Retryable}})
	if err != nil {
		return err
	}
	s.metrics.reported(id, "failed")
	return s.reported(c, next, tasks)
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
