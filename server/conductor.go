package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/flows"
	"github.com/weftlabs/weft/internal/auth"
	"github.com/weftlabs/weft/internal/conductor"
)

// Conductor's worker, metadata and workflow endpoints (docs/conductor.md),
// answered from Weft's own engine: a Conductor task type is a Weft queue,
// a Conductor task is a Weft task under its lease, a workflow is a run.

// conductorRoutes registers the Conductor-compatible endpoints under /api.
func (s *Server) conductorRoutes() {
	e := s.echo
	viewer := s.require(auth.Viewer)
	operator := s.require(auth.Operator)
	worker := s.require(auth.Worker)
	admin := s.require(auth.Admin)
	add := func(method, path string, h echo.HandlerFunc, mw ...echo.MiddlewareFunc) {
		e.Add(method, "/api"+path, h, append([]echo.MiddlewareFunc{conductorAuth}, mw...)...)
	}
	add(http.MethodPost, "/token", s.postConductorToken)
	add(http.MethodGet, "/tasks/poll/batch/:tasktype", s.getConductorBatchPoll, worker)
	add(http.MethodGet, "/tasks/poll/:tasktype", s.getConductorPoll, worker)
	add(http.MethodPost, "/tasks", s.postConductorTaskUpdate, s.requireLease)
	add(http.MethodPost, "/tasks/update-v2", s.postConductorTaskUpdateV2, s.requireLease)
	add(http.MethodPost, "/tasks/:taskId/log", s.postConductorTaskLog, s.requireLease)
	add(http.MethodPost, "/tasks/:workflowId/:taskRefName/:status", s.postConductorTaskByRef, operator)
	add(http.MethodPost, "/metadata/taskdefs", s.postConductorMetadata, admin)
	add(http.MethodPost, "/metadata/workflow", s.postConductorMetadata, admin)
	add(http.MethodPut, "/metadata/workflow", s.postConductorMetadata, admin)
	add(http.MethodPost, "/workflow", s.postConductorStart, operator)
	add(http.MethodPost, "/workflow/:name", s.postConductorStartByName, operator)
	add(http.MethodGet, "/workflow/:id", s.getConductorWorkflow, viewer)
}

// isConductorPath reports whether path is one of Conductor's endpoints,
// whose errors take Conductor's shape.
func isConductorPath(path string) bool {
	return strings.HasPrefix(path, "/api/") && !strings.HasPrefix(path, "/api/v1/")
}

func conductorErrorBody(status int, info errorInfo) conductor.ErrorResponse {
	msg := info.Message
	for _, d := range info.Details {
		msg += "; " + d.Error()
	}
	return conductor.ErrorResponse{Status: status, Message: msg, Retryable: status == http.StatusServiceUnavailable}
}

// conductorAuth accepts Conductor's X-Authorization header as the bearer
// token when no Authorization header is sent.
func conductorAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header
		if x := h.Get("X-Authorization"); x != "" && h.Get("Authorization") == "" {
			if !strings.HasPrefix(x, "Bearer ") {
				x = "Bearer " + x
			}
			h.Set("Authorization", x)
		}
		return next(c)
	}
}

// postConductorToken answers Conductor's key exchange: the key secret is
// a Weft token, handed back as the token when it is valid.
func (s *Server) postConductorToken(c echo.Context) error {
	var req struct {
		KeyID     string `json:"keyId"`
		KeySecret string `json:"keySecret"`
	}
	if _, err := decodeBody(c, &req, false); err != nil {
		return err
	}
	if s.cfg.AuthRequired {
		c.Request().Header.Set("Authorization", "Bearer "+req.KeySecret)
		if _, err := s.identify(c); err != nil {
			return s.authError(err)
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"token": req.KeySecret})
}

