// Package conductor makes Weft speak to Netflix/Orkes Conductor users: it
// converts Conductor workflow and task definitions into Weft block
// definitions and blueprints (Convert), and it holds the shapes of
// Conductor's worker and workflow API that the server answers with.
//
// Conversion is pure: Convert reads definitions and returns what Weft would
// store, plus a Problem for everything it cannot convert, each with a JSON
// pointer into the Conductor document and what to do instead. Nothing is
// stored unless the whole import converts and validates.
package conductor

import "encoding/json"

// WorkflowDef is a Conductor workflow definition (the fields Weft reads;
// others are ignored).
type WorkflowDef struct {
	Name             string          `json:"name"`
	Description      string          `json:"description"`
	Version          int             `json:"version"`
	Tasks            []*WorkflowTask `json:"tasks"`
	InputParameters  []string        `json:"inputParameters"`
	OutputParameters map[string]any  `json:"outputParameters"`
	FailureWorkflow  string          `json:"failureWorkflow"`
	TimeoutSeconds   int64           `json:"timeoutSeconds"`
	TimeoutPolicy    string          `json:"timeoutPolicy"`
	SchemaVersion    int             `json:"schemaVersion"`
	InputTemplate    map[string]any  `json:"inputTemplate"`
}

// WorkflowTask is one task of a Conductor workflow definition.
type WorkflowTask struct {
	Name              string         `json:"name"`
	TaskReferenceName string         `json:"taskReferenceName"`
	Type              string         `json:"type"`
	Description       string         `json:"description"`
	InputParameters   map[string]any `json:"inputParameters"`
	Optional          bool           `json:"optional"`

	// SWITCH and DECISION.
	CaseValueParam  string                     `json:"caseValueParam"`
	CaseExpression  string                     `json:"caseExpression"`
	EvaluatorType   string                     `json:"evaluatorType"`
	Expression      string                     `json:"expression"`
	DecisionCases   map[string][]*WorkflowTask `json:"decisionCases"`
	DefaultCase     []*WorkflowTask            `json:"defaultCase"`
	ForkTasks       [][]*WorkflowTask          `json:"forkTasks"`
	JoinOn          []string                   `json:"joinOn"`
	LoopCondition   string                     `json:"loopCondition"`
	LoopOver        []*WorkflowTask            `json:"loopOver"`
	SubWorkflow     *SubWorkflowParams         `json:"subWorkflowParam"`
	DynamicTasks    string                     `json:"dynamicForkTasksParam"`
	DynamicInputs   string                     `json:"dynamicForkTasksInputParamName"`
	DynamicTaskName string                     `json:"dynamicTaskNameParam"`
	TaskDefinition  *TaskDef                   `json:"taskDefinition"`
}

// SubWorkflowParams names the workflow a SUB_WORKFLOW task starts.
type SubWorkflowParams struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
}

// TaskDef is a Conductor task definition: retry, timeouts and limits of a
// task type.
type TaskDef struct {
	Name                        string   `json:"name"`
	Description                 string   `json:"description"`
	RetryCount                  *int     `json:"retryCount"`
	RetryLogic                  string   `json:"retryLogic"`
	RetryDelaySeconds           int64    `json:"retryDelaySeconds"`
	BackoffScaleFactor          int      `json:"backoffScaleFactor"`
	TimeoutSeconds              int64    `json:"timeoutSeconds"`
	ResponseTimeoutSeconds      int64    `json:"responseTimeoutSeconds"`
	TimeoutPolicy               string   `json:"timeoutPolicy"`
	ConcurrentExecLimit         int      `json:"concurrentExecLimit"`
	RateLimitPerFrequency       int      `json:"rateLimitPerFrequency"`
	RateLimitFrequencyInSeconds int      `json:"rateLimitFrequencyInSeconds"`
	InputKeys                   []string `json:"inputKeys"`
	OutputKeys                  []string `json:"outputKeys"`
	InputSchema                 any      `json:"inputSchema"`
}

// Source is one document to import: a workflow definition, a task
// definition, a list of either, or {"workflowDefs": [...], "taskDefs": [...]}.
type Source struct {
	Name string // file name, or "" for a request body
	Data []byte
}

// Problem is one thing that cannot be converted, or (in Notes) converted
// with a difference the user should know.
type Problem struct {
	Source  string `json:"source,omitempty"`
	Pointer string `json:"path"`
	Message string `json:"message"`
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"column,omitempty"`
}

func (p Problem) String() string {
	where := p.Pointer
	if where == "" {
		where = "/"
	}
	if p.Line > 0 {
		where = itoa(p.Line) + ":" + itoa(p.Col) + " " + where
	}
	if p.Source != "" {
		where = p.Source + " " + where
	}
	return where + ": " + p.Message
}

// Block is a converted block definition.
type Block struct {
	Name string          // Weft block name
	JSON json.RawMessage // the definition to store
	From string          // the Conductor task type it came from
	// Default is set when no task definition came with it: a stored
	// block of that name should then be kept rather than replaced.
	Default bool
	// Source and Pointer locate the task or definition it came from; Flow
	// is the workflow that alone uses it ("" when shared).
	Source, Pointer, Flow string
}

// Flow is a converted blueprint.
type Flow struct {
	Name   string          // Weft flow name
	JSON   json.RawMessage // the blueprint to store
	From   string          // the Conductor workflow name
	Source string          // the document it came from
	Base   string          // pointer of the workflow definition in Source
	// ptrs maps a pointer in the blueprint to the pointer of the Conductor
	// task it came from, so validation errors point into the Conductor JSON.
	ptrs map[string]string
	// broken is set when conversion already reported a problem.
	broken bool
}

// Result is what Convert produced.
type Result struct {
	Blocks   []Block   `json:"-"`
	Flows    []Flow    `json:"-"`
	Problems []Problem `json:"problems"`
	Notes    []Problem `json:"notes"`
	// Complete lists the workflows that converted without a problem.
	Complete []string `json:"complete"`

	idx []srcIndex // the documents' text positions, for line and column
}
