package ui

import (
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/flows"
)

// Page is what every page's layout needs.
type Page struct {
	Title   string
	Section string // overview, flows, blocks, runs: the highlighted nav entry
	Crumbs  []Crumb
	CSRF    string // token for the forms' hidden _csrf field
	Role    string // viewer, operator, admin; "" when auth is off
	AuthOn  bool
	Flash   *Flash
	Version string // product version in the footer
}

// CanOperate reports whether the viewer may act on runs.
func (p Page) CanOperate() bool { return p.Role != "viewer" }

// CanAdmin reports whether the viewer may upload definitions.
func (p Page) CanAdmin() bool { return p.Role == "" || p.Role == "admin" }

// Crumb is one breadcrumb; the last one has no Href.
type Crumb struct {
	Label string
	Href  string
}

// Flash is a one-line message above the page.
type Flash struct {
	Kind string // ok, error
	Text string
}

// RunRow is one run in a list.
type RunRow struct {
	ID             string
	Flow           string
	Version        int
	Status         string
	Created        time.Time
	Started        string
	Duration       string
	IdempotencyKey string
	Trigger        string
	Error          string
	Live           bool
}

// RunRowOf summarises a run.
func RunRowOf(r engine.Run, now time.Time) RunRow {
	row := RunRow{ID: r.ID, Flow: r.Flow, Version: r.Version, Status: string(r.Status), Created: r.CreatedAt,
		Started: WhenPtr(r.StartedAt), Duration: Span(r.StartedAt, r.FinishedAt, now),
		IdempotencyKey: r.IdempotencyKey, Trigger: r.Trigger, Live: !r.Status.Finished()}
	if r.Error != nil {
		row.Error = r.Error.Message
	}
	return row
}

// RunRows summarises runs.
func RunRows(runs []engine.Run, now time.Time) []RunRow {
	out := make([]RunRow, 0, len(runs))
	for _, r := range runs {
		out = append(out, RunRowOf(r, now))
	}
	return out
}

// StatusCount is a count of one status.
type StatusCount struct {
	Status string
	Count  int
	Pct    float64
}

// OverviewData is the overview page.
type OverviewData struct {
	// Waiting lists the steps of waiting runs, oldest run first.
	Waiting []WaitingRow
	Chart   StatusChart
	Window  string
	Totals  []StatusCount
	Failing []FailingFlow
	Queues  []QueueDepth
	Workers []WorkerView
	Recent  []RunRow
}

// FailingFlow is a flow with failed runs in the window.
type FailingFlow struct {
	Flow       string
	Failed     int
	Total      int
	LastRunID  string
	LastFailed time.Time
	LastError  string
}

// QueueDepth is the number of tasks waiting in one queue.
type QueueDepth struct {
	Queue string
	Depth int
	Pct   float64
}

// WorkerView is a worker seen recently.
type WorkerView struct {
	ID       string
	Queues   string
	LastSeen string
	Ago      string
}

// BuildOverview computes the overview from recent runs and the engine's stats.
func BuildOverview(runs []engine.Run, st engine.Stats, window string, now time.Time) OverviewData {
	d := OverviewData{Chart: BuildStatusChart(runs, now), Window: window}
	total := 0
	for _, c := range st.RunsByStatus {
		total += c
	}
	for _, s := range runStatusOrder {
		if c := st.RunsByStatus[s]; c > 0 {
			d.Totals = append(d.Totals, StatusCount{Status: string(s), Count: c, Pct: float64(c) / float64(total) * 100})
		}
	}
	byFlow := map[string]*FailingFlow{}
	for _, r := range runs {
		ff := byFlow[r.Flow]
		if ff == nil {
			ff = &FailingFlow{Flow: r.Flow}
			byFlow[r.Flow] = ff
		}
		ff.Total++
		if r.Status == engine.RunFailed || r.Status == engine.RunTimedOut {
			ff.Failed++
			if r.CreatedAt.After(ff.LastFailed) {
				ff.LastFailed, ff.LastRunID = r.CreatedAt, r.ID
				ff.LastError = ""
				if r.Error != nil {
					ff.LastError = r.Error.Message
				}
			}
		}
	}
	for _, ff := range byFlow {
		if ff.Failed > 0 {
			d.Failing = append(d.Failing, *ff)
		}
	}
	sort.Slice(d.Failing, func(i, j int) bool {
		if d.Failing[i].Failed != d.Failing[j].Failed {
			return d.Failing[i].Failed > d.Failing[j].Failed
		}
		return d.Failing[i].Flow < d.Failing[j].Flow
	})
	maxDepth := 0
	for _, c := range st.QueueDepths {
		maxDepth = max(maxDepth, c)
	}
	for q, c := range st.QueueDepths {
		qd := QueueDepth{Queue: q, Depth: c}
		if maxDepth > 0 {
			qd.Pct = float64(c) / float64(maxDepth) * 100
		}
		d.Queues = append(d.Queues, qd)
	}
	sort.Slice(d.Queues, func(i, j int) bool {
		if d.Queues[i].Depth != d.Queues[j].Depth {
			return d.Queues[i].Depth > d.Queues[j].Depth
		}
		return d.Queues[i].Queue < d.Queues[j].Queue
	})
	ws := append([]engine.WorkerSeen(nil), st.Workers...)
	sort.Slice(ws, func(i, j int) bool { return ws[i].LastSeen.After(ws[j].LastSeen) })
	for _, w := range ws {
		d.Workers = append(d.Workers, WorkerView{ID: w.ID, Queues: strings.Join(w.Queues, ", "),
			LastSeen: When(w.LastSeen), Ago: Duration(now.Sub(w.LastSeen)) + " ago"})
	}
	recent := runs
	if len(recent) > 10 {
		recent = recent[:10]
	}
	d.Recent = RunRows(recent, now)
	return d
}

