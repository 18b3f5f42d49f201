package engine

import (
	"encoding/json"
	"errors"
	"time"
)

// Sentinel errors. Compare with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict: a stale lease, a duplicate report, or a run moved since read.
	ErrConflict = errors.New("conflict")
	// ErrInvalidState: the operator action does not apply to the run's status
	// (retry a running run, resume a run that is not paused, ...).
	ErrInvalidState = errors.New("invalid state")
)

// RunStatus is the status of a run.
type RunStatus string

// Run statuses (docs/concepts.md).
const (
	RunQueued  RunStatus = "queued"
	RunRunning RunStatus = "running"
	RunPaused  RunStatus = "paused"
	// RunWaiting: running, but every live step waits for a signal (a
	// human step); nothing is scheduled or running.
	RunWaiting   RunStatus = "waiting"
	RunSucceeded RunStatus = "succeeded"
	RunFailed    RunStatus = "failed"
	RunCancelled RunStatus = "cancelled"
	RunTimedOut  RunStatus = "timed_out"
)

// Finished reports whether the status is terminal.
func (s RunStatus) Finished() bool {
	return s == RunSucceeded || s == RunFailed || s == RunCancelled || s == RunTimedOut
}

// StepStatus is the status of a step.
type StepStatus string

// Step statuses (docs/concepts.md).
const (
	StepPending   StepStatus = "pending"   // upstream not finished
	StepScheduled StepStatus = "scheduled" // task written; not yet claimed
	StepRunning   StepStatus = "running"   // claimed under a lease, or a control block in progress
	StepWaiting   StepStatus = "waiting"   // a wait block, or a subflow's child run
	StepSucceeded StepStatus = "succeeded"
	StepFailed    StepStatus = "failed"
	StepSkipped   StepStatus = "skipped"
	StepCancelled StepStatus = "cancelled"
	StepTimedOut  StepStatus = "timed_out"
)

// Finished reports whether the status is terminal.
func (s StepStatus) Finished() bool {
	switch s {
	case StepSucceeded, StepFailed, StepSkipped, StepCancelled, StepTimedOut:
		return true
	}
	return false
}

// ErrorInfo is a failure carried as data across process boundaries.
type ErrorInfo struct {
	Message   string `json:"message"`
	Type      string `json:"type,omitempty"`
	Retryable bool   `json:"retryable,omitempty"`
	Step      string `json:"step,omitempty"` // path of the step that failed the run
}

