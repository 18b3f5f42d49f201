package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/a-h/templ"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/flows"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var t0 = time.Date(2030, 1, 2, 10, 0, 0, 0, time.UTC)

func at(sec float64) *time.Time {
	t := t0.Add(time.Duration(sec * float64(time.Second)))
	return &t
}

// loadBlueprint reads a blueprint fixture and indexes its nodes the way
// Compile does, without needing a block catalog.
func loadBlueprint(t testing.TB, name string, version int) *flows.Blueprint {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return blueprintOf(t, raw, version)
}

func blueprintOf(t testing.TB, raw []byte, version int) *flows.Blueprint {
	t.Helper()
	var bp flows.Blueprint
	if err := json.Unmarshal(raw, &bp); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	bp.Raw, bp.Version, bp.Nodes = raw, version, map[string]*flows.Node{}
	var walk func([]*flows.Node)
	walk = func(ns []*flows.Node) {
		for _, n := range ns {
			bp.Nodes[n.Ref] = n
			walk(n.Do)
			walk(n.Catch)
			walk(n.Default)
			for _, b := range n.Branches {
				walk(b)
			}
			for _, c := range n.Cases {
				walk(c)
			}
		}
	}
	walk(bp.Blocks)
	walk(bp.OnFailure)
	return &bp
}

func render(t testing.TB, c templ.Component) string {
	t.Helper()
	var b bytes.Buffer
	if err := c.Render(context.Background(), &b); err != nil {
		t.Fatalf("render: %v", err)
	}
	return b.String()
}

var (
	spaceRE   = regexp.MustCompile(`\s+`)
	betweenRE = regexp.MustCompile(`>\s+<`)
	versionRE = regexp.MustCompile(`\?v=[0-9a-f]{10}`)
)

// normalise collapses whitespace so golden files compare on content.
func normalise(s string) string {
	s = versionRE.ReplaceAllString(s, "?v=STATIC")
	s = spaceRE.ReplaceAllString(s, " ")
	s = betweenRE.ReplaceAllString(s, ">\n<")
	return strings.TrimSpace(s) + "\n"
}

func golden(t *testing.T, name, html string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden.html")
	got := normalise(html)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./ui -update to create it)", err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d:\n got: %s\nwant: %s\n(go test ./ui -update rewrites it)", path, i+1, g, w)
			}
		}
	}
}

func page(title, section string) Page {
	return Page{Title: title, Section: section, CSRF: "tok123", Version: "test",
		Crumbs: []Crumb{{Label: "Weft", Href: "/"}, {Label: title}}}
}

