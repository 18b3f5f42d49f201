package engine

import (
	"bytes"
	"encoding/json"
	"sync"
)

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
	run   *Run   // the run's row at rev, without steps (nil: not kept)
	steps []Step // nil with run set: the steps are not kept
}

// cacheOp is one change to the cache: forget (rev 0), or the run's row
// and (unless nil) its steps at rev.
type cacheOp struct {
	runID string
	rev   int64
	run   *Run // the run's row at rev
	steps []Step
}

const maxCachedRuns = 256

func newStepCache() *stepCache { return &stepCache{runs: map[string]cachedSteps{}} }

// get returns the cached steps of run at rev. The caller must not modify
// them (advance copies what it changes).
func (c *stepCache) get(runID string, rev int64) ([]Step, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.runs[runID]
	if !ok || e.rev != rev || e.steps == nil {
		return nil, false
	}
	return e.steps, true
}

// getRun returns the run's row as this engine last committed it. Only a
// store with one writer (SQLite) may trust it; the save's rev guard
// still refuses it if anything else moved the run.
func (c *stepCache) getRun(runID string) (Run, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.runs[runID]
	if !ok || e.run == nil {
		return Run{}, false
	}
	return *e.run, true
}

// forget drops what is known of a run (at once: forgetting is always safe).
func (c *stepCache) forget(runID string) {
	c.mu.Lock()
	delete(c.runs, runID)
	c.mu.Unlock()
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
		default:
			if len(c.runs) >= maxCachedRuns {
				if _, ok := c.runs[op.runID]; !ok {
					clear(c.runs)
				}
			}
			var run *Run
			if op.run != nil {
				r := *op.run
				r.Steps, r.Rev = nil, op.rev
				run = &r
			}
			steps := op.steps
			if steps == nil && run == nil {
				delete(c.runs, op.runID)
				continue
			}
			c.runs[op.runID] = cachedSteps{rev: op.rev, run: run, steps: steps}
		}
	}
}

// itemsMemo keeps the decoded items of the maps this engine drives, so a
// report inside a map of thousands of items does not decode them all
// again. An entry is used only while the stored items are byte-equal.
type itemsMemo struct {
	mu sync.Mutex
	m  map[string]memoItems
}

type memoItems struct {
	raw   []byte
	items []any
}

const maxMemoMaps = 64

func newItemsMemo() *itemsMemo { return &itemsMemo{m: map[string]memoItems{}} }

// get returns st's map items (read only).
func (c *itemsMemo) get(runID string, st *Step) []any {
	if st.Control == nil {
		return nil
	}
	raw := st.Control.Items
	key := runID + "\x00" + st.Path
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && bytes.Equal(e.raw, raw) {
		return e.items
	}
	var items []any
	_ = json.Unmarshal(raw, &items)
	if len(raw) < 256 {
		return items // cheap to decode again
	}
	c.mu.Lock()
	if len(c.m) >= maxMemoMaps {
		clear(c.m)
	}
	c.m[key] = memoItems{raw: append([]byte(nil), raw...), items: items}
	c.mu.Unlock()
	return items
}
