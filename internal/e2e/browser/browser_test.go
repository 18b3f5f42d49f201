package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/server"
)

const chromium = "/usr/bin/chromium"

// browser starts a fresh headless Chromium for one test.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Chromium is required when CI=true: %v", err)
		}
		t.Skipf("SKIPPING browser test: %s not found (%v)", chromium, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 1000),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

type step = chromedp.Action[chromedp.Void]

// run runs browser steps with a timeout, failing the test with what was
// being done and the page it was on.
func run(t *testing.T, ctx context.Context, what string, steps ...step) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		fail(t, ctx, what, err)
	}
}

// value runs one browser action that answers a value.
func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, a)
	if err != nil {
		fail(t, ctx, what, err)
	}
	return v
}

func fail(t *testing.T, ctx context.Context, what string, err error) {
	t.Helper()
	qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(qctx, chromedp.Location())
	body, _ := chromedp.Run(qctx, chromedp.Text(chromedp.CSS("main")))
	t.Fatalf("%s: %v\nat %s\npage text: %.1500s", what, err, loc, body)
}

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

type shooter struct {
	dir string
	t   *testing.T
}

// shot saves a full-page screenshot.
func (s shooter) shot(name string) step {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		// from the top, so the sticky bar sits where it belongs
		if _, err := chromedp.Evaluate[any]("window.scrollTo(0, 0)")(ctx, t); err != nil {
			return err
		}
		buf, err := chromedp.FullScreenshot(100)(ctx, t)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(s.dir, name+".png"), buf, 0o644)
	})
}

// clickNav clicks something that loads a page and waits for that page,
// so that later steps never query the page being left.
func clickNav(sel chromedp.CSS) step {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.RunResponse(ctx, chromedp.Click(sel))
		return err
	})
}

// dark switches the page to the dark colour scheme (or back).
func dark(on bool) step {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		v := "light"
		if on {
			v = "dark"
		}
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}}})
		return err
	})
}

func tid(id string) chromedp.CSS { return chromedp.CSS(`[data-testid="` + id + `"]`) }

