package server_test

import (
	"strings"
	"testing"
)

// A blueprint in DAG form with several problems: the upload answers 422
// with every one of them, each with its pointer, line and column.
func TestUploadDAGProblems(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, sqliteStore, apiOptions{})
	doc := "{\"name\": \"dag\", \"blocks\": [\n" +
		"  {\"ref\": \"ingest\", \"type\": \"lambda\", \"expr\": \"1\", \"depends_on\": [\"validate\"]},\n" +
		"  {\"ref\": \"validate\", \"type\": \"lambda\", \"expr\": \"1\", \"depends_on\": [\"ingest\"]},\n" +
		"  {\"ref\": \"train\", \"type\": \"lambda\", \"expr\": \"score.output\", \"depends_on\": [\"ingset\"]},\n" +
		"  {\"ref\": \"score\", \"type\": \"lambda\", \"expr\": \"2\", \"depends_on\": []}\n" +
		"]}"
	e := b.call(t, "POST", "/api/v1/flows", "", doc).wantError(t, 422, "validation_failed")
	want := map[string]string{
		"/blocks":                "cycle ingest → validate → ingest",
		"/blocks/2/depends_on/0": `unknown ref "ingset" in depends_on (did you mean "ingest"?)`,
		"/blocks/2/expr":         `add "score" to the depends_on of "train"`,
	}
	if len(e.Error.Details) != len(want) {
		t.Fatalf("details: %+v", e.Error.Details)
	}
	for _, d := range e.Error.Details {
		if w, ok := want[d.Path]; !ok || !strings.Contains(d.Message, w) || d.Line == 0 || d.Column == 0 {
			t.Errorf("detail %+v, want at %s containing %q with line and column", d, d.Path, w)
		}
	}
	// Fixed, it is stored and runs: the DAG's output is its sinks'.
	fixed := strings.NewReplacer(`"depends_on": ["validate"]`, `"depends_on": []`, `["ingset"]`, `["ingest", "score"]`).Replace(doc)
	b.call(t, "POST", "/api/v1/flows", "", fixed).want(t, 201)
	var run struct {
		ID string `json:"id"`
	}
	b.call(t, "POST", "/api/v1/flows/dag/runs", "", map[string]any{"input": map[string]any{}}).want(t, 201).decode(t, &run)
	var got struct {
		Status string         `json:"status"`
		Output map[string]any `json:"output"`
	}
	b.call(t, "GET", "/api/v1/runs/"+run.ID+"/wait?timeout=10s", "", nil).want(t, 200).decode(t, &got)
	if got.Status != "succeeded" || got.Output["train"] != float64(2) || got.Output["validate"] != float64(1) || len(got.Output) != 2 {
		t.Fatalf("run: %+v", got)
	}
}
