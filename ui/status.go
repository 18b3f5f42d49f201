package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/weftlabs/weft/engine"
)

// StatusIcon is the glyph shown next to every status colour, so that status
// never depends on colour alone.
func StatusIcon(status string) string {
	switch status {
	case "succeeded":
		return "✓"
	case "failed":
		return "✗"
	case "running":
		return "▶"
	case "queued", "scheduled":
		return "◷"
	case "pending":
		return "○"
	case "waiting":
		return "◔"
	case "paused":
		return "‖"
	case "cancelled":
		return "⊘"
	case "timed_out":
		return "⊠"
	case "skipped":
		return "↷"
	}
	return "•"
}

// StatusWord is the status as a user reads it.
func StatusWord(status string) string {
	if status == "" {
		return "not run"
	}
	return strings.ReplaceAll(status, "_", " ")
}

// RunStatuses lists run statuses in display order.
var runStatusOrder = []engine.RunStatus{
	engine.RunQueued, engine.RunRunning, engine.RunWaiting, engine.RunPaused, engine.RunSucceeded,
	engine.RunFailed, engine.RunCancelled, engine.RunTimedOut,
}

// RunStatuses returns every run status in display order.
func RunStatuses() []engine.RunStatus { return append([]engine.RunStatus(nil), runStatusOrder...) }

// stepRank orders step statuses for aggregating several steps of one ref
// (map and loop iterations): the most pressing wins.
func stepRank(s engine.StepStatus) int {
	switch s {
	case engine.StepFailed:
		return 9
	case engine.StepTimedOut:
		return 8
	case engine.StepRunning:
		return 7
	case engine.StepWaiting:
		return 6
	case engine.StepScheduled:
		return 5
	case engine.StepPending:
		return 4
	case engine.StepCancelled:
		return 3
	case engine.StepSucceeded:
		return 2
	case engine.StepSkipped:
		return 1
	}
	return 0
}

// Duration formats d compactly: 850ms, 4.2s, 3m05s, 2h10m, 3d4h.
func Duration(d time.Duration) string {
	switch {
	case d < 0:
		return "–"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// Span is the duration between start and end (now when end is nil), or ""
// when it has not started.
func Span(start, end *time.Time, now time.Time) string {
	if start == nil {
		return "–"
	}
	e := now
	if end != nil {
		e = *end
	}
	return Duration(e.Sub(*start))
}

// When formats a time in UTC, to the second.
func When(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// WhenPtr formats an optional time.
func WhenPtr(t *time.Time) string {
	if t == nil {
		return "–"
	}
	return When(*t)
}

// ISO is the machine-readable form of t for <time datetime>.
func ISO(t time.Time) string { return t.UTC().Format(time.RFC3339) }