// FlowsData is the flows list.
type FlowsData struct {
	Flows []engine.FlowSummary
}

// FlowData is one flow's page.
type FlowData struct {
	Name        string
	Title       string
	Description string
	Version     int // the version shown
	Latest      int
	Versions    []int
	Graph       Graph
	JSON        string
	DiffFrom    int
	DiffTo      int
	Diff        []DiffLine
	Added       int
	Removed     int
	Form        StartForm
	Runs        []RunRow
	Triggers    []TriggerView
	Blocks      []string // block definitions used, name@version
}

// TriggerView is a cron trigger on the flow page: its schedule and next
// three due times.
type TriggerView struct {
	Label string
	Next  []string
}

// BuildFlowData fills a flow page from the shown blueprint, the optional
// diff base (from) and target, its versions and runs.
func BuildFlowData(bp *flows.Blueprint, versions []int, from, to *flows.Blueprint, runs []engine.Run, now time.Time) FlowData {
	d := FlowData{Name: bp.Name, Title: bp.Title, Description: bp.Description, Version: bp.Version,
		Versions: versions, Graph: BuildGraph(bp, nil), JSON: PrettyJSON(bp.Raw), Runs: RunRows(runs, now)}
	for _, v := range versions {
		d.Latest = max(d.Latest, v)
	}
	d.Form = BuildStartForm(bp.InputSchema)
	d.Form.Action = "/flows/" + url.PathEscape(bp.Name) + "/runs"
	for _, t := range bp.Triggers {
		if t.Cron != "" {
			tv := TriggerView{Label: "cron " + t.Cron}
			due, _ := flows.NextDue(t.Cron, now, 3)
			for _, at := range due {
				tv.Next = append(tv.Next, at.Format("2006-01-02 15:04 UTC"))
			}
			d.Triggers = append(d.Triggers, tv)
		}
	}
	seen := map[string]bool{}
	for _, n := range bp.Nodes {
		if n.Type == flows.TypeTask && n.Block != "" {
			b := n.Block
			if n.Def != nil {
				b = n.Def.Name + "@" + strconv.Itoa(n.Def.Version)
			}
			seen[b] = true
		}
	}
	for b := range seen {
		d.Blocks = append(d.Blocks, b)
	}
	sort.Strings(d.Blocks)
	if from != nil && to != nil {
		d.DiffFrom, d.DiffTo = from.Version, to.Version
		full := Diff(PrettyJSON(from.Raw), PrettyJSON(to.Raw))
		d.Added, d.Removed = DiffChanged(full)
		d.Diff = DiffContext(full, 3)
	}
	return d
}

// Problem is one validation error placed in the uploaded text.
type Problem struct {
	Pointer string
	Msg     string
	Line    int
	Col     int
}

// SourceLine is one line of uploaded text with the problems pointing at it.
type SourceLine struct {
	N        int
	Text     string
	Problems []Problem
}

