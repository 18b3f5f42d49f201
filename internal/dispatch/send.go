package dispatch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/blocks/jsoncheck"
	"github.com/weftlabs/weft/engine"
)

// errCancelled and errLeaseLost end a request early.
var (
	errCancelled = errors.New("the run was cancelled")
	errLeaseLost = errors.New("the task's lease moved on")
)

// send performs one delivery and classifies the answer.
func (d *Dispatcher) send(ctx context.Context, t engine.Task, log *slog.Logger) report {
	def, err := d.blocks.Block(t.Block, t.Version)
	if err != nil || def == nil {
		return permanent("block %s@%d is not stored; store its definition again", t.Block, t.Version)
	}
	if def.Dispatch.Kind != blocks.DispatchHTTP {
		return permanent("block %s@%d has dispatch.kind %q, not http", t.Block, t.Version, def.Dispatch.Kind)
	}
	sec := newSecrets(d.cfg.LookupEnvFunc)
	url, err := sec.expandURL(def.Dispatch.URL)
	if err != nil {
		return permanent("dispatch.url of block %s: %s", t.Block, err)
	}
	headers := map[string]string{}
	for k, v := range def.Dispatch.Headers {
		hv, err := sec.expand(v)
		if err != nil {
			return permanent("dispatch.headers.%s of block %s: %s", k, t.Block, err)
		}
		headers[k] = hv
	}
	body, err := d.body(t, def)
	if err != nil {
		return permanent("build request body: %s", err)
	}
	method := strings.ToUpper(def.Dispatch.Method)
	if method == "" {
		method = http.MethodPost
	}
	timeout := timeoutOf(def, d.cfg.DefaultTimeout)

	reqCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	reqCtx, cancelTimeout := context.WithTimeoutCause(reqCtx, timeout, context.DeadlineExceeded)
	defer cancelTimeout()
	hbDone := make(chan struct{})
	defer close(hbDone)
	go d.heartbeat(ctx, t, cancel, hbDone, log)

	req, err := http.NewRequestWithContext(reqCtx, method, url, bytes.NewReader(body))
	if err != nil {
		return permanent("dispatch.url of block %s is not a valid URL: %s", t.Block, sec.redact(err.Error()))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "weft-dispatch")
	req.Header.Set("Idempotency-Key", t.ID)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		switch cause := context.Cause(reqCtx); {
		case errors.Is(cause, errLeaseLost):
			return report{lost: true}
		case errors.Is(cause, errCancelled):
			return report{fail: &engine.TaskError{Message: "the run was cancelled while the request was in flight", Type: "cancelled"}}
		case ctx.Err() != nil:
			return report{fail: &engine.TaskError{Message: "the server shut down while the request was in flight", Type: "interrupted", Retryable: true}}
		case errors.Is(cause, context.DeadlineExceeded):
			return report{fail: &engine.TaskError{
				Message: fmt.Sprintf("%s %s did not answer within %s (dispatch.timeout)", method, sec.redact(url), timeout),
				Type:    "timeout", Retryable: true}}
		}
		return report{fail: &engine.TaskError{Message: sec.redact(err.Error()), Type: "connection", Retryable: true}}
	}
	defer resp.Body.Close()
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, d.cfg.MaxResponseBytes+1))
	where := method + " " + sec.redact(url)
	if rerr != nil {
		return report{fail: &engine.TaskError{Message: sec.redact(fmt.Sprintf("%s: reading the answer: %s", where, rerr)),
			Type: "connection", Retryable: true}}
	}
	if int64(len(raw)) > d.cfg.MaxResponseBytes {
		return permanent("%s answered more than %d bytes", where, d.cfg.MaxResponseBytes)
	}
	status := resp.StatusCode
	switch {
	case status == http.StatusAccepted:
		return report{pending: true}
	case status >= 200 && status < 300:
		text := bytes.TrimSpace(raw)
		if len(text) == 0 {
			return report{output: json.RawMessage("null")}
		}
		out := sec.redactJSON(text)
		if !json.Valid(out) {
			d.logAnswer(ctx, t, where, status, sec.redact(string(raw)), log)
			return permanent("%s answered %d with a body that is not JSON: %s", where, status, snippet(sec.redact(string(raw))))
		}
		if p := jsoncheck.CheckText(out); p != nil {
			return permanent("%s answered %d with JSON that Weft does not store (at byte %d: %s)", where, status, p.Offset, p.Msg)
		}
		return report{output: out}
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500:
		d.logAnswer(ctx, t, where, status, sec.redact(string(raw)), log)
		return report{fail: &engine.TaskError{
			Message: fmt.Sprintf("%s answered %d %s: %s", where, status, http.StatusText(status), snippet(sec.redact(string(raw)))),
			Type:    fmt.Sprintf("http_%d", status), Retryable: true}}
	default:
		d.logAnswer(ctx, t, where, status, sec.redact(string(raw)), log)
		return report{fail: &engine.TaskError{
			Message: fmt.Sprintf("%s answered %d %s: %s", where, status, http.StatusText(status), snippet(sec.redact(string(raw)))),
			Type:    fmt.Sprintf("http_%d", status)}}
	}
}

