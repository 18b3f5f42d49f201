package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weftlabs/weft/internal/auth"
)

// apiRun is a run as the API answers it.
type apiRun struct {
	ID             string         `json:"id"`
	Flow           string         `json:"flow"`
	Version        int            `json:"version"`
	Status         string         `json:"status"`
	Input          map[string]any `json:"input"`
	Output         map[string]any `json:"output"`
	Error          *struct{ Message string }
	IdempotencyKey string `json:"idempotency_key"`
	Steps          []struct {
		Path    string `json:"path"`
		Status  string `json:"status"`
		Attempt int    `json:"attempt"`
	} `json:"steps"`
}

type apiTask struct {
	ID      string         `json:"id"`
	Lease   string         `json:"lease"`
	RunID   string         `json:"run_id"`
	Ref     string         `json:"ref"`
	Block   string         `json:"block"`
	Attempt int            `json:"attempt"`
	Input   map[string]any `json:"input"`
}

// deployTrainFlow stores model.train and a flow: train -> wait for
// "approval" -> done (lambda).
func deployTrainFlow(t *testing.T, b *apiBundle) {
	t.Helper()
	b.as(t, auth.Admin, "PUT", "/api/v1/blocks", apiBlockTrain).want(t, 201)
	flow := `{"name": "train-approve",
	  "input_schema": {"type": "object", "required": ["ds"], "properties": {"ds": {"type": "string"}}},
	  "blocks": [
	    {"ref": "train", "block": "model.train", "input": {"dataset": "${flow.input.ds}"}, "retry": {"max_attempts": 2, "initial_interval": "10ms"}},
	    {"ref": "approve", "type": "wait", "signal": "approval", "timeout": "1h"},
	    {"ref": "done", "type": "lambda", "expr": "approve.output.by"}
	  ],
	  "output": {"r2": "${train.output.r2}", "by": "${done.output}"}}`
	b.as(t, auth.Admin, "POST", "/api/v1/flows", flow).want(t, 201)
}

func (b *apiBundle) poll(t *testing.T, queue string) []apiTask {
	t.Helper()
	var got struct {
		Tasks []apiTask `json:"tasks"`
	}
	b.as(t, auth.Worker, "POST", "/api/v1/tasks/poll",
		map[string]any{"worker_id": "w1", "queues": []string{queue}, "max": 4, "wait": "10s"}).want(t, 200).decode(t, &got)
	return got.Tasks
}

func (b *apiBundle) waitRun(t *testing.T, id string, until func(apiRun) bool) apiRun {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var r apiRun
		b.as(t, auth.Viewer, "GET", "/api/v1/runs/"+id+"/wait?timeout=5s", nil).want(t, 200).decode(t, &r)
		if until(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s still %s after 20s", id, r.Status)
		}
		if r.Status == "running" && hasWaiting(r) {
			// wait answers at once while the run waits for a signal
			b.as(t, auth.Viewer, "GET", "/api/v1/runs/"+id, nil)
		}
	}
}

func hasWaiting(r apiRun) bool {
	for _, s := range r.Steps {
		if s.Status == "waiting" {
			return true
		}
	}
	return false
}

