package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/weftlabs/weft/internal/auth"
)

const apiBlockTrain = `{"name": "model.train", "dispatch": {"kind": "worker", "queue": "gpu"},
  "input_schema": {"type": "object", "required": ["dataset"], "properties": {"dataset": {"type": "string"}}}}`

func TestCatalogAPI(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, open storeOpener) {
		b := setupAPI(t, open, apiOptions{})

		var up struct {
			Name    string `json:"name"`
			Version int    `json:"version"`
		}
		b.call(t, "PUT", "/api/v1/blocks", "", apiBlockTrain).want(t, http.StatusCreated).decode(t, &up)
		if up.Name != "model.train" || up.Version != 1 {
			t.Fatalf("upload answered %+v, want model.train version 1", up)
		}
		b.call(t, "PUT", "/api/v1/blocks", "", apiBlockTrain).want(t, http.StatusOK).decode(t, &up)
		if up.Version != 1 {
			t.Fatalf("identical upload answered version %d, want 1", up.Version)
		}
		changed := strings.Replace(apiBlockTrain, `"gpu"`, `"gpu2"`, 1)
		b.call(t, "PUT", "/api/v1/blocks", "", changed).want(t, http.StatusCreated).decode(t, &up)
		if up.Version != 2 {
			t.Fatalf("changed upload answered version %d, want 2", up.Version)
		}
		pinned := strings.Replace(apiBlockTrain, `"gpu"`, `"gpu3"`, 1)
		pinned = strings.Replace(pinned, `{"name"`, `{"version": 1, "name"`, 1)
		b.call(t, "PUT", "/api/v1/blocks", "", pinned).wantError(t, http.StatusConflict, "conflict")

		var list struct {
			Blocks []struct {
				Name          string `json:"name"`
				LatestVersion int    `json:"latest_version"`
			} `json:"blocks"`
		}
		b.call(t, "GET", "/api/v1/blocks", "", nil).want(t, 200).decode(t, &list)
		if len(list.Blocks) != 1 || list.Blocks[0].LatestVersion != 2 {
			t.Fatalf("block list = %+v, want model.train at version 2", list.Blocks)
		}
		var def struct {
			Version  int `json:"version"`
			Dispatch struct {
				Queue string `json:"queue"`
			} `json:"dispatch"`
		}
		b.call(t, "GET", "/api/v1/blocks/model.train", "", nil).want(t, 200).decode(t, &def)
		if def.Version != 2 || def.Dispatch.Queue != "gpu2" {
			t.Fatalf("latest block = %+v", def)
		}
		b.call(t, "GET", "/api/v1/blocks/model.train/versions/1", "", nil).want(t, 200).decode(t, &def)
		if def.Version != 1 || def.Dispatch.Queue != "gpu" {
			t.Fatalf("block version 1 = %+v", def)
		}
		var vs struct {
			Versions []int `json:"versions"`
		}
		b.call(t, "GET", "/api/v1/blocks/model.train/versions", "", nil).want(t, 200).decode(t, &vs)
		if len(vs.Versions) != 2 {
			t.Fatalf("versions = %v, want two", vs.Versions)
		}
		b.call(t, "GET", "/api/v1/blocks/nope", "", nil).wantError(t, 404, "not_found")
		b.call(t, "GET", "/api/v1/blocks/model.train/versions/9", "", nil).wantError(t, 404, "not_found")
		b.call(t, "GET", "/api/v1/blocks/model.train/versions/x", "", nil).wantError(t, 400, "bad_request")
		e := b.call(t, "PUT", "/api/v1/blocks", "", `{"name": "x", "dispatch": {"kind": "carrier-pigeon"}}`).
			wantError(t, 422, "validation_failed")
		if len(e.Error.Details) != 1 || e.Error.Details[0].Path != "/dispatch/kind" {
			t.Fatalf("details = %+v, want one at /dispatch/kind", e.Error.Details)
		}

		flow := `{"name": "train-one", "blocks": [{"ref": "train", "block": "model.train", "input": {"dataset": "${flow.input.ds}"}}]}`
		b.call(t, "POST", "/api/v1/flows/validate", "", flow).want(t, 200)
		b.call(t, "GET", "/api/v1/flows/train-one", "", nil).wantError(t, 404, "not_found")
		b.call(t, "POST", "/api/v1/flows", "", flow).want(t, 201).decode(t, &up)
		if up.Name != "train-one" || up.Version != 1 {
			t.Fatalf("flow upload = %+v", up)
		}
		b.call(t, "POST", "/api/v1/flows", "", flow).want(t, 200)
		var shown map[string]any
		b.call(t, "GET", "/api/v1/flows/train-one", "", nil).want(t, 200).decode(t, &shown)
		if shown["name"] != "train-one" || shown["version"] != float64(1) {
			t.Fatalf("flow shown = %v", shown)
		}
		b.call(t, "GET", "/api/v1/flows/train-one/versions/1", "", nil).want(t, 200)
		b.call(t, "GET", "/api/v1/flows/train-one/versions", "", nil).want(t, 200)
		var flist struct {
			Flows []struct {
				Name string `json:"name"`
			} `json:"flows"`
		}
		b.call(t, "GET", "/api/v1/flows", "", nil).want(t, 200).decode(t, &flist)
		if len(flist.Flows) != 1 || flist.Flows[0].Name != "train-one" {
			t.Fatalf("flow list = %+v", flist)
		}

		bad := `{"name": "broken", "blocks": [
  {"ref": "a", "block": "no.such.block"},
  {"ref": "a", "type": "lambda", "expr": "1 +"}
]}`
		e = b.call(t, "POST", "/api/v1/flows", "", bad).wantError(t, 422, "validation_failed")
		paths := map[string]bool{}
		for _, d := range e.Error.Details {
			paths[d.Path] = true
		}
		for _, p := range []string{"/blocks/0/block", "/blocks/1/ref", "/blocks/1/expr"} {
			if !paths[p] {
				t.Errorf("validation details %+v lack %s", e.Error.Details, p)
			}
		}
		b.call(t, "POST", "/api/v1/flows/validate", "", bad).wantError(t, 422, "validation_failed")
		b.call(t, "GET", "/api/v1/flows/nope/versions/2", "", nil).wantError(t, 404, "not_found")
	})
}