// conductorPoll reads a poll's query: workerid, count (1..100), timeout
// (milliseconds, at most 60s); domain is accepted and ignored (a Weft
// queue is the task type alone).
func conductorPoll(c echo.Context, batch bool) (engine.PollParams, error) {
	typ := c.Param("tasktype")
	if typ == "" || blocks.IsHTTPQueue(typ) {
		return engine.PollParams{}, badRequest("task type %q cannot be polled", typ)
	}
	p := engine.PollParams{WorkerID: c.QueryParam("workerid"), Queues: []string{typ}, Max: 1}
	if p.WorkerID == "" {
		p.WorkerID = "conductor-worker"
	}
	if batch {
		if v := c.QueryParam("count"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return p, badRequest("count %q must be a whole number from 1 to %d", v, maxPollTasks)
			}
			p.Max = min(n, maxPollTasks)
		}
		if v := c.QueryParam("timeout"); v != "" {
			ms, err := strconv.Atoi(v)
			if err != nil || ms < 0 {
				return p, badRequest("timeout %q must be milliseconds (a whole number)", v)
			}
			p.Wait = min(time.Duration(ms)*time.Millisecond, maxPollWait)
		}
	}
	return p, nil
}

// conductorTask shows a leased Weft task as a Conductor task.
func conductorTask(t engine.Task, typ string, now time.Time) conductor.Task {
	in := t.Input
	if len(in) == 0 || string(in) == "null" {
		in = json.RawMessage("{}")
	}
	ms := now.UnixMilli()
	return conductor.Task{
		TaskType: typ, TaskDefName: typ, Status: "IN_PROGRESS", InputData: in, OutputData: json.RawMessage("{}"),
		ReferenceTaskName: t.Ref, RetryCount: t.Attempt - 1, Retried: t.Attempt > 1, PollCount: 1, Seq: 1,
		ScheduledTime: ms, StartTime: ms, UpdateTime: ms, CallbackFromWorker: true,
		ResponseTimeoutSeconds: int64(max(t.Deadline.Sub(now), 0) / time.Second),
		WorkflowInstanceID:     t.RunID, TaskID: conductor.TaskID(t.ID, t.Lease, typ),
	}
}

func (s *Server) pollConductor(c echo.Context, batch bool) ([]conductor.Task, error) {
	p, err := conductorPoll(c, batch)
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.parkCtx(c)
	defer cancel()
	tasks, err := s.deps.Engine.Poll(ctx, p)
	if err != nil {
		if c.Request().Context().Err() != nil || ctx.Err() != nil {
			return nil, nil
		}
		return nil, err
	}
	if len(tasks) > 0 && c.Request().Context().Err() != nil {
		s.releaseLost(c, tasks)
		return nil, nil
	}
	out := make([]conductor.Task, len(tasks))
	now := time.Now()
	for i, t := range tasks {
		out[i] = conductorTask(t, p.Queues[0], now)
	}
	s.metrics.polled(tasks, 0)
	return out, nil
}

// getConductorBatchPoll answers a list of tasks ([] when none came).
func (s *Server) getConductorBatchPoll(c echo.Context) error {
	ts, err := s.pollConductor(c, true)
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []conductor.Task{}
	}
	return c.JSON(http.StatusOK, ts)
}

// getConductorPoll answers one task, or 204 when none is ready.
func (s *Server) getConductorPoll(c echo.Context) error {
	ts, err := s.pollConductor(c, false)
	if err != nil {
		return err
	}
	if len(ts) == 0 {
		return c.NoContent(http.StatusNoContent)
	}
	return c.JSON(http.StatusOK, ts[0])
}

// noSuchTask is Conductor's answer for a task id it does not know, or
// whose task is no longer offered under it.
func noSuchTask(id string) error {
	return &apiError{status: http.StatusNotFound, code: "not_found",
		msg: fmt.Sprintf("No such task found by taskId: %s (it is unknown, finished, or was offered again under a new id)", id)}
}

