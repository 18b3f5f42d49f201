package engine

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/weftlabs/weft/flows"
)

// WaitingStep is a wait step of a waiting run, as the store lists them.
type WaitingStep struct {
	RunID        string
	Flow         string
	Version      int
	RunCreatedAt time.Time
	Path         string
	Ref          string
	Since        *time.Time
}

// SignalWait is a step waiting for a signal: a human step when it names
// an assignee, a form or an SLA.
type SignalWait struct {
	RunID    string          `json:"run_id"`
	Flow     string          `json:"flow"`
	Version  int             `json:"version"`
	Path     string          `json:"path"`
	Ref      string          `json:"ref"`
	Signal   string          `json:"signal"`
	Assignee string          `json:"assignee,omitempty"`
	Form     json.RawMessage `json:"form,omitempty"`
	Since    time.Time       `json:"since"`
	SLA      string          `json:"sla,omitempty"`
	SLADueAt *time.Time      `json:"sla_due_at,omitempty"`
	// SLAPassed: the SLA passed while the step waited (on_sla ran).
	SLAPassed bool `json:"sla_passed,omitempty"`
}

// SLALeft is the time left until the SLA at now (negative once passed);
// ok is false without an SLA.
func (w SignalWait) SLALeft(now time.Time) (time.Duration, bool) {
	if w.SLADueAt == nil {
		return 0, false
	}
	return w.SLADueAt.Sub(now), true
}

func signalWait(bp *flows.Blueprint, runID string, st Step) (SignalWait, bool) {
	n := bp.Nodes[st.Ref]
	if n == nil || n.Type != flows.TypeWait || n.Signal == "" {
		return SignalWait{}, false
	}
	w := SignalWait{RunID: runID, Flow: bp.Name, Version: bp.Version, Path: st.Path, Ref: st.Ref, Signal: n.Signal,
		Assignee: n.Assignee, Form: n.Form, Since: st.CreatedAt}
	if st.StartedAt != nil {
		w.Since = *st.StartedAt
	}
	if n.SLA > 0 {
		w.SLA = time.Duration(n.SLA).String()
		due := w.Since.Add(time.Duration(n.SLA))
		w.SLADueAt = &due
	}
	w.SLAPassed = st.Control != nil && st.Control.SLAFired
	return w, true
}

// WaitingForYou lists the steps of waiting runs that wait for a signal,
// oldest run first, at most limit (default 50).
func (e *Engine) WaitingForYou(ctx context.Context, limit int) ([]SignalWait, error) {
	ws, err := e.store.WaitingSteps(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]SignalWait, 0, len(ws))
	for _, ws := range ws {
		bp, err := e.store.GetFlow(ctx, ws.Flow, ws.Version)
		if err != nil {
			continue // the run's version went away: it cannot move anyway
		}
		st := Step{Path: ws.Path, Ref: ws.Ref, CreatedAt: ws.RunCreatedAt, StartedAt: ws.Since}
		if w, ok := signalWait(bp, ws.RunID, st); ok {
			out = append(out, w)
		}
	}
	return out, nil
}

// showWaiting fills r.WaitingFor and shows a control block (decision,
// fork, map, loop) whose live children all wait for a signal as waiting
// too. It changes only what readers see.
func showWaiting(bp *flows.Blueprint, r *Run) {
	busy, waits := map[string]bool{}, map[string]bool{}
	for i := range r.Steps {
		st := r.Steps[i]
		if st.Status.Finished() || isControl(st.Type) {
			continue
		}
		w, signal := SignalWait{}, false
		if st.Status == StepWaiting {
			w, signal = signalWait(bp, r.ID, st)
		}
		if signal {
			r.WaitingFor = append(r.WaitingFor, w)
		}
		for p := parentPath(bp, st.Path, st.Ref); p != ""; {
			if signal {
				waits[p] = true
			} else {
				busy[p] = true
			}
			ref := p[strings.LastIndexAny(p, ".")+1:]
			p = parentPath(bp, p, ref)
		}
	}
	for i := range r.Steps {
		st := &r.Steps[i]
		if st.Status == StepRunning && isControl(st.Type) && waits[st.Path] && !busy[st.Path] {
			st.Status = StepWaiting
		}
	}
}

// parentPath is the path of the step of the control block that encloses
// the step at path (ref's), or "" at the top.
func parentPath(bp *flows.Blueprint, path, ref string) string {
	n := bp.Nodes[ref]
	if n == nil || n.Parent == nil {
		return ""
	}
	prefix := strings.TrimSuffix(path, ref)
	p := n.Parent
	if p.Type == flows.TypeMap || p.Type == flows.TypeLoop {
		// prefix ends with "p.Ref[i]."; the map's own step is outside it.
		i := strings.LastIndex(strings.TrimSuffix(prefix, "."), p.Ref+"[")
		if i < 0 {
			return ""
		}
		return prefix[:i] + p.Ref
	}
	return prefix + p.Ref
}
