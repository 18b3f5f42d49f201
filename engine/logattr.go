package engine

import "log/slog"

// Fixed log keys (one key per concept, used everywhere).
const (
	slogDebug = slog.LevelDebug
	slogInfo  = slog.LevelInfo
)

func attrRun(id string) slog.Attr    { return slog.String("run_id", id) }
func attrFlow(name string) slog.Attr { return slog.String("flow", name) }
func attrStep(path string) slog.Attr { return slog.String("step_ref", path) }
func attrTask(id string) slog.Attr   { return slog.String("task_id", id) }
func attrAttempt(n int) slog.Attr    { return slog.Int("attempt", n) }
func attrErr(err error) slog.Attr    { return slog.Any("err", err) }
