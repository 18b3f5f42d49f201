package engine

import (
	"encoding/json"
	"errors"
	"fmt"
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
		{"complete claimed scheduled", RunRunning, StepScheduled, 1, change{Kind: chCompleted, Path: "a", Attempt: 1, Output: json.RawMessage(`1`), Claimed: &Claim{At: now, WorkerID: "w"}}, StepSucceeded, nil, RunWaiting},
		{"lease expiry of claimed scheduled", RunRunning, StepScheduled, 1, change{Kind: chLeaseExpired, Path: "a", Attempt: 1, Claimed: &Claim{At: now, WorkerID: "w"}}, StepScheduled, nil, RunRunning},
		{"claimed report of old attempt", RunRunning, StepScheduled, 2, change{Kind: chCompleted, Path: "a", Attempt: 1, Claimed: &Claim{At: now, WorkerID: "w"}}, "", errStale, ""},
		{"complete running", RunRunning, StepRunning, 1, change{Kind: chCompleted, Path: "a", Attempt: 1, Output: json.RawMessage(`1`)}, StepSucceeded, nil, RunWaiting},
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
			if tc.want == StepScheduled && len(fx.Tasks) != 1 {
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

// The helpers below drive a run through advance alone, in memory, as the
// per-block table tests (block_*_test.go) do.

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// pureBlueprint compiles a flow against the worker blocks echo (two
// attempts) and once (one attempt).
func pureBlueprint(t testing.TB, src string) *flows.Blueprint {
	t.Helper()
	var defs []*blocks.Definition
	for _, b := range []string{
		`{"name": "echo", "dispatch": {"kind": "worker"}, "retry": {"max_attempts": 2}}`,
		`{"name": "once", "dispatch": {"kind": "worker"}}`,
	} {
		def, err := blocks.Parse([]byte(b))
		if err != nil {
			t.Fatal(err)
		}
		defs = append(defs, def)
	}
	cat, err := blocks.NewMemCatalog(defs...)
	if err != nil {
		t.Fatal(err)
	}
	bp, err := flows.Parse([]byte(src), cat)
	if err != nil {
		t.Fatalf("flow: %v", err)
	}
	bp.Version = 1
	return bp
}

// pure is a run moved by advance only, with the effects of the last move.
type pure struct {
	t   testing.TB
	bp  *flows.Blueprint
	run Run
	fx  effects
	now time.Time
}

// startPure makes a queued run of bp with input and starts it.
func startPure(t testing.TB, bp *flows.Blueprint, input string) *pure {
	t.Helper()
	if input == "" {
		input = `{}`
	}
	p := &pure{t: t, bp: bp, now: t0,
		run: Run{ID: "r1", Flow: bp.Name, Version: bp.Version, Status: RunQueued, Input: json.RawMessage(input), Meta: &RunMeta{}, Rev: 1}}
	p.apply(change{Kind: chStart})
	return p
}

func (p *pure) apply(ch change) {
	p.t.Helper()
	run, fx, err := advance(p.bp, p.run, ch, p.now, schemaValidator{})
	if err != nil {
		p.t.Fatalf("advance %s %s: %v (steps %s)", ch.Kind, ch.Path, err, pureSteps(p.run))
	}
	p.run, p.fx = run, fx
}

func (p *pure) step(path string) *Step {
	for i := range p.run.Steps {
		if p.run.Steps[i].Path == path {
			return &p.run.Steps[i]
		}
	}
	return nil
}

func pureSteps(r Run) string {
	var b strings.Builder
	for _, s := range r.Steps {
		b.WriteString(s.Path + "=" + string(s.Status) + " ")
	}
	return b.String()
}

// An act is a change made from the run's state (the attempt of a step,
// the id of a child run).
type act func(p *pure) change

func completed(path, out string) act {
	return func(p *pure) change {
		return change{Kind: chCompleted, Path: path, Attempt: p.mustStep(path).Attempt, Output: json.RawMessage(out)}
	}
}

func failed(path, msg string, retryable bool) act {
	return func(p *pure) change {
		return change{Kind: chFailed, Path: path, Attempt: p.mustStep(path).Attempt, Err: &ErrorInfo{Message: msg}, Retryable: retryable}
	}
}

func signalled(name, payload string) act {
	return func(*pure) change { return change{Kind: chSignal, Name: name, Payload: json.RawMessage(payload)} }
}

func fired(kind, path string) act {
	return func(p *pure) change {
		return change{Kind: chTimer, Timer: Timer{RunID: p.run.ID, Kind: kind, Path: path}}
	}
}

func childEnded(path string, status RunStatus, out, msg string) act {
	return func(p *pure) change {
		c := &Run{ID: p.mustStep(path).ChildRunID, Status: status}
		if out != "" {
			c.Output = json.RawMessage(out)
		}
		if msg != "" {
			c.Error = &ErrorInfo{Message: msg}
		}
		return change{Kind: chChildDone, Path: path, Child: c}
	}
}

func cancelled() act { return func(*pure) change { return change{Kind: chCancel, Actor: "op"} } }

func (p *pure) mustStep(path string) *Step {
	p.t.Helper()
	st := p.step(path)
	if st == nil {
		p.t.Fatalf("no step %q (steps %s)", path, pureSteps(p.run))
	}
	return st
}

// seen lists the effects of the last move a user would notice, in the
// order advance gave them: tasks queued (with their attempt), timers set
// (kind, path, due after now), child runs started and cancelled, tasks
// abandoned.
func (p *pure) seen() []string {
	var out []string
	for _, tk := range p.fx.Tasks {
		out = append(out, fmt.Sprintf("task %s #%d", tk.Path, tk.Attempt))
	}
	for _, tm := range p.fx.Timers {
		out = append(out, fmt.Sprintf("timer %s %s +%s", tm.Kind, tm.Path, tm.DueAt.Sub(p.now)))
	}
	for _, c := range p.fx.Children {
		out = append(out, fmt.Sprintf("child %s %s %s", c.Path, c.Flow, c.Input))
	}
	for _, id := range p.fx.CancelChildren {
		out = append(out, "cancel child of "+p.childPath(id))
	}
	for _, path := range p.fx.Abandon {
		out = append(out, "abandon "+path)
	}
	return out
}

func (p *pure) childPath(id string) string {
	for _, s := range p.run.Steps {
		if s.ChildRunID == id {
			return s.Path
		}
	}
	return id
}

// blockRow is one row of a block's table test: a flow and its input, the
// changes after start (the last is the one under test), and what the run
// looks like after it.
type blockRow struct {
	name   string
	flow   string
	input  string
	acts   []act
	steps  map[string]StepStatus // every step of the run
	run    RunStatus
	seen   []string          // effects of the last move (start when acts is empty)
	output string            // the run's output, when set
	outs   map[string]string // outputs of steps
	errs   map[string]string // error messages of steps ("run": the run's), by substring
}

func runBlockRows(t *testing.T, rows []blockRow) {
	t.Helper()
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startPure(t, pureBlueprint(t, tc.flow), tc.input)
			for _, a := range tc.acts {
				p.apply(a(p))
			}
			got := map[string]StepStatus{}
			for _, s := range p.run.Steps {
				got[s.Path] = s.Status
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.steps) {
				t.Errorf("steps:\n got %v\nwant %v", got, tc.steps)
			}
			if p.run.Status != tc.run {
				t.Errorf("run: got %s, want %s (error %+v)", p.run.Status, tc.run, p.run.Error)
			}
			if s := p.seen(); fmt.Sprintf("%q", s) != fmt.Sprintf("%q", tc.seen) {
				t.Errorf("effects:\n got %q\nwant %q", s, tc.seen)
			}
			if tc.output != "" {
				jsonSame(t, "run output", p.run.Output, tc.output)
			}
			for path, want := range tc.outs {
				jsonSame(t, path+" output", p.mustStep(path).Output, want)
			}
			for path, want := range tc.errs {
				e := p.run.Error
				if path != "run" {
					e = p.mustStep(path).Error
				}
				if e == nil || !strings.Contains(e.Message, want) {
					t.Errorf("%s error: got %+v, want one containing %q", path, e, want)
				}
			}
		})
	}
}