// UploadData is the upload page: the form, and after a post either the
// problems beside the lines or the stored version.
type UploadData struct {
	Text     string
	Lines    []SourceLine
	Problems []Problem // not tied to a line
	// Results are the definitions stored, blocks first.
	Results []UploadResult
}

// UploadResult is one stored definition of an upload.
type UploadResult struct {
	Kind    string // "flow" or "block"
	Name    string
	Version int
	Created bool
	// Conductor is set when the upload was a Conductor definition,
	// converted and imported: Stored lists everything stored (name@v),
	// Notes the differences to know.
	Conductor bool
	Stored    []string
	Notes     []string
	Prev      int
	Diff      []DiffLine
	Added     int
	Removed   int
}

// SetDiff keeps the changes from version prev, with 3 lines of context.
func (r *UploadResult) SetDiff(prev int, full []DiffLine) {
	r.Prev = prev
	r.Added, r.Removed = DiffChanged(full)
	r.Diff = DiffContext(full, 3)
}

// Href is the stored version's page.
func (r UploadResult) Href() string {
	if r.Kind == "block" {
		return BlockHref(r.Name) + "?version=" + strconv.Itoa(r.Version)
	}
	return FlowVersionHref(r.Name, r.Version)
}

// BuildUploadProblems places each validation error on the line its pointer
// (or, when it has none, its own Line) names.
func BuildUploadProblems(text string, errs []*flows.ValidationError) UploadData {
	d := UploadData{Text: text}
	lines := PointerLines([]byte(text))
	src := strings.Split(strings.TrimRight(text, "\n"), "\n")
	for i, l := range src {
		d.Lines = append(d.Lines, SourceLine{N: i + 1, Text: l})
	}
	for _, e := range errs {
		p := Problem{Pointer: e.Pointer, Msg: e.Msg, Line: e.Line, Col: e.Col}
		if p.Line == 0 && (p.Pointer != "" || len(lines) > 0) {
			p.Line, p.Col = LocatePointer(lines, p.Pointer)
		}
		if p.Line >= 1 && p.Line <= len(d.Lines) {
			d.Lines[p.Line-1].Problems = append(d.Lines[p.Line-1].Problems, p)
		} else {
			d.Problems = append(d.Problems, p)
		}
	}
	return d
}

// Count is the number of problems, placed or not.
func (d UploadData) Count() int {
	n := len(d.Problems)
	for _, l := range d.Lines {
		n += len(l.Problems)
	}
	return n
}

// BlocksData is the blocks list.
type BlocksData struct {
	Blocks []engine.BlockSummary
}

// BlockData is one block definition's page.
type BlockData struct {
	Def          *blocks.Definition
	Versions     []int
	JSON         string
	InputSchema  string
	OutputSchema string
	Dispatch     string
	Retry        string
	UsedBy       []FlowUse
}

// FlowUse is a flow whose latest version uses a block.
type FlowUse struct {
	Flow    string
	Version int
	Refs    []string
}

// BuildBlockData fills a block page.
func BuildBlockData(def *blocks.Definition, raw []byte, versions []int, usedBy []FlowUse) BlockData {
	d := BlockData{Def: def, Versions: versions, JSON: PrettyJSON(raw), UsedBy: usedBy,
		InputSchema: PrettyJSON(def.InputSchema), OutputSchema: PrettyJSON(def.OutputSchema)}
	switch def.Dispatch.Kind {
	case blocks.DispatchHTTP:
		m := def.Dispatch.Method
		if m == "" {
			m = "POST"
		}
		d.Dispatch = "http · " + m + " " + def.Dispatch.URL
	case blocks.DispatchKubernetes:
		ns := def.Dispatch.Namespace
		if ns == "" {
			ns = "default namespace"
		}
		d.Dispatch = "kubernetes Job · " + def.Dispatch.Image + " · " + ns
	case blocks.DispatchCommand:
		d.Dispatch = "command · queue " + def.Queue() + " · "
		if def.Dispatch.Script != "" {
			d.Dispatch += "script run by " + strings.Join(def.Dispatch.Interpreter, " ")
		} else {
			d.Dispatch += strings.Join(def.Dispatch.Command, " ")
		}
	default:
		d.Dispatch = "worker · queue " + def.Queue()
	}
	if def.Retry != nil {
		d.Retry = strconv.Itoa(def.Retry.Attempts()) + " attempt" + plural(def.Retry.Attempts())
		if def.Retry.Backoff != "" {
			d.Retry += ", " + def.Retry.Backoff + " back-off"
		}
		if def.Retry.InitialInterval > 0 {
			d.Retry += " from " + time.Duration(def.Retry.InitialInterval).String()
		}
		if def.Retry.MaxInterval > 0 {
			d.Retry += " up to " + time.Duration(def.Retry.MaxInterval).String()
		}
	} else {
		d.Retry = "1 attempt (no retry)"
	}
	return d
}

