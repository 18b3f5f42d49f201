package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/server"
)

// A step's log shows on the run page while the step runs: lines a worker
// sends appear without a reload, keep their level's colour, and stay
// through the page's live refreshes until the step ends.
func TestBrowserStepLogLive(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	b := setup(t, options{})
	bg := context.Background()
	raw := `{"name": "e2e.talk", "dispatch": {"kind": "worker"}}`
	def, err := server.ParseBlock([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.st.PutBlock(bg, def, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	b.putFlow(t, `{"name": "e2e-talk", "blocks": [{"ref": "talk", "block": "e2e.talk"}]}`)
	run0, _, err := b.eng.StartRun(bg, engine.StartParams{Flow: "e2e-talk", Input: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := b.eng.Poll(bg, engine.PollParams{WorkerID: "talker", Queues: []string{"e2e.talk"}, Max: 1, Wait: 10 * time.Second})
	if err != nil || len(tasks) != 1 {
		t.Fatalf("poll: %v %v", tasks, err)
	}
	task := tasks[0]
	send := func(level, msg string) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"lease": task.Lease, "lines": []any{map[string]any{"level": level, "message": msg}}})
		resp, err := http.Post(b.url+"/api/v1/tasks/"+task.ID+"/logs", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("append %q: %d", msg, resp.StatusCode)
		}
	}
	lineWith := func(msg, level string) step {
		return chromedp.Poll[chromedp.Void](fmt.Sprintf(`Array.from(document.querySelectorAll('[data-testid="step-log-lines"] .log-line')).some(function (l) {
			return l.textContent.indexOf(%q) >= 0 && l.classList.contains(%q) })`, msg, "lv-"+level), chromedp.WithPollingTimeout(20*time.Second))
	}
	send("info", "loading 1000 rows")
	run(t, ctx, "open the running step's log",
		chromedp.Navigate(b.url+"/runs/"+run0.ID+"?step=talk"),
		chromedp.WaitVisible(tid("step-log")),
		lineWith("loading 1000 rows", "info"),
	)
	// Lines sent now arrive while the page is open, and survive the live
	// refresh (which runs every 1.5s while the run is live).
	send("warning", "learning rate is high")
	run(t, ctx, "see a line arrive live", lineWith("learning rate is high", "warning"))
	send("error", "loss is nan at epoch 3")
	run(t, ctx, "see another", lineWith("loss is nan at epoch 3", "error"))
	refreshes := value(t, ctx, "wait for a live refresh", chromedp.Poll[bool](`(function () {
		var d = document.querySelector('[data-testid="step"][data-path="talk"]');
		window.__weftStep = window.__weftStep || d;
		return d !== window.__weftStep || null; })()`, chromedp.WithPollingTimeout(20*time.Second)))
	if !refreshes {
		t.Fatal("the live part never refreshed")
	}
	n := value(t, ctx, "count lines after a refresh", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="step-log-lines"] .log-line').length`))
	if n != 3 {
		t.Fatalf("%d log lines after the live refresh, want 3", n)
	}
	// The step ends: its log stays, and the download link has it.
	if err := b.eng.Complete(bg, task.ID, task.Lease, json.RawMessage(`{"ok": true}`)); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "see the step end with its log kept",
		chromedp.Poll[chromedp.Void](`document.querySelector('[data-testid="step"][data-path="talk"]').getAttribute('data-status') === 'succeeded'`, chromedp.WithPollingTimeout(20*time.Second)),
		lineWith("loss is nan at epoch 3", "error"),
	)
	href := value(t, ctx, "read the download link", chromedp.Evaluate[string](`document.querySelector('[data-testid="step-log-download"]').href`))
	resp, body := get(t, client(), href)
	if resp.StatusCode != 200 || !bytes.Contains([]byte(body), []byte("learning rate is high")) {
		t.Fatalf("download %s: %d %.300s", href, resp.StatusCode, body)
	}
}
