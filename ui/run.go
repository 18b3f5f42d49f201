package ui

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/flows"
)

// RunData is one run's page.
type RunData struct {
	Run      RunRow
	Input    JSONView
	Output   JSONView
	Error    *engine.ErrorInfo
	Parent   string
	Live     bool
	Graph    Graph
	Counts   []StatusCount
	Total    int
	Steps    []StepView
	Timeline Timeline
	Events   []EventView
	Selected string
	Waits    []WaitView
	Refs     []string // rerun targets, in blueprint order
	Rerun    RerunForm

	CanCancel, CanPause, CanResume, CanRetry bool
}

// StepView is one step with everything about it.
type StepView struct {
	Path       string
	Ref        string
	Kind       string
	Block      string
	Status     string
	Detail     string // why a running step is not progressing
	Attempt    int
	Attempts   []AttemptView
	Input      JSONView
	Output     JSONView
	Error      *engine.ErrorInfo
	Worker     string
	Started    string
	Duration   string
	ChildRunID string
	Open       bool
	Artifacts  []ArtifactView
}

// ArtifactView is one artifact a step stored.
type ArtifactView struct {
	Name    string
	Size    string // for people: 1.2 MB
	Bytes   int64
	SHA256  string
	Attempt int
	Href    string // the download
}

// AttachArtifacts lists each step's artifacts under it.
func AttachArtifacts(d *RunData, as []engine.Artifact) {
	by := map[string][]ArtifactView{}
	for _, a := range as {
		by[a.Step] = append(by[a.Step], ArtifactView{Name: a.Name, Size: HumanBytes(a.Size), Bytes: a.Size, SHA256: a.SHA256,
			Attempt: a.Attempt, Href: engine.ArtifactPath(a.ID)})
	}
	for i := range d.Steps {
		d.Steps[i].Artifacts = by[d.Steps[i].Path]
	}
}

// HumanBytes writes n bytes as 512 B, 1.5 kB, 12.3 MB, 2.0 GB.
func HumanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// AttemptView is one attempt of a step.
type AttemptView struct {
	Number   int
	Status   string
	Worker   string
	Started  string
	Duration string
	Error    string
}

// EventView is one history entry.
type EventView struct {
	Seq    int64
	Time   string
	Actor  string
	Kind   string
	Path   string
	From   string
	To     string
	Detail string
}

// WaitView is a wait block waiting for a signal.
type WaitView struct {
	Path     string
	Signal   string
	Assignee string
	Since    string
	SLA      string
	SLALeft  string
	Overdue  bool
	// Form is the payload form of a human step (nil without one).
	Form *StartForm
}

// RerunForm is the rerun-from-a-block editor.
type RerunForm struct {
	From  string
	Input string
}

// StepID is the HTML id of a step's row.
func StepID(path string) string { return "step-" + path }

