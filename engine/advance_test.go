package engine

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/flows"
)

func testBlueprint(t *testing.T) *flows.Blueprint {
	t.Helper()
	def, err := blocks.Parse([]byte(`{"name": "echo", "dispatch": {"kind": "worker"}, "retry": {"max_attempts": 2}}`))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := blocks.NewMemCatalog(def)
	if err != nil {
		t.Fatal(err)
	}
	bp, err := flows.Parse([]byte(`{"name": "t", "blocks": [
		{"ref": "a", "block": "echo"},
		{"ref": "w", "type": "wait", "signal": "go"}]}`), cat)
	if err != nil {
		t.Fatal(err)
	}
	bp.Version = 1
	return bp
}

// TestAdvanceMoves walks (run status, step status, change) and checks the
// step's next status, or that the move is refused.
func TestAdvanceMoves(t *testing.T) {
	t.Parallel()
	bp := testBlueprint(t)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	mkRun := func(rs RunStatus, ss StepStatus, attempt int) Run {
		r := Run{ID: "r1", Flow: "t", Version: 1, Status: rs, Input: json.RawMessage(`{}`), Meta: &RunMeta{}, Rev: 1}
		if ss != "" {
			r.Steps = []Step{{Path: "a", Ref: "a", Status: ss, Attempt: attempt, Attempts: []Attempt{{Number: attempt, Status: ss}}}}
		}
		return r
	}
	for _, tc := range []struct {
		name    string
		run     RunStatus
		step    StepStatus
		attempt int
		ch      change
		want    StepStatus // "" = refused
		wantErr error
		wantRun RunStatus
	}{
		{"start schedules first block", RunQueued, "", 0, change{Kind: chStart}, StepScheduled, nil, RunRunning},
		{"start twice", RunRunning, StepScheduled, 1, change{Kind: chStart}, "", ErrInvalidState, ""},
		{"claim scheduled", RunRunning, StepScheduled, 1, change{Kind: chClaimed, Path: "a", Attempt: 1}, StepRunning, nil, RunRunning},
		{"claim running", RunRunning, StepRunning, 1, change{Kind: chClaimed, Path: "a", Attempt: 1}, "", ErrInvalidState, ""},
		{"claim wrong attempt", RunRunning, StepScheduled, 2, change{Kind: chClaimed, Path: "a", Attempt: 1}, "", ErrInvalidState, ""},
		{"release running", RunRunning, StepRunning, 1, change{Kind: chReleased, Path: "a", Attempt: 1}, StepScheduled, nil, RunRunning},
		{"release while paused", RunPaused, StepRunning, 1, change{Kind: chReleased, Path: "a", Attempt: 1}, StepScheduled, nil, RunPaused},
		{"release scheduled", RunRunning, StepScheduled, 1, change{Kind: chReleased, Path: "a", Attempt: 1}, "", errStale, ""},
		{"release old attempt", RunRunning, StepRunning, 2, change{Kind: chReleased, Path: "a", Attempt: 1}, "", errStale, ""},
		{"release on cancelled run", RunCancelled, StepCancelled, 1, change{Kind: chReleased, Path: "a", Attempt: 1}, "", errStale, ""},
		{"complete running", RunRunning, StepRunning, 1, change{Kind: chCompleted, Path: "a", Attempt: 1, Output: json.RawMessage(`1`)}, StepSucceeded, nil, RunRunning},
		{"complete succeeded", RunRunning, StepSucceeded, 1, change{Kind: chCompleted, Path: "a", Attempt: 1}, "", errStale, ""},
		{"complete old attempt", RunRunning, StepRunning, 2, change{Kind: chCompleted, Path: "a", Attempt: 1}, "", errStale, ""},
		{"complete on cancelled run", RunCancelled, StepCancelled, 1, change{Kind: chCompleted, Path: "a", Attempt: 1}, "", errStale, ""},
		{"retryable failure retries", RunRunning, StepRunning, 1, change{Kind: chFailed, Path: "a", Attempt: 1, Retryable: true, Err: &ErrorInfo{Message: "x"}}, StepScheduled, nil, RunRunning},
		{"failure after last attempt", RunRunning, StepRunning, 2, change{Kind: chFailed, Path: "a", Attempt: 2, Retryable: true, Err: &ErrorInfo{Message: "x"}}, StepFailed, nil, RunFailed},
		{"lease expiry retries", RunRunning, StepRunning, 1, change{Kind: chLeaseExpired, Path: "a", Attempt: 1}, StepScheduled, nil, RunRunning},
		{"report for unknown step", RunRunning, StepRunning, 1, change{Kind: chCompleted, Path: "zz", Attempt: 1}, "", errStale, ""},
		{"cancel running", RunRunning, StepRunning, 1, change{Kind: chCancel}, StepCancelled, nil, RunCancelled},
		{"cancel finished", RunSucceeded, StepSucceeded, 1, change{Kind: chCancel}, "", ErrInvalidState, ""},
		{"pause running", RunRunning, StepRunning, 1, change{Kind: chPause}, StepRunning, nil, RunPaused},
		{"pause paused", RunPaused, StepRunning, 1, change{Kind: chPause}, "", ErrInvalidState, ""},
		{"resume running", RunRunning, StepRunning, 1, change{Kind: chResume}, "", ErrInvalidState, ""},
		{"complete while paused schedules nothing", RunPaused, StepRunning, 1, change{Kind: chCompleted, Path: "a", Attempt: 1, Output: json.RawMessage(`1`)}, StepSucceeded, nil, RunPaused},
		{"retry running", RunRunning, StepRunning, 1, change{Kind: chRetry}, "", ErrInvalidState, ""},
		{"retry failed", RunFailed, StepFailed, 1, change{Kind: chRetry}, StepScheduled, nil, RunRunning},
		{"signal finished run", RunSucceeded, StepSucceeded, 1, change{Kind: chSignal, Name: "go"}, "", ErrInvalidState, ""},
		{"timer on finished run", RunSucceeded, StepSucceeded, 1, change{Kind: chTimer, Timer: Timer{Kind: TimerWake, Path: "w"}}, "", errStale, ""},
		{"wake timer for running task", RunRunning, StepRunning, 1, change{Kind: chTimer, Timer: Timer{Kind: TimerWake, Path: "a"}}, "", errStale, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, fx, err := advance(bp, mkRun(tc.run, tc.step, tc.attempt), tc.ch, now, schemaValidator{})
			if tc.want == "" {
				if err == nil || !errors.Is(err, tc.wantErr) {
					t.Fatalf("got err %v, want %v", err, tc.wantErr)
				}
				if tc.wantErr == ErrInvalidState && !strings.Contains(err.Error(), "cannot apply") && !strings.Contains(err.Error(), string(tc.ch.Kind)) {
					t.Fatalf("error should name status and change: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got err %v, want step %s", err, tc.want)
			}
			var a *Step
			for i := range got.Steps {
				if got.Steps[i].Path == "a" {
					a = &got.Steps[i]
				}
			}
			if a == nil || a.Status != tc.want {
				t.Fatalf("step a: got %+v, want %s", a, tc.want)
			}
			if got.Status != tc.wantRun {
				t.Fatalf("run: got %s, want %s", got.Status, tc.wantRun)
			}
			switch {
			case tc.ch.Kind == chReleased && len(fx.Tasks) != 0:
				// The shell puts the released task back as it was.
				t.Fatalf("release made new tasks: %+v", fx.Tasks)
			case tc.ch.Kind != chReleased && tc.want == StepScheduled && len(fx.Tasks) != 1:
				t.Fatalf("scheduled without a task: %+v", fx.Tasks)
			}
		})
	}
}

