package server

import (
	"context"
	"encoding/json"
	"time"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/flows"
)

// Engine is what the server asks of the engine (implemented by *engine.Engine).
type Engine interface {
	StartRun(ctx context.Context, p engine.StartParams) (run engine.Run, created bool, err error)
	GetRun(ctx context.Context, id string, withSteps bool) (engine.Run, error)
	WaitRun(ctx context.Context, id string, timeout time.Duration) (engine.Run, error)
	ListRuns(ctx context.Context, f engine.RunFilter) (engine.RunPage, error)
	Events(ctx context.Context, runID string, afterSeq int64, limit int) ([]engine.Event, error)

	Cancel(ctx context.Context, runID, actor string) error
	Pause(ctx context.Context, runID, actor string) error
	Resume(ctx context.Context, runID, actor string) error
	Retry(ctx context.Context, runID, actor string) error
	Rerun(ctx context.Context, runID string, p engine.RerunParams) (engine.Run, error)
	Signal(ctx context.Context, runID, name string, payload json.RawMessage, actor string) error

	Poll(ctx context.Context, p engine.PollParams) ([]engine.Task, error)
	Report(ctx context.Context, p engine.ReportParams) ([]engine.Task, error)
	// Release gives back tasks a poll leased whose answer was lost.
	Release(ctx context.Context, tasks []engine.Task) error
	Heartbeat(ctx context.Context, taskID, lease string) (engine.HeartbeatResult, error)
	// Defer gives a leased task back, to be offered again after d.
	Defer(ctx context.Context, taskID, lease string, d time.Duration) error

	Stats(ctx context.Context) (engine.Stats, error)
}

// Catalog stores block and flow definitions (implemented by the store).
type Catalog interface {
	blocks.Catalog
	// PutBlock stores a definition; created is false when identical content
	// already existed. A different content under an existing explicit
	// version is engine.ErrConflict.
	PutBlock(ctx context.Context, def *blocks.Definition, raw []byte) (version int, created bool, err error)
	ListBlocks(ctx context.Context) ([]engine.BlockSummary, error)
	GetBlock(ctx context.Context, name string, version int) (*blocks.Definition, []byte, error)
	BlockVersions(ctx context.Context, name string) ([]int, error)

	PutFlow(ctx context.Context, bp *flows.Blueprint) (version int, created bool, err error)
	ListFlows(ctx context.Context) ([]engine.FlowSummary, error)
	// GetFlow returns the compiled blueprint; version 0 = latest.
	GetFlow(ctx context.Context, name string, version int) (*flows.Blueprint, error)
	FlowVersions(ctx context.Context, name string) ([]int, error)
}