func jsonSame(t testing.TB, what string, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("%s: got invalid JSON %q", what, got)
		return
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad want %q", what, want)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("%s: got %s, want %s", what, gb, wb)
	}
}

// TestAdvanceDeterministic: the same change to the same run gives the same
// effects, in the same order, every time, though many steps stop at once.
func TestAdvanceDeterministic(t *testing.T) {
	t.Parallel()
	bp := pureBlueprint(t, `{"name": "busy", "timeout": "1h", "blocks": [
		{"ref": "side", "type": "fork", "branches": [
			[{"ref": "x", "block": "once"}],
			[{"ref": "y", "block": "echo", "timeout": "5m"}],
			[{"ref": "approve", "type": "wait", "signal": "go", "timeout": "1h"}],
			[{"ref": "sub", "type": "subflow", "flow": "child"}],
			[{"ref": "sub2", "type": "subflow", "flow": "child"}],
			[{"ref": "nap", "type": "wait", "duration": "10m"}],
			[{"ref": "each", "type": "map", "items": "[1, 2, 3, 4, 5]", "do": [{"ref": "t", "block": "echo"}]}]]}]}`)
	p := startPure(t, bp, "")
	for _, tc := range []struct {
		name string
		ch   change
	}{
		{"cancel", change{Kind: chCancel, Actor: "op"}},
		{"run timeout", change{Kind: chTimer, Timer: Timer{RunID: "r1", Kind: TimerRunTimeout}}},
		{"failing branch", change{Kind: chFailed, Path: "x", Attempt: 1, Err: &ErrorInfo{Message: "boom"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var first string
			for i := 0; i < 50; i++ {
				run, fx, err := advance(bp, p.run, tc.ch, t0, schemaValidator{})
				if err != nil {
					t.Fatal(err)
				}
				if len(fx.Abandon) < 6 || len(fx.CancelChildren) != 2 {
					t.Fatalf("want many steps stopped, got abandon %v cancel children %v", fx.Abandon, fx.CancelChildren)
				}
				b, err := json.Marshal(struct {
					Run     Run
					Meta    *RunMeta
					Effects effects
				}{run, run.Meta, fx})
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					first = string(b)
				} else if string(b) != first {
					t.Fatalf("call %d differs from the first:\n%s\n%s", i+1, first, b)
				}
			}
		})
	}
}
