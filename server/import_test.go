package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const conductorOrders = `{"name": "orders", "tasks": [
  {"name": "charge", "taskReferenceName": "charge", "inputParameters": {"amount": "${workflow.input.amount}"}},
  {"name": "ship", "taskReferenceName": "ship", "inputParameters": {"receipt": "${charge.output.receipt}"}}
]}`

const conductorBroken = `{"name": "broken", "tasks": [
  {"name": "pick", "taskReferenceName": "pick", "type": "SWITCH", "evaluatorType": "javascript",
   "expression": "var x = $.a; x", "inputParameters": {"a": 1}, "decisionCases": {"1": []}}
]}`

// TestImportConductorAPI imports Conductor definitions through the API on
// both databases: all or nothing, problems pointing into the Conductor
// JSON with line and column.
func TestImportConductorAPI(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, open storeOpener) {
		b := setupAPI(t, open, apiOptions{})
		bundle := `{"files": [{"name": "orders.json", "content": ` + conductorOrders + `},
			{"name": "broken.json", "content": ` + conductorBroken + `}]}`
		e := b.call(t, http.MethodPost, "/api/v1/import/conductor", "", bundle).wantError(t, http.StatusUnprocessableEntity, "validation_failed")
		if len(e.Error.Details) != 1 || e.Error.Details[0].Path != "/tasks/0/expression" || e.Error.Details[0].Line != 3 ||
			!strings.HasPrefix(e.Error.Details[0].Message, "broken.json: ") {
			t.Fatalf("details = %+v, want one at broken.json line 3 /tasks/0/expression", e.Error.Details)
		}
		var blocks struct{ Blocks []any }
		b.call(t, http.MethodGet, "/api/v1/blocks", "", nil).want(t, http.StatusOK).decode(t, &blocks)
		if len(blocks.Blocks) != 0 {
			t.Fatalf("blocks after a refused import: %v, want none", blocks.Blocks)
		}

		var ans struct {
			Blocks []struct {
				Name    string
				Version int
			}
			Flows []struct {
				Name    string
				Version int
			}
		}
		b.call(t, http.MethodPost, "/api/v1/import/conductor", "", conductorOrders).want(t, http.StatusCreated).decode(t, &ans)
		if len(ans.Blocks) != 2 || len(ans.Flows) != 1 || ans.Flows[0].Name != "orders" || ans.Flows[0].Version != 1 {
			t.Fatalf("import answer %+v, want blocks charge and ship and flow orders@1", ans)
		}
		var flow map[string]any
		b.call(t, http.MethodGet, "/api/v1/flows/orders", "", nil).want(t, http.StatusOK).decode(t, &flow)
		if !strings.Contains(toJSON(t, flow["blocks"]), `"receipt":"${charge.output.receipt}"`) {
			t.Fatalf("stored blueprint %v does not read charge's output", flow["blocks"])
		}

		// The upload page recognises a Conductor definition.
		resp := postPageForm(t, b.url+"/flows/upload", url.Values{"text": {conductorOrders}})
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || !strings.Contains(string(page), `data-testid="upload-conductor"`) || !strings.Contains(string(page), "flow orders v1") {
			t.Fatalf("upload page with a Conductor definition: %d\n%s", resp.StatusCode, page)
		}
		resp = postPageForm(t, b.url+"/flows/upload", url.Values{"text": {conductorBroken}})
		page, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(page), "/tasks/0/expression") {
			t.Fatalf("upload page with a broken Conductor definition: %d\n%s", resp.StatusCode, page)
		}
	})
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// postPageForm posts an HTML form with its double-submit CSRF token.
func postPageForm(t *testing.T, u string, form url.Values) *http.Response {
	t.Helper()
	const tok = "conductor-test-csrf-token-0123456"
	form.Set("_csrf", tok)
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "weft_csrf", Value: tok})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