// Run is one execution of one flow version with one input.
type Run struct {
	ID             string          `json:"id"`
	Flow           string          `json:"flow"`
	Version        int             `json:"version"`
	Status         RunStatus       `json:"status"`
	Input          json.RawMessage `json:"input"`
	Output         json.RawMessage `json:"output"`
	Error          *ErrorInfo      `json:"error"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	ParentRunID    string          `json:"parent_run_id,omitempty"`
	ParentPath     string          `json:"parent_path,omitempty"`
	Trigger        string          `json:"trigger,omitempty"` // api, cron, webhook, subflow, ui
	CreatedAt      time.Time       `json:"created_at"`
	StartedAt      *time.Time      `json:"started_at"`
	FinishedAt     *time.Time      `json:"finished_at"`
	Steps          []Step          `json:"steps,omitempty"`
	// WaitingFor lists the steps that wait for a signal (with the steps).
	WaitingFor []SignalWait `json:"waiting_for,omitempty"`

	// Rev guards concurrent writers (optimistic locking); Meta is the
	// engine's bookkeeping. Neither is part of the API.
	Rev  int64    `json:"-"`
	Meta *RunMeta `json:"-"`
}

// Step is one execution of one block instance inside a run.
type Step struct {
	Path       string          `json:"path"` // ref, prefixed by map/loop iterations: each[2].score
	Ref        string          `json:"ref"`
	Type       string          `json:"type,omitempty"` // flows.Type*; "" for external blocks
	Block      string          `json:"block,omitempty"`
	Status     StepStatus      `json:"status"`
	Input      json.RawMessage `json:"input,omitempty"`
	Output     json.RawMessage `json:"output,omitempty"`
	Error      *ErrorInfo      `json:"error,omitempty"`
	Attempt    int             `json:"attempt"`
	Attempts   []Attempt       `json:"attempts,omitempty"`
	ChildRunID string          `json:"child_run_id,omitempty"`
	// Artifacts are those the succeeded attempt stored, by name: what
	// ref.artifacts.NAME reads in expressions (docs/concepts.md).
	Artifacts  map[string]ArtifactRef `json:"artifacts,omitempty"`
	CreatedAt  time.Time              `json:"created_at"`
	StartedAt  *time.Time             `json:"started_at"`
	FinishedAt *time.Time             `json:"finished_at"`
	// StatusDetail says why a running step is not progressing, as the
	// process running its attempt tells (a Kubernetes Job's "waiting for
	// cluster capacity: ..."); empty otherwise.
	StatusDetail string `json:"status_detail,omitempty"`

	// Seq orders steps by creation; Control is a control block's state.
	Seq     int          `json:"-"`
	Control *StepControl `json:"-"`
}

// Attempt is one try of a step.
type Attempt struct {
	Number     int        `json:"number"`
	Status     StepStatus `json:"status"`
	WorkerID   string     `json:"worker_id,omitempty"`
	Error      *ErrorInfo `json:"error,omitempty"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

// Event is one entry of a run's append-only history.
type Event struct {
	Seq    int64           `json:"seq"`
	RunID  string          `json:"run_id"`
	Time   time.Time       `json:"time"`
	Actor  string          `json:"actor"` // engine, worker:w1, operator:alice, api
	Kind   string          `json:"kind"`  // run.started, step.scheduled, step.succeeded, signal, ...
	Path   string          `json:"path,omitempty"`
	From   string          `json:"from,omitempty"`
	To     string          `json:"to,omitempty"`
	Detail json.RawMessage `json:"detail,omitempty"`
}

// Task is a claimed unit of work handed to a worker (docs/blocks.md).
type Task struct {
	ID       string          `json:"id"`
	Lease    string          `json:"lease"`
	RunID    string          `json:"run_id"`
	Ref      string          `json:"ref"`
	Path     string          `json:"path"`
	Block    string          `json:"block"`
	Version  int             `json:"version"`
	Attempt  int             `json:"attempt"`
	Input    json.RawMessage `json:"input"`
	Deadline time.Time       `json:"deadline"` // lease expiry
}

// StartParams starts a run.
type StartParams struct {
	Flow           string
	Version        int // 0 = latest
	Input          json.RawMessage
	IdempotencyKey string
	Trigger        string
	Actor          string
}

// RunFilter selects runs for a list; newest first, keyset paginated.
type RunFilter struct {
	Flow     string
	Statuses []RunStatus
	Since    time.Time
	Until    time.Time
	Search   string // run id or idempotency key, exact
	Limit    int    // default 50, at most 500
	Cursor   string // opaque, from the previous page
}

// RunPage is one page of runs.
type RunPage struct {
	Runs       []Run
	NextCursor string
}

// RerunParams reruns a run from a chosen ref.
type RerunParams struct {
	From   string
	Input  json.RawMessage // optional: the step's edited input
	Latest bool            // use the latest flow version
	Actor  string
}

// PollParams is a worker's long-poll.
type PollParams struct {
	WorkerID  string
	Queues    []string
	Max       int           // 1..100
	Wait      time.Duration // at most 60s
	Resources map[string]float64
}

// TaskError is a worker's failure report.
type TaskError struct {
	Message   string `json:"message"`
	Type      string `json:"type,omitempty"`
	Retryable bool   `json:"retryable"`
}

// HeartbeatResult answers a heartbeat.
type HeartbeatResult struct {
	CancelRequested bool      `json:"cancel_requested"`
	LeaseExpiresAt  time.Time `json:"lease_expires_at"`
}

// Stats is what the overview page and /metrics show.
type Stats struct {
	RunsByStatus  map[RunStatus]int  `json:"runs_by_status"`
	StepsByStatus map[StepStatus]int `json:"steps_by_status"`
	QueueDepths   map[string]int     `json:"queue_depths"`
	Workers       []WorkerSeen       `json:"workers"`
}

// WorkerSeen is a worker that polled recently.
type WorkerSeen struct {
	ID       string    `json:"id"`
	Queues   []string  `json:"queues"`
	LastSeen time.Time `json:"last_seen"`
}

// BlockSummary is one row of the blocks list.
type BlockSummary struct {
	Name          string    `json:"name"`
	LatestVersion int       `json:"latest_version"`
	Title         string    `json:"title,omitempty"`
	Kind          string    `json:"kind"`
	Queue         string    `json:"queue,omitempty"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// FlowSummary is one row of the flows list.
type FlowSummary struct {
	Name          string      `json:"name"`
	LatestVersion int         `json:"latest_version"`
	Title         string      `json:"title,omitempty"`
	Description   string      `json:"description,omitempty"`
	UpdatedAt     time.Time   `json:"updated_at"`
	LastRuns      []RunStatus `json:"last_runs,omitempty"` // newest first, at most 10
}
