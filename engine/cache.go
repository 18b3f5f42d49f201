package engine

import "sync"

// stepCache remembers the steps of runs this engine moved last, keyed by
// the run's rev, so a transition of a run with thousands of steps (a large
// map) need not read them all again. A rev that moved (another replica, an
// unseen write) misses and reads the database. Entries are committed
// state only: they are applied after the transaction commits.
type stepCache struct {
	mu   sync.Mutex
	runs map[string]cachedSteps
}

type cachedSteps struct {
	rev   int64
	steps []Step
}

// cacheOp is one change to the cache: forget (rev 0), replace all steps,
// or patch one step of the state at fromRev.
type cacheOp struct {
	runID   string
	fromRev int64
	rev     int64
	steps   []Step
	patch   *Step
}

const maxCachedRuns = 256

func newStepCache() *stepCache { return &stepCache{runs: map[string]cachedSteps{}} }

// get returns the cached steps of run at rev. The caller must not modify
// them (advance copies what it changes).
func (c *stepCache) get(runID string, rev int64) ([]Step, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.runs[runID]
	if !ok || e.rev != rev {
		return nil, false
	}
	return e.steps, true
}

func (c *stepCache) apply(ops []cacheOp) {
	if len(ops) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, op := range ops {
		switch {
		case op.rev == 0:
			delete(c.runs, op.runID)
		case op.patch != nil:
			e, ok := c.runs[op.runID]
			if !ok || e.rev != op.fromRev {
				delete(c.runs, op.runID)
				continue
			}
			steps := make([]Step, len(e.steps))
			copy(steps, e.steps)
			found := false
			for i := range steps {
				if steps[i].Path == op.patch.Path {
					steps[i] = *op.patch
					found = true
				}
			}
			if !found {
				delete(c.runs, op.runID)
				continue
			}
			c.runs[op.runID] = cachedSteps{rev: op.rev, steps: steps}
		default:
			if len(c.runs) >= maxCachedRuns {
				if _, ok := c.runs[op.runID]; !ok {
					clear(c.runs)
				}
			}
			c.runs[op.runID] = cachedSteps{rev: op.rev, steps: op.steps}
		}
	}
}