func TestBrowserJourney(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	b := setup(t, options{})
	shots := shooter{dir: screenshotDir(t), t: t}
	t.Logf("screenshots in %s", shots.dir)
	b.putFlow(t, flakyFlow)

	// 1. upload a bad blueprint: every problem beside its line
	bad := strings.Replace(pipelineFlow, `"block": "e2e.work", "input": {"algo": "forest"}`, `"block": "no.such.block", "input": {"algo": "forest"}`, 1)
	bad = strings.Replace(bad, `{"ref": "drop", "block": "e2e.work"}`, `{"ref": "load", "block": "e2e.work"}`, 1)
	run(t, ctx, "upload a bad blueprint",
		chromedp.Navigate(b.url+"/flows/upload"),
		chromedp.SetValue(tid("upload-text"), bad),
		clickNav(tid("upload-submit")),
		chromedp.WaitVisible(tid("upload-problems")),
		shots.shot("upload-problems"),
	)
	problems := value(t, ctx, "read the problems", chromedp.Nodes(chromedp.CSSAll(`.src-problem`)))
	if len(problems) < 2 {
		t.Fatalf("bad upload: got %d problems beside lines, want at least 2 (unknown block, duplicate ref)", len(problems))
	}
	var lines []string
	for _, p := range problems {
		lines = append(lines, p.AttributeValue("data-line"))
	}
	wantLine := fmt.Sprint(1 + strings.Count(bad[:strings.Index(bad, "no.such.block")], "\n"))
	if !contains(lines, wantLine) {
		t.Errorf("unknown block problem: shown beside lines %v, want line %s", lines, wantLine)
	}

	// 2. upload the good one: the new version
	run(t, ctx, "upload a good blueprint",
		chromedp.Navigate(b.url+"/flows/upload"),
		chromedp.SetValue(tid("upload-text"), pipelineFlow),
		clickNav(tid("upload-submit")),
		chromedp.WaitVisible(tid("upload-result")),
	)
	if result := value(t, ctx, "read the result", chromedp.Text(tid("upload-version"))); result != "e2e-pipeline v1" {
		t.Fatalf("upload result: got %q, want e2e-pipeline v1", result)
	}
	// a changed second version shows its diff
	v2 := strings.Replace(pipelineFlow, `"timeout": "1h"`, `"timeout": "2h"`, 1)
	run(t, ctx, "upload a second version",
		chromedp.Navigate(b.url+"/flows/upload"),
		chromedp.SetValue(tid("upload-text"), v2),
		clickNav(tid("upload-submit")),
		chromedp.WaitVisible(tid("upload-diff")),
		shots.shot("upload-diff"),
	)
	if diff := value(t, ctx, "read the diff", chromedp.Text(tid("upload-diff"))); !strings.Contains(diff, `"2h"`) || !strings.Contains(diff, `"1h"`) {
		t.Errorf("diff of v1 and v2 lacks the changed line: %.300s", diff)
	}

	// 3. start a run from the generated form; watch it reach the wait
	run(t, ctx, "start a run from the form",
		chromedp.Navigate(b.url+"/flows/e2e-pipeline"),
		chromedp.WaitVisible(tid("flow-graph")),
		shots.shot("flow"),
		chromedp.SetValue(css(`#f-dataset`), "s3://bucket/houses.csv"),
		chromedp.SetValue(css(`#f-rows`), "250"),
		clickNav(tid("start-submit")),
		chromedp.WaitVisible(tid("run-header")),
	)
	runID := value(t, ctx, "read the run id", chromedp.Text(tid("run-id")))
	r, err := b.eng.GetRun(context.Background(), runID, false)
	if err != nil {
		t.Fatalf("the page shows run %q: %v", runID, err)
	}
	var in map[string]any
	_ = json.Unmarshal(r.Input, &in)
	if in["dataset"] != "s3://bucket/houses.csv" || in["rows"] != float64(250) {
		t.Fatalf("run input from the form: got %s", r.Input)
	}
	// the page refreshes itself: the approval banner appears without reload
	run(t, ctx, "see the run wait for approval",
		chromedp.WaitVisible(tid("wait-banner")),
		chromedp.WaitVisible(css(`[data-testid="node-approve"][data-status="waiting"]`)),
		shots.shot("run-waiting"),
	)
	// 4. approve the wait; the run completes
	run(t, ctx, "approve and watch it complete",
		clickNav(tid("signal-approve")),
		chromedp.WaitVisible(css(`[data-testid="run-header"] [data-status="succeeded"]`)),
		chromedp.WaitVisible(css(`[data-testid="node-publish"][data-status="succeeded"]`)),
	)
	// click a node: its step opens with input, output and worker
	run(t, ctx, "click a graph node",
		chromedp.Click(css(`[data-testid="node-publish"] a`)),
		chromedp.WaitVisible(css(`details#step-publish[open] [data-testid="step-worker"]`)),
		shots.shot("run-succeeded"),
	)
	if worker := value(t, ctx, "read the worker", chromedp.Text(css(`details#step-publish [data-testid="step-worker"]`))); worker != "e2e-worker" {
		t.Errorf("publish step's worker: got %q, want e2e-worker", worker)
	}

	// 5. a failed run: dashed red edge, retry from the UI
	run(t, ctx, "start a flaky run with raw JSON",
		chromedp.Navigate(b.url+"/flows/e2e-flaky"),
		chromedp.Click(css(`details.raw summary`)),
		chromedp.SetValue(tid("start-raw"), `{"flaky": true, "n": 3}`),
		clickNav(tid("start-raw-submit")),
		chromedp.WaitVisible(css(`[data-testid="run-header"] [data-status="failed"]`)),
		chromedp.WaitVisible(css(`[data-testid="node-train"][data-status="failed"]`)),
		chromedp.WaitVisible(tid("edge-failed")),
		chromedp.WaitVisible(tid("run-error")),
		shots.shot("run-failed"),
		dark(true),
		shots.shot("run-failed-dark"),
		dark(false),
	)
	runID = value(t, ctx, "read the run id", chromedp.Text(tid("run-id")))
	run(t, ctx, "retry the failed run",
		clickNav(tid("action-retry")),
		chromedp.WaitVisible(tid("flash")),
		chromedp.WaitVisible(css(`[data-testid="run-header"] [data-status="succeeded"]`)),
	)

	// 6. rerun from a step, with edited input
	run(t, ctx, "rerun from train",
		chromedp.Click(css(`details#step-train summary`)),
		clickNav(css(`details#step-train [data-testid="rerun-here"]`)),
		chromedp.WaitVisible(tid("rerun-form")),
		chromedp.SetValue(tid("rerun-input"), `{"flaky": false}`),
		clickNav(tid("rerun-submit")),
		chromedp.WaitVisible(css(`[data-testid="flash"]`)),
		chromedp.WaitVisible(css(`[data-testid="run-header"] [data-status="succeeded"]`)),
	)
	newID := value(t, ctx, "read the new run id", chromedp.Text(tid("run-id")))
	if newID == runID || newID == "" {
		t.Fatalf("rerun: the page shows run %q, want a new run (old %s)", newID, runID)
	}
	b.waitRun(t, newID, func(r engine.Run) bool { return r.Status == engine.RunSucceeded })

	// 7. the runs list: filters in the URL, keyset pages, bulk actions
	var many []string
	for i := 0; i < 55; i++ {
		r, _, err := b.eng.StartRun(context.Background(), engine.StartParams{Flow: "e2e-flaky", Input: json.RawMessage(fmt.Sprintf(`{"n": %d}`, i))})
		if err != nil {
			t.Fatal(err)
		}
		many = append(many, r.ID)
	}
	for _, id := range many {
		b.waitRun(t, id, func(r engine.Run) bool { return r.Status == engine.RunSucceeded })
	}
	run(t, ctx, "filter the runs list",
		chromedp.Navigate(b.url+"/runs"),
		chromedp.SetValue(tid("filter-flow"), "e2e-flaky"),
		chromedp.Click(tid("filter-status-succeeded")),
		clickNav(tid("filter-submit")),
		chromedp.WaitVisible(css(`[data-testid="runs-table"]`)),
		chromedp.WaitReady(css(`.pager`)),
		shots.shot("runs"),
	)
	if !value(t, ctx, "look for the next page link", chromedp.Evaluate[bool](`!!document.querySelector('[data-testid="page-next"]')`)) {
		n := value(t, ctx, "count rows", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="run-row"]').length`))
		all, err := b.eng.ListRuns(context.Background(), engine.RunFilter{Flow: "e2e-flaky", Statuses: []engine.RunStatus{engine.RunSucceeded}, Limit: 500})
		t.Fatalf("runs list: no next-page link with %d rows shown; the engine lists %d succeeded runs (%v)", n, len(all.Runs), err)
	}
	url := value(t, ctx, "read the URL", chromedp.Location())
	rows := value(t, ctx, "read the rows", chromedp.Nodes(chromedp.CSSAll(`[data-testid="run-row"]`)))
	run(t, ctx, "next page", clickNav(tid("page-next")), chromedp.WaitVisible(tid("page-first")))
	rows2 := value(t, ctx, "read the rows", chromedp.Nodes(chromedp.CSSAll(`[data-testid="run-row"]`)))
	if !strings.Contains(url, "flow=e2e-flaky") || !strings.Contains(url, "status=succeeded") {
		t.Errorf("filters are not in the URL: %s", url)
	}
	if len(rows) != 50 || len(rows2) < 7 {
		t.Errorf("pages: got %d then %d rows, want 50 then at least 7 (57 succeeded runs)", len(rows), len(rows2))
	}
	seen := map[string]bool{}
	for _, n := range append(rows, rows2...) {
		id := n.AttributeValue("data-run")
		if seen[id] {
			t.Errorf("run %s is on both pages", id)
		}
		seen[id] = true
		if st := n.AttributeValue("data-status"); st != "succeeded" {
			t.Errorf("filtered list shows a %s run", st)
		}
	}

	// bulk cancel every live pipeline run, behind a confirmation
	var live []string
	for i := 0; i < 3; i++ {
		r, _, err := b.eng.StartRun(context.Background(), engine.StartParams{Flow: "e2e-pipeline", Input: json.RawMessage(`{"dataset": "x"}`)})
		if err != nil {
			t.Fatal(err)
		}
		live = append(live, r.ID)
	}
	run(t, ctx, "bulk cancel: confirm",
		chromedp.Navigate(b.url+"/runs?flow=e2e-pipeline&status=running&status=waiting&status=queued"),
		clickNav(tid("bulk-cancel")),
		chromedp.WaitVisible(tid("bulk-count")),
		shots.shot("bulk-confirm"),
	)
	count := value(t, ctx, "read the count", chromedp.Text(tid("bulk-count")))
	run(t, ctx, "bulk cancel: apply", clickNav(tid("bulk-yes")), chromedp.WaitVisible(tid("bulk-done")))
	done := value(t, ctx, "read the result", chromedp.Text(tid("bulk-done")))
	if !strings.Contains(count, "Cancel 3") || !strings.Contains(done, "3 runs") {
		t.Errorf("bulk cancel: asked %q, answered %q; want 3 runs", count, done)
	}
	for _, id := range live {
		b.waitRun(t, id, func(r engine.Run) bool { return r.Status == engine.RunCancelled })
	}

	// the other pages, for the record
	run(t, ctx, "overview and catalogue pages",
		chromedp.Navigate(b.url+"/"),
		chromedp.WaitVisible(tid("runs-chart")),
		chromedp.WaitVisible(tid("worker-row")),
		shots.shot("overview"),
		chromedp.Navigate(b.url+"/flows"),
		chromedp.WaitVisible(tid("flows-table")),
		shots.shot("flows"),
		chromedp.Navigate(b.url+"/blocks/e2e.work"),
		chromedp.WaitVisible(tid("used-by")),
		shots.shot("block"),
		chromedp.Navigate(b.url+"/runs/does-not-exist"),
		chromedp.WaitVisible(tid("error-page")),
		shots.shot("error"),
	)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TestBrowserExampleFlows stores every example blueprint and screenshots
// its page: the graphs of real flows, drawn by the server.
func TestBrowserExampleFlows(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	b := setup(t, options{})
	shots := shooter{dir: screenshotDir(t), t: t}
	root := filepath.Join("..", "..", "..", "flows", "examples")
	defs, _ := filepath.Glob(filepath.Join(root, "blocks", "*.json"))
	for _, f := range defs {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		def, err := server.ParseBlock(raw)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, _, err := b.st.PutBlock(context.Background(), def, raw); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	examples, _ := filepath.Glob(filepath.Join(root, "*.json"))
	if len(examples) == 0 {
		t.Fatalf("no example flows under %s", root)
	}
	for _, f := range examples {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.putFlow(t, string(raw))
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		run(t, ctx, "show "+name,
			chromedp.Navigate(b.url+"/flows/"+name),
			chromedp.WaitVisible(tid("flow-graph")),
			shots.shot("example-"+name),
		)
		nodes := value(t, ctx, "count nodes", chromedp.Nodes(chromedp.CSSAll(`svg.graph g.node`)))
		if len(nodes) < 5 {
			t.Errorf("%s: the graph shows %d nodes", name, len(nodes))
		}
	}
}