// updateConductorTask folds a TaskResult into the engine. With next it
// leases the worker's next task of the same type in the same transaction.
func (s *Server) updateConductorTask(c echo.Context, r conductor.TaskResult, next bool) (*conductor.Task, error) {
	id, lease, queue, ok := conductor.SplitTaskID(r.TaskID)
	if !ok {
		return nil, noSuchTask(r.TaskID)
	}
	ctx := c.Request().Context()
	if len(r.Logs) > 0 {
		if err := s.appendConductorLogs(c, id, lease, r.Logs); err != nil {
			if errors.Is(err, engine.ErrConflict) {
				return nil, noSuchTask(r.TaskID)
			}
			return nil, err
		}
	}
	rp := engine.ReportParams{TaskID: id, Lease: lease}
	switch r.Status {
	case "COMPLETED":
		out := r.OutputData
		if len(out) == 0 || string(out) == "null" {
			out = json.RawMessage("{}")
		}
		if s.cfg.MaxOutputBytes > 0 && int64(len(out)) > s.cfg.MaxOutputBytes {
			return nil, &apiError{status: http.StatusRequestEntityTooLarge, code: "output_too_large",
				msg: fmt.Sprintf("outputData is %d bytes; the largest task output is %d bytes: store large results as artifacts", len(out), s.cfg.MaxOutputBytes)}
		}
		rp.Output = out
	case "FAILED", "FAILED_WITH_TERMINAL_ERROR":
		msg := r.ReasonForIncompletion
		if msg == "" {
			msg = "the worker reported " + r.Status
		}
		rp.Error = &engine.TaskError{Message: msg, Type: r.Status, Retryable: r.Status == "FAILED"}
	case "IN_PROGRESS":
		var err error
		if r.CallbackAfterSeconds > 0 {
			err = s.deps.Engine.Defer(ctx, id, lease, time.Duration(r.CallbackAfterSeconds)*time.Second)
		} else {
			_, err = s.deps.Engine.Heartbeat(ctx, id, lease)
		}
		if errors.Is(err, engine.ErrConflict) {
			return nil, noSuchTask(r.TaskID)
		}
		return nil, err
	default:
		return nil, badRequest("status %q: send COMPLETED, FAILED, FAILED_WITH_TERMINAL_ERROR or IN_PROGRESS", r.Status)
	}
	typ := queue
	if next && !blocks.IsHTTPQueue(typ) { // HTTP blocks' queues belong to the dispatcher
		// The next task is of the same type: the queue the task came from.
		wid := r.WorkerID
		if wid == "" {
			wid = "conductor-worker"
		}
		rp.Next = &engine.PollParams{WorkerID: wid, Queues: []string{typ}, Max: 1}
	}
	tasks, err := s.deps.Engine.Report(ctx, rp)
	if err != nil {
		if errors.Is(err, engine.ErrConflict) {
			return nil, noSuchTask(r.TaskID)
		}
		return nil, err
	}
	if len(tasks) == 0 {
		return nil, nil
	}
	if ctx.Err() != nil {
		s.releaseLost(c, tasks)
		return nil, nil
	}
	t := conductorTask(tasks[0], typ, time.Now())
	if len(tasks) > 1 {
		s.releaseLost(c, tasks[1:])
	}
	return &t, nil
}

// postConductorTaskUpdate is POST /api/tasks: it answers the task id.
func (s *Server) postConductorTaskUpdate(c echo.Context) error {
	var r conductor.TaskResult
	if _, err := decodeBody(c, &r, false); err != nil {
		return err
	}
	if _, err := s.updateConductorTask(c, r, false); err != nil {
		return err
	}
	return c.String(http.StatusOK, r.TaskID)
}

// postConductorTaskUpdateV2 is POST /api/tasks/update-v2: it answers the
// worker's next task of the same type, or 204 when none is ready.
func (s *Server) postConductorTaskUpdateV2(c echo.Context) error {
	var r conductor.TaskResult
	if _, err := decodeBody(c, &r, false); err != nil {
		return err
	}
	t, err := s.updateConductorTask(c, r, true)
	if err != nil {
		return err
	}
	if t == nil {
		return c.NoContent(http.StatusNoContent)
	}
	return c.JSON(http.StatusOK, t)
}