func TestRunsAPI(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, open storeOpener) {
		b := setupAPI(t, open, apiOptions{auth: true})
		deployTrainFlow(t, b)

		// Starting: errors first.
		b.as(t, auth.Operator, "POST", "/api/v1/flows/nope/runs", `{"input": {}}`).wantError(t, 404, "not_found")
		e := b.as(t, auth.Operator, "POST", "/api/v1/flows/train-approve/runs", `{"input": {"ds": 5}}`)
		t.Logf("input against the schema: %d %s", e.status, e.body)
		if e.wantError(t, 422, "validation_failed"); !strings.Contains(string(e.body), "ds") {
			t.Fatalf("input against the schema: status %d, want 422 naming ds: %s", e.status, e.body)
		}
		b.as(t, auth.Viewer, "GET", "/api/v1/runs?cursor=garbage", nil).wantError(t, 400, "bad_request")
		b.as(t, auth.Operator, "POST", "/api/v1/flows/train-approve/runs", `{"input": `).wantError(t, 400, "bad_json")

		var run apiRun
		b.as(t, auth.Operator, "POST", "/api/v1/flows/train-approve/runs",
			map[string]any{"input": map[string]any{"ds": "s3://d"}, "idempotency_key": "k1"}).want(t, 201).decode(t, &run)
		if run.ID == "" || run.Flow != "train-approve" || run.Version != 1 || run.IdempotencyKey != "k1" {
			t.Fatalf("started run = %+v", run)
		}
		var again apiRun
		b.as(t, auth.Operator, "POST", "/api/v1/flows/train-approve/runs",
			map[string]any{"input": map[string]any{"ds": "s3://d"}, "idempotency_key": "k1"}).want(t, 200).decode(t, &again)
		if again.ID != run.ID {
			t.Fatalf("same idempotency key gave run %s, want %s", again.ID, run.ID)
		}

		// A worker takes the task, fails it (retryable), takes it again.
		tasks := b.poll(t, "gpu")
		if len(tasks) != 1 || tasks[0].RunID != run.ID || tasks[0].Ref != "train" || tasks[0].Input["dataset"] != "s3://d" {
			t.Fatalf("poll = %+v", tasks)
		}
		t1 := tasks[0]
		var hb struct {
			CancelRequested bool      `json:"cancel_requested"`
			LeaseExpiresAt  time.Time `json:"lease_expires_at"`
		}
		b.as(t, auth.Worker, "POST", "/api/v1/tasks/"+t1.ID+"/heartbeat", map[string]string{"lease": t1.Lease}).want(t, 200).decode(t, &hb)
		if hb.CancelRequested || hb.LeaseExpiresAt.Before(time.Now()) {
			t.Fatalf("heartbeat = %+v", hb)
		}
		b.as(t, auth.Worker, "POST", "/api/v1/tasks/"+t1.ID+"/fail",
			map[string]any{"lease": t1.Lease, "error": map[string]string{"message": "gpu fell off"}, "retryable": true}).want(t, 204)
		b.as(t, auth.Worker, "POST", "/api/v1/tasks/"+t1.ID+"/complete",
			map[string]any{"lease": t1.Lease, "output": map[string]any{}}).wantError(t, 409, "lease_conflict")
		b.as(t, auth.Worker, "POST", "/api/v1/tasks/"+t1.ID+"/heartbeat", map[string]string{"lease": "bogus"}).wantError(t, 409, "lease_conflict")
		b.as(t, auth.Worker, "POST", "/api/v1/tasks/"+t1.ID+"/complete", `{}`).wantError(t, 400, "bad_request")
		b.as(t, auth.Worker, "POST", "/api/v1/tasks/poll", `{"worker_id": "w1", "queues": ["gpu"], "max": 101}`).wantError(t, 400, "bad_request")
		b.as(t, auth.Worker, "POST", "/api/v1/tasks/poll", `{"worker_id": "w1", "queues": ["gpu"], "wait": "61s"}`).wantError(t, 400, "bad_request")

		tasks = b.poll(t, "gpu")
		if len(tasks) != 1 || tasks[0].Attempt != 2 {
			t.Fatalf("second poll = %+v, want attempt 2", tasks)
		}
		t2 := tasks[0]
		// Reports may come with the lease alone (a service answering callback_url).
		b.call(t, "POST", "/api/v1/tasks/"+t2.ID+"/heartbeat", "", map[string]string{"lease": "bogus"}).wantError(t, 409, "lease_conflict")
		b.call(t, "POST", "/api/v1/tasks/"+t2.ID+"/heartbeat", "weft_wrong", map[string]string{"lease": t2.Lease}).wantError(t, 401, "unauthorized")
		b.as(t, auth.Viewer, "POST", "/api/v1/tasks/"+t2.ID+"/heartbeat", map[string]string{"lease": t2.Lease}).wantError(t, 403, "forbidden")
		b.call(t, "POST", "/api/v1/tasks/poll", "", map[string]any{"worker_id": "w", "queues": []string{"gpu"}}).wantError(t, 401, "unauthorized")
		b.call(t, "POST", "/api/v1/tasks/"+t2.ID+"/complete", "",
			map[string]any{"lease": t2.Lease, "output": map[string]any{"model_uri": "m://1", "r2": 0.9}}).want(t, 204)
		b.as(t, auth.Worker, "POST", "/api/v1/tasks/"+t2.ID+"/complete",
			map[string]any{"lease": t2.Lease, "output": map[string]any{}}).wantError(t, 409, "lease_conflict")

		// The run waits for approval; a signal finishes it.
		got := b.waitRun(t, run.ID, hasWaiting)
		if got.Status != "waiting" {
			t.Fatalf("waiting run status %s", got.Status)
		}
		var listed struct{ Runs []apiRun }
		b.as(t, auth.Viewer, "GET", "/api/v1/runs?status=waiting", nil).want(t, 200).decode(t, &listed)
		if len(listed.Runs) != 1 || listed.Runs[0].ID != run.ID || listed.Runs[0].Status != "waiting" {
			t.Fatalf("?status=waiting = %+v", listed.Runs)
		}
		nw := b.as(t, auth.Operator, "POST", "/api/v1/runs/"+run.ID+"/signals/deploy", `{}`).wantError(t, 409, "not_waiting")
		if !strings.Contains(nw.Error.Message, "it waits for: approval") {
			t.Fatalf("409 should name the signal the run waits for: %s", nw.Error.Message)
		}
		b.as(t, auth.Viewer, "POST", "/api/v1/runs/"+run.ID+"/signals/approval", `{"by": "alice"}`).wantError(t, 403, "forbidden")
		b.as(t, auth.Operator, "POST", "/api/v1/runs/"+run.ID+"/signals/approval", `{"by": "alice"}`).want(t, 204)
		got = b.waitRun(t, run.ID, func(r apiRun) bool { return r.Status == "succeeded" || r.Status == "failed" })
		if got.Status != "succeeded" || got.Output["by"] != "alice" || got.Output["r2"] != 0.9 {
			t.Fatalf("finished run = %+v", got)
		}
		if len(got.Steps) != 3 {
			t.Fatalf("run has %d steps, want 3: %+v", len(got.Steps), got.Steps)
		}
		var noSteps map[string]any
		b.as(t, auth.Viewer, "GET", "/api/v1/runs/"+run.ID+"?steps=false", nil).want(t, 200).decode(t, &noSteps)
		if _, ok := noSteps["steps"]; ok {
			t.Fatal("?steps=false still lists steps")
		}
		var evs struct {
			Events []struct {
				Seq  int64  `json:"seq"`
				Kind string `json:"kind"`
			} `json:"events"`
			NextCursor string `json:"next_cursor"`
		}
		b.as(t, auth.Viewer, "GET", "/api/v1/runs/"+run.ID+"/events?limit=2", nil).want(t, 200).decode(t, &evs)
		if len(evs.Events) != 2 || evs.NextCursor == "" {
			t.Fatalf("first event page = %+v", evs)
		}
		first := evs.Events[1].Seq
		b.as(t, auth.Viewer, "GET", "/api/v1/runs/"+run.ID+"/events?limit=500&cursor="+evs.NextCursor, nil).want(t, 200).decode(t, &evs)
		if len(evs.Events) < 3 || evs.Events[0].Seq <= first {
			t.Fatalf("second event page = %+v", evs)
		}
		b.as(t, auth.Viewer, "GET", "/api/v1/runs/nope", nil).wantError(t, 404, "not_found")
		b.as(t, auth.Viewer, "GET", "/api/v1/runs/nope/events", nil).wantError(t, 404, "not_found")
		b.as(t, auth.Operator, "POST", "/api/v1/runs/"+run.ID+"/resume", nil).wantError(t, 409, "invalid_state")
		b.as(t, auth.Operator, "POST", "/api/v1/runs/nope/cancel", nil).wantError(t, 404, "not_found")

		// Operator actions on a second run: pause, resume, cancel.
		var r2 apiRun
		b.as(t, auth.Operator, "POST", "/api/v1/flows/train-approve/runs", `{"input": {"ds": "x"}}`).want(t, 201).decode(t, &r2)
		var acted apiRun
		b.as(t, auth.Operator, "POST", "/api/v1/runs/"+r2.ID+"/pause", nil).want(t, 200).decode(t, &acted)
		if acted.Status != "paused" {
			t.Fatalf("after pause: %s", acted.Status)
		}
		b.as(t, auth.Operator, "POST", "/api/v1/runs/"+r2.ID+"/resume", nil).want(t, 200).decode(t, &acted)
		if acted.Status == "paused" {
			t.Fatalf("after resume: still paused")
		}
		var bulk struct {
			Results []struct {
				ID    string `json:"id"`
				OK    bool   `json:"ok"`
				Error string `json:"error"`
			} `json:"results"`
		}
		b.as(t, auth.Operator, "POST", "/api/v1/runs/bulk", map[string]any{"action": "cancel", "ids": []string{r2.ID, run.ID, "nope"}}).
			want(t, 200).decode(t, &bulk)
		if len(bulk.Results) != 3 || !bulk.Results[0].OK || bulk.Results[1].OK || bulk.Results[2].OK || bulk.Results[2].Error == "" {
			t.Fatalf("bulk cancel = %+v, want ok for the live run only", bulk.Results)
		}
		b.as(t, auth.Operator, "POST", "/api/v1/runs/bulk", `{"action": "explode", "ids": ["x"]}`).wantError(t, 400, "bad_request")
		b.as(t, auth.Viewer, "POST", "/api/v1/runs/bulk", `{"action": "cancel", "ids": ["x"]}`).wantError(t, 403, "forbidden")
		got = b.waitRun(t, r2.ID, func(r apiRun) bool { return r.Status == "cancelled" })
		b.as(t, auth.Operator, "POST", "/api/v1/runs/"+r2.ID+"/cancel", nil).wantError(t, 409, "invalid_state")
		b.as(t, auth.Operator, "POST", "/api/v1/runs/"+r2.ID+"/rerun", `{}`).wantError(t, 422, "validation_failed")

		// Webhook start with the flow's token.
		b.as(t, auth.Admin, "POST", "/api/v1/flows", strings.Replace(`{"name": "hooked", "blocks": [{"ref": "a", "type": "lambda", "expr": "flow.input.n * 2"}], "output": {"n": "${a.output}"}}`, "\n", "", -1)).want(t, 201)
		var hooked apiRun
		b.as(t, auth.Webhook, "POST", "/api/v1/hooks/hooked", `{"n": 4}`).want(t, 201).decode(t, &hooked)
		got = b.waitRun(t, hooked.ID, func(r apiRun) bool { return r.Status == "succeeded" })
		if got.Output["n"] != float64(8) {
			t.Fatalf("hooked run output = %v", got.Output)
		}

		// Lists: newest first, keyset pages, filters.
		var page struct {
			Runs       []apiRun `json:"runs"`
			NextCursor string   `json:"next_cursor"`
		}
		b.as(t, auth.Viewer, "GET", "/api/v1/runs?limit=2", nil).want(t, 200).decode(t, &page)
		if len(page.Runs) != 2 || page.Runs[0].ID != hooked.ID || page.NextCursor == "" {
			t.Fatalf("first page = %+v", page)
		}
		seen := map[string]bool{page.Runs[0].ID: true, page.Runs[1].ID: true}
		b.as(t, auth.Viewer, "GET", "/api/v1/runs?limit=2&cursor="+page.NextCursor, nil).want(t, 200).decode(t, &page)
		if len(page.Runs) != 1 || seen[page.Runs[0].ID] {
			t.Fatalf("second page = %+v", page)
		}
		b.as(t, auth.Viewer, "GET", "/api/v1/runs?status=succeeded&flow=train-approve", nil).want(t, 200).decode(t, &page)
		if len(page.Runs) != 1 || page.Runs[0].ID != run.ID {
			t.Fatalf("filtered page = %+v", page)
		}
		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		b.as(t, auth.Viewer, "GET", "/api/v1/runs?since="+future, nil).want(t, 200).decode(t, &page)
		if len(page.Runs) != 0 {
			t.Fatalf("runs since %s = %d, want 0", future, len(page.Runs))
		}

		m := b.as(t, auth.Viewer, "GET", "/metrics", nil).want(t, 200)
		for _, want := range []string{`weft_runs{status="succeeded"} 2`, `weft_claim_latency_seconds_count`, `weft_step_duration_seconds_count{outcome="succeeded"} 1`} {
			if !strings.Contains(string(m.body), want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

func TestAPIDrainEndsParkedPolls(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, sqliteStore, apiOptions{})
	got := make(chan apiReply, 1)
	go func() {
		resp, err := http.Post(b.url+"/api/v1/tasks/poll", "application/json",
			strings.NewReader(`{"worker_id": "w", "queues": ["q"], "wait": "60s"}`))
		if err != nil {
			got <- apiReply{body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		got <- apiReply{status: resp.StatusCode, body: raw}
	}()
	b.srv.Drain()
	select {
	case r := <-got:
		if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"tasks":[]}` {
			t.Fatalf("drained poll answered %d %s, want 200 {\"tasks\":[]}", r.status, r.body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a parked poll outlived Drain by 5s")
	}
}

func TestAPIRetryAndRerun(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, open storeOpener) {
		b := setupAPI(t, open, apiOptions{})
		b.call(t, "PUT", "/api/v1/blocks", "", apiBlockTrain).want(t, 201)
		b.call(t, "POST", "/api/v1/flows", "", `{"name": "one", "blocks": [
		  {"ref": "train", "block": "model.train", "input": {"dataset": "d"}},
		  {"ref": "after", "type": "lambda", "expr": "train.output.r2"}], "output": {"r2": "${after.output}"}}`).want(t, 201)
		var run apiRun
		b.call(t, "POST", "/api/v1/flows/one/runs", "", `{}`).want(t, 201).decode(t, &run)
		tk := b.poll(t, "gpu")[0]
		b.call(t, "POST", "/api/v1/tasks/"+tk.ID+"/fail", "",
			map[string]any{"lease": tk.Lease, "error": map[string]string{"message": "bad data", "type": "ValueError"}, "retryable": false}).want(t, 204)
		got := b.waitRun(t, run.ID, func(r apiRun) bool { return r.Status == "failed" })
		if got.Error == nil || !strings.Contains(got.Error.Message, "bad data") {
			t.Fatalf("failed run error = %+v", got.Error)
		}
		b.call(t, "POST", "/api/v1/runs/"+run.ID+"/retry", "", nil).want(t, 200)
		tk = b.poll(t, "gpu")[0]
		b.call(t, "POST", "/api/v1/tasks/"+tk.ID+"/complete", "", map[string]any{"lease": tk.Lease, "output": map[string]any{"r2": 0.5}}).want(t, 204)
		got = b.waitRun(t, run.ID, func(r apiRun) bool { return r.Status == "succeeded" })
		if got.Output["r2"] != 0.5 {
			t.Fatalf("retried run output = %v", got.Output)
		}
		b.call(t, "POST", "/api/v1/runs/"+run.ID+"/retry", "", nil).wantError(t, 409, "invalid_state")

		var rerun apiRun
		r := b.call(t, "POST", "/api/v1/runs/"+run.ID+"/rerun", "", map[string]any{"from": "train", "input": map[string]any{"dataset": "d2"}})
		if r.status != 200 && r.status != 201 {
			t.Fatalf("rerun: %d %s", r.status, r.body)
		}
		r.decode(t, &rerun)
		tk = b.poll(t, "gpu")[0]
		if tk.RunID != rerun.ID || tk.Input["dataset"] != "d2" {
			t.Fatalf("rerun task = %+v, want run %s with the edited input", tk, rerun.ID)
		}
		b.call(t, "POST", "/api/v1/tasks/"+tk.ID+"/complete", "", map[string]any{"lease": tk.Lease, "output": map[string]any{"r2": 0.7}}).want(t, 204)
		got = b.waitRun(t, rerun.ID, func(r apiRun) bool { return r.Status == "succeeded" })
		if got.Output["r2"] != 0.7 {
			t.Fatalf("rerun output = %v", got.Output)
		}
		b.call(t, "POST", "/api/v1/runs/"+run.ID+"/rerun", "", map[string]any{"from": "nope"}).wantError(t, 422, "validation_failed")
	})
}

// A report may ask for the worker's next task: the answer is 200 with the
// tasks it leased in the same transaction (an empty list when none was
// ready), 204 without next, and a next naming no queue is a 400.
func TestReportWithNext(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, open storeOpener) {
		b := setupAPI(t, open, apiOptions{auth: true})
		b.as(t, auth.Admin, "PUT", "/api/v1/blocks", `{"name": "noop", "dispatch": {"kind": "worker"}}`).want(t, 201)
		b.as(t, auth.Admin, "POST", "/api/v1/flows", `{"name": "two", "blocks": [
			{"ref": "a", "block": "noop"}, {"ref": "b", "block": "noop", "input": {"x": "${a.output.x}"}}],
			"output": "${b.output}"}`).want(t, 201)
		var run apiRun
		b.as(t, auth.Operator, "POST", "/api/v1/flows/two/runs", `{"input": {}}`).want(t, 201).decode(t, &run)
		tasks := b.poll(t, "noop")
		if len(tasks) != 1 {
			t.Fatalf("poll = %+v", tasks)
		}
		ta := tasks[0]
		b.as(t, auth.Worker, "POST", "/api/v1/tasks/"+ta.ID+"/complete",
			map[string]any{"lease": ta.Lease, "output": map[string]any{"x": 7}, "next": map[string]any{"queues": []string{"noop"}}}).
			wantError(t, 400, "bad_request") // next without worker_id: nothing reported
		var got struct {
			Tasks []apiTask `json:"tasks"`
		}
		next := map[string]any{"worker_id": "w1", "queues": []string{"noop"}, "max": 2}
		b.as(t, auth.Worker, "POST", "/api/v1/tasks/"+ta.ID+"/complete",
			map[string]any{"lease": ta.Lease, "output": map[string]any{"x": 7}, "next": next}).want(t, 200).decode(t, &got)
		if len(got.Tasks) != 1 || got.Tasks[0].Ref != "b" || got.Tasks[0].Input["x"] != float64(7) {
			t.Fatalf("next tasks = %+v", got.Tasks)
		}
		tb := got.Tasks[0]
		got.Tasks = nil
		b.as(t, auth.Worker, "POST", "/api/v1/tasks/"+tb.ID+"/complete",
			map[string]any{"lease": tb.Lease, "output": map[string]any{"y": 1}, "next": next}).want(t, 200).decode(t, &got)
		if got.Tasks == nil || len(got.Tasks) != 0 {
			t.Fatalf("nothing ready: tasks = %#v, want []", got.Tasks)
		}
		done := b.waitRun(t, run.ID, func(r apiRun) bool { return r.Status == "succeeded" || r.Status == "failed" })
		if done.Status != "succeeded" || done.Output["y"] != float64(1) {
			t.Fatalf("run = %+v", done)
		}
	})
}

// A human step through the API: its form checks the payload (422 with
// pointers, the run keeps waiting), the run shows what it waits for.
func TestHumanStepAPI(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, open storeOpener) {
		b := setupAPI(t, open, apiOptions{})
		b.call(t, "POST", "/api/v1/flows", "", `{"name": "review", "blocks": [
			{"ref": "approve", "type": "wait", "signal": "approval", "assignee": "reviewers", "sla": "4h",
			 "form": {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}, "note": {"type": "string", "maxLength": 5}}}}],
			"output": "${approve.output}"}`).want(t, 201)
		var run apiRun
		b.call(t, "POST", "/api/v1/flows/review/runs", "", `{}`).want(t, 201).decode(t, &run)
		var got struct {
			Status     string `json:"status"`
			WaitingFor []struct {
				Signal   string          `json:"signal"`
				Assignee string          `json:"assignee"`
				SLA      string          `json:"sla"`
				SLADueAt *time.Time      `json:"sla_due_at"`
				Form     json.RawMessage `json:"form"`
			} `json:"waiting_for"`
		}
		b.call(t, "GET", "/api/v1/runs/"+run.ID+"/wait?timeout=10s", "", nil).want(t, 200).decode(t, &got)
		if got.Status != "waiting" || len(got.WaitingFor) != 1 || got.WaitingFor[0].Assignee != "reviewers" ||
			got.WaitingFor[0].SLA != "4h0m0s" || got.WaitingFor[0].SLADueAt == nil || len(got.WaitingFor[0].Form) == 0 {
			t.Fatalf("waiting run = %+v", got)
		}
		e := b.call(t, "POST", "/api/v1/runs/"+run.ID+"/signals/approval", "", `{"ok": "yes", "note": "much too long"}`).wantError(t, 422, "validation_failed")
		paths := map[string]bool{}
		for _, d := range e.Error.Details {
			paths[d.Path] = true
		}
		if len(e.Error.Details) != 2 || !paths["/ok"] || !paths["/note"] {
			t.Fatalf("422 details = %+v, want /ok and /note", e.Error.Details)
		}
		b.call(t, "GET", "/api/v1/runs/"+run.ID, "", nil).want(t, 200).decode(t, &got)
		if got.Status != "waiting" {
			t.Fatalf("after a bad payload the run is %s, want waiting", got.Status)
		}
		b.call(t, "POST", "/api/v1/runs/"+run.ID+"/signals/approval", "", `{"ok": true}`).want(t, 204)
		done := b.waitRun(t, run.ID, func(r apiRun) bool { return r.Status == "succeeded" })
		if done.Output["ok"] != true {
			t.Fatalf("output = %+v", done.Output)
		}
	})
}
