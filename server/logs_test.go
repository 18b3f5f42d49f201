package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/internal/auth"
)

type apiLogLine struct {
	Step    string    `json:"step"`
	Attempt int       `json:"attempt"`
	TS      time.Time `json:"ts"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
}

type apiLogPage struct {
	Lines      []apiLogLine `json:"lines"`
	NextCursor string       `json:"next_cursor"`
}

func (b *apiBundle) logs(t *testing.T, runID, query string) apiLogPage {
	t.Helper()
	var p apiLogPage
	b.as(t, auth.Viewer, "GET", "/api/v1/runs/"+runID+"/logs"+query, nil).want(t, 200).decode(t, &p)
	return p
}

func line(level, msg string) map[string]any {
	return map[string]any{"ts": "2030-01-02T03:04:05.123Z", "level": level, "message": msg}
}

func (b *apiBundle) startTrain(t *testing.T) string {
	t.Helper()
	var run apiRun
	b.as(t, auth.Operator, "POST", "/api/v1/flows/train-approve/runs", map[string]any{"input": map[string]any{"ds": "s3://d"}}).want(t, 201).decode(t, &run)
	return run.ID
}

func messages(lines []apiLogLine) string {
	var out []string
	for _, l := range lines {
		out = append(out, fmt.Sprintf("%s#%d %s %s", l.Step, l.Attempt, l.Level, l.Message))
	}
	return strings.Join(out, " | ")
}

func TestStepLogsAPI(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, open storeOpener) {
		b := setupAPI(t, open, apiOptions{auth: true})
		deployTrainFlow(t, b)
		runID := b.startTrain(t)
		tasks := b.poll(t, "gpu")
		if len(tasks) != 1 {
			t.Fatalf("poll = %+v", tasks)
		}
		t1 := tasks[0]
		logsPath := "/api/v1/tasks/" + t1.ID + "/logs"

		// Appends under the lease, without a token too (the lease is the
		// capability), keep order and levels.
		b.as(t, auth.Worker, "POST", logsPath, map[string]any{"lease": t1.Lease, "lines": []any{line("info", "epoch 1"), line("WARNING", "lr high")}}).want(t, 204)
		b.call(t, "POST", logsPath, "", map[string]any{"lease": t1.Lease, "lines": []any{line("error", "nan loss"), map[string]any{"message": "no level, no ts"}}}).want(t, 204)

		// Refused, nothing stored: a wrong lease, a bad level or time, no lease.
		b.as(t, auth.Worker, "POST", logsPath, map[string]any{"lease": "stale", "lines": []any{line("info", "from a stale worker")}}).wantError(t, 409, "lease_conflict")
		b.as(t, auth.Worker, "POST", logsPath, map[string]any{"lease": t1.Lease, "lines": []any{line("loud", "x")}}).wantError(t, 400, "bad_request")
		b.as(t, auth.Worker, "POST", logsPath, map[string]any{"lease": t1.Lease, "lines": []any{map[string]any{"ts": "yesterday", "message": "x"}}}).wantError(t, 400, "bad_request")
		b.as(t, auth.Worker, "POST", logsPath, map[string]any{"lines": []any{line("info", "x")}}).wantError(t, 400, "bad_request")

		all := b.logs(t, runID, "")
		if got, want := messages(all.Lines), "train#1 info epoch 1 | train#1 warning lr high | train#1 error nan loss | train#1 info no level, no ts"; got != want {
			t.Fatalf("log = %s\nwant  %s", got, want)
		}
		if !all.Lines[0].TS.Equal(time.Date(2030, 1, 2, 3, 4, 5, 123e6, time.UTC)) || all.Lines[3].TS.IsZero() {
			t.Fatalf("times = %v, %v; want the sent one, and the server's when none was sent", all.Lines[0].TS, all.Lines[3].TS)
		}

		// Pages: limit, then after the cursor; an empty page keeps the cursor.
		p1 := b.logs(t, runID, "?step=train&limit=3")
		if len(p1.Lines) != 3 || p1.NextCursor == "" {
			t.Fatalf("first page = %+v", p1)
		}
		p2 := b.logs(t, runID, "?step=train&limit=3&after="+p1.NextCursor)
		if messages(p2.Lines) != "train#1 info no level, no ts" {
			t.Fatalf("second page = %s", messages(p2.Lines))
		}
		p3 := b.logs(t, runID, "?step=train&after="+p2.NextCursor)
		if len(p3.Lines) != 0 || p3.NextCursor != p2.NextCursor {
			t.Fatalf("past the end = %+v, want no lines and cursor %s", p3, p2.NextCursor)
		}
		if p := b.logs(t, runID, "?step=approve"); len(p.Lines) != 0 {
			t.Fatalf("another step's log = %s", messages(p.Lines))
		}
		b.as(t, auth.Viewer, "GET", "/api/v1/runs/"+runID+"/logs?after=x", nil).wantError(t, 400, "bad_request")
		b.as(t, auth.Viewer, "GET", "/api/v1/runs/nope/logs", nil).wantError(t, 404, "not_found")
		b.call(t, "GET", "/api/v1/runs/"+runID+"/logs", "", nil).wantError(t, 401, "unauthorized")

		// A retryable failure ends attempt 1: its lease is stale from then on.
		b.as(t, auth.Worker, "POST", "/api/v1/tasks/"+t1.ID+"/fail", map[string]any{"lease": t1.Lease, "error": map[string]any{"message": "oom"}, "retryable": true}).want(t, 204)
		b.as(t, auth.Worker, "POST", logsPath, map[string]any{"lease": t1.Lease, "lines": []any{line("info", "late line")}}).wantError(t, 409, "lease_conflict")
		tasks = b.poll(t, "gpu")
		if len(tasks) != 1 || tasks[0].Attempt != 2 {
			t.Fatalf("second attempt = %+v", tasks)
		}
		t2 := tasks[0]
		b.as(t, auth.Worker, "POST", "/api/v1/tasks/"+t2.ID+"/logs", map[string]any{"lease": t2.Lease, "lines": []any{line("info", "retrying")}}).want(t, 204)
		if p := b.logs(t, runID, "?after="+p2.NextCursor); messages(p.Lines) != "train#2 info retrying" {
			t.Fatalf("after the retry = %s, want only attempt 2's line", messages(p.Lines))
		}

		// The run finishes; purging it removes its log.
		b.as(t, auth.Worker, "POST", "/api/v1/tasks/"+t2.ID+"/complete", map[string]any{"lease": t2.Lease, "output": map[string]any{"r2": 0.9}}).want(t, 204)
		b.waitRun(t, runID, hasWaiting)
		b.as(t, auth.Operator, "POST", "/api/v1/runs/"+runID+"/signals/approval", `{"by": "alice"}`).want(t, 204)
		b.waitRun(t, runID, func(r apiRun) bool { return r.Status == "succeeded" })
		ctx := context.Background()
		if n, err := b.st.PurgeRuns(ctx, time.Now().Add(time.Hour), 500); err != nil || n != 1 {
			t.Fatalf("purge = %d, %v; want 1 run", n, err)
		}
		left, err := b.st.Logs(ctx, engine.LogQuery{RunID: runID})
		if err != nil || len(left) != 0 {
			t.Fatalf("log rows of the purged run = %d (%v), want none", len(left), err)
		}
		b.as(t, auth.Viewer, "GET", "/api/v1/runs/"+runID+"/logs", nil).wantError(t, 404, "not_found")
	})
}

func TestStepLogTruncation(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, open storeOpener) {
		b := setupAPI(t, open, apiOptions{maxLog: 100})
		deployTrainFlow(t, b)
		runID := b.startTrain(t)
		t1 := b.poll(t, "gpu")[0]
		thirty := strings.Repeat("x", 30)
		var batch []any
		for i := range 5 {
			batch = append(batch, line("info", fmt.Sprintf("%d%s", i, thirty[1:])))
		}
		// 3 lines fit in 100 bytes; the 4th and 5th are dropped, a marker
		// says so; later appends are dropped without another marker.
		b.call(t, "POST", "/api/v1/tasks/"+t1.ID+"/logs", "", map[string]any{"lease": t1.Lease, "lines": batch}).want(t, 204)
		b.call(t, "POST", "/api/v1/tasks/"+t1.ID+"/logs", "", map[string]any{"lease": t1.Lease, "lines": []any{line("info", "y")}}).want(t, 204)
		p := b.logs(t, runID, "?step=train")
		if len(p.Lines) != 4 {
			t.Fatalf("log = %s; want 3 lines and the marker", messages(p.Lines))
		}
		for i := range 3 {
			if !strings.HasPrefix(p.Lines[i].Message, fmt.Sprint(i)) {
				t.Fatalf("line %d = %q, want the %dth sent", i, p.Lines[i].Message, i)
			}
		}
		if m := p.Lines[3]; m.Level != "warning" || !strings.Contains(m.Message, "truncated") || !strings.Contains(m.Message, "--max-log") {
			t.Fatalf("marker = %+v, want a warning naming --max-log", m)
		}
	})
}

// sseEvent is one server-sent event.
type sseEvent struct{ id, event, data string }

// follow opens a log follow and sends its events on a channel, closed when
// the stream ends.
func (b *apiBundle) follow(t *testing.T, query string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", b.url+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+b.tokens[auth.Viewer])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("follow answered %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan sseEvent, 100)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			l := sc.Text()
			switch {
			case l == "":
				if ev.data != "" {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(l, "id: "):
				ev.id = l[4:]
			case strings.HasPrefix(l, "event: "):
				ev.event = l[7:]
			case strings.HasPrefix(l, "data: "):
				ev.data = l[6:]
			}
		}
	}()
	return out
}

func nextEvent(t *testing.T, ch <-chan sseEvent) (sseEvent, bool) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		return ev, ok
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return sseEvent{}, false
}

func TestStepLogFollow(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, open storeOpener) {
		b := setupAPI(t, open, apiOptions{auth: true})
		deployTrainFlow(t, b)
		runID := b.startTrain(t)
		t1 := b.poll(t, "gpu")[0]
		send := func(msg string) {
			b.as(t, auth.Worker, "POST", "/api/v1/tasks/"+t1.ID+"/logs", map[string]any{"lease": t1.Lease, "lines": []any{line("info", msg)}}).want(t, 204)
		}
		send("before the follow")
		events := b.follow(t, "/api/v1/runs/"+runID+"/logs?step=train&follow=true")
		whole := b.follow(t, "/api/v1/runs/"+runID+"/logs?follow=true")
		var last string
		for _, want := range []string{"before the follow", "live 1", "live 2"} {
			if want != "before the follow" {
				send(want)
			}
			ev, ok := nextEvent(t, events)
			var l apiLogLine
			if !ok || json.Unmarshal([]byte(ev.data), &l) != nil || l.Message != want || l.Step != "train" || ev.id == "" {
				t.Fatalf("event = %+v (open %v), want the line %q with an id", ev, ok, want)
			}
			last = ev.id
		}
		// The step ends: the stream says so and closes.
		b.as(t, auth.Worker, "POST", "/api/v1/tasks/"+t1.ID+"/complete", map[string]any{"lease": t1.Lease, "output": map[string]any{"r2": 0.9}}).want(t, 204)
		ev, ok := nextEvent(t, events)
		if !ok || ev.event != "end" || !strings.Contains(ev.data, `"succeeded"`) {
			t.Fatalf("after the step ended: %+v (open %v), want an end event with its status", ev, ok)
		}
		if _, ok := nextEvent(t, events); ok {
			t.Fatal("the stream stayed open after its end event")
		}
		// Resuming from an event id gives what came after it: nothing.
		if p := b.logs(t, runID, "?step=train&after="+last); len(p.Lines) != 0 {
			t.Fatalf("after the last event = %s", messages(p.Lines))
		}
		// The run's follow saw the same lines and ends with the run.
		for _, want := range []string{"before the follow", "live 1", "live 2"} {
			if ev, ok := nextEvent(t, whole); !ok || !strings.Contains(ev.data, want) {
				t.Fatalf("run follow: %+v, want %q", ev, want)
			}
		}
		b.waitRun(t, runID, hasWaiting)
		b.as(t, auth.Operator, "POST", "/api/v1/runs/"+runID+"/cancel", nil).want(t, 200)
		if ev, ok := nextEvent(t, whole); !ok || ev.event != "end" || !strings.Contains(ev.data, `"cancelled"`) {
			t.Fatalf("run follow after cancel: %+v (open %v)", ev, ok)
		}
	})
}
