package ui

import (
	"net/url"

	"github.com/weftlabs/weft/engine"
)

// LogHref downloads a step's log as text.
func LogHref(runID, step string) string {
	return RunHref(runID) + "/log.txt?step=" + url.QueryEscape(step)
}

// hasLog says whether a step runs outside the engine and may have a log.
func hasLog(s StepView) bool { return (s.Kind == "task" || s.Kind == "") && s.Block != "" }

// logLive says whether a step's log may still grow.
func logLive(d RunData, s StepView) bool {
	return d.Live && !engine.StepStatus(s.Status).Finished()
}
