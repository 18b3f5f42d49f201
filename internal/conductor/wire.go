package conductor

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// Task is Conductor's Task as its workers and clients read it.
type Task struct {
	TaskType               string          `json:"taskType"`
	Status                 string          `json:"status"`
	InputData              json.RawMessage `json:"inputData"`
	OutputData             json.RawMessage `json:"outputData"`
	ReferenceTaskName      string          `json:"referenceTaskName"`
	RetryCount             int             `json:"retryCount"`
	Seq                    int             `json:"seq"`
	PollCount              int             `json:"pollCount"`
	TaskDefName            string          `json:"taskDefName"`
	ScheduledTime          int64           `json:"scheduledTime"`
	StartTime              int64           `json:"startTime"`
	EndTime                int64           `json:"endTime"`
	UpdateTime             int64           `json:"updateTime"`
	Retried                bool            `json:"retried"`
	Executed               bool            `json:"executed"`
	CallbackFromWorker     bool            `json:"callbackFromWorker"`
	ResponseTimeoutSeconds int64           `json:"responseTimeoutSeconds"`
	WorkflowInstanceID     string          `json:"workflowInstanceId"`
	WorkflowType           string          `json:"workflowType,omitempty"`
	TaskID                 string          `json:"taskId"`
	ReasonForIncompletion  string          `json:"reasonForIncompletion,omitempty"`
	CallbackAfterSeconds   int64           `json:"callbackAfterSeconds"`
	WorkerID               string          `json:"workerId,omitempty"`
	Domain                 *string         `json:"domain"`
	Iteration              int             `json:"iteration"`
	SubWorkflowID          string          `json:"subWorkflowId,omitempty"`
}

// TaskResult is what a Conductor worker sends back.
type TaskResult struct {
	WorkflowInstanceID    string          `json:"workflowInstanceId"`
	TaskID                string          `json:"taskId"`
	ReasonForIncompletion string          `json:"reasonForIncompletion"`
	CallbackAfterSeconds  int64           `json:"callbackAfterSeconds"`
	WorkerID              string          `json:"workerId"`
	Status                string          `json:"status"`
	OutputData            json.RawMessage `json:"outputData"`
	Logs                  []TaskLog       `json:"logs"`
	// Fields Conductor clients may send that Weft reads no further.
	ExternalOutputPayloadStoragePath string `json:"externalOutputPayloadStoragePath,omitempty"`
	SubWorkflowID                    string `json:"subWorkflowId,omitempty"`
	ExtendLease                      bool   `json:"extendLease,omitempty"`
}

// TaskLog is one line a Conductor worker logged.
type TaskLog struct {
	Log         string `json:"log"`
	TaskID      string `json:"taskId,omitempty"`
	CreatedTime int64  `json:"createdTime,omitempty"`
}

// Workflow is Conductor's execution view of a run.
type Workflow struct {
	WorkflowID               string          `json:"workflowId"`
	WorkflowName             string          `json:"workflowName"`
	WorkflowVersion          int             `json:"workflowVersion"`
	Status                   string          `json:"status"`
	Input                    json.RawMessage `json:"input"`
	Output                   json.RawMessage `json:"output"`
	Tasks                    []Task          `json:"tasks"`
	CreateTime               int64           `json:"createTime"`
	StartTime                int64           `json:"startTime"`
	EndTime                  int64           `json:"endTime"`
	UpdateTime               int64           `json:"updateTime"`
	ReasonForIncompletion    string          `json:"reasonForIncompletion,omitempty"`
	CorrelationID            string          `json:"correlationId,omitempty"`
	ParentWorkflowID         string          `json:"parentWorkflowId,omitempty"`
	FailedReferenceTaskNames []string        `json:"failedReferenceTaskNames"`
	Variables                map[string]any  `json:"variables"`
	Priority                 int             `json:"priority"`
}

// StartWorkflowRequest starts a workflow by name (POST /api/workflow).
type StartWorkflowRequest struct {
	Name          string          `json:"name"`
	Version       int             `json:"version"`
	Input         json.RawMessage `json:"input"`
	CorrelationID string          `json:"correlationId"`
	Priority      int             `json:"priority"`
	// Fields Conductor clients may send that Weft reads no further.
	TaskToDomain                    map[string]string `json:"taskToDomain,omitempty"`
	WorkflowDef                     json.RawMessage   `json:"workflowDef,omitempty"`
	ExternalInputPayloadStoragePath string            `json:"externalInputPayloadStoragePath,omitempty"`
	IdempotencyKey                  string            `json:"idempotencyKey,omitempty"`
	IdempotencyStrategy             string            `json:"idempotencyStrategy,omitempty"`
	CreatedBy                       string            `json:"createdBy,omitempty"`
}

// ErrorResponse is Conductor's error body.
type ErrorResponse struct {
	Status    int    `json:"status"`
	Message   string `json:"message"`
	Instance  string `json:"instance,omitempty"`
	Retryable bool   `json:"retryable"`
}

// TaskID is the id a Conductor worker sees: the Weft task id, its lease
// and its queue (hex), so that a TaskResult, which carries only the id, is
// authorised by the lease as Weft's own reports are, and update-v2 knows
// which queue the worker's next task comes from.
func TaskID(id, lease, queue string) string {
	return id + "-" + lease + "-" + hex.EncodeToString([]byte(queue))
}

// SplitTaskID undoes TaskID.
func SplitTaskID(s string) (id, lease, queue string, ok bool) {
	parts := strings.Split(s, "-")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", false
	}
	q, err := hex.DecodeString(parts[2])
	if err != nil {
		return "", "", "", false
	}
	return parts[0], parts[1], string(q), true
}

// RunStatus names a Weft run status as Conductor does.
func RunStatus(s string) string {
	switch s {
	case "succeeded":
		return "COMPLETED"
	case "failed":
		return "FAILED"
	case "cancelled":
		return "TERMINATED"
	case "timed_out":
		return "TIMED_OUT"
	case "paused":
		return "PAUSED"
	}
	return "RUNNING" // queued, running, waiting
}

// StepStatus names a Weft step status as Conductor does.
func StepStatus(s string) string {
	switch s {
	case "pending", "scheduled":
		return "SCHEDULED"
	case "running", "waiting":
		return "IN_PROGRESS"
	case "succeeded":
		return "COMPLETED"
	case "failed":
		return "FAILED"
	case "skipped":
		return "SKIPPED"
	case "cancelled":
		return "CANCELED"
	case "timed_out":
		return "TIMED_OUT"
	}
	return strings.ToUpper(s)
}

// Millis is t in Unix milliseconds, 0 for nil.
func Millis(t *time.Time) int64 {
	if t == nil || t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
