package engine

import (
	"context"
	"encoding/json"
	"time"

	"github.com/weftlabs/weft/flows"
)

// Store is everything the engine asks of the database. internal/store
// implements it for SQLite and PostgreSQL; internal/store/storetest is the
// suite both pass. Every mutation is guarded: runs by Rev, tasks by lease.
type Store interface {
	// InTx runs fn in one transaction; fn's error rolls it back.
	InTx(ctx context.Context, fn func(tx Store) error) error
	// Savepoint marks a point inside the transaction that RollbackTo
	// undoes the writes after (the transaction stays usable).
	Savepoint(ctx context.Context, name string) error
	RollbackTo(ctx context.Context, name string) error

	// GetFlow returns a compiled blueprint; version 0 = latest.
	GetFlow(ctx context.Context, name string, version int) (*flows.Blueprint, error)
	// CronFlows returns the latest version of every flow with a cron trigger.
	CronFlows(ctx context.Context) ([]*flows.Blueprint, error)

	// CreateRun inserts a run (without steps). A duplicate idempotency key
	// is ErrConflict.
	CreateRun(ctx context.Context, r Run) error
	// RunByIdempotencyKey finds a run by its key (ErrNotFound when none).
	RunByIdempotencyKey(ctx context.Context, key string) (Run, error)
	// LoadRun reads a run, with its steps when withSteps (sorted by Seq).
	// Inside a transaction on PostgreSQL it locks the run's row, so writers
	// of one run queue up instead of racing.
	LoadRun(ctx context.Context, id string, withSteps bool) (Run, error)
	// LoadSteps reads a run's steps, sorted by Seq.
	LoadSteps(ctx context.Context, runID string) ([]Step, error)
	// LoadScopedSteps reads the steps of a run that are outside any
	// iteration or inside the outermost iteration scope (a path prefix
	// such as "each[7]."), sorted by Seq.
	LoadScopedSteps(ctx context.Context, runID, scope string) ([]Step, error)
	// LoadStep reads one step of a run (ErrNotFound when none).
	LoadStep(ctx context.Context, runID, path string) (Step, error)
	// Apply writes one decision: the run (guarded by m.ReadRev: ErrConflict
	// when it moved), its steps, tasks, timers and history, and the
	// notifications to announce at commit.
	Apply(ctx context.Context, m Mutation) error
	// SaveRun writes the run's columns when its rev is still readRev and
	// bumps rev; ErrConflict otherwise.
	SaveRun(ctx context.Context, r Run, readRev int64) error
	// UpsertSteps inserts or replaces steps of a run by path.
	UpsertSteps(ctx context.Context, runID string, steps []Step) error
	// DeleteSteps removes steps of a run by path.
	DeleteSteps(ctx context.Context, runID string, paths []string) error
	// ChildRuns lists the ids of runs started by runID's subflow steps.
	ChildRuns(ctx context.Context, runID string) ([]string, error)
	ListRuns(ctx context.Context, f RunFilter) (RunPage, error)
	// WaitingSteps lists the wait steps of waiting runs, oldest run
	// first, at most limit.
	WaitingSteps(ctx context.Context, limit int) ([]WaitingStep, error)
	// PurgeRuns deletes up to limit finished runs finished before t.
	PurgeRuns(ctx context.Context, before time.Time, limit int) (int, error)

	AppendEvents(ctx context.Context, evs []Event) error
	Events(ctx context.Context, runID string, afterSeq int64, limit int) ([]Event, error)

	AddTasks(ctx context.Context, tasks []TaskRecord) error
	// ClaimTasks leases up to p.Max visible tasks of p.Queues that fit
	// p.Resources (less what p.WorkerID holds leased) and their block's
	// concurrency cap.
	ClaimTasks(ctx context.Context, p ClaimParams) ([]TaskRecord, error)
	// LeasedTasks lists the run's claimed tasks (readers show their steps
	// as running).
	LeasedTasks(ctx context.Context, runID string) ([]TaskRecord, error)
	// ClaimsBefore lists the leased tasks of queues claimed at or before
	// before, by id after afterID (a page's last), at most limit.
	ClaimsBefore(ctx context.Context, queues []string, before time.Time, afterID string, limit int) ([]TaskRecord, error)
	// GetTask reads a task by id (ErrNotFound when none).
	GetTask(ctx context.Context, id string) (TaskRecord, error)
	// ConsumeTask deletes the task if lease is its current lease; else
	// ErrConflict.
	ConsumeTask(ctx context.Context, id, lease string) error
	// TakeTask is GetTask and ConsumeTask in one: it deletes and returns
	// the task if lease is its current lease; else ErrConflict.
	TakeTask(ctx context.Context, id, lease string) (TaskRecord, error)
	// TaskArtifacts lists the artifacts stored under a task (any lease).
	TaskArtifacts(ctx context.Context, taskID string) ([]Artifact, error)
	// ExtendLease moves a leased task's expiry; ErrConflict on a stale lease.
	ExtendLease(ctx context.Context, id, lease string, until time.Time) (TaskRecord, error)
	// AbandonTasks deletes the ready tasks of the run's paths (all paths
	// when nil) and marks leased ones cancel_requested.
	AbandonTasks(ctx context.Context, runID string, paths []string) error
	// HoldTasks parks the run's ready tasks (hold) so no worker claims them
	// while it is paused, or makes its held tasks ready again (visible now).
	HoldTasks(ctx context.Context, runID string, hold bool, now time.Time) error
	// ExpiredLeases returns leased tasks whose lease ended, or whose
	// attempt deadline passed, at or before now.
	ExpiredLeases(ctx context.Context, now time.Time, limit int) ([]TaskRecord, error)
	// ClearDeadline removes a leased task's attempt deadline once it has
	// fired; ErrConflict when the lease is stale or the deadline gone.
	ClearDeadline(ctx context.Context, id, lease string) error
	// SetTaskDetail sets a leased task's status detail ("" clears it);
	// ErrConflict when lease is not its current lease.
	SetTaskDetail(ctx context.Context, id, lease, detail string) error
	// NextWake is the earliest of: a leased task's expiry or deadline, a delayed ready
	// task's visibility after now, a timer's due time (ok=false: none).
	NextWake(ctx context.Context, now time.Time) (t time.Time, ok bool, err error)

	AddTimers(ctx context.Context, timers []Timer) error
	// DeleteTimers removes the run's timers of paths (all when nil).
	DeleteTimers(ctx context.Context, runID string, paths []string) error
	// DueTimers removes and returns up to limit timers due at or before now.
	DueTimers(ctx context.Context, now time.Time, limit int) ([]Timer, error)

	TouchWorker(ctx context.Context, w WorkerSeen) error
	// ClaimCronFire records the firing of flow at due; false when another
	// replica (or an earlier pass) already did.
	ClaimCronFire(ctx context.Context, flow string, due time.Time, runID string, now time.Time) (bool, error)
	// LastCronFire is the latest recorded due time of flow (ok=false: none).
	LastCronFire(ctx context.Context, flow string) (time.Time, bool, error)

	Stats(ctx context.Context, since time.Time) (Stats, error)

	// Notify announces new work to other replicas once the transaction
	// commits (no-op without a cross-process channel).
	Notify(ctx context.Context, topic string) error
	// Listen calls fn for every notification from other processes until ctx
	// ends (returns at once when the store has no such channel).
	Listen(ctx context.Context, fn func(topic string)) error
}

