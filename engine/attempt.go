package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/flows"
)

func (d *decider) attempt(st *Step) *Attempt {
	for i := range st.Attempts {
		if st.Attempts[i].Number == st.Attempt {
			return &st.Attempts[i]
		}
	}
	return nil
}

func (d *decider) retryPolicy(st *Step) *blocks.RetryPolicy {
	n := d.node(st)
	if n == nil {
		return nil
	}
	if st.Type == typeCompensate {
		if n.Compensate != nil && n.Compensate.Def != nil {
			return n.Compensate.Def.Retry
		}
		return nil
	}
	if n.Retry != nil {
		return n.Retry
	}
	if n.Def != nil {
		return n.Def.Retry
	}
	return nil
}

func (d *decider) def(st *Step) *blocks.Definition {
	n := d.node(st)
	if n == nil {
		return nil
	}
	if st.Type == typeCompensate {
		if n.Compensate != nil {
			return n.Compensate.Def
		}
		return nil
	}
	return n.Def
}

func (d *decider) stepTimeout(st *Step) time.Duration {
	n := d.node(st)
	if n != nil && st.Type != typeCompensate && n.Timeout > 0 {
		return time.Duration(n.Timeout)
	}
	if def := d.def(st); def != nil {
		return time.Duration(def.Timeout)
	}
	return 0
}

// DefaultLease is the lease of a block without heartbeat_timeout.
const DefaultLease = 5 * time.Minute

func leaseFor(def *blocks.Definition) time.Duration {
	if def != nil && def.HeartbeatTimeout > 0 {
		return time.Duration(def.HeartbeatTimeout)
	}
	return DefaultLease
}

func (d *decider) leaseOf(st *Step) time.Duration { return leaseFor(d.def(st)) }

// attemptFailed records a failed attempt and retries or fails the step.
func (d *decider) attemptFailed(st *Step, e *ErrorInfo, retryable bool, final StepStatus) {
	d.touch(st)
	t := d.now
	if a := d.attempt(st); a != nil {
		a.Status, a.Error, a.FinishedAt = StepFailed, e, &t
		if final == StepTimedOut {
			a.Status = StepTimedOut
		}
	}
	d.fx.DropTimers = append(d.fx.DropTimers, st.Path)
	pol := d.retryPolicy(st)
	if retryable && st.Attempt < pol.Attempts() {
		next := st.Attempt + 1
		st.Attempt = next
		st.Status = StepScheduled
		st.Error = e
		st.Attempts = append(st.Attempts, Attempt{Number: next, Status: StepScheduled})
		d.enqueue(st, d.now.Add(pol.Delay(next)))
		return
	}
	e2 := *e
	e2.Retryable = false
	d.finishStep(st, final, &e2)
}

// succeed finishes a step with output.
func (d *decider) succeed(st *Step, out json.RawMessage) {
	if len(out) == 0 {
		out = json.RawMessage("null")
	}
	st.Output = out
	st.Error = nil
	d.finishStep(st, StepSucceeded, nil)
	if n := d.node(st); n != nil && n.Compensate != nil && st.Type != typeCompensate {
		d.run.Meta.Done = append(append([]string(nil), d.run.Meta.Done...), st.Path)
	}
}

func (d *decider) finishStep(st *Step, s StepStatus, e *ErrorInfo) {
	d.touch(st)
	t := d.now
	st.Status = s
	if e != nil {
		st.Error = e
	}
	if st.StartedAt == nil && s != StepSkipped {
		st.StartedAt = &t
	}
	st.FinishedAt = &t
	if a := d.attempt(st); a != nil && !a.Status.Finished() {
		a.Status, a.FinishedAt = s, &t
		if e != nil {
			a.Error = e
		}
		if a.StartedAt == nil {
			a.StartedAt = &t
		}
	}
	if k := blockTable[st.Type]; k != nil {
		k.finished(d, st)
	}
}

func (d *decider) failStep(st *Step, e *ErrorInfo) { d.finishStep(st, StepFailed, e) }

// A task (an external block) becomes a task record that a worker or the
// HTTP dispatcher claims; attempts, retries and leases follow its
// definition.
type taskBlock struct{}

func (taskBlock) start(d *decider, n *flows.Node, st *Step, sc *scope) {
	d.startExternal(st, n.Def, n.InputValue, sc, n.Ref)
}

func (taskBlock) drive(*decider, *flows.Node, *Step, *scope) {}
func (taskBlock) stop(d *decider, st *Step)                  { d.fx.Abandon = append(d.fx.Abandon, st.Path) }

// A task has no timer: its attempt's deadline lives on its task row.
func (taskBlock) finished(*decider, *Step) {}

func (taskBlock) control() bool { return false }

// startExternal validates the input and queues the first attempt.
func (d *decider) startExternal(st *Step, def *blocks.Definition, iv *flows.Value, sc *scope, ref string) {
	if def == nil {
		d.failStep(st, &ErrorInfo{Message: fmt.Sprintf("block %q has no definition", st.Ref)})
		return
	}
	st.Block = def.Name
	var in json.RawMessage
	var err error
	if ref != "" {
		in, err = d.evalInput(d.bp.Nodes[ref], iv, sc)
	} else if iv != nil {
		var x any
		x, err = iv.Eval(d.env(iv.Names(), sc))
		if err == nil {
			in, err = json.Marshal(x)
		}
	} else {
		in = json.RawMessage("{}")
	}
	if err != nil {
		d.failStep(st, &ErrorInfo{Message: "input: " + err.Error(), Type: "expression"})
		return
	}
	st.Input = in
	if d.v != nil {
		var x any
		_ = json.Unmarshal(in, &x)
		if err := d.v.Input(def, x); err != nil {
			d.failStep(st, &ErrorInfo{Message: "input does not match the input schema of " + def.Name + ": " + err.Error(), Type: "input_invalid"})
			return
		}
	}
	st.Attempt = 1
	st.Status = StepScheduled
	st.Attempts = []Attempt{{Number: 1, Status: StepScheduled}}
	d.enqueue(st, d.now)
}

// QueueOf is the queue a block's tasks go to: "http:"+name for HTTP
// blocks, "kube:"+name for Kubernetes blocks, the worker queue otherwise.
func QueueOf(def *blocks.Definition) string { return def.TaskQueue() }

func (d *decider) enqueue(st *Step, visible time.Time) {
	def := d.def(st)
	if def == nil {
		return
	}
	state := TaskReady
	if d.run.Status == RunPaused {
		state = TaskHeld // a retry while paused waits for resume
	}
	d.fx.Tasks = append(d.fx.Tasks, TaskRecord{
		Task: Task{ID: taskID(d.run.ID, st.Path, st.Seq, st.Attempt), RunID: d.run.ID, Ref: st.Ref, Path: st.Path,
			Block: def.Name, Version: def.Version, Attempt: st.Attempt, Input: st.Input},
		StepSeq: st.Seq, Queue: QueueOf(def), State: state, VisibleAt: visible, LeaseDuration: leaseFor(def),
		Resources: def.Resources, Concurrency: def.Concurrency, CreatedAt: d.now, Timeout: d.stepTimeout(st),
	})
}

func taskID(runID, path string, seq, attempt int) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%d\x00%d", runID, path, seq, attempt)))
	return "t" + hex.EncodeToString(h[:12])
}