func fixtureRun(bp *flows.Blueprint) engine.Run {
	ok := engine.StepSucceeded
	return engine.Run{
		ID: "r-0001", Flow: bp.Name, Version: 2, Status: engine.RunFailed, Trigger: "ui", IdempotencyKey: "nightly-42",
		Input: json.RawMessage(`{"dataset_url":"data/houses.csv"}`), CreatedAt: t0, StartedAt: at(0), FinishedAt: at(95),
		Error: &engine.ErrorInfo{Message: "model.register: registry refused <script>alert(1)</script>", Step: "register"},
		Steps: []engine.Step{
			{Path: "load", Ref: "load", Block: "data.load", Status: ok, Attempt: 1, Input: json.RawMessage(`{"url":"data/houses.csv"}`),
				Output: json.RawMessage(`{"rows":1460}`), StartedAt: at(0), FinishedAt: at(4),
				Attempts: []engine.Attempt{{Number: 1, Status: ok, WorkerID: "w-cpu-1", StartedAt: at(0), FinishedAt: at(4)}}},
			{Path: "prep", Ref: "prep", Block: "data.prepare", Status: ok, Attempt: 2, StartedAt: at(4), FinishedAt: at(20),
				Attempts: []engine.Attempt{
					{Number: 1, Status: engine.StepFailed, WorkerID: "w-cpu-1", StartedAt: at(4), FinishedAt: at(9), Error: &engine.ErrorInfo{Message: "connection reset"}},
					{Number: 2, Status: ok, WorkerID: "w-cpu-2", StartedAt: at(11), FinishedAt: at(20)}}},
			{Path: "train", Ref: "train", Type: "fork", Status: ok, Attempt: 1, StartedAt: at(20), FinishedAt: at(70)},
			{Path: "linear", Ref: "linear", Block: "model.train", Status: ok, Attempt: 1, StartedAt: at(20), FinishedAt: at(40),
				Output: json.RawMessage(`{"r2":0.83,"model_uri":"s3://m/linear"}`)},
			{Path: "forest", Ref: "forest", Block: "model.train", Status: ok, Attempt: 1, StartedAt: at(20), FinishedAt: at(70),
				Output: json.RawMessage(`{"r2":0.88,"model_uri":"s3://m/forest"}`)},
			{Path: "best", Ref: "best", Type: "lambda", Status: ok, Attempt: 1, StartedAt: at(70), FinishedAt: at(70)},
			{Path: "gate", Ref: "gate", Type: "decision", Status: engine.StepFailed, Attempt: 1, StartedAt: at(70), FinishedAt: at(95)},
			{Path: "approve", Ref: "approve", Type: "wait", Status: ok, Attempt: 1, StartedAt: at(70), FinishedAt: at(80),
				Output: json.RawMessage(`{"approved":true}`)},
			{Path: "register", Ref: "register", Block: "model.register", Status: engine.StepFailed, Attempt: 1, StartedAt: at(80), FinishedAt: at(95),
				Error: &engine.ErrorInfo{Message: "registry refused <script>alert(1)</script>", Type: "http_403"}},
			{Path: "notify", Ref: "notify", Block: "notify.team", Status: engine.StepSkipped},
		},
	}
}

func fixtureEvents() []engine.Event {
	return []engine.Event{
		{Seq: 1, RunID: "r-0001", Time: t0, Actor: "operator:ana", Kind: "run.started", From: "queued", To: "running"},
		{Seq: 2, RunID: "r-0001", Time: *at(4), Actor: "worker:w-cpu-1", Kind: "step.failed", Path: "prep", From: "running", To: "failed",
			Detail: json.RawMessage(`{"message":"connection reset","retry_in":"2s"}`)},
		{Seq: 3, RunID: "r-0001", Time: *at(95), Actor: "engine", Kind: "run.failed", From: "running", To: "failed"},
	}
}