func TestAPIBadRequests(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, open storeOpener) {
		b := setupAPI(t, open, apiOptions{maxBody: 1024})

		e := b.call(t, "PUT", "/api/v1/blocks", "", "{\n  \"name\": \"x\",\n  oops\n}").wantError(t, 400, "bad_json")
		if len(e.Error.Details) != 1 || e.Error.Details[0].Line != 3 || e.Error.Details[0].Column < 3 {
			t.Fatalf("bad JSON details = %+v, want line 3", e.Error.Details)
		}
		if !strings.Contains(e.Error.Message, "line 3") {
			t.Fatalf("message %q does not name the line", e.Error.Message)
		}
		b.call(t, "POST", "/api/v1/flows", "", `{"name": 5}`).wantError(t, 422, "validation_failed")
		b.call(t, "GET", "/api/v1/schema/flow.json", "", nil).want(t, 200)
		b.call(t, "GET", "/api/v1/schema/block.json", "", nil).want(t, 200)
		b.call(t, "POST", "/api/v1/flows", "", "").wantError(t, 400, "bad_request")
		big := `{"name": "x", "description": "` + strings.Repeat("a", 2000) + `", "dispatch": {"kind": "worker"}}`
		b.call(t, "PUT", "/api/v1/blocks", "", big).wantError(t, 413, "body_too_large")
		b.call(t, "GET", "/api/v1/nothing-here", "", nil).wantError(t, 404, "not_found")
		b.call(t, "DELETE", "/api/v1/blocks", "", nil).wantError(t, 405, "method_not_allowed")
		b.call(t, "GET", "/api/v1/runs?limit=501", "", nil).wantError(t, 400, "bad_request")
		b.call(t, "GET", "/api/v1/runs?since=yesterday", "", nil).wantError(t, 400, "bad_request")
		b.call(t, "GET", "/api/v1/runs?status=sleeping", "", nil).wantError(t, 400, "bad_request")
		b.call(t, "GET", "/healthz", "", nil).want(t, 200)
		b.call(t, "GET", "/readyz", "", nil).want(t, 200)
		m := b.call(t, "GET", "/metrics", "", nil).want(t, 200)
		if !strings.Contains(string(m.body), `weft_http_requests_total{code="413",method="PUT",route="/api/v1/blocks"} 1`) {
			t.Fatalf("metrics lack the 413 request count:\n%s", m.body)
		}
		if rid := m.header.Get("X-Request-Id"); rid == "" {
			t.Fatal("no X-Request-Id header")
		}
	})
}