// appendConductorLogs stores a worker's log lines in the step log.
func (s *Server) appendConductorLogs(c echo.Context, id, lease string, logs []conductor.TaskLog) error {
	ls, err := s.logs()
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	lines := make([]engine.LogLine, 0, len(logs))
	for _, l := range logs {
		ts := now
		if l.CreatedTime > 0 {
			ts = time.UnixMilli(l.CreatedTime).UTC()
		}
		lines = append(lines, engine.LogLine{Time: ts, Level: "info", Message: l.Log})
	}
	res, err := ls.AppendLogs(c.Request().Context(), engine.LogAppend{TaskID: id, Lease: lease, Lines: lines, MaxBytes: s.cfg.MaxLogBytes, Now: now})
	if err != nil {
		return err
	}
	if res.Stored > 0 || res.Marked {
		s.logWake.wake(res.RunID)
	}
	return nil
}

// postConductorTaskLog is POST /api/tasks/{taskId}/log: the body is the
// line, as a JSON string.
func (s *Server) postConductorTaskLog(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	var line string
	if err := json.Unmarshal(body, &line); err != nil {
		line = string(body)
	}
	id, lease, _, ok := conductor.SplitTaskID(c.Param("taskId"))
	if !ok {
		return noSuchTask(c.Param("taskId"))
	}
	if err := s.appendConductorLogs(c, id, lease, []conductor.TaskLog{{Log: line}}); err != nil {
		if errors.Is(err, engine.ErrConflict) {
			return noSuchTask(c.Param("taskId"))
		}
		return err
	}
	return c.NoContent(http.StatusOK)
}

// postConductorTaskByRef completes a WAIT or HUMAN task by its workflow
// and reference name, as Conductor's clients do: COMPLETED delivers the
// body as the payload of the wait's signal (named after its ref).
func (s *Server) postConductorTaskByRef(c echo.Context) error {
	if st := c.Param("status"); st != "COMPLETED" {
		return badRequest("status %q: a WAIT or HUMAN task in Weft can only be COMPLETED (it waits for a signal)", st)
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := checkJSON(body); err != nil {
			return err
		}
	}
	err = s.deps.Engine.Signal(c.Request().Context(), c.Param("workflowId"), conductor.RefName(c.Param("taskRefName")), rawOrNull(body), principalOf(c).actor())
	if err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return notFound("No such workflow found by id: %s", c.Param("workflowId"))
		}
		return runErr(c, err)
	}
	return c.String(http.StatusOK, c.Param("workflowId"))
}

// postConductorMetadata registers task definitions or workflow
// definitions: they are imported as Weft blocks and flows.
func (s *Server) postConductorMetadata(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	if err := checkJSON(body); err != nil {
		return err
	}
	if _, err := s.importConductor(c.Request().Context(), []conductor.Source{{Data: body}}); err != nil {
		return err
	}
	return c.NoContent(http.StatusOK)
}

// postConductorStart is POST /api/workflow with a StartWorkflowRequest;
// it answers the run id as text.
func (s *Server) postConductorStart(c echo.Context) error {
	var req conductor.StartWorkflowRequest
	if _, err := decodeBody(c, &req, false); err != nil {
		return err
	}
	if req.Name == "" {
		return badRequest("name the workflow to start")
	}
	return s.startConductor(c, req.Name, req.Version, req.Input, req.IdempotencyKey)
}

// postConductorStartByName is POST /api/workflow/{name}: the body is the
// input; version and correlationId come in the query.
func (s *Server) postConductorStartByName(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := checkJSON(body); err != nil {
			return err
		}
	}
	v := 0
	if q := c.QueryParam("version"); q != "" {
		if v, err = strconv.Atoi(q); err != nil || v < 0 {
			return badRequest("version %q must be a whole number", q)
		}
	}
	return s.startConductor(c, c.Param("name"), v, body, "")
}