func TestGoldenPages(t *testing.T) {
	t.Parallel()
	bp1 := loadBlueprint(t, "house.json", 1)
	raw2 := bytes.Replace(bp1.Raw, []byte(`"max_attempts": 5`), []byte(`"max_attempts": 7`), 1)
	bp2 := blueprintOf(t, raw2, 2)
	run := fixtureRun(bp2)
	now := t0.Add(10 * time.Minute)

	waiting := fixtureRun(bp2)
	waiting.ID, waiting.Status, waiting.Error, waiting.FinishedAt = "r-0002", engine.RunRunning, nil, nil
	waiting.Steps = waiting.Steps[:8]
	waiting.Steps[6].Status, waiting.Steps[6].FinishedAt = engine.StepRunning, nil
	waiting.Steps[7].Status, waiting.Steps[7].FinishedAt, waiting.Steps[7].Output = engine.StepWaiting, nil, nil

	stats := engine.Stats{
		RunsByStatus: map[engine.RunStatus]int{engine.RunSucceeded: 40, engine.RunFailed: 3, engine.RunRunning: 1},
		QueueDepths:  map[string]int{"train": 4, "data.load": 0, "gpu": 12},
		Workers:      []engine.WorkerSeen{{ID: "w-cpu-1", Queues: []string{"data.load", "train"}, LastSeen: now.Add(-3 * time.Second)}},
	}
	var recent []engine.Run
	for i := 0; i < 30; i++ {
		r := engine.Run{ID: "r-" + strconv.Itoa(100+i), Flow: []string{"house-prices", "rag-eval"}[i%2], Version: 1,
			Status: engine.RunSucceeded, CreatedAt: t0.Add(time.Duration(i) * 17 * time.Second)}
		if i%7 == 3 {
			r.Status, r.Error = engine.RunFailed, &engine.ErrorInfo{Message: "step train failed"}
		}
		recent = append(recent, r)
	}

	upErr := BuildUploadProblems(`{
  "name": "broken",
  "blocks": [
    {"ref": "a", "block": "nope"},
    {"ref": "a", "type": "lambda", "expr": "1 +"}
  ]
}`, []*flows.ValidationError{
		{Pointer: "/blocks/0/block", Msg: `unknown block "nope": store its definition first`},
		{Pointer: "/blocks/1/ref", Msg: `ref "a" is used twice`},
		{Pointer: "/blocks/1/expr", Msg: "expression does not compile"},
		{Pointer: "/output", Msg: "not placed anywhere"},
	})
	full := Diff(PrettyJSON(bp1.Raw), PrettyJSON(bp2.Raw))
	add, del := DiffChanged(full)
	upOK := UploadData{Results: []UploadResult{{Kind: "flow", Name: "house-prices", Version: 2, Created: true, Prev: 1,
		Diff: DiffContext(full, 2), Added: add, Removed: del}}}

	def := &blocks.Definition{Name: "model.train", Version: 2, Title: "Train a model", Dispatch: blocks.Dispatch{Kind: "worker", Queue: "gpu"},
		InputSchema: json.RawMessage(`{"type":"object","required":["dataset"]}`),
		Retry:       &blocks.RetryPolicy{MaxAttempts: 3, Backoff: "exponential", InitialInterval: blocks.Duration(2 * time.Second)},
		Concurrency: 2, Resources: map[string]float64{"gpu": 1, "cpu": 4}}
	use, _ := FlowUses(bp2, "model.train")

	runsFilter := RunsFilter{Flow: "house-prices", Status: []string{"failed"}, Preset: "24h"}
	cases := []struct {
		name string
		c    templ.Component
	}{
		{"overview", OverviewPage(page("Overview", "overview"), BuildOverview(recent, stats, "last 500 runs", now))},
		{"overview_empty", OverviewPage(page("Overview", "overview"), BuildOverview(nil, engine.Stats{}, "last 24 hours", now))},
		{"flows", FlowsPage(page("Flows", "flows"), FlowsData{Flows: []engine.FlowSummary{
			{Name: "house-prices", LatestVersion: 2, Title: "House price model", UpdatedAt: t0, LastRuns: []engine.RunStatus{"failed", "succeeded"}},
			{Name: "rag-eval", LatestVersion: 1, UpdatedAt: t0}}})},
		{"flows_empty", FlowsPage(page("Flows", "flows"), FlowsData{})},
		{"flow", FlowPage(page("house-prices", "flows"), BuildFlowData(bp2, []int{1, 2}, bp1, bp2, []engine.Run{run}, now))},
		{"upload_problems", UploadPage(page("Upload", "flows"), upErr)},
		{"upload_ok", UploadPage(page("Upload", "flows"), upOK)},
		{"blocks", BlocksPage(page("Blocks", "blocks"), BlocksData{Blocks: []engine.BlockSummary{
			{Name: "model.train", LatestVersion: 2, Kind: "worker", Queue: "gpu", UpdatedAt: t0},
			{Name: "llm.chat", LatestVersion: 1, Kind: "http", UpdatedAt: t0}}})},
		{"block", BlockPage(page("model.train", "blocks"), BuildBlockData(def, []byte(`{"name":"model.train"}`), []int{1, 2}, []FlowUse{use}))},
		{"runs", RunsPage(page("Runs", "runs"), RunsData{Filter: runsFilter, Flows: []string{"house-prices", "rag-eval"},
			Rows: RunRows([]engine.Run{run, waiting}, now), NextHref: "/runs?cursor=abc&flow=house-prices", Paged: true})},
		{"runs_empty", RunsPage(page("Runs", "runs"), RunsData{Filter: runsFilter})},
		{"bulk_confirm", BulkConfirmPage(page("Bulk", "runs"), BulkData{Action: "retry", Filter: runsFilter, Count: 1, Sample: RunRows([]engine.Run{run}, now)})},
		{"run_failed", RunPage(page("Run", "runs"), BuildRunData(run, bp2, fixtureEvents(), "register", "", now))},
		{"run_waiting", RunPage(page("Run", "runs"), BuildRunData(waiting, bp2, nil, "", "prep", now))},
		{"login", LoginPage(Page{Title: "Sign in", CSRF: "tok123", AuthOn: true, Version: "test"}, LoginData{Next: "/runs", Error: "That token is not valid."})},
		{"error", ErrorPage(page("Not found", ""), ErrorData{Code: 404, Title: "Run not found", Message: `No run has the id "zzz".`, Hint: "Search the runs list."})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			golden(t, tc.name, render(t, tc.c))
		})
	}
}

