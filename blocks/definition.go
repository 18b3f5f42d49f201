// Package blocks owns block definitions: the reusable units of work a flow
// references, with their dispatch kind, schemas, retry policy and limits.
package blocks

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Dispatch kinds.
const (
	DispatchWorker = "worker" // pulled by workers from Queue
	DispatchHTTP   = "http"   // pushed to URL by the engine
	// DispatchCommand blocks are pulled from Queue, like worker blocks, by
	// a runner (weft worker, or weft serve --run-commands) that runs
	// Command or Script as a child process.
	DispatchCommand = "command"
	// DispatchKubernetes runs each attempt as a Kubernetes Job, created and
	// followed by the server's Kubernetes dispatcher.
	DispatchKubernetes = "kubernetes"
)

// Definition is one stored version of a block definition.
type Definition struct {
	Name             string             `json:"name"`
	Version          int                `json:"version,omitempty"`
	Title            string             `json:"title,omitempty"`
	Description      string             `json:"description,omitempty"`
	Dispatch         Dispatch           `json:"dispatch"`
	InputSchema      json.RawMessage    `json:"input_schema,omitempty"`
	OutputSchema     json.RawMessage    `json:"output_schema,omitempty"`
	Retry            *RetryPolicy       `json:"retry,omitempty"`
	Timeout          Duration           `json:"timeout,omitempty"`
	HeartbeatTimeout Duration           `json:"heartbeat_timeout,omitempty"`
	Concurrency      int                `json:"concurrency,omitempty"`
	Resources        map[string]float64 `json:"resources,omitempty"`

	// cache holds the compiled input/output schemas; Parse fills it.
	cache *schemaCache
}

// Queue is the worker queue the block's tasks go to: dispatch.queue, or the
// block's name.
func (d *Definition) Queue() string {
	if d.Dispatch.Queue != "" {
		return d.Dispatch.Queue
	}
	return d.Name
}

// httpQueuePrefix starts the queue of every HTTP block.
const httpQueuePrefix = "http:"

// TaskQueue is the queue the block's tasks go to, by dispatch kind: an
// HTTP block's is HTTPQueue(name), which the server's HTTP dispatcher
// claims; a worker block's is Queue.
func (d *Definition) TaskQueue() string {
	switch d.Dispatch.Kind {
	case DispatchHTTP:
		return HTTPQueue(d.Name)
	case DispatchKubernetes:
		return KubernetesQueue(d.Name)
	}
	return d.Queue()
}

// kubeQueuePrefix starts the queue of every Kubernetes block.
const kubeQueuePrefix = "kube:"

// KubernetesQueue is the queue of the Kubernetes block named block.
func KubernetesQueue(block string) string { return kubeQueuePrefix + block }

// IsKubernetesQueue reports whether q is a Kubernetes block's queue, which
// belongs to the server's Kubernetes dispatcher.
func IsKubernetesQueue(q string) bool { return strings.HasPrefix(q, kubeQueuePrefix) }

// IsServerQueue reports whether q belongs to one of the server's own
// dispatchers (HTTP or Kubernetes): workers may not poll it.
func IsServerQueue(q string) bool { return IsHTTPQueue(q) || IsKubernetesQueue(q) }

// HTTPQueue is the queue of the HTTP block named block.
func HTTPQueue(block string) string { return httpQueuePrefix + block }

// IsHTTPQueue reports whether q is an HTTP block's queue, which belongs to
// the server's HTTP dispatcher: workers may not poll it.
func IsHTTPQueue(q string) bool { return strings.HasPrefix(q, httpQueuePrefix) }