// Mutation is everything one decision writes, in one call (as Temporal's
// WorkflowMutation): the store applies it in the caller's transaction.
type Mutation struct {
	Run          Run   // saved when its rev is still ReadRev
	ReadRev      int64 //
	Steps        []Step
	DeletedSteps []string
	Tasks        []TaskRecord
	Timers       []Timer
	Events       []Event
	// Abandon: paths whose ready tasks go and leased ones are asked to
	// stop (AbandonAll: every path of the run).
	Abandon    []string
	AbandonAll bool
	// DropTimers: paths whose timers go (DropAllTimers: the run's all).
	DropTimers    []string
	DropAllTimers bool
	Hold, Release bool // park the run's ready tasks, or make them ready at Now
	Now           time.Time
	Notify        []string // topics announced to other replicas at commit
}

// ClaimParams selects tasks to lease.
type ClaimParams struct {
	Queues    []string
	Max       int
	WorkerID  string
	Resources map[string]float64 // nil: the worker takes tasks with no resources only
	Lease     string             // the token the claimed tasks get
	Now       time.Time
}

// Task states.
const (
	TaskReady  = "ready"
	TaskLeased = "leased"
	TaskHeld   = "held" // its run is paused
)

// TaskRecord is a task as stored.
type TaskRecord struct {
	Task
	StepSeq         int // orders tasks made at the same moment
	Queue           string
	State           string
	VisibleAt       time.Time
	LeaseDuration   time.Duration
	LeaseExpiresAt  *time.Time
	WorkerID        string
	Resources       map[string]float64
	Concurrency     int
	CancelRequested bool
	CreatedAt       time.Time
	// Timeout is the attempt's step timeout (0: none); a claim sets
	// DeadlineAt to ClaimedAt + Timeout.
	Timeout    time.Duration
	ClaimedAt  *time.Time
	DeadlineAt *time.Time
	// Artifacts counts the artifacts stored under the task.
	Artifacts int
	// StatusDetail says why the claimed attempt is not progressing
	// ("waiting for cluster capacity: ..."); "" when nothing is said.
	StatusDetail string
}