func TestRunPageShowsWhatUsersNeed(t *testing.T) {
	t.Parallel()
	bp := loadBlueprint(t, "house.json", 2)
	run := fixtureRun(bp)
	html := render(t, RunPage(page("Run", "runs"), BuildRunData(run, bp, fixtureEvents(), "register", "", t0.Add(time.Hour))))
	for _, want := range []string{
		`data-testid="node-register"`,           // the graph has the node
		`data-status="failed"`,                  // coloured by status
		`data-testid="edge-failed"`,             // the edge into the failed step
		`✗ failed`,                              // icon and word, not colour alone
		`data-testid="action-retry"`,            // a failed run can be retried
		`id="step-register" open`,               // the selected step is open
		`&lt;script&gt;alert(1)&lt;/script&gt;`, // user data is escaped
		`connection reset`,                      // attempts are shown
		`w-cpu-2`,                               // with their worker
		`data-testid="gantt-row"`,               // the timeline
		`data-kind="step.failed"`,               // the history
		`name="_csrf" value="tok123"`,           // forms carry the token
	} {
		if !strings.Contains(html, want) {
			t.Errorf("run page lacks %s", want)
		}
	}
	if strings.Contains(html, "<script>alert(1)") {
		t.Error("run page renders user data unescaped")
	}
	if strings.Contains(html, `data-testid="action-cancel"`) {
		t.Error("a finished run offers cancel")
	}
}

// A running step that says why it is not progressing shows it in its
// header and its graph node's tooltip, and a live refresh sends the step
// again once it goes.
func TestRunningStepShowsItsDetail(t *testing.T) {
	t.Parallel()
	bp := loadBlueprint(t, "house.json", 2)
	run := fixtureRun(bp)
	run.Status, run.FinishedAt, run.Error = engine.RunRunning, nil, nil
	const detail = "waiting for cluster capacity: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
	reg := &run.Steps[8]
	reg.Status, reg.FinishedAt, reg.Error, reg.StatusDetail = engine.StepRunning, nil, nil, detail
	run.Steps[0].StatusDetail = "stale" // only a running step shows one
	now := t0.Add(90 * time.Second)
	p := page("Run", "runs")

	html := render(t, RunPage(p, BuildRunData(run, bp, nil, "", "", now)))
	step := html[strings.Index(html, `id="step-register"`):]
	step = step[:strings.Index(step, "</summary>")]
	if !strings.Contains(step, `data-testid="step-detail">`+detail+`</span>`) {
		t.Errorf("the running step's header lacks its detail: %s", step)
	}
	node := html[strings.Index(html, `data-testid="node-register"`):]
	node = node[:strings.Index(node, "</title>")]
	if !strings.Contains(node, detail) {
		t.Errorf("the graph node's tooltip lacks the detail: %s", node)
	}
	if strings.Contains(html, "stale") {
		t.Error("a succeeded step shows a status detail")
	}

	first := renderLive(t, &LiveState{}, RunLive(p, BuildRunData(run, bp, nil, "", "", now)))
	reg.StatusDetail = ""
	st := &LiveState{Have: units(first), Open: map[string]bool{}, Refresh: true}
	next := renderLive(t, st, RunLive(p, BuildRunData(run, bp, nil, "", "", now)))
	sent := units(next)
	for _, k := range []string{"s-register", "n-register"} {
		if sent[k] == "" {
			t.Errorf("the detail went but the refresh did not send unit %q again (sent %v)", k, sent)
		}
	}
	if strings.Contains(next, "waiting for cluster capacity") {
		t.Error("the refresh still shows the detail")
	}
}

