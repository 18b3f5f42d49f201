package ui

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/a-h/templ"

	"github.com/weftlabs/weft/engine"
)

// Timeline is a Gantt chart of a run's steps and their attempts, its axis
// scaled to the run's own span.
type Timeline struct {
	Rows  []TimelineRow
	Ticks []Tick
	Span  string
	// SpanMS and TickMS scale the chart: bars are placed in milliseconds
	// from the start and the stylesheet divides by SpanMS, so a bar that
	// ended does not change (nor is it sent again) as the run goes on.
	SpanMS, TickMS int64
}

// TimelineRow is one step.
type TimelineRow struct {
	Path   string
	Status string
	Bars   []TimelineBar
	Href   string
}

// TimelineBar is one attempt, placed in milliseconds from the start.
type TimelineBar struct {
	StartMS, LenMS int64
	Status         string
	Title          string
}

// Tick is an axis label at Pct percent.
type Tick struct {
	Pct   float64
	Label string
}

// BuildTimeline lays out steps between the run's start and its end (or now).
func BuildTimeline(run engine.Run, now time.Time, href func(path string) string) Timeline {
	start := run.CreatedAt
	if run.StartedAt != nil {
		start = *run.StartedAt
	}
	end := now
	if run.FinishedAt != nil {
		end = *run.FinishedAt
	}
	steps := append([]engine.Step(nil), run.Steps...)
	for _, s := range steps {
		if s.StartedAt != nil && s.StartedAt.Before(start) {
			start = *s.StartedAt
		}
		if s.FinishedAt != nil && s.FinishedAt.After(end) {
			end = *s.FinishedAt
		}
	}
	total := end.Sub(start)
	if total <= 0 {
		total = time.Second
	}
	ms := func(t time.Time) int64 {
		return min(max(t.Sub(start), 0), total).Milliseconds()
	}
	sort.SliceStable(steps, func(i, j int) bool {
		a, b := steps[i].StartedAt, steps[j].StartedAt
		if a == nil || b == nil {
			return a != nil && b == nil
		}
		return a.Before(*b)
	})
	tl := Timeline{Span: Duration(total)}
	for _, s := range steps {
		row := TimelineRow{Path: s.Path, Status: string(s.Status)}
		if href != nil {
			row.Href = href(s.Path)
		}
		atts := s.Attempts
		if len(atts) == 0 && s.StartedAt != nil {
			atts = []engine.Attempt{{Number: max(s.Attempt, 1), Status: s.Status, StartedAt: s.StartedAt, FinishedAt: s.FinishedAt}}
		}
		for _, a := range atts {
			if a.StartedAt == nil {
				continue
			}
			e := now
			if a.FinishedAt != nil {
				e = *a.FinishedAt
			}
			l := ms(*a.StartedAt)
			w := max(ms(e)-l, 0)
			title := fmt.Sprintf("attempt %d: %s, %s", a.Number, StatusWord(string(a.Status)), Span(a.StartedAt, a.FinishedAt, now))
			if a.WorkerID != "" {
				title += " on " + a.WorkerID
			}
			if a.Error != nil {
				title += " — " + truncate(a.Error.Message, 160)
			}
			row.Bars = append(row.Bars, TimelineBar{StartMS: l, LenMS: w, Status: string(a.Status), Title: title})
		}
		tl.Rows = append(tl.Rows, row)
	}
	step := niceStep(total, 6)
	tl.SpanMS, tl.TickMS = max(total.Milliseconds(), 1), max(step.Milliseconds(), 1)
	for d := time.Duration(0); d <= total; d += step {
		tl.Ticks = append(tl.Ticks, Tick{Pct: float64(d) / float64(total) * 100, Label: "+" + Duration(d)})
	}
	return tl
}

var niceSteps = []time.Duration{
	10 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour,
}

// niceStep is the smallest round interval giving at most n intervals.
func niceStep(total time.Duration, n int) time.Duration {
	for _, s := range niceSteps {
		if total/s <= time.Duration(n) {
			return s
		}
	}
	return total / time.Duration(n)
}