// Timer kinds.
const (
	TimerWake        = "wake"         // a wait's duration/until ended
	TimerWaitTimeout = "wait_timeout" // a wait's timeout
	TimerStepTimeout = "step_timeout" // an attempt ran past the step timeout
	TimerRetry       = "retry"        // reserved
	TimerRunTimeout  = "run_timeout"  // the blueprint's timeout
	TimerSLA         = "sla"          // a human step's SLA passed
)

// Timer is a due time for one run.
type Timer struct {
	ID      int64
	RunID   string
	Path    string
	Kind    string
	Attempt int
	DueAt   time.Time
}

// RunMeta is the engine's private bookkeeping of a run, stored with it.
type RunMeta struct {
	// Signals delivered before a wait for them was reached, oldest first.
	Signals map[string][]json.RawMessage `json:"signals,omitempty"`
	// Phase: "" (normal), "compensating", "on_failure".
	Phase string `json:"phase,omitempty"`
	// Final is the status the run ends with once compensation and
	// on_failure blocks are done.
	Final RunStatus `json:"final,omitempty"`
	// Done lists succeeded steps with a compensation, in completion order.
	Done []string `json:"done,omitempty"`
	// NextSeq numbers steps in creation order.
	NextSeq int `json:"next_seq,omitempty"`
	// Overrides replaces the evaluated input of a ref (rerun with edited input).
	Overrides map[string]json.RawMessage `json:"overrides,omitempty"`
	// PausedFrom is the status to return to on resume.
	PausedFrom RunStatus `json:"paused_from,omitempty"`
	// Maps counts the iterations of running maps, by step path.
	Maps map[string]MapCount `json:"maps,omitempty"`
	// Depth is how many subflows enclose the run (0: started directly).
	Depth int `json:"depth,omitempty"`
}

// MapCount is a running map's progress: iterations 0..Started-1 have
// started (-1: not a prefix, count again), Done of them are done.
type MapCount struct {
	Started int `json:"s"`
	Done    int `json:"d"`
}

// StepControl is the engine's private state of a control block step.
type StepControl struct {
	Case      string          `json:"case,omitempty"`      // decision: the case that ran
	Items     json.RawMessage `json:"items,omitempty"`     // map: the evaluated items
	Iteration int             `json:"iteration,omitempty"` // loop: current iteration (0-based)
	Winner    int             `json:"winner,omitempty"`    // fork any: 1 + the winning branch
	Handled   bool            `json:"handled,omitempty"`   // a failure handled by catch
	SLAFired  bool            `json:"sla_fired,omitempty"` // wait: the SLA passed; on_sla runs
}