func TestStartFormFromSchema(t *testing.T) {
	t.Parallel()
	bp := loadBlueprint(t, "house.json", 1)
	form := BuildStartForm(bp.InputSchema)
	var names []string
	for _, f := range form.Fields {
		names = append(names, f.Name+":"+f.Type)
	}
	if got, want := strings.Join(names, " "), "dataset_url:string min_r2:number trees:integer dry_run:boolean algo:enum tags:json"; got != want {
		t.Fatalf("fields: got %s, want %s", got, want)
	}
	if !form.Fields[0].Required || form.Fields[0].Default != "data/houses.csv" {
		t.Fatalf("dataset_url: got required=%v default=%q", form.Fields[0].Required, form.Fields[0].Default)
	}
	vals := map[string]string{"in.dataset_url": "s3://x.csv", "in.min_r2": "0.9", "in.trees": "12", "in.dry_run": "true", "in.algo": "forest", "in.tags": `["a"]`}
	get := func(k string) (string, bool) { v, ok := vals[k]; return v, ok }
	in, ok := form.Fill(get)
	if !ok {
		t.Fatalf("fill: %+v", form.Fields)
	}
	if got, want := string(in), `{"algo":"forest","dataset_url":"s3://x.csv","dry_run":true,"min_r2":0.9,"tags":["a"],"trees":12}`; got != want {
		t.Fatalf("input: got %s, want %s", got, want)
	}
	bad := BuildStartForm(bp.InputSchema)
	vals = map[string]string{"in.min_r2": "high", "in.trees": "1.5"}
	if _, ok := bad.Fill(get); ok {
		t.Fatal("bad values were accepted")
	}
	errs := map[string]string{}
	for _, f := range bad.Fields {
		errs[f.Name] = f.Error
	}
	if errs["dataset_url"] == "" || errs["min_r2"] == "" || errs["trees"] == "" || errs["algo"] != "" {
		t.Fatalf("field errors: got %v", errs)
	}
}

func TestUploadProblemsBesideTheirLines(t *testing.T) {
	t.Parallel()
	text := "{\n  \"name\": \"x\",\n  \"blocks\": [\n    {\"ref\": \"a\",\n     \"block\": \"nope\"}\n  ]\n}"
	d := BuildUploadProblems(text, []*flows.ValidationError{
		{Pointer: "/blocks/0/block", Msg: "unknown block"},
		{Pointer: "/blocks/0/missing", Msg: "falls back to the block"},
		{Pointer: "/name", Msg: "has its own line", Line: 2, Col: 3},
	})
	got := map[string]int{}
	for _, l := range d.Lines {
		for _, p := range l.Problems {
			got[p.Msg] = l.N
		}
	}
	want := map[string]int{"unknown block": 5, "falls back to the block": 4, "has its own line": 2}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%q: got line %d, want %d", k, got[k], v)
		}
	}
}

