package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Claim is when, and by which worker, the task of a step's attempt was
// claimed. A claim writes only its task row (the lease, the attempt's
// deadline); the step's running phase is recorded from it when the report
// comes (completed, failed, lease expired, attempt timed out), in the
// report's transaction. Readers see a claimed step as running through
// overlayClaims.
type Claim struct {
	At       time.Time
	WorkerID string
}

// claimOf is the claim of a leased task (nil when it was never claimed).
func claimOf(t TaskRecord) *Claim {
	if t.ClaimedAt == nil {
		return nil
	}
	return &Claim{At: *t.ClaimedAt, WorkerID: t.WorkerID}
}

// started records that st's current attempt began running when c was
// claimed, with its step.running event at the claim's time. A step that
// is already running (claimed before claims stopped writing steps) or
// has no claim is left as it is.
func (d *decider) started(st *Step, c *Claim) {
	if c == nil || st.Status != StepScheduled {
		return
	}
	d.touch(st)
	st.Status = StepRunning
	t := c.At
	if st.StartedAt == nil {
		st.StartedAt = &t
	}
	if a := d.attempt(st); a != nil {
		a.Status, a.StartedAt, a.WorkerID = StepRunning, &t, c.WorkerID
	}
	ev := d.mkEvent(worker(c.WorkerID), "step.running", st.Path, string(StepScheduled), string(StepRunning), nil)
	ev.Time = t
	d.fx.Events = append(d.fx.Events, ev)
	d.orig[st.Path] = StepRunning
}

// overlayClaims shows the steps whose current attempt's task is claimed
// as running, as they would be had the claim written the step, with the
// task's status detail.
func overlayClaims(r *Run, leased []TaskRecord) {
	if len(leased) == 0 {
		return
	}
	byPath := make(map[string]TaskRecord, len(leased))
	for _, t := range leased {
		byPath[t.Path] = t
	}
	for i := range r.Steps {
		st := &r.Steps[i]
		t, ok := byPath[st.Path]
		if !ok || t.Attempt != st.Attempt {
			continue
		}
		if st.Status == StepScheduled && t.ClaimedAt != nil {
			at := *t.ClaimedAt
			st.Status = StepRunning
			if st.StartedAt == nil {
				st.StartedAt = &at
			}
			st.Attempts = append([]Attempt(nil), st.Attempts...)
			for j := range st.Attempts {
				if st.Attempts[j].Number == st.Attempt {
					st.Attempts[j].Status, st.Attempts[j].StartedAt, st.Attempts[j].WorkerID = StepRunning, &at, t.WorkerID
				}
			}
		}
		if st.Status == StepRunning {
			st.StatusDetail = t.StatusDetail
		}
	}
}

// MaxStatusDetail bounds a step's status detail, in bytes.
const MaxStatusDetail = 1000

// SetTaskDetail says why the attempt of a claimed task is not
// progressing ("waiting for cluster capacity: ..."): its running step
// shows it as Step.StatusDetail until it is cleared with "" or the task
// is reported, released or expires. A detail longer than MaxStatusDetail
// is cut. A wrong or consumed lease is ErrConflict.
//
// Run watchers (WatchRun, WaitRun) are not woken: they wait for what
// settles a run, and the processes following a run's tasks watch it too,
// so every follower of a run would renew its lease for every other's
// detail. Readers see the detail on their next GetRun.
func (e *Engine) SetTaskDetail(ctx context.Context, taskID, lease, detail string) error {
	err := e.store.SetTaskDetail(ctx, taskID, lease, clip(strings.TrimSpace(detail), MaxStatusDetail))
	if errors.Is(err, ErrConflict) {
		return fmt.Errorf("task %s: no such lease: %w", taskID, ErrConflict)
	}
	return err
}

// clip cuts s to at most max bytes on a rune boundary, ending it with "…"
// when cut.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const more = "…"
	n := max - len(more)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + more
}
