package ui

import (
	"bytes"
	"context"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"

	"github.com/weftlabs/weft/engine"
)

var (
	unitRE = regexp.MustCompile(`data-lk="([^"]*)" data-lh="([^"]*)"`)
	keepRE = regexp.MustCompile(`data-keep="([^"]*)"`)
	seqRE  = regexp.MustCompile(`data-events-seq="(\d+)"`)
)

func renderLive(t *testing.T, st *LiveState, c templ.Component) string {
	t.Helper()
	var b bytes.Buffer
	if err := c.Render(WithLive(context.Background(), st), &b); err != nil {
		t.Fatalf("render: %v", err)
	}
	return b.String()
}

// units are the keys and hashes of the units a live part holds.
func units(s string) map[string]string {
	out := map[string]string{}
	for _, m := range unitRE.FindAllStringSubmatch(s, -1) {
		out[html.UnescapeString(m[1])] = m[2]
	}
	return out
}

func keeps(s string) []string {
	var out []string
	for _, m := range keepRE.FindAllStringSubmatch(s, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

// A live refresh answers what the page holds with placeholders, sends a
// unit again only when its HTML changed, leaves closed steps' bodies out
// and appends only new history rows.
func TestLiveRefreshSendsOnlyWhatChanged(t *testing.T) {
	t.Parallel()
	bp := loadBlueprint(t, "house.json", 2)
	run := fixtureRun(bp)
	run.Status, run.FinishedAt, run.Error = engine.RunRunning, nil, nil
	reg := &run.Steps[8]
	reg.Status, reg.FinishedAt, reg.Error = engine.StepRunning, nil, nil
	now := t0.Add(90 * time.Second)
	p := page("Run", "runs")

	first := renderLive(t, &LiveState{}, RunLive(p, BuildRunData(run, bp, fixtureEvents(), "", "", now)))
	have := units(first)
	for _, k := range []string{"head", "counts", "edges", "n-register", "s-register", "s-load", "t-register", "io"} {
		if have[k] == "" {
			t.Errorf("the first load has no unit %q; it has %v", k, have)
		}
	}
	if len(keeps(first)) != 0 || !strings.Contains(first, `data-testid="step-worker"`) {
		t.Fatalf("the first load must be whole, with the steps' bodies")
	}

	// Nothing changed: every unit is a placeholder and no history row is sent.
	st := &LiveState{Have: have, EventsAfter: 3, Open: map[string]bool{}, Refresh: true}
	same := renderLive(t, st, RunLive(p, BuildRunData(run, bp, fixtureEvents(), "", "", now)))
	if got := units(same); len(got) != 0 {
		t.Errorf("an unchanged refresh resent units %v", got)
	}
	if len(keeps(same)) != len(have) {
		t.Errorf("an unchanged refresh kept %d of %d units", len(keeps(same)), len(have))
	}
	if strings.Contains(same, `data-testid="event-row"`) {
		t.Errorf("an unchanged refresh resent history rows")
	}
	if len(same)*4 > len(first) {
		t.Errorf("an unchanged refresh is %d bytes, the whole live part %d", len(same), len(first))
	}

	// Opening a step the first load showed with its body: the page sends
	// the hash of the step with its body (data-lhb), and it is kept.
	lhb := regexp.MustCompile(`data-lk="s-load" data-lh="[^"]*" data-lhb="([^"]*)"`).FindStringSubmatch(first)
	if lhb == nil {
		t.Fatalf("the first load's step has no data-lhb")
	}
	withBody := units(first)
	withBody["s-load"] = lhb[1]
	opened0 := renderLive(t, &LiveState{Have: withBody, EventsAfter: 3, Open: map[string]bool{"load": true}, Refresh: true},
		RunLive(p, BuildRunData(run, bp, fixtureEvents(), "", "", now)))
	if got := units(opened0); got["s-load"] != "" || !strings.Contains(opened0, `data-keep="s-load"`) {
		t.Errorf("opening a step held with its body sent it again")
	}

	// register fails a minute later, with a new event: its step, node and
	// timeline row, the counts and the header are sent; the other steps,
	// nodes and finished rows are not; one history row is appended.
	later := now.Add(time.Minute)
	reg.Status, reg.FinishedAt = engine.StepFailed, &later
	reg.Error = &engine.ErrorInfo{Message: "registry refused", Type: "http_403"}
	evs := append(fixtureEvents(), engine.Event{Seq: 4, RunID: run.ID, Time: later, Actor: "worker:w-1", Kind: "step.failed", Path: "register", From: "running", To: "failed"})
	st.Have = units(first)
	next := renderLive(t, st, RunLive(p, BuildRunData(run, bp, evs, "", "", later)))
	sent := units(next)
	for _, k := range []string{"s-register", "n-register", "t-register", "counts", "head"} {
		if sent[k] == "" {
			t.Errorf("the changed unit %q was not sent; sent %v", k, sent)
		}
	}
	for _, k := range []string{"s-load", "s-prep", "n-load", "t-load", "t-prep", "io"} {
		if sent[k] != "" {
			t.Errorf("the unchanged unit %q was sent again", k)
		}
	}
	if n := strings.Count(next, `data-testid="event-row"`); n != 1 {
		t.Errorf("the refresh appended %d history rows, want 1", n)
	}
	if m := seqRE.FindStringSubmatch(next); m == nil || m[1] != "4" {
		t.Errorf("the history says its last event is %v, want 4", m)
	}
	// register is closed on the page, so its body (and error) is left out
	// until it is opened; opened, it is sent.
	if strings.Contains(next, `data-testid="step-error"`) {
		t.Errorf("a closed step's body was sent")
	}
	st.Open = map[string]bool{"register": true}
	opened := renderLive(t, st, RunLive(p, BuildRunData(run, bp, evs, "", "", later)))
	if !strings.Contains(opened, `registry refused`) || !strings.Contains(opened, `data-testid="step-error"`) {
		t.Errorf("an open step's body was not sent")
	}
}

// A refresh that finds more new history than it may carry sends the
// newest rows and says how many it left out.
func TestLiveRefreshCapsNewHistoryRows(t *testing.T) {
	t.Parallel()
	bp := loadBlueprint(t, "house.json", 2)
	run := fixtureRun(bp)
	var evs []engine.Event
	for i := int64(1); i <= 100; i++ {
		evs = append(evs, engine.Event{Seq: i, RunID: run.ID, Time: t0, Actor: "engine", Kind: "step.scheduled", Path: "load"})
	}
	st := &LiveState{Have: map[string]string{}, EventsAfter: 10, Refresh: true}
	out := renderLive(t, st, RunLive(page("Run", "runs"), BuildRunData(run, bp, evs, "", "", t0.Add(time.Hour))))
	if n := strings.Count(out, `data-testid="event-row"`); n != liveEventRows {
		t.Errorf("%d rows, want %d", n, liveEventRows)
	}
	if !strings.Contains(out, "70 events (#11–#80) came too fast to show live") {
		t.Errorf("the left-out events are not said: %s", out[strings.Index(out, `id="events"`):][:600])
	}
	if !strings.Contains(out, `<td>100</td>`) || strings.Contains(out, `<td>80</td>`) {
		t.Errorf("the newest rows were not the ones sent")
	}
}

// A run with no timestamps (zero times) still gets a timeline, at once.
func TestTimelineOfARunWithoutTimes(t *testing.T) {
	t.Parallel()
	tl := BuildTimeline(engine.Run{Steps: []engine.Step{{Path: "a", Status: engine.StepScheduled}}}, t0, nil)
	if len(tl.Ticks) == 0 || len(tl.Ticks) > 13 || len(tl.Rows) != 1 {
		t.Errorf("ticks %d, rows %d", len(tl.Ticks), len(tl.Rows))
	}
}
