package browser

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/weftlabs/weft/engine"
)

const humanFlow = `{
  "name": "e2e-human",
  "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}},
  "blocks": [
    {"ref": "approve", "type": "wait", "signal": "approval", "assignee": "reviewers", "sla": "4h",
     "form": {"type": "object", "required": ["ok"], "properties": {
       "ok": {"type": "boolean", "description": "ship it?"}, "note": {"type": "string"}}}},
    {"ref": "publish", "block": "e2e.work", "input": {"ok": "${approve.output.ok}"}}
  ],
  "output": {"approved": "${approve.output}"}
}`

// The operator's day in a browser: the overview lists a waiting run with
// its SLA, the run is approved through its form, a block definition is
// uploaded with a flow that uses it (and a broken one gets its hints),
// and a long value wraps inside its box.
func TestBrowserOperatorDay(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	b := setup(t, options{})
	b.putFlow(t, humanFlow)
	long := strings.Repeat("0123456789abcdef", 250) // 4000 characters, no space to break at
	in, _ := json.Marshal(map[string]string{"text": long})
	r, _, err := b.eng.StartRun(context.Background(), engine.StartParams{Flow: "e2e-human", Input: in})
	if err != nil {
		t.Fatal(err)
	}
	b.waitRun(t, r.ID, func(r engine.Run) bool { return r.Status == engine.RunWaiting })

	// The overview: waiting for you, with the SLA left.
	run(t, ctx, "open the overview",
		chromedp.Navigate(b.url+"/"),
		chromedp.WaitVisible(css(`[data-testid="waiting-row"][data-run="`+r.ID+`"]`)),
	)
	row := value(t, ctx, "read the waiting row", chromedp.Text(css(`[data-testid="waiting-row"][data-run="`+r.ID+`"]`)))
	for _, want := range []string{"e2e-human", "approve", "approval", "reviewers", "left", "4h0m0s"} {
		if !strings.Contains(row, want) {
			t.Errorf("waiting row %q lacks %q", row, want)
		}
	}
	if sla := value(t, ctx, "read the SLA", chromedp.Text(css(`[data-run="`+r.ID+`"] [data-testid="waiting-sla"]`))); !strings.HasPrefix(sla, "3h5") && !strings.HasPrefix(sla, "4h00") {
		t.Errorf("SLA left = %q, want just under 4h", sla)
	}

	// The run page: a long value wraps inside its box, nothing runs off the page.
	run(t, ctx, "open the run and its input",
		clickNav(css(`[data-run="`+r.ID+`"] a`)),
		chromedp.WaitVisible(tid("wait-form")),
		chromedp.Click(css(`[data-testid="json-run-input"] summary`)),
		chromedp.WaitVisible(css(`#run-input`)),
	)
	fits := value(t, ctx, "measure the input box", chromedp.Evaluate[[]float64](`(() => {
		const pre = document.getElementById("run-input");
		return [pre.scrollWidth, pre.clientWidth, document.documentElement.scrollWidth, window.innerWidth, pre.getBoundingClientRect().right];
	})()`))
	if fits[0] > fits[1]+1 || fits[2] > fits[3] || fits[4] > fits[3] {
		t.Errorf("a 4000-character value does not wrap: box scrollWidth %v > clientWidth %v, or page %v wider than window %v (box right %v)",
			fits[0], fits[1], fits[2], fits[3], fits[4])
	}

	// Approve through the form: a tick and a note.
	run(t, ctx, "approve through the form",
		chromedp.Click(css(`[data-testid="wait-form"] input[name="in.ok"]`)),
		chromedp.SetValue(css(`[data-testid="wait-form"] input[name="in.note"]`), "looks right"),
		clickNav(tid("wait-form-submit")),
	)
	done := b.waitRun(t, r.ID, func(r engine.Run) bool { return r.Status.Finished() })
	if done.Status != engine.RunSucceeded || !strings.Contains(string(done.Output), `"note":"looks right"`) || !strings.Contains(string(done.Output), `"ok":true`) {
		t.Fatalf("approved run: %s, output %s", done.Status, done.Output)
	}
	evs, err := b.eng.Events(context.Background(), r.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	who := ""
	for _, e := range evs {
		if e.Kind == "step.succeeded" && e.Path == "approve" {
			who = e.Actor
		}
	}
	if who != "ui" {
		t.Errorf("the history does not say who approved: actor %q", who)
	}

	// Upload a block definition and a flow that uses it, as two documents.
	upload := `{"name": "e2e.score", "title": "Score a model", "dispatch": {"kind": "worker", "queue": "e2e.work"}}
{"name": "e2e-scored", "blocks": [{"ref": "score", "block": "e2e.score"}]}`
	run(t, ctx, "upload a block and a flow",
		chromedp.Navigate(b.url+"/flows/upload"),
		chromedp.SetValue(tid("upload-text"), upload),
		clickNav(tid("upload-submit")),
		chromedp.WaitVisible(tid("upload-result")),
	)
	results := value(t, ctx, "read the results", chromedp.Nodes(chromedp.CSSAll(`[data-testid="upload-result"]`)))
	if len(results) != 2 || results[0].AttributeValue("data-kind") != "block" || results[1].AttributeValue("data-kind") != "flow" {
		t.Fatalf("upload results: %d, want a block then a flow", len(results))
	}
	if text := value(t, ctx, "read the block result", chromedp.Text(tid("upload-version"))); text != "e2e.score v1" {
		t.Errorf("block result %q, want e2e.score v1", text)
	}
	// Again with a change: only the changed line shows, removed before added.
	run(t, ctx, "upload the block again, changed",
		chromedp.Navigate(b.url+"/flows/upload"),
		chromedp.SetValue(tid("upload-text"), strings.Replace(upload, "Score a model", "Score one model", 1)),
		clickNav(tid("upload-submit")),
		chromedp.WaitVisible(tid("upload-diff")),
	)
	changes := value(t, ctx, "read the diff", chromedp.Nodes(chromedp.CSSAll(`.dl-add, .dl-del`)))
	if len(changes) != 2 || !strings.Contains(changes[0].AttributeValue("class"), "dl-del") {
		t.Errorf("diff shows %d changed lines, want the title removed then added", len(changes))
	}

	// A broken one: the hints name the key and the block meant.
	broken := `{"name": "e2e-broken", "blocks": [{"id": "score", "block": "e2e.scroe"}]}`
	run(t, ctx, "upload a broken flow",
		chromedp.Navigate(b.url+"/flows/upload"),
		chromedp.SetValue(tid("upload-text"), broken),
		clickNav(tid("upload-submit")),
		chromedp.WaitVisible(tid("upload-problems")),
	)
	text := value(t, ctx, "read the problems", chromedp.Text(tid("upload-problems")))
	for _, want := range []string{`did you mean "ref"`, `did you mean "e2e.score"`, "nothing was stored"} {
		if !strings.Contains(text, want) {
			t.Errorf("problems lack %q:\n%s", want, text)
		}
	}
}