// FlowUses lists where bp uses the block called name.
func FlowUses(bp *flows.Blueprint, name string) (FlowUse, bool) {
	u := FlowUse{Flow: bp.Name, Version: bp.Version}
	for ref, n := range bp.Nodes {
		bn, _, _ := flows.SplitNameVersion(n.Block)
		cn := ""
		if n.Compensate != nil {
			cn, _, _ = flows.SplitNameVersion(n.Compensate.Block)
		}
		if (n.Type == flows.TypeTask && bn == name) || cn == name {
			u.Refs = append(u.Refs, ref)
		}
	}
	sort.Strings(u.Refs)
	return u, len(u.Refs) > 0
}

// RunsFilter is the runs list's filter, all of it in the URL.
type RunsFilter struct {
	Flow   string
	Status []string
	Preset string // 1h, 24h, 7d, 30d or "" for any time
	Q      string // run id or idempotency key
	Cursor string
}

// Presets are the quick time ranges.
var timePresets = []struct{ Value, Label string }{
	{"", "any time"}, {"1h", "last hour"}, {"24h", "last 24 hours"}, {"7d", "last 7 days"}, {"30d", "last 30 days"},
}

// TimePresets lists the quick time ranges as value/label pairs.
func TimePresets() [][2]string {
	out := make([][2]string, 0, len(timePresets))
	for _, p := range timePresets {
		out = append(out, [2]string{p.Value, p.Label})
	}
	return out
}

// PresetSince is the start of a time preset; zero for any time.
func PresetSince(preset string, now time.Time) time.Time {
	if preset == "" {
		return time.Time{}
	}
	d, err := blocks.ParseDuration(preset)
	if err != nil {
		return time.Time{}
	}
	return now.Add(-d)
}

// Values encodes the filter as URL query values (without the cursor).
func (f RunsFilter) Values() url.Values {
	v := url.Values{}
	if f.Flow != "" {
		v.Set("flow", f.Flow)
	}
	for _, s := range f.Status {
		v.Add("status", s)
	}
	if f.Preset != "" {
		v.Set("time", f.Preset)
	}
	if f.Q != "" {
		v.Set("q", f.Q)
	}
	return v
}

// Has reports whether status s is selected.
func (f RunsFilter) Has(s string) bool {
	for _, x := range f.Status {
		if x == s {
			return true
		}
	}
	return false
}

// Active reports whether any filter is set.
func (f RunsFilter) Active() bool {
	return f.Flow != "" || len(f.Status) > 0 || f.Preset != "" || f.Q != ""
}

// RunsData is the runs list.
type RunsData struct {
	Filter   RunsFilter
	Flows    []string
	Rows     []RunRow
	NextHref string
	Paged    bool // not the first page
}

// Href is the runs list URL for the filter (first page).
func (d RunsData) Href() string {
	q := d.Filter.Values().Encode()
	if q == "" {
		return "/runs"
	}
	return "/runs?" + q
}

// BulkData is the confirmation of a bulk action.
type BulkData struct {
	Action string // cancel, retry
	Filter RunsFilter
	Count  int
	More   bool // more runs match than were counted
	Sample []RunRow
	Done   int
	Failed []string
}