// StatusChart is runs by status over time: stacked bars over buckets whose
// width is chosen from the data's own span.
type StatusChart struct {
	Buckets []ChartBucket
	Max     int
	Ticks   []Tick
	From    time.Time
	To      time.Time
	Step    string
	Total   int
	Legend  []StatusCount
}

// ChartBucket is one bar.
type ChartBucket struct {
	Start    time.Time
	Segments []ChartSegment
	Total    int
	Title    string
}

// ChartSegment is one status within a bar, Pct of the chart's height.
type ChartSegment struct {
	Status string
	Count  int
	Pct    float64
}

// BuildStatusChart buckets runs by creation time between the first and the
// last run (padded a little), never a fixed day that squeezes them.
func BuildStatusChart(runs []engine.Run, now time.Time) StatusChart {
	if len(runs) == 0 {
		return StatusChart{}
	}
	from, to := runs[0].CreatedAt, runs[0].CreatedAt
	for _, r := range runs {
		if r.CreatedAt.Before(from) {
			from = r.CreatedAt
		}
		if r.CreatedAt.After(to) {
			to = r.CreatedAt
		}
	}
	span := to.Sub(from)
	step := niceStep(span, 24)
	if step <= 0 {
		step = time.Second
	}
	from = from.Truncate(step)
	n := int(to.Sub(from)/step) + 1
	if n < 6 { // a few bars at least, so one burst does not fill the chart
		n = 6
	}
	counts := make([]map[string]int, n)
	for i := range counts {
		counts[i] = map[string]int{}
	}
	for _, r := range runs {
		i := int(r.CreatedAt.Sub(from) / step)
		if i >= 0 && i < n {
			counts[i][string(r.Status)]++
		}
	}
	ch := StatusChart{From: from, To: from.Add(time.Duration(n) * step), Step: Duration(step), Total: len(runs)}
	for i := range counts {
		t := 0
		for _, c := range counts[i] {
			t += c
		}
		ch.Max = max(ch.Max, t)
	}
	for i, c := range counts {
		b := ChartBucket{Start: from.Add(time.Duration(i) * step)}
		title := When(b.Start)
		for _, st := range runStatusOrder {
			if k := c[string(st)]; k > 0 {
				b.Segments = append(b.Segments, ChartSegment{Status: string(st), Count: k, Pct: float64(k) / float64(ch.Max) * 100})
				b.Total += k
				title += fmt.Sprintf(" · %d %s", k, StatusWord(string(st)))
			}
		}
		if b.Total == 0 {
			title += " · no runs"
		}
		b.Title = title
		ch.Buckets = append(ch.Buckets, b)
	}
	for _, st := range runStatusOrder {
		c := 0
		for _, b := range ch.Buckets {
			for _, s := range b.Segments {
				if s.Status == string(st) {
					c += s.Count
				}
			}
		}
		if c > 0 {
			ch.Legend = append(ch.Legend, StatusCount{Status: string(st), Count: c, Pct: float64(c) / float64(len(runs)) * 100})
		}
	}
	labelEvery := max(n/6, 1)
	for i := 0; i < n; i += labelEvery {
		ch.Ticks = append(ch.Ticks, Tick{Pct: float64(i) / float64(n) * 100, Label: axisLabel(from.Add(time.Duration(i)*step), step)})
	}
	return ch
}

func axisLabel(t time.Time, step time.Duration) string {
	t = t.UTC()
	switch {
	case step >= 24*time.Hour:
		return t.Format("Jan 2")
	case step >= time.Minute:
		return t.Format("15:04")
	}
	return t.Format("15:04:05")
}

// ganttStyle scales the chart (see Timeline.SpanMS); the values are
// numbers only, so they are safe as CSS.
func ganttStyle(t Timeline) templ.SafeCSS {
	return templ.SafeCSS("--span:" + strconv.FormatInt(t.SpanMS, 10) + ";--tick:" + strconv.FormatInt(t.TickMS, 10) + ";")
}

// barStyle places a bar in milliseconds from the chart's start.
func barStyle(b TimelineBar) templ.SafeCSS {
	return templ.SafeCSS("--l:" + strconv.FormatInt(b.StartMS, 10) + ";--w:" + strconv.FormatInt(b.LenMS, 10) + ";")
}
