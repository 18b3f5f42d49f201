package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/server"
)

// The run page's live refresh sends only what changed and the page puts
// it together with what it holds: a step that finished keeps its element
// across refreshes, and when the run ends the page shows what a reload
// shows (every step's and node's status, every history row).
func TestBrowserLiveRefreshAssemblesThePage(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	b := setup(t, options{})
	bg := context.Background()
	raw := `{"name": "e2e.stage", "dispatch": {"kind": "worker"}}`
	def, err := server.ParseBlock([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.st.PutBlock(bg, def, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	b.putFlow(t, `{"name": "e2e-stages", "blocks": [
		{"ref": "prep", "block": "e2e.stage"}, {"ref": "fit", "block": "e2e.stage"}, {"ref": "ship", "block": "e2e.stage"}]}`)
	r, _, err := b.eng.StartRun(bg, engine.StartParams{Flow: "e2e-stages", Input: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	finish := func(ref string) {
		t.Helper()
		tasks, err := b.eng.Poll(bg, engine.PollParams{WorkerID: "stager", Queues: []string{"e2e.stage"}, Max: 1, Wait: 10 * time.Second})
		if err != nil || len(tasks) != 1 {
			t.Fatalf("poll for %s: %v %v", ref, tasks, err)
		}
		if err := b.eng.Complete(bg, tasks[0].ID, tasks[0].Lease, json.RawMessage(`{"done": "`+ref+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	statusIs := func(path, status string) step {
		return chromedp.Poll[chromedp.Void](fmt.Sprintf(`(function () {
			var d = document.querySelector('[data-testid="step"][data-path=%q]');
			return d && d.getAttribute('data-status') === %q; })()`, path, status), chromedp.WithPollingTimeout(20*time.Second))
	}
	run(t, ctx, "open the run page", chromedp.Navigate(b.url+"/runs/"+r.ID), chromedp.WaitVisible(tid("steps")))
	finish("prep")
	run(t, ctx, "see one succeed live", statusIs("prep", "succeeded"))
	value(t, ctx, "hold one's element", chromedp.Evaluate[bool](`!!(window.__one = document.querySelector('[data-testid="step"][data-path="prep"]'))`))
	finish("fit")
	run(t, ctx, "see two succeed live", statusIs("fit", "succeeded"))
	finish("ship")
	run(t, ctx, "see the run end live", statusIs("ship", "succeeded"),
		chromedp.Poll[chromedp.Void](`document.getElementById('run-live').getAttribute('data-live') === 'false'`, chromedp.WithPollingTimeout(20*time.Second)))
	kept := value(t, ctx, "is one's element the same", chromedp.Evaluate[bool](`window.__one === document.querySelector('[data-testid="step"][data-path="prep"]')`))
	if !kept {
		t.Errorf("the finished step was sent again instead of kept")
	}
	const summary = `JSON.stringify({
		steps: Array.from(document.querySelectorAll('#run-live [data-testid="step"]')).map(function (d) { return d.getAttribute('data-path') + '=' + d.getAttribute('data-status'); }),
		nodes: Array.from(document.querySelectorAll('#run-live g.node')).map(function (g) { return g.getAttribute('data-testid') + '=' + g.getAttribute('data-status'); }),
		rows: Array.from(document.querySelectorAll('#run-live [data-testid="gantt-row"]')).map(function (r) { return r.textContent.trim(); }),
		events: Array.from(document.querySelectorAll('#run-live [data-testid="event-row"]')).map(function (r) { return r.firstElementChild.textContent; }),
		status: document.querySelector('#run-live [data-testid="run-header"] [data-status]').getAttribute('data-status')
	})`
	live := value(t, ctx, "read the live page", chromedp.Evaluate[string](summary))
	run(t, ctx, "reload", chromedp.Reload(), chromedp.WaitVisible(tid("steps")))
	fresh := value(t, ctx, "read the reloaded page", chromedp.Evaluate[string](summary))
	if live != fresh {
		t.Errorf("the live page differs from a reload:\n live %s\nfresh %s", live, fresh)
	}
}
