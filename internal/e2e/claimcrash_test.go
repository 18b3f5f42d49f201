package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A server killed between a claim's commit and its answer (weft serve's
// WEFT_FAILPOINT=after-claim-commit) leaves the claimed tasks leased to a
// worker that never got them. After a restart each comes back when its
// lease lapses (the crash block's heartbeat timeout, 2s), is worked as a
// new attempt, and every run finishes with nothing lost and no step
// recorded twice.
func TestCrashAfterClaimCommitSQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	claimCrashTest(t, filepath.Join(dir, "weft.db"), filepath.Join(dir, "server.log"))
}

func TestCrashAfterClaimCommitPostgres(t *testing.T) {
	t.Parallel()
	claimCrashTest(t, pgDatabase(t), filepath.Join(t.TempDir(), "server.log"))
}

func claimCrashTest(t *testing.T, db, logPath string) {
	const runs = 20
	srv := startServe(t, db, freeAddr(t), logPath)
	a := newAPI(srv.url())
	deployCrashFlow(t, a)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ids := make([]string, runs)
	for i := range ids {
		var r run
		if err := a.do(ctx, "POST", "/api/v1/flows/crash/runs", map[string]any{"input": map[string]any{"n": i}}, &r); err != nil {
			t.Fatalf("start run %d: %v", i, err)
		}
		ids[i] = r.ID
	}

	// Restart with the failpoint armed, then let the workers poll: the
	// first claim kills the server.
	srv.stop()
	srv.env = []string{"WEFT_FAILPOINT=after-claim-commit"}
	srv.start()
	w := &workerPool{bases: []string{srv.url()}, queues: []string{"t.add"}, handle: addWorker}
	w.start(ctx, 4)
	defer w.wg.Wait()
	defer cancel()
	if !srv.exited(30 * time.Second) {
		t.Fatalf("the server did not kill itself at its first claim\n%s", tail(logPath))
	}
	lost := claimedAtDeath(t, logPath)
	if len(lost) == 0 {
		t.Fatalf("the server died without logging the tasks of its claim\n%s", tail(logPath))
	}
	if n := w.done.Load(); n != 0 {
		t.Fatalf("%d completions were acknowledged by a server that died at its first claim", n)
	}
	srv.env = nil
	srv.start()

	waitFor(t, 2*time.Minute, "every run to finish", func() (bool, string) {
		var page struct {
			Runs []run `json:"runs"`
		}
		if err := a.do(ctx, "GET", "/api/v1/runs?flow=crash&status=succeeded&limit=500", nil, &page); err != nil {
			return false, err.Error()
		}
		return len(page.Runs) == runs, fmt.Sprintf("%d of %d succeeded", len(page.Runs), runs)
	})
	checkCrashRuns(t, a, ids, w)
	// Each task of the lost answer was delivered again, as a later attempt
	// after its lease lapsed.
	for _, l := range lost {
		var r run
		if err := a.do(ctx, "GET", "/api/v1/runs/"+l.runID, nil, &r); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, s := range r.Steps {
			if s.Path == l.step {
				found = true
				if s.Status != "succeeded" || s.Attempt <= l.attempt {
					t.Errorf("run %s step %s: %s at attempt %d, want succeeded at an attempt after %d (redelivered)", l.runID, l.step, s.Status, s.Attempt, l.attempt)
				}
			}
		}
		if !found {
			t.Errorf("run %s has no step %s", l.runID, l.step)
		}
	}
	t.Logf("%d tasks claimed as the server died were redelivered; %d runs succeeded once each", len(lost), runs)
}

type lostTask struct {
	runID, step string
	attempt     int
}

var failpointLine = regexp.MustCompile(`failpoint after-claim-commit: killing the process.* run_id=(\S+) step=(\S+) attempt=(\d+)`)

// claimedAtDeath reads the tasks the failpoint logged before the kill.
func claimedAtDeath(t *testing.T, logPath string) []lostTask {
	t.Helper()
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	var out []lostTask
	for _, line := range strings.Split(string(b), "\n") {
		if m := failpointLine.FindStringSubmatch(line); m != nil {
			var n int
			fmt.Sscan(m[3], &n)
			out = append(out, lostTask{runID: m[1], step: strings.Trim(m[2], `"`), attempt: n})
		}
	}
	return out
}
