package ui

import (
	"time"

	"github.com/weftlabs/weft/engine"
)

// WaitingRow is a step waiting for a signal, as the overview's "waiting
// for you" list and the run page show it.
type WaitingRow struct {
	RunID    string
	Flow     string
	Path     string
	Signal   string
	Assignee string
	Since    time.Time
	Waited   string // how long it has waited
	SLA      string // "" without an SLA
	SLALeft  string // "1h20m left", "overdue by 5m"
	Overdue  bool
}

// BuildWaiting turns the engine's signal waits into rows at now.
func BuildWaiting(ws []engine.SignalWait, now time.Time) []WaitingRow {
	out := make([]WaitingRow, 0, len(ws))
	for _, w := range ws {
		r := WaitingRow{RunID: w.RunID, Flow: w.Flow, Path: w.Path, Signal: w.Signal, Assignee: w.Assignee, Since: w.Since,
			Waited: Duration(now.Sub(w.Since))}
		if w.SLADueAt != nil {
			r.SLA = w.SLA
			r.SLALeft, r.Overdue = slaText(*w.SLADueAt, w.SLAPassed, now)
		}
		out = append(out, r)
	}
	return out
}

// slaText is what is left of an SLA at now, and whether it passed.
func slaText(due time.Time, passed bool, now time.Time) (string, bool) {
	left := due.Sub(now)
	switch {
	case left >= 0 && !passed:
		return Duration(left) + " left", false
	case left >= 0:
		return "SLA passed", true
	}
	return "overdue by " + Duration(-left), true
}
