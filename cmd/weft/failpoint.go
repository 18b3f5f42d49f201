package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/weftlabs/weft/engine"
)

// WEFT_FAILPOINT makes weft serve fail on purpose at one point of its
// work, so crash tests (internal/e2e) hit a window a kill from outside
// hits only by luck. It is read once at start; unset, it costs nothing.
// The failpoints:
//
//	after-claim-commit  the process kills itself (SIGKILL) right after a
//	                    poll's claim commits, before the poll's answer is
//	                    written: the claimed tasks are leased to a worker
//	                    that never got them and come back when the lease
//	                    lapses.
const failpointAfterClaimCommit = "after-claim-commit"

// failpoint returns the engine hook for the failpoint named (nil for "").
func failpoint(name string, log *slog.Logger) (func([]engine.Task), error) {
	switch name {
	case "":
		return nil, nil
	case failpointAfterClaimCommit:
		log.Warn("WEFT_FAILPOINT is set: the server kills itself after its first claim", "failpoint", name)
		return func(tasks []engine.Task) {
			for _, t := range tasks {
				log.Warn("failpoint "+name+": killing the process", "task_id", t.ID, "run_id", t.RunID, "step", t.Path, "attempt", t.Attempt)
			}
			self, err := os.FindProcess(os.Getpid())
			if err == nil {
				err = self.Kill()
			}
			log.Error("failpoint "+name+": could not kill the process", "err", err)
			os.Exit(137)
		}, nil
	}
	return nil, fmt.Errorf("WEFT_FAILPOINT %q: the only failpoint is %q", name, failpointAfterClaimCommit)
}
