package browser

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/server"
)

// TestBrowserArtifacts: a step's artifact is listed on the run page (name,
// size, sha256) and its link downloads the bytes.
func TestBrowserArtifacts(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	b := setup(t, options{})
	shots := shooter{dir: screenshotDir(t), t: t}
	raw := `{"name": "e2e.art", "dispatch": {"kind": "worker"}}`
	def, err := server.ParseBlock([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.st.PutBlock(context.Background(), def, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	b.putFlow(t, `{"name": "e2e-artifacts", "blocks": [
	  {"ref": "make", "block": "e2e.art"},
	  {"ref": "report", "block": "e2e.work", "input": {"data": "${make.artifacts['report.csv']}"}}]}`)
	run0, _, err := b.eng.StartRun(context.Background(), engine.StartParams{Flow: "e2e-artifacts", Input: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := b.eng.Poll(context.Background(), engine.PollParams{WorkerID: "art", Queues: []string{"e2e.art"}, Max: 1, Wait: 10 * time.Second})
	if err != nil || len(tasks) != 1 {
		t.Fatalf("poll e2e.art: %v, %v", tasks, err)
	}
	task := tasks[0]
	body := "house,price\n1,250000\n2,310000\n"
	req, _ := http.NewRequest("PUT", b.url+"/api/v1/tasks/"+task.ID+"/artifacts/report.csv", strings.NewReader(body))
	req.Header.Set("X-Weft-Lease", task.Lease)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("upload: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := b.eng.Complete(context.Background(), task.ID, task.Lease, []byte(`{"rows": 2}`)); err != nil {
		t.Fatal(err)
	}
	b.waitRun(t, run0.ID, func(r engine.Run) bool { return r.Status == engine.RunSucceeded })

	row := `[data-path="make"] [data-testid="artifact"]`
	run(t, ctx, "open the run page at the step",
		chromedp.Navigate(b.url+"/runs/"+run0.ID+"?step=make"),
		chromedp.WaitVisible(row),
		shots.shot("run-artifacts"),
	)
	name := value(t, ctx, "read the name", chromedp.Text(css(row+" td:nth-child(1)")))
	size := value(t, ctx, "read the size", chromedp.Text(css(row+" td:nth-child(2)")))
	sha := value(t, ctx, "read the sha256", chromedp.Text(css(row+" td:nth-child(3)")))
	href := value(t, ctx, "read the link", chromedp.AttributeValue(css(row+` [data-testid="artifact-download"]`), "href")).Value
	sum := sha256.Sum256([]byte(body))
	want := hex.EncodeToString(sum[:])
	if name != "report.csv" || size != "30 B" || strings.TrimSuffix(sha, "…") != want[:12] || !strings.HasPrefix(href, "/api/v1/artifacts/") {
		t.Fatalf("artifact row: name %q size %q sha %q href %q", name, size, sha, href)
	}
	got := value(t, ctx, "download it from the page", chromedp.Evaluate[string](
		`fetch(document.querySelector('[data-path="make"] [data-testid="artifact-download"]').href).then(r => r.text())`,
		chromedp.EvalAwaitPromise))
	if got != body {
		t.Fatalf("downloaded %q, want %q", got, body)
	}
}