// BuildRunData assembles a run page. bp may be nil when the flow version
// is gone; selected is the step path opened by ?step=; rerunFrom prefills
// the rerun editor.
func BuildRunData(run engine.Run, bp *flows.Blueprint, events []engine.Event, selected, rerunFrom string, now time.Time) RunData {
	if selected == "" && run.Error != nil && run.Error.Step != "" {
		selected = run.Error.Step // open the step that failed the run
	}
	d := RunData{Run: RunRowOf(run, now), Input: NewJSONView("run-input", run.Input), Output: NewJSONView("run-output", run.Output),
		Error: run.Error, Parent: run.ParentRunID, Live: !run.Status.Finished(), Selected: selected}
	d.Input.limit(JSONHref(run.ID, "", "input"))
	d.Output.limit(JSONHref(run.ID, "", "output"))
	d.CanCancel = !run.Status.Finished()
	d.CanPause = run.Status == engine.RunRunning || run.Status == engine.RunWaiting || run.Status == engine.RunQueued
	d.CanResume = run.Status == engine.RunPaused
	d.CanRetry = run.Status == engine.RunFailed || run.Status == engine.RunTimedOut || run.Status == engine.RunCancelled

	// Relative to the run's page, which is where the graph and timeline
	// are shown (and shorter for the live refresh to carry).
	href := func(path string) string { return "?step=" + url.QueryEscape(path) + "#" + StepID(path) }
	d.Graph = BuildGraph(bp, RunNodes(run.Steps, now, href))
	d.Timeline = BuildTimeline(run, now, href)

	counts := map[string]int{}
	for _, s := range run.Steps {
		counts[string(s.Status)]++
		d.Total++
		sv := StepView{Path: s.Path, Ref: s.Ref, Kind: s.Type, Block: s.Block, Status: string(s.Status), Attempt: s.Attempt,
			Input: NewJSONView("in-"+s.Path, s.Input), Output: NewJSONView("out-"+s.Path, s.Output), Error: s.Error,
			Started: WhenPtr(s.StartedAt), Duration: Span(s.StartedAt, s.FinishedAt, now), ChildRunID: s.ChildRunID,
			Open: s.Path == selected}
		if s.Status == engine.StepRunning {
			sv.Detail = s.StatusDetail
		}
		sv.Input.limit(JSONHref(run.ID, s.Path, "input"))
		sv.Output.limit(JSONHref(run.ID, s.Path, "output"))
		if sv.Kind == "" {
			sv.Kind = "task"
		}
		for _, a := range s.Attempts {
			av := AttemptView{Number: a.Number, Status: string(a.Status), Worker: a.WorkerID,
				Started: WhenPtr(a.StartedAt), Duration: Span(a.StartedAt, a.FinishedAt, now)}
			if a.Error != nil {
				av.Error = a.Error.Message
			}
			if a.WorkerID != "" {
				sv.Worker = a.WorkerID
			}
			sv.Attempts = append(sv.Attempts, av)
		}
		if s.Status == engine.StepWaiting && s.Type == flows.TypeWait && bp != nil {
			if n := bp.Nodes[s.Ref]; n != nil && n.Signal != "" {
				d.Waits = append(d.Waits, waitView(n, s, now))
			}
		}
		d.Steps = append(d.Steps, sv)
	}
	for _, st := range []engine.StepStatus{engine.StepFailed, engine.StepTimedOut, engine.StepRunning, engine.StepWaiting,
		engine.StepScheduled, engine.StepPending, engine.StepSucceeded, engine.StepSkipped, engine.StepCancelled} {
		if c := counts[string(st)]; c > 0 {
			d.Counts = append(d.Counts, StatusCount{Status: string(st), Count: c, Pct: float64(c) / float64(d.Total) * 100})
		}
	}
	for _, e := range events {
		ev := EventView{Seq: e.Seq, Time: When(e.Time), Actor: e.Actor, Kind: e.Kind, Path: e.Path, From: e.From, To: e.To}
		if len(e.Detail) > 0 && string(e.Detail) != "null" {
			ev.Detail = truncate(compactJSON(e.Detail), 300)
		}
		d.Events = append(d.Events, ev)
	}
	if bp != nil {
		d.Refs = blueprintRefs(bp.Blocks)
	}
	d.Rerun.From = rerunFrom
	if rerunFrom != "" {
		for _, s := range run.Steps {
			if s.Ref == rerunFrom || s.Path == rerunFrom {
				d.Rerun.Input = PrettyJSON(s.Input)
				break
			}
		}
	}
	return d
}

func blueprintRefs(nodes []*flows.Node) []string {
	var out []string
	for _, n := range nodes {
		if n == nil {
			continue
		}
		out = append(out, n.Ref)
		for _, b := range n.Branches {
			out = append(out, blueprintRefs(b)...)
		}
		names := make([]string, 0, len(n.Cases))
		for k := range n.Cases {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			out = append(out, blueprintRefs(n.Cases[k])...)
		}
		out = append(out, blueprintRefs(n.Default)...)
		out = append(out, blueprintRefs(n.Do)...)
	}
	return out
}

func compactJSON(raw json.RawMessage) string {
	var b strings.Builder
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	out, _ := json.Marshal(v)
	b.Write(out)
	return b.String()
}

// shortHash is the first 12 characters of a hash, for tables.
func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

func waitView(n *flows.Node, s engine.Step, now time.Time) WaitView {
	w := WaitView{Path: s.Path, Signal: n.Signal, Assignee: n.Assignee}
	since := s.CreatedAt
	if s.StartedAt != nil {
		since = *s.StartedAt
	}
	w.Since = Duration(now.Sub(since))
	if n.SLA > 0 {
		w.SLA = time.Duration(n.SLA).String()
		w.SLALeft, w.Overdue = slaText(since.Add(time.Duration(n.SLA)), s.Control != nil && s.Control.SLAFired, now)
	}
	if len(n.Form) > 0 {
		f := BuildStartForm(n.Form)
		w.Form = &f
	}
	return w
}