func TestAPIAuth(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, open storeOpener) {
		b := setupAPI(t, open, apiOptions{auth: true})

		r := b.call(t, "GET", "/api/v1/blocks", "", nil)
		r.wantError(t, 401, "unauthorized")
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("401 without WWW-Authenticate: Bearer")
		}
		b.call(t, "GET", "/api/v1/blocks", "weft_not-a-token", nil).wantError(t, 401, "unauthorized")
		b.as(t, auth.Viewer, "GET", "/api/v1/blocks", nil).want(t, 200)
		b.as(t, auth.Viewer, "PUT", "/api/v1/blocks", apiBlockTrain).wantError(t, 403, "forbidden")
		b.as(t, auth.Operator, "PUT", "/api/v1/blocks", apiBlockTrain).wantError(t, 403, "forbidden")
		b.as(t, auth.Worker, "GET", "/api/v1/blocks", nil).wantError(t, 403, "forbidden")
		b.as(t, auth.Webhook, "GET", "/api/v1/blocks", nil).wantError(t, 403, "forbidden")
		b.as(t, auth.Admin, "PUT", "/api/v1/blocks", apiBlockTrain).want(t, 201)
		// A worker reads the version of the block a task runs (command blocks), nothing else.
		b.as(t, auth.Worker, "GET", "/api/v1/blocks/model.train/versions/1", nil).want(t, 200)
		b.as(t, auth.Worker, "GET", "/api/v1/blocks/model.train", nil).wantError(t, 403, "forbidden")
		b.as(t, auth.Webhook, "GET", "/api/v1/blocks/model.train/versions/1", nil).wantError(t, 403, "forbidden")
		b.as(t, auth.Viewer, "POST", "/api/v1/flows/x/runs", `{}`).wantError(t, 403, "forbidden")
		b.as(t, auth.Viewer, "POST", "/api/v1/tasks/poll", `{}`).wantError(t, 403, "forbidden")
		b.as(t, auth.Webhook, "POST", "/api/v1/hooks/other", `{}`).wantError(t, 403, "forbidden")
		b.as(t, auth.Viewer, "POST", "/api/v1/hooks/hooked", `{}`).wantError(t, 403, "forbidden")
		b.call(t, "POST", "/api/v1/hooks/hooked", "", `{}`).wantError(t, 401, "unauthorized")
		b.as(t, auth.Operator, "GET", "/api/v1/tokens", nil).wantError(t, 403, "forbidden")
		b.call(t, "GET", "/metrics", "", nil).wantError(t, 401, "unauthorized")
		b.call(t, "GET", "/healthz", "", nil).want(t, 200)

		var created struct {
			ID    string `json:"id"`
			Token string `json:"token"`
			Role  string `json:"role"`
		}
		b.as(t, auth.Admin, "POST", "/api/v1/tokens", map[string]string{"role": "viewer", "name": "alice"}).
			want(t, 201).decode(t, &created)
		if created.Role != "viewer" || !strings.HasPrefix(created.Token, auth.Prefix) {
			t.Fatalf("created token = %+v", created)
		}
		b.call(t, "GET", "/api/v1/flows", created.Token, nil).want(t, 200)
		list := b.as(t, auth.Admin, "GET", "/api/v1/tokens", nil).want(t, 200)
		if strings.Contains(string(list.body), created.Token) || strings.Contains(string(list.body), auth.Hash(created.Token)) {
			t.Fatal("the token list shows a secret or its hash")
		}
		b.as(t, auth.Admin, "POST", "/api/v1/tokens", map[string]string{"role": "root"}).wantError(t, 422, "validation_failed")
		b.as(t, auth.Admin, "DELETE", "/api/v1/tokens/"+created.ID, nil).want(t, 204)
		b.call(t, "GET", "/api/v1/flows", created.Token, nil).wantError(t, 401, "unauthorized")
		b.as(t, auth.Admin, "DELETE", "/api/v1/tokens/"+created.ID, nil).wantError(t, 404, "not_found")
	})
}