// maxLoggedAnswer bounds the part of a failed answer kept in the step log.
const maxLoggedAnswer = 64 << 10

// logAnswer keeps a failed answer's (redacted) body in the step's log,
// where the step's error message has room for a snippet only. A log that
// cannot be written is only a warning: the report matters more.
func (d *Dispatcher) logAnswer(ctx context.Context, t engine.Task, where string, status int, body string, log *slog.Logger) {
	if d.cfg.Logs == nil {
		return
	}
	if len(body) > maxLoggedAnswer {
		body = body[:maxLoggedAnswer] + fmt.Sprintf("… (%d more bytes)", len(body)-maxLoggedAnswer)
	}
	if strings.TrimSpace(body) == "" {
		body = "(empty body)"
	}
	now := time.Now().UTC()
	_, err := d.cfg.Logs.AppendLogs(ctx, engine.LogAppend{TaskID: t.ID, Lease: t.Lease, MaxBytes: d.cfg.MaxLogBytes, Now: now,
		Lines: []engine.LogLine{{Time: now, Level: engine.LogError, Message: fmt.Sprintf("%s answered %d %s:\n%s", where, status, http.StatusText(status), body)}}})
	if err != nil {
		log.Warn("keep a failed answer in the step log", "err", err)
	}
}

// heartbeat extends the lease while the request is in flight and cancels
// it when the run is cancelled or the lease is lost.
func (d *Dispatcher) heartbeat(ctx context.Context, t engine.Task, cancel context.CancelCauseFunc, done <-chan struct{}, log *slog.Logger) {
	deadline := t.Deadline
	if deadline.IsZero() {
		deadline = time.Now().Add(time.Minute)
	}
	for {
		every := time.Until(deadline) / 3
		if every < 200*time.Millisecond {
			every = 200 * time.Millisecond
		}
		tm := time.NewTimer(every)
		select {
		case <-done:
			tm.Stop()
			return
		case <-ctx.Done():
			tm.Stop()
			return
		case <-tm.C:
		}
		res, err := d.tasks.Heartbeat(ctx, t.ID, t.Lease)
		switch {
		case errors.Is(err, engine.ErrConflict), errors.Is(err, engine.ErrNotFound):
			cancel(errLeaseLost)
			return
		case err != nil:
			log.Warn("heartbeat http task", "err", err)
			deadline = time.Now().Add(3 * time.Second)
			continue
		case res.CancelRequested:
			cancel(errCancelled)
			return
		}
		deadline = res.LeaseExpiresAt
	}
}

// snippet shortens an answer body for an error message.
func snippet(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "(empty body)"
	}
	const max = 512
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

type dispatchMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newDispatchMetrics(reg prometheus.Registerer) *dispatchMetrics {
	m := &dispatchMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_dispatch_requests_total", Help: "HTTP block deliveries by block and outcome.",
		}, []string{"block", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "weft_dispatch_duration_seconds", Help: "HTTP block delivery latency by block.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}, []string{"block"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration)
	}
	return m
}

func (m *dispatchMetrics) observe(block, outcome string, d time.Duration) {
	m.requests.WithLabelValues(block, outcome).Inc()
	m.duration.WithLabelValues(block).Observe(d.Seconds())
}
