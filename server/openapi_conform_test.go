package server_test

import (
	"encoding/json"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"testing"

	"github.com/xeipuuv/gojsonschema"

	"github.com/weftlabs/weft/internal/auth"
)

// openAPIDoc is the document the server serves, read as plain JSON.
type openAPIDoc struct {
	raw   map[string]any
	paths map[string]map[string]struct {
		Responses map[string]struct {
			Ref     string                     `json:"$ref"`
			Content map[string]json.RawMessage `json:"content"`
		} `json:"responses"`
	}
}

func fetchOpenAPI(t *testing.T, b *apiBundle) *openAPIDoc {
	t.Helper()
	r := b.call(t, "GET", "/api/v1/openapi.json", "", nil).want(t, 200)
	d := &openAPIDoc{}
	r.decode(t, &d.raw)
	var p struct {
		Paths json.RawMessage `json:"paths"`
	}
	r.decode(t, &p)
	if err := json.Unmarshal(p.Paths, &d.paths); err != nil {
		t.Fatal(err)
	}
	return d
}

// conforms checks that an answer is one the document describes for the
// operation: its status is listed, its media type is one the status
// lists, and a JSON body validates against that status's schema.
func (d *openAPIDoc) conforms(t *testing.T, method, path string, r apiReply) {
	t.Helper()
	where := fmt.Sprintf("%s %s answered %d", method, path, r.status)
	op, ok := d.paths[path][strings.ToLower(method)]
	if !ok {
		t.Fatalf("%s: the operation is not in the OpenAPI document", where)
	}
	resp, ok := op.Responses[strconv.Itoa(r.status)]
	if !ok {
		t.Errorf("%s: that status is not among the operation's responses in server/openapi.json: add it (body %.300s)", where, r.body)
		return
	}
	content := resp.Content
	if resp.Ref != "" { // a shared error response
		name := strings.TrimPrefix(resp.Ref, "#/components/responses/")
		shared := d.raw["components"].(map[string]any)["responses"].(map[string]any)[name]
		j, _ := json.Marshal(shared.(map[string]any)["content"])
		if err := json.Unmarshal(j, &content); err != nil {
			t.Fatal(err)
		}
	}
	if len(content) == 0 {
		if len(r.body) != 0 {
			t.Errorf("%s with a body, but the document says it has none: %.300s", where, r.body)
		}
		return
	}
	mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
	media, ok := content[mt]
	if !ok {
		t.Errorf("%s with Content-Type %q, which server/openapi.json does not list for it", where, mt)
		return
	}
	if mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return
	}
	var m struct {
		Schema json.RawMessage `json:"schema"`
	}
	if err := json.Unmarshal(media, &m); err != nil || len(m.Schema) == 0 {
		t.Fatalf("%s: server/openapi.json has no schema for %s", where, mt)
	}
	root := map[string]any{"components": d.raw["components"], "allOf": []json.RawMessage{m.Schema}}
	res, err := gojsonschema.Validate(gojsonschema.NewGoLoader(root), gojsonschema.NewBytesLoader(r.body))
	if err != nil {
		t.Fatalf("%s: cannot check the body against the document: %v", where, err)
	}
	for _, e := range res.Errors() {
		t.Errorf("%s: the body does not match server/openapi.json at %s: %s (body %.300s)", where, e.Field(), e.Description(), r.body)
	}
}