// Hidden lists the filter as hidden form fields.
func (d BulkData) Hidden() [][2]string {
	var out [][2]string
	for k, vs := range d.Filter.Values() {
		for _, v := range vs {
			out = append(out, [2]string{k, v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0]+out[i][1] < out[j][0]+out[j][1] })
	return out
}

// JSONView is a JSON value shown collapsed when large, with expand and copy.
type JSONView struct {
	ID    string
	Text  string
	Lines int
	Large bool
	// Hash tells the page whether Text changed; Src, when set, is where
	// Text is fetched from: the live refresh leaves large JSON out.
	Hash string
	Src  string
	// Full, set when Text was cut at MaxShownJSON, links to the whole
	// value; Size says how large it is.
	Full string
	Size string
}

// MaxShownJSON is how much of one JSON value a page shows; the rest is a
// link away.
const MaxShownJSON = 64 << 10

// Cut keeps the first max bytes of text (whole characters) and says that
// the rest was left out; ok is false when text fits.
func Cut(text string, max int) (string, bool) {
	if len(text) <= max {
		return text, false
	}
	i := max
	for i > 0 && !utf8.RuneStart(text[i]) {
		i--
	}
	return text[:i] + "\n… (cut here: the whole value is " + Bytes(len(text)) + ")", true
}

// Bytes formats a size: 900 B, 12.5 KB, 3.2 MB.
func Bytes(n int) string {
	switch {
	case n < 1024:
		return strconv.Itoa(n) + " B"
	case n < 1<<20:
		return strconv.FormatFloat(float64(n)/1024, 'f', 1, 64) + " KB"
	}
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB"
}

// limit cuts a value larger than MaxShownJSON, linking full to the whole.
func (j *JSONView) limit(full string) {
	if t, cut := Cut(j.Text, MaxShownJSON); cut {
		j.Size = Bytes(len(j.Text))
		j.Text, j.Full, j.Large = t, full, true
		j.Hash = textHash(t)
	}
}

// NewJSONView pretty-prints raw.
func NewJSONView(id string, raw json.RawMessage) JSONView {
	t := PrettyJSON(raw)
	n := strings.Count(t, "\n") + 1
	return JSONView{ID: id, Text: t, Lines: n, Large: n > 16 || len(t) > 1500, Hash: textHash(t)}
}

// Empty reports whether there is nothing to show.
func (j JSONView) Empty() bool { return j.Src == "" && (j.Text == "" || j.Text == "null") }

// LoginData is the login page.
type LoginData struct {
	Next  string
	Error string
}

// ErrorData is an error page.
type ErrorData struct {
	Code    int
	Title   string
	Message string
	Hint    string
}

// Itoa formats an int for templates.
func Itoa(n int) string { return strconv.Itoa(n) }

// I64 formats an int64.
func I64(n int64) string { return strconv.FormatInt(n, 10) }

// Pct formats a percentage for inline styles.
func Pct(p float64) string { return strconv.FormatFloat(p, 'f', 2, 64) + "%" }

// FlowHref is a flow's page.
func FlowHref(name string) string { return "/flows/" + url.PathEscape(name) }

// FlowVersionHref is one version of a flow's page.
func FlowVersionHref(name string, v int) string {
	return FlowHref(name) + "?version=" + strconv.Itoa(v)
}

// RunHref is a run's page.
func RunHref(id string) string { return "/runs/" + url.PathEscape(id) }

// BlockHref is a block's page.
func BlockHref(name string) string { return "/blocks/" + url.PathEscape(name) }

func blockName(nameAtVersion string) string {
	n, _, _ := flows.SplitNameVersion(nameAtVersion)
	return n
}

func pointerText(p string) string {
	if p == "" {
		return "(document)"
	}
	return p
}

// RunsForFlowHref is the runs list filtered to one flow.
func RunsForFlowHref(name string) string { return "/runs?flow=" + url.QueryEscape(name) }

func durOrNone(d blocks.Duration) string { return durOrDefault(d, "none") }

func durOrDefault(d blocks.Duration, def string) string {
	if d <= 0 {
		return def
	}
	return time.Duration(d).String()
}

func resources(r map[string]float64) string {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+strconv.FormatFloat(r[k], 'g', -1, 64))
	}
	return strings.Join(parts, " ")
}

func join(s []string) string { return strings.Join(s, ", ") }

func bulkVerb(action string) string {
	switch action {
	case "cancel":
		return "Cancel"
	case "retry":
		return "Retry"
	}
	return action
}

func boolStr(b bool) string { return strconv.FormatBool(b) }

func firstSignal(ws []WaitView) string {
	if len(ws) == 0 {
		return ""
	}
	return ws[0].Signal
}

func stepKind(s StepView) string {
	if s.Kind == "task" || s.Kind == "" {
		return s.Block
	}
	if s.Block != "" {
		return s.Kind + " · " + s.Block
	}
	return s.Kind
}

// StepHref opens one step of a run.
func StepHref(runID, path string) string {
	return RunHref(runID) + "?step=" + url.QueryEscape(path) + "#" + StepID(path)
}

// RerunHref prefills the rerun editor with a ref.
func RerunHref(runID, ref string) string {
	return RunHref(runID) + "?rerun=" + url.QueryEscape(ref) + "#operate"
}