func TestDiff(t *testing.T) {
	t.Parallel()
	d := Diff("a\nb\nc\nd", "a\nc\nd\ne")
	var ops []string
	for _, l := range d {
		ops = append(ops, l.Op+l.Text)
	}
	if got, want := strings.Join(ops, ","), " a,-b, c, d,+e"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	for _, tc := range []struct{ name, a, b, want string }{
		{"a changed value: removed before added", "{\n  \"a\": 1,\n  \"b\": 2\n}", "{\n  \"a\": 1,\n  \"b\": 3\n}",
			` {,   "a": 1,,-  "b": 2,+  "b": 3, }`},
		{"the same text from a browser (CRLF, no final newline)", "{\n  \"a\": 1\n}\n", "{\r\n  \"a\": 1\r\n}",
			` {,   "a": 1, }`},
		{"a key added before the closing brace", "{\n  \"a\": 1\n}\n", "{\n  \"a\": 1,\n  \"b\": 2\n}",
			` {,-  "a": 1,+  "a": 1,,+  "b": 2, }`},
	} {
		var ops []string
		d := Diff(tc.a, tc.b)
		for _, l := range d {
			ops = append(ops, l.Op+l.Text)
		}
		if got := strings.Join(ops, ","); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
		if add, del := DiffChanged(d); tc.a == tc.b && add+del != 0 {
			t.Errorf("%s: +%d -%d for equal texts", tc.name, add, del)
		}
	}
}

func TestStatusChartScalesToData(t *testing.T) {
	t.Parallel()
	// three runs within 40 seconds: the axis spans seconds, not a day
	runs := []engine.Run{{CreatedAt: t0, Status: "succeeded"}, {CreatedAt: t0.Add(20 * time.Second), Status: "failed"},
		{CreatedAt: t0.Add(40 * time.Second), Status: "succeeded"}}
	ch := BuildStatusChart(runs, t0.Add(24*time.Hour))
	if span := ch.To.Sub(ch.From); span > 2*time.Minute {
		t.Fatalf("axis spans %s for runs 40s apart", span)
	}
	total := 0
	for _, b := range ch.Buckets {
		total += b.Total
	}
	if total != 3 || ch.Max < 1 {
		t.Fatalf("got %d runs in buckets (max %d), want 3", total, ch.Max)
	}
}

func TestLargeJSONIsCut(t *testing.T) {
	t.Parallel()
	big := json.RawMessage(`{"text": "` + strings.Repeat("é", 40<<10) + `"}`) // 80 KB
	at := t0
	run := engine.Run{ID: "r1", Flow: "f", Version: 1, Status: engine.RunSucceeded, Input: json.RawMessage(`{}`), Output: big,
		CreatedAt: at, StartedAt: &at, FinishedAt: &at,
		Steps: []engine.Step{{Path: "s", Ref: "s", Status: engine.StepSucceeded, Output: big, CreatedAt: at, StartedAt: &at, FinishedAt: &at},
			{Path: "small", Ref: "small", Status: engine.StepSucceeded, Output: json.RawMessage(`1`), CreatedAt: at, StartedAt: &at, FinishedAt: &at}}}
	d := BuildRunData(run, nil, nil, "", "", t0)
	for _, j := range []JSONView{d.Output, d.Steps[0].Output} {
		if len(j.Text) > MaxShownJSON+200 || !strings.Contains(j.Text, "cut here") || !utf8.ValidString(j.Text) || j.Full == "" || j.Size != "80.0 KB" {
			t.Fatalf("%s: %d bytes shown, full %q, size %q", j.ID, len(j.Text), j.Full, j.Size)
		}
	}
	if d.Steps[0].Output.Full != "/runs/r1/json?part=output&step=s" {
		t.Fatalf("full value link %q", d.Steps[0].Output.Full)
	}
	if d.Steps[1].Output.Full != "" || d.Steps[1].Output.Text != "1" {
		t.Fatalf("a small value was cut: %+v", d.Steps[1].Output)
	}
}

func TestBlockDataCommand(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		ds   blocks.Dispatch
		want string
	}{
		{blocks.Dispatch{Kind: "command", Queue: "cpu", Command: []string{"python3", "train.py"}}, "command · queue cpu · python3 train.py"},
		{blocks.Dispatch{Kind: "command", Script: "echo hi", Interpreter: []string{"bash", "-eu"}}, "command · queue x.run · script run by bash -eu"},
	} {
		def := &blocks.Definition{Name: "x.run", Version: 1, Dispatch: c.ds}
		if got := BuildBlockData(def, []byte(`{}`), []int{1}, nil).Dispatch; got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}