// TestOpenAPIAnswersConform drives every kind of call through a real
// server and checks each answer against the OpenAPI document it serves.
func TestOpenAPIAnswersConform(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, sqliteStore, apiOptions{auth: true})
	doc := fetchOpenAPI(t, b)
	call := func(role auth.Role, method, path, tmpl string, body any) apiReply {
		t.Helper()
		r := b.call(t, method, path, b.tokens[role], body)
		doc.conforms(t, method, tmpl, r)
		return r
	}
	anon := auth.Role("nobody")

	call(anon, "GET", "/healthz", "/healthz", nil).want(t, 200)
	call(anon, "GET", "/readyz", "/readyz", nil).want(t, 200)
	call(auth.Viewer, "GET", "/metrics", "/metrics", nil).want(t, 200)
	call(anon, "GET", "/api/v1/schema/flow.json", "/api/v1/schema/flow.json", nil).want(t, 200)
	call(anon, "GET", "/api/v1/schema/block.json", "/api/v1/schema/block.json", nil).want(t, 200)
	call(anon, "GET", "/api/v1/runs", "/api/v1/runs", nil).want(t, 401)

	block := map[string]any{"name": "doc.echo", "dispatch": map[string]any{"kind": "worker", "queue": "doc"}}
	call(auth.Admin, "PUT", "/api/v1/blocks", "/api/v1/blocks", block).want(t, 201)
	call(auth.Admin, "PUT", "/api/v1/blocks", "/api/v1/blocks", block).want(t, 200)
	call(auth.Viewer, "PUT", "/api/v1/blocks", "/api/v1/blocks", block).want(t, 403)
	call(auth.Viewer, "GET", "/api/v1/blocks", "/api/v1/blocks", nil).want(t, 200)
	call(auth.Viewer, "GET", "/api/v1/blocks/doc.echo", "/api/v1/blocks/{name}", nil).want(t, 200)
	call(auth.Viewer, "GET", "/api/v1/blocks/nope", "/api/v1/blocks/{name}", nil).want(t, 404)
	call(auth.Viewer, "GET", "/api/v1/blocks/doc.echo/versions", "/api/v1/blocks/{name}/versions", nil).want(t, 200)
	call(auth.Viewer, "GET", "/api/v1/blocks/doc.echo/versions/1", "/api/v1/blocks/{name}/versions/{version}", nil).want(t, 200)

	flow := map[string]any{"name": "doc-flow", "blocks": []any{
		map[string]any{"ref": "e", "block": "doc.echo", "input": map[string]any{"n": "${flow.input.n}"}},
		map[string]any{"ref": "ok", "type": "wait", "signal": "go"},
	}, "output": "${e.output}"}
	call(auth.Viewer, "POST", "/api/v1/flows/validate", "/api/v1/flows/validate", flow).want(t, 200)
	call(auth.Viewer, "POST", "/api/v1/flows/validate", "/api/v1/flows/validate",
		map[string]any{"name": "bad", "blocks": []any{map[string]any{"ref": "x", "type": "lambda"}}}).want(t, 422)
	call(auth.Viewer, "POST", "/api/v1/flows/validate", "/api/v1/flows/validate", "{").want(t, 400)
	call(auth.Admin, "POST", "/api/v1/flows", "/api/v1/flows", flow).want(t, 201)
	call(auth.Admin, "POST", "/api/v1/flows", "/api/v1/flows", flow).want(t, 200)
	hooked := map[string]any{"name": "hooked", "blocks": []any{map[string]any{"ref": "l", "type": "lambda", "expr": "1"}}}
	call(auth.Admin, "POST", "/api/v1/flows", "/api/v1/flows", hooked).want(t, 201)
	call(auth.Viewer, "GET", "/api/v1/flows", "/api/v1/flows", nil).want(t, 200)
	call(auth.Viewer, "GET", "/api/v1/flows/doc-flow", "/api/v1/flows/{name}", nil).want(t, 200)
	call(auth.Viewer, "GET", "/api/v1/flows/doc-flow/versions", "/api/v1/flows/{name}/versions", nil).want(t, 200)
	call(auth.Viewer, "GET", "/api/v1/flows/doc-flow/versions/1", "/api/v1/flows/{name}/versions/{version}", nil).want(t, 200)

	start := map[string]any{"input": map[string]any{"n": 1}, "idempotency_key": "doc-1"}
	var run struct {
		ID string `json:"id"`
	}
	call(auth.Operator, "POST", "/api/v1/flows/doc-flow/runs", "/api/v1/flows/{name}/runs", start).want(t, 201).decode(t, &run)
	call(auth.Operator, "POST", "/api/v1/flows/doc-flow/runs", "/api/v1/flows/{name}/runs", start).want(t, 200)
	call(auth.Webhook, "POST", "/api/v1/hooks/hooked", "/api/v1/hooks/{flow}", map[string]any{}).want(t, 201)
	call(auth.Viewer, "GET", "/api/v1/runs", "/api/v1/runs", nil).want(t, 200)
	call(auth.Viewer, "GET", "/api/v1/runs?limit=1&steps=false", "/api/v1/runs", nil).want(t, 200)
	call(auth.Viewer, "GET", "/api/v1/runs/"+run.ID, "/api/v1/runs/{id}", nil).want(t, 200)
	call(auth.Viewer, "GET", "/api/v1/runs/nope", "/api/v1/runs/{id}", nil).want(t, 404)

	var tasks struct {
		Tasks []struct {
			ID    string `json:"id"`
			Lease string `json:"lease"`
		} `json:"tasks"`
	}
	poll := map[string]any{"worker_id": "doc", "queues": []string{"doc"}, "max": 1, "wait": "5s"}
	call(auth.Worker, "POST", "/api/v1/tasks/poll", "/api/v1/tasks/poll", poll).want(t, 200).decode(t, &tasks)
	if len(tasks.Tasks) != 1 {
		t.Fatalf("poll leased %d tasks, want 1", len(tasks.Tasks))
	}
	task := tasks.Tasks[0]
	base := "/api/v1/tasks/" + task.ID
	lease := map[string]any{"lease": task.Lease}
	call(anon, "POST", base+"/heartbeat", "/api/v1/tasks/{id}/heartbeat", lease).want(t, 200)
	call(anon, "POST", base+"/logs", "/api/v1/tasks/{id}/logs",
		map[string]any{"lease": task.Lease, "lines": []any{map[string]any{"level": "info", "message": "hello"}}}).want(t, 204)
	call(anon, "POST", base+"/complete", "/api/v1/tasks/{id}/complete", map[string]any{"lease": task.Lease, "output": map[string]any{"n": 2}}).want(t, 204)
	call(anon, "POST", base+"/complete", "/api/v1/tasks/{id}/complete", map[string]any{"lease": task.Lease, "output": map[string]any{}}).want(t, 409)
	call(anon, "POST", base+"/fail", "/api/v1/tasks/{id}/fail", map[string]any{"lease": task.Lease, "error": map[string]any{"message": "late"}}).want(t, 409)

	rid := "/api/v1/runs/" + run.ID
	call(auth.Viewer, "GET", rid+"/wait?timeout=5s", "/api/v1/runs/{id}/wait", nil).want(t, 200)
	call(auth.Viewer, "GET", rid+"/events", "/api/v1/runs/{id}/events", nil).want(t, 200)
	call(auth.Viewer, "GET", rid+"/logs?step=e", "/api/v1/runs/{id}/logs", nil).want(t, 200)
	call(auth.Operator, "POST", rid+"/pause", "/api/v1/runs/{id}/pause", nil).want(t, 200)
	call(auth.Operator, "POST", rid+"/resume", "/api/v1/runs/{id}/resume", nil).want(t, 200)
	call(auth.Operator, "POST", rid+"/signals/go", "/api/v1/runs/{id}/signals/{name}", map[string]any{"by": "doc"}).want(t, 204)
	call(auth.Viewer, "GET", rid+"/wait?timeout=5s", "/api/v1/runs/{id}/wait", nil).want(t, 200)
	call(auth.Operator, "POST", rid+"/rerun", "/api/v1/runs/{id}/rerun", map[string]any{"from": "ok"}).want(t, 201)

	var second struct {
		ID string `json:"id"`
	}
	call(auth.Operator, "POST", "/api/v1/flows/doc-flow/runs", "/api/v1/flows/{name}/runs", map[string]any{"input": map[string]any{"n": 3}}).want(t, 201).decode(t, &second)
	call(auth.Operator, "POST", "/api/v1/runs/"+second.ID+"/cancel", "/api/v1/runs/{id}/cancel", nil).want(t, 200)
	call(auth.Operator, "POST", "/api/v1/runs/"+second.ID+"/retry", "/api/v1/runs/{id}/retry", nil).want(t, 200)
	call(auth.Operator, "POST", "/api/v1/runs/bulk", "/api/v1/runs/bulk", map[string]any{"action": "cancel", "ids": []string{second.ID}}).want(t, 200)

	var tok struct {
		ID string `json:"id"`
	}
	call(auth.Admin, "POST", "/api/v1/tokens", "/api/v1/tokens", map[string]any{"role": "viewer", "name": "doc"}).want(t, 201).decode(t, &tok)
	call(auth.Admin, "GET", "/api/v1/tokens", "/api/v1/tokens", nil).want(t, 200)
	call(auth.Admin, "DELETE", "/api/v1/tokens/"+tok.ID, "/api/v1/tokens/{id}", nil).want(t, 204)
}