// Dispatch says how the engine hands a step of this block to the outside.
type Dispatch struct {
	Kind    string            `json:"kind"`
	Queue   string            `json:"queue,omitempty"`
	URL     string            `json:"url,omitempty"`
	Method  string            `json:"method,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Timeout Duration          `json:"timeout,omitempty"`
	// Body is what an http block sends: "envelope" (default: task_id, run_id,
	// ref, attempt, input, callback_url) or "input" (the step's input alone,
	// for calling an existing API such as an OpenAI-compatible endpoint).
	Body string `json:"body,omitempty"`

	// Command blocks (kind "command"): Command is the program and its
	// arguments, run without a shell; or Script is written to a file and
	// run by Interpreter. The step's input reaches the process as a file
	// (WEFT_INPUT), never as command text.
	Command        []string          `json:"command,omitempty"`
	Script         string            `json:"script,omitempty"`
	Interpreter    []string          `json:"interpreter,omitempty"`
	Workdir        string            `json:"workdir,omitempty"`
	Env            map[string]string `json:"env,omitempty"`
	FatalExitCodes []int             `json:"fatal_exit_codes,omitempty"`

	// Kubernetes (kind "kubernetes"): the one container of the Job that
	// each attempt runs as. The block's resources become its requests and
	// limits (cpu; memory_gb as Gi; gpu as nvidia.com/gpu), with
	// ExtraResources for other Kubernetes resource names. Command (the
	// container's entrypoint) and Env apply too.
	Image          string            `json:"image,omitempty"`
	Args           []string          `json:"args,omitempty"`
	Namespace      string            `json:"namespace,omitempty"`
	ServiceAccount string            `json:"service_account,omitempty"`
	NodeSelector   map[string]string `json:"node_selector,omitempty"`
	Tolerations    []Toleration      `json:"tolerations,omitempty"`
	// Annotations and Labels go on the Job's pod (for admission
	// controllers, sidecar injection, cost accounting).
	Annotations    map[string]string `json:"annotations,omitempty"`
	Labels         map[string]string `json:"labels,omitempty"`
	ExtraResources map[string]string `json:"extra_resources,omitempty"`
}

// Toleration lets a Kubernetes block's pod run on nodes with a matching
// taint, as a Kubernetes toleration does.
type Toleration struct {
	Key               string `json:"key,omitempty"`
	Operator          string `json:"operator,omitempty"` // Equal (default) or Exists
	Value             string `json:"value,omitempty"`
	Effect            string `json:"effect,omitempty"` // NoSchedule, PreferNoSchedule, NoExecute; empty = all
	TolerationSeconds *int64 `json:"toleration_seconds,omitempty"`
}

// Backoff kinds.
const (
	BackoffFixed       = "fixed"
	BackoffExponential = "exponential"
)

// RetryPolicy says how often and how fast a failed step is tried again.
type RetryPolicy struct {
	MaxAttempts     int      `json:"max_attempts,omitempty"`
	Backoff         string   `json:"backoff,omitempty"`
	InitialInterval Duration `json:"initial_interval,omitempty"`
	MaxInterval     Duration `json:"max_interval,omitempty"`
}

// Delay is the back-off before attempt next (2 is the first retry).
func (p *RetryPolicy) Delay(next int) time.Duration {
	if p == nil {
		return time.Second
	}
	d := time.Duration(p.InitialInterval)
	if d <= 0 {
		d = time.Second
	}
	if p.Backoff == BackoffExponential {
		for i := 2; i < next; i++ {
			d *= 2
			if p.MaxInterval > 0 && d >= time.Duration(p.MaxInterval) {
				break
			}
		}
	}
	if p.MaxInterval > 0 && d > time.Duration(p.MaxInterval) {
		d = time.Duration(p.MaxInterval)
	}
	return d
}

// Attempts is the number of attempts the policy allows (at least 1).
func (p *RetryPolicy) Attempts() int {
	if p == nil || p.MaxAttempts < 1 {
		return 1
	}
	return p.MaxAttempts
}

// Catalog looks up stored block definitions. Version 0 means the latest.
type Catalog interface {
	Block(name string, version int) (*Definition, error)
}

// Duration is a time.Duration written in JSON as a Go duration string
// ("90s", "2h").
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string such as "90s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"30s\" or \"2h\"")
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration parses a Go duration, also accepting a "d" suffix for days.
func ParseDuration(s string) (time.Duration, error) {
	if n := len(s); n > 1 && s[n-1] == 'd' {
		days, err := strconv.ParseFloat(s[:n-1], 64)
		if err == nil && days >= 0 && days <= 36500 && s[0] >= '0' && s[0] <= '9' {
			return time.Duration(days * 24 * float64(time.Hour)), nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: write a number with a unit, such as \"30s\", \"5m\", \"2h\" or \"1d\"", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("invalid duration %q: it must not be negative", s)
	}
	return v, nil
}

// String formats the duration like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }
