package server_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/weftlabs/weft/flows"
)

// A → B → A: the upload that closes the cycle is refused with the cycle
// named at the subflow's pointer and line. A cycle that got into the
// store anyway (written past the upload check) fails its run at the
// nesting limit. /readyz answers 200 all along.
func TestSubflowCycleRefusedAndBounded(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, open storeOpener) {
		b := setupAPI(t, open, apiOptions{})

		// /readyz is asked again and again while the test runs.
		var asked, bad atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Get(b.url + "/readyz")
				asked.Add(1)
				if err != nil || resp.StatusCode != 200 {
					bad.Add(1)
				}
				if resp != nil {
					resp.Body.Close()
				}
			}
		}()

		b.call(t, "POST", "/api/v1/flows", "", `{"name": "a", "blocks": [{"ref": "call_b", "type": "subflow", "flow": "b"}]}`).want(t, 201)
		e := b.call(t, "POST", "/api/v1/flows", "", "{\"name\": \"b\", \"blocks\": [\n  {\"ref\": \"call_a\", \"type\": \"subflow\", \"flow\": \"a\"}\n]}").wantError(t, 422, "validation_failed")
		if len(e.Error.Details) != 1 {
			t.Fatalf("want one problem: %+v", e.Error.Details)
		}
		d := e.Error.Details[0]
		if d.Path != "/blocks/0/flow" || d.Line != 2 || !strings.Contains(d.Message, "subflow cycle b → a → b") {
			t.Fatalf("problem = %+v", d)
		}
		// The validate endpoint says the same and stores nothing.
		b.call(t, "POST", "/api/v1/flows/validate", "", `{"name": "b", "blocks": [{"ref": "call_a", "type": "subflow", "flow": "a"}]}`).wantError(t, 422, "validation_failed")
		b.call(t, "GET", "/api/v1/flows/b", "", nil).wantError(t, 404, "not_found")
		// A longer cycle through a third flow is named whole.
		b.call(t, "POST", "/api/v1/flows", "", `{"name": "c", "blocks": [{"ref": "call_a", "type": "subflow", "flow": "a"}]}`).want(t, 201)
		e = b.call(t, "POST", "/api/v1/flows", "", `{"name": "b", "blocks": [{"ref": "ok", "type": "lambda", "expr": "1"}, {"ref": "call_c", "type": "subflow", "flow": "c"}]}`).wantError(t, 422, "validation_failed")
		if !strings.Contains(e.Error.Details[0].Message, "subflow cycle b → c → a → b") || e.Error.Details[0].Path != "/blocks/1/flow" {
			t.Fatalf("problem = %+v", e.Error.Details[0])
		}
		// A subflow that goes nowhere back is fine.
		b.call(t, "POST", "/api/v1/flows", "", `{"name": "b", "blocks": [{"ref": "ok", "type": "lambda", "expr": "1"}]}`).want(t, 201)

		// Written straight to the store: b calls a again.
		bp, err := flows.Parse([]byte(`{"name": "b", "blocks": [{"ref": "call_a", "type": "subflow", "flow": "a"}]}`), b.st)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.st.PutFlow(context.Background(), bp); err != nil {
			t.Fatal(err)
		}
		var run struct {
			ID string `json:"id"`
		}
		b.call(t, "POST", "/api/v1/flows/a/runs", "", map[string]any{"input": map[string]any{}}).want(t, 201).decode(t, &run)
		var got struct {
			Status string `json:"status"`
			Error  struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		b.call(t, "GET", "/api/v1/runs/"+run.ID+"/wait?timeout=10s", "", nil).want(t, 200).decode(t, &got)
		if got.Status != "failed" || !strings.Contains(got.Error.Message, "subflows nest at most 16 deep") {
			t.Fatalf("run = %+v", got)
		}
		b.call(t, "GET", "/readyz", "", nil).want(t, 200)
		close(stop)
		wg.Wait()
		if asked.Load() == 0 || bad.Load() != 0 {
			t.Fatalf("/readyz: %d asked, %d not 200", asked.Load(), bad.Load())
		}
	})
}
