package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/weftlabs/weft/engine"
)

// LogStore keeps step logs (docs/concepts.md; implemented by the store).
type LogStore interface {
	// AppendLogs appends under a task's lease; a stale lease is
	// engine.ErrConflict and stores nothing.
	AppendLogs(ctx context.Context, p engine.LogAppend) (engine.LogAppended, error)
	Logs(ctx context.Context, q engine.LogQuery) ([]engine.LogLine, error)
	// LogState is the run's status and the step's stored status ("" when
	// step is empty or has no row); engine.ErrNotFound for no such run.
	LogState(ctx context.Context, runID, step string) (engine.RunStatus, engine.StepStatus, error)
}

// Log read bounds.
const (
	defaultLogLimit = 1000
	maxLogLimit     = 5000
	// followRecheck is how often a follow looks again without a wake-up:
	// for lines another replica stored and for the step's end.
	followRecheck = time.Second
)

type logLineIn struct {
	TS      string `json:"ts"`
	Level   string `json:"level"`
	Message string `json:"message"`
}

type logAppendRequest struct {
	Lease string      `json:"lease"`
	Lines []logLineIn `json:"lines"`
}

// logLineOut is a line as the read API answers it.
type logLineOut struct {
	Step    string    `json:"step"`
	Attempt int       `json:"attempt"`
	TS      time.Time `json:"ts"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
}

type logPage struct {
	Lines      []logLineOut `json:"lines"`
	NextCursor string       `json:"next_cursor"`
}

// logLevel normalises a line's level; "" is info.
func logLevel(v string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "info", "information", "notice", "stdout":
		return engine.LogInfo, true
	case "debug", "trace":
		return engine.LogDebug, true
	case "warning", "warn":
		return engine.LogWarning, true
	case "error", "err", "stderr":
		return engine.LogError, true
	case "critical", "fatal":
		return engine.LogCritical, true
	}
	return "", false
}

func (s *Server) logs() (LogStore, error) {
	if s.deps.Logs == nil {
		return nil, &apiError{status: http.StatusNotImplemented, code: "not_implemented",
			msg: "this server keeps no step logs (it was started without a log store)"}
	}
	return s.deps.Logs, nil
}

// postTaskLogs appends lines to the log of the step a task runs: 204, or
// 409 lease_conflict (nothing stored).
func (s *Server) postTaskLogs(c echo.Context) error {
	ls, err := s.logs()
	if err != nil {
		return err
	}
	var req logAppendRequest
	if _, err := decodeBody(c, &req, false); err != nil {
		return err
	}
	if err := needLease(req.Lease); err != nil {
		return err
	}
	now := time.Now().UTC()
	lines := make([]engine.LogLine, len(req.Lines))
	var problems []string
	for i, l := range req.Lines {
		level, ok := logLevel(l.Level)
		if !ok {
			problems = append(problems, fmt.Sprintf("lines[%d].level %q: use debug, info, warning, error or critical", i, l.Level))
		}
		ts := now
		if l.TS != "" {
			t, err := time.Parse(time.RFC3339Nano, l.TS)
			if err != nil {
				problems = append(problems, fmt.Sprintf("lines[%d].ts %q is not an RFC 3339 time; write e.g. 2026-01-02T15:04:05.123Z", i, l.TS))
			}
			ts = t.UTC()
		}
		lines[i] = engine.LogLine{Time: ts, Level: level, Message: l.Message}
		if len(problems) >= 10 {
			break
		}
	}
	if len(problems) > 0 {
		return badRequest("%s", strings.Join(problems, "; "))
	}
	res, err := ls.AppendLogs(c.Request().Context(), engine.LogAppend{
		TaskID: c.Param("id"), Lease: req.Lease, Lines: lines, MaxBytes: s.cfg.MaxLogBytes, Now: now})
	if err != nil {
		return err
	}
	if res.Stored > 0 || res.Marked {
		s.logWake.wake(res.RunID)
	}
	if res.Marked {
		s.log.Warn("step log truncated at --max-log", "run_id", res.RunID, "step_ref", res.Step, "attempt", res.Attempt, "max_log", s.maxLog())
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) maxLog() int64 {
	if s.cfg.MaxLogBytes > 0 {
		return s.cfg.MaxLogBytes
	}
	return engine.DefaultMaxLog
}

// logQuery reads ?step=, ?after= (or the Last-Event-ID header of a
// reconnecting event stream) and ?limit=.
func logQuery(c echo.Context) (engine.LogQuery, error) {
	q := engine.LogQuery{RunID: c.Param("id"), Step: c.QueryParam("step"), Limit: defaultLogLimit}
	after := c.QueryParam("after")
	if after == "" {
		after = c.Request().Header.Get("Last-Event-ID")
	}
	if after != "" {
		n, err := strconv.ParseInt(after, 10, 64)
		if err != nil || n < 0 {
			return q, badRequest("after %q is not a cursor; send back a next_cursor (or an event id) this API answered", after)
		}
		q.After = n
	}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLogLimit {
			return q, badRequest("limit %q must be a whole number between 1 and %d; page with after instead", v, maxLogLimit)
		}
		q.Limit = n
	}
	return q, nil
}

func outLine(l engine.LogLine) logLineOut {
	return logLineOut{Step: l.Step, Attempt: l.Attempt, TS: l.Time, Level: l.Level, Message: l.Message}
}

// getRunLogs answers a page of a run's log lines, or with follow=true
// streams them as server-sent events until the step (or, without step,
// the run) ends.
func (s *Server) getRunLogs(c echo.Context) error {
	ls, err := s.logs()
	if err != nil {
		return err
	}
	q, err := logQuery(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, _, err := ls.LogState(ctx, q.RunID, q.Step); err != nil {
		return err
	}
	switch c.QueryParam("follow") {
	case "", "false", "0":
	case "true", "1":
		return s.followLogs(c, ls, q)
	default:
		return badRequest("follow %q: use true or false", c.QueryParam("follow"))
	}
	lines, err := ls.Logs(ctx, q)
	if err != nil {
		return err
	}
	page := logPage{Lines: make([]logLineOut, len(lines)), NextCursor: c.QueryParam("after")}
	for i, l := range lines {
		page.Lines[i] = outLine(l)
	}
	if n := len(lines); n > 0 {
		page.NextCursor = strconv.FormatInt(lines[n-1].Seq, 10)
	}
	return c.JSON(http.StatusOK, page)
}

// followLogs streams lines as they are stored: each line is an event with
// the line as JSON data and its cursor as id; an "end" event with the
// step's (or run's) status closes the stream.
func (s *Server) followLogs(c echo.Context, ls LogStore, q engine.LogQuery) error {
	ctx, cancel := s.parkCtx(c)
	defer cancel()
	w := c.Response()
	h := w.Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	w.Flush()
	q.Limit = 500
	tick := time.NewTicker(followRecheck)
	defer tick.Stop()
	for {
		woken := s.logWake.wait(q.RunID)
		run, step, err := ls.LogState(ctx, q.RunID, q.Step)
		if err != nil {
			return nil // the run was purged, or the client left
		}
		ended, status := run.Finished(), string(run)
		if q.Step != "" && step.Finished() {
			ended, status = true, string(step)
		}
		for {
			lines, err := ls.Logs(ctx, q)
			if err != nil {
				return nil
			}
			for _, l := range lines {
				b, _ := json.Marshal(outLine(l))
				fmt.Fprintf(w, "id: %d\ndata: %s\n\n", l.Seq, b)
				q.After = l.Seq
			}
			w.Flush()
			if len(lines) < q.Limit {
				break
			}
		}
		if ended {
			fmt.Fprintf(w, "event: end\ndata: {\"status\":%q,\"next_cursor\":\"%d\"}\n\n", status, q.After)
			w.Flush()
			return nil
		}
		select {
		case <-woken:
		case <-tick.C:
		case <-ctx.Done():
			return nil
		}
	}
}

// logWaker wakes the follows of a run when its log grows in this process.
type logWaker struct {
	mu   sync.Mutex
	runs map[string]chan struct{}
}

// wait is a channel closed at the run's next append.
func (w *logWaker) wait(runID string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.runs == nil {
		w.runs = map[string]chan struct{}{}
	}
	ch, ok := w.runs[runID]
	if !ok {
		ch = make(chan struct{})
		w.runs[runID] = ch
	}
	return ch
}

func (w *logWaker) wake(runID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch, ok := w.runs[runID]; ok {
		close(ch)
		delete(w.runs, runID)
	}
}

// getRunLogText is a run's (or one step's) log as a plain-text download.
func (s *Server) getRunLogText(c echo.Context) error {
	ls, err := s.logs()
	if err != nil {
		return err
	}
	q, err := logQuery(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, _, err := ls.LogState(ctx, q.RunID, q.Step); err != nil {
		return s.engineError(c, err, "Run "+quote(q.RunID))
	}
	name := q.RunID
	if q.Step != "" {
		name += "-" + strings.NewReplacer("[", "_", "]", "", ".", "_", "/", "_").Replace(q.Step)
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/plain; charset=utf-8")
	w.Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`.log"`)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	q.Limit = 1000
	for {
		lines, err := ls.Logs(ctx, q)
		if err != nil {
			return nil // the status line is out; the client sees a short file
		}
		for _, l := range lines {
			fmt.Fprintf(w, "%s %-8s %s#%d %s\n", l.Time.Format("2006-01-02T15:04:05.000Z07:00"), l.Level, l.Step, l.Attempt, l.Message)
			q.After = l.Seq
		}
		if len(lines) < q.Limit {
			return nil
		}
	}
}