// startConductor starts the flow a Conductor workflow was imported as.
// Conductor's version numbers are not Weft's: a version is honoured only
// when such a Weft version exists, else the latest runs.
func (s *Server) startConductor(c echo.Context, name string, version int, input json.RawMessage, key string) error {
	flow := conductor.FlowName(name)
	ctx := c.Request().Context()
	if version > 0 {
		if _, err := s.deps.Catalog.GetFlow(ctx, flow, version); err != nil {
			version = 0
		}
	}
	run, _, err := s.deps.Engine.StartRun(ctx, engine.StartParams{
		Flow: flow, Version: version, Input: emptyObject(input), IdempotencyKey: key,
		Trigger: "api", Actor: principalOf(c).actor(),
	})
	if err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return notFound("No such workflow found by name: %s (register it with POST /api/metadata/workflow)", name)
		}
		return err
	}
	return c.String(http.StatusOK, run.ID)
}

// getConductorWorkflow shows a run as a Conductor workflow execution.
func (s *Server) getConductorWorkflow(c echo.Context) error {
	ctx := c.Request().Context()
	withTasks := c.QueryParam("includeTasks") != "false"
	run, err := s.deps.Engine.GetRun(ctx, c.Param("id"), withTasks)
	if err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return notFound("No such workflow found by id: %s", c.Param("id"))
		}
		return err
	}
	w := conductor.Workflow{
		WorkflowID: run.ID, WorkflowName: run.Flow, WorkflowVersion: run.Version, Status: conductor.RunStatus(string(run.Status)),
		Input: orEmpty(run.Input), Output: orEmpty(run.Output), Tasks: []conductor.Task{},
		CreateTime: run.CreatedAt.UnixMilli(), StartTime: conductor.Millis(run.StartedAt), EndTime: conductor.Millis(run.FinishedAt),
		ParentWorkflowID: run.ParentRunID, FailedReferenceTaskNames: []string{}, Variables: map[string]any{},
	}
	w.UpdateTime = max(w.CreateTime, w.StartTime, w.EndTime)
	if run.Error != nil {
		w.ReasonForIncompletion = run.Error.Message
	}
	for i, st := range run.Steps {
		t := conductor.Task{
			TaskType: s.conductorType(st), Status: conductor.StepStatus(string(st.Status)), InputData: orEmpty(st.Input), OutputData: orEmpty(st.Output),
			ReferenceTaskName: st.Ref, RetryCount: max(st.Attempt-1, 0), Seq: i + 1, PollCount: st.Attempt,
			ScheduledTime: st.CreatedAt.UnixMilli(), StartTime: conductor.Millis(st.StartedAt), EndTime: conductor.Millis(st.FinishedAt),
			WorkflowInstanceID: run.ID, WorkflowType: run.Flow, TaskID: run.ID + "/" + st.Path, SubWorkflowID: st.ChildRunID,
		}
		t.TaskDefName = t.TaskType
		t.UpdateTime = max(t.ScheduledTime, t.StartTime, t.EndTime)
		if st.Error != nil {
			t.ReasonForIncompletion = st.Error.Message
			if st.Status == engine.StepFailed || st.Status == engine.StepTimedOut {
				w.FailedReferenceTaskNames = append(w.FailedReferenceTaskNames, st.Ref)
			}
		}
		w.Tasks = append(w.Tasks, t)
	}
	return c.JSON(http.StatusOK, w)
}

// conductorType names a step's block as a Conductor task type.
func (s *Server) conductorType(st engine.Step) string {
	switch st.Type {
	case flows.TypeDecision:
		return "SWITCH"
	case flows.TypeFork:
		return "FORK_JOIN"
	case flows.TypeMap:
		return "FORK_JOIN_DYNAMIC"
	case flows.TypeLoop:
		return "DO_WHILE"
	case flows.TypeLambda:
		return "INLINE"
	case flows.TypeWait:
		return "WAIT"
	case flows.TypeSubflow:
		return "SUB_WORKFLOW"
	case flows.TypeFail:
		return "TERMINATE"
	}
	if d, err := s.deps.Catalog.Block(st.Block, 0); err == nil {
		if d.Dispatch.Kind == blocks.DispatchHTTP {
			return "HTTP"
		}
		return d.Queue()
	}
	return st.Block
}

func orEmpty(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}