func TestAdvanceIsPure(t *testing.T) {
	t.Parallel()
	bp := testBlueprint(t)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	in := Run{ID: "r1", Flow: "t", Version: 1, Status: RunRunning, Meta: &RunMeta{Signals: map[string][]json.RawMessage{"go": {json.RawMessage(`1`)}}}, Rev: 1,
		Steps: []Step{{Path: "a", Ref: "a", Status: StepRunning, Attempt: 1, Attempts: []Attempt{{Number: 1, Status: StepRunning}}}}}
	ch := change{Kind: chCompleted, Path: "a", Attempt: 1, Output: json.RawMessage(`1`)}
	r1, fx1, err1 := advance(bp, in, ch, now, schemaValidator{})
	r2, fx2, err2 := advance(bp, in, ch, now, schemaValidator{})
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if in.Steps[0].Status != StepRunning || len(in.Meta.Signals["go"]) != 1 {
		t.Fatalf("advance changed its input: %+v %+v", in.Steps[0], in.Meta)
	}
	b1, _ := json.Marshal([]any{r1, r1.Meta, fx1})
	b2, _ := json.Marshal([]any{r2, r2.Meta, fx2})
	if string(b1) != string(b2) {
		t.Fatalf("same inputs, different results:\n%s\n%s", b1, b2)
	}
	// The early signal was consumed by the wait that was reached.
	if r1.Status != RunSucceeded || len(r1.Meta.Signals) != 0 {
		t.Fatalf("got run %s signals %v", r1.Status, r1.Meta.Signals)
	}
}
