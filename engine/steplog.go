package engine

import "time"

// Step logs (docs/concepts.md) are what a worker prints while it runs a
// step. They are kept beside the run, never in it: the engine does not
// read them and no decision depends on them. The store keeps them; the
// server appends them under a task's lease and reads them back.

// Log levels a line may carry.
const (
	LogDebug    = "debug"
	LogInfo     = "info"
	LogWarning  = "warning"
	LogError    = "error"
	LogCritical = "critical"
)

// DefaultMaxLog bounds one step's log (all its attempts) in bytes of
// message text; past it one truncation marker is written and later lines
// are dropped.
const DefaultMaxLog = 16 << 20

// LogLine is one line of a step's log.
type LogLine struct {
	// Seq orders every line of every run; it is the read cursor.
	Seq     int64
	Step    string // the step's path
	Attempt int
	Time    time.Time
	Level   string
	Message string
}

// LogAppend appends lines to the log of the step a leased task runs.
type LogAppend struct {
	TaskID string
	Lease  string
	Lines  []LogLine // Step and Attempt are taken from the task
	// MaxBytes bounds the step's log (DefaultMaxLog when 0).
	MaxBytes int64
	Now      time.Time // the truncation marker's time
}

// LogAppended says where appended lines went.
type LogAppended struct {
	RunID   string
	Step    string
	Attempt int
	Stored  int  // lines stored (the marker not counted)
	Dropped int  // lines dropped at the bound
	Marked  bool // this append wrote the truncation marker
}

// LogQuery reads a run's log lines after a cursor, oldest first.
type LogQuery struct {
	RunID string
	Step  string // "" reads every step
	After int64
	Limit int
}
