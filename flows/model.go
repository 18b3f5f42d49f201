package flows

import (
	"encoding/json"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/blocks/jsoncheck"
)

// Block types. An external block has Type "" and names a Block definition.
const (
	TypeTask     = ""
	TypeDecision = "decision"
	TypeFork     = "fork"
	TypeMap      = "map"
	TypeLoop     = "loop"
	TypeLambda   = "lambda"
	TypeWait     = "wait"
	TypeSubflow  = "subflow"
	TypeFail     = "fail"
)

// Blueprint is a parsed, validated and compiled flow definition. It is
// immutable once returned by Compile and safe for concurrent use.
type Blueprint struct {
	Name        string          `json:"name"`
	Version     int             `json:"version,omitempty"`
	Title       string          `json:"title,omitempty"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema,omitempty"`
	Blocks      []*Node         `json:"blocks"`
	Output      any             `json:"output,omitempty"`
	OnFailure   []*Node         `json:"on_failure,omitempty"`
	Triggers    []Trigger       `json:"triggers,omitempty"`
	Timeout     blocks.Duration `json:"timeout,omitempty"` // run timeout

	// Compiled form, filled by Compile.
	OutputValue *Value           `json:"-"`
	Nodes       map[string]*Node `json:"-"` // every node by ref, nested ones included
	Raw         []byte           `json:"-"` // the uploaded text, as-is
	// Pins maps each block name used without @version to the version that
	// was latest when the flow was stored; it is stored with the flow so a
	// reload compiles against the same definitions.
	Pins map[string]int `json:"-"`

	input *blocks.Checker // compiled InputSchema
}

// ValidateInput checks a run's input against the flow's input_schema; the
// error (a *blocks.SchemaMismatchError) names each field, such as
// "input.dataset_url: is required".
func (bp *Blueprint) ValidateInput(v any) error {
	if bp.input == nil {
		c, err := blocks.NewChecker("input", bp.InputSchema)
		if err != nil {
			return err
		}
		return c.Validate(v)
	}
	return bp.input.Validate(v)
}

// Trigger starts runs of the flow on a schedule.
type Trigger struct {
	Cron  string          `json:"cron,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
}

// Node is one block instance in a blueprint.
type Node struct {
	Ref  string `json:"ref"`
	Type string `json:"type,omitempty"`

	// External blocks.
	Block string         `json:"block,omitempty"` // "name" or "name@version"
	Input map[string]any `json:"input,omitempty"` // also subflow input

	// Error handling (any block).
	Retry      *blocks.RetryPolicy `json:"retry,omitempty"`
	Timeout    blocks.Duration     `json:"timeout,omitempty"`
	Optional   bool                `json:"optional,omitempty"`
	Catch      []*Node             `json:"catch,omitempty"`
	Compensate *Compensate         `json:"compensate,omitempty"`

	// DAG form: a list where any block has depends_on is a DAG.
	DependsOn   []string `json:"depends_on,omitempty"`
	TriggerRule string   `json:"trigger_rule,omitempty"` // "" = all_success

	// decision, lambda
	Expr    string             `json:"expr,omitempty"`
	Cases   map[string][]*Node `json:"cases,omitempty"`
	Default []*Node            `json:"default,omitempty"`

	// fork
	Branches [][]*Node `json:"branches,omitempty"`
	Join     string    `json:"join,omitempty"` // "all" (default) or "any"

	// map, loop
	Items         string  `json:"items,omitempty"`
	Do            []*Node `json:"do,omitempty"`
	Concurrency   int     `json:"concurrency,omitempty"`
	While         string  `json:"while,omitempty"`
	MaxIterations int     `json:"max_iterations,omitempty"`

	// wait
	Duration blocks.Duration `json:"duration,omitempty"`
	Until    string          `json:"until,omitempty"` // RFC 3339, may be a ${} template
	Signal   string          `json:"signal,omitempty"`
	// A wait for a signal may be a human step: who should act, the JSON
	// Schema its payload must satisfy, and how long it may wait before
	// the on_sla blocks run (once, while the wait goes on).
	Assignee string          `json:"assignee,omitempty"`
	Form     json.RawMessage `json:"form,omitempty"`
	SLA      blocks.Duration `json:"sla,omitempty"`
	OnSLA    []*Node         `json:"on_sla,omitempty"`

	// subflow
	Flow string `json:"flow,omitempty"` // "name" or "name@version"

	// fail
	Message string `json:"message,omitempty"`

	// Compiled form, filled by Compile.
	Pointer      string             `json:"-"` // JSON pointer of this node in the blueprint
	Def          *blocks.Definition `json:"-"` // external blocks: the pinned definition
	InputValue   *Value             `json:"-"`
	ExprProg     *Expr              `json:"-"` // decision, lambda
	ItemsProg    *Expr              `json:"-"` // map
	WhileProg    *Expr              `json:"-"` // loop
	UntilValue   *Value             `json:"-"` // wait
	FormSchema   *jsoncheck.Schema  `json:"-"` // wait: the compiled form
	MessageValue *Value             `json:"-"` // fail
	FlowName     string             `json:"-"` // subflow
	FlowVersion  int                `json:"-"` // subflow; 0 = latest at start
	Parent       *Node              `json:"-"` // enclosing control block, nil at top level
	DAG          *DAG               `json:"-"` // the DAG list holding this node; nil in a sequence
	Upstream     []*Node            `json:"-"` // DAG form: the nodes of depends_on, in its order
}

// DAG is the compiled form of a list of blocks in DAG form.
type DAG struct {
	Pointer string  // the list's JSON pointer, such as /blocks
	Nodes   []*Node // document order
	Order   []*Node // a topological order (dependencies first; ties in document order)
	Sinks   []*Node // nodes no other node of the list depends on, document order
}

// Trigger rules of the DAG form (Airflow's names and meanings).
const (
	RuleAllSuccess = "all_success"
	RuleAllDone    = "all_done"
	RuleAllFailed  = "all_failed"
	RuleOneSuccess = "one_success"
	RuleOneFailed  = "one_failed"
	RuleNoneFailed = "none_failed"
	RuleAlways     = "always"
)

// Rule is the node's trigger rule, all_success when unset.
func (n *Node) Rule() string {
	if n.TriggerRule == "" {
		return RuleAllSuccess
	}
	return n.TriggerRule
}

// Compensate is the block run to undo a completed block when the run fails.
type Compensate struct {
	Block      string             `json:"block"`
	Input      map[string]any     `json:"input,omitempty"`
	Def        *blocks.Definition `json:"-"`
	InputValue *Value             `json:"-"`
}

// JoinAll and JoinAny are the fork join modes.
const (
	JoinAll = "all"
	JoinAny = "any"
)
