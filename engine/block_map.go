package engine

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/weftlabs/weft/flows"
)

// A map runs its blocks once per item of a list, at most concurrency
// iterations at a time; its output is the list of their last outputs.
type mapBlock struct{}

func (mapBlock) start(d *decider, n *flows.Node, st *Step, sc *scope) {
	d.begin(st)
	v, err := n.ItemsProg.Eval(d.env(n.ItemsProg.Names(), sc))
	if err != nil {
		d.failStep(st, &ErrorInfo{Message: err.Error(), Type: "expression"})
		return
	}
	items, ok := asList(v)
	if !ok && v != nil {
		d.failStep(st, &ErrorInfo{Message: fmt.Sprintf("map %q: items must be a list, got %T", n.Ref, v), Type: "expression"})
		return
	}
	b, err := json.Marshal(items)
	if err != nil {
		d.failStep(st, &ErrorInfo{Message: "map items are not JSON: " + err.Error(), Type: "expression"})
		return
	}
	if items == nil {
		b = json.RawMessage("[]")
	}
	st.Input, _ = json.Marshal(map[string]any{"items": json.RawMessage(b)})
	st.Control = &StepControl{Items: b}
	st.Status = StepRunning
}

func (mapBlock) drive(d *decider, n *flows.Node, st *Step, sc *scope) { d.driveMap(n, st, sc) }
func (mapBlock) stop(*decider, *Step)                                 {}
func (mapBlock) finished(d *decider, st *Step)                        { d.setMapCount(st.Path, nil) }
func (mapBlock) control() bool                                        { return true }

// setMapCount records (nil: forgets) a running map's counters in the
// run's meta, copying the shared map first.
func (d *decider) setMapCount(path string, c *MapCount) {
	m := d.run.Meta
	if c == nil && m.Maps[path] == (MapCount{}) {
		if _, ok := m.Maps[path]; !ok {
			return
		}
	}
	if cur, ok := m.Maps[path]; ok && c != nil && cur == *c {
		return
	}
	if !d.mapsCopy {
		cp := make(map[string]MapCount, len(m.Maps)+1)
		for k, v := range m.Maps {
			cp[k] = v
		}
		m.Maps = cp
		d.mapsCopy = true
	}
	if c == nil {
		delete(m.Maps, path)
		if len(m.Maps) == 0 {
			m.Maps, d.mapsCopy = nil, false
		}
		return
	}
	m.Maps[path] = *c
}

func (d *decider) mapItems(st *Step) []any {
	if d.items != nil {
		return d.items(d.run.ID, st)
	}
	var items []any
	_ = json.Unmarshal(st.Control.Items, &items)
	return items
}

func (d *decider) driveMap(n *flows.Node, st *Step, sc *scope) {
	if d.partial != "" && sc.prefix == "" {
		if strings.HasPrefix(d.partial, n.Ref+"[") {
			d.driveMapPartial(n, st, sc)
		} else {
			d.needAll = true // another running map: its iterations are not loaded
		}
		return
	}
	items := d.mapItems(st)
	outs := make([]json.RawMessage, len(items))
	active, done := 0, 0
	// Started iterations normally form a prefix of the items (they start
	// in order); the counters let a later report decide on its own
	// iteration only (driveMapPartial).
	started, prefix := 0, true
	for i := range items {
		isc := sc.child(n.Ref, i)
		isc.item, isc.index, isc.hasItem = items[i], i, true
		wasStarted := len(n.Do) == 0 || d.steps[isc.prefix+n.Do[0].Ref] != nil
		if !wasStarted && n.Concurrency > 0 && active >= n.Concurrency {
			continue
		}
		res, out, e := d.seq(n.Do, isc)
		if started != i {
			prefix = false
		}
		started++
		switch res {
		case resDone:
			done++
			if len(out) == 0 {
				out = json.RawMessage("null")
			}
			outs[i] = out
		case resFailed:
			d.cancelUnder(n, st)
			d.failStep(st, e)
			return
		default:
			active++
		}
	}
	if done == len(items) {
		o, _ := json.Marshal(outs)
		if len(items) == 0 {
			o = json.RawMessage("[]")
		}
		d.succeed(st, o)
		return
	}
	c := MapCount{Started: started, Done: done}
	if !prefix {
		c.Started = -1
	}
	d.setMapCount(st.Path, &c)
}

// driveMapPartial drives a map from its counters and the one iteration
// loaded (d.partial): the reported iteration may finish, and items not
// yet started start while the concurrency allows.
func (d *decider) driveMapPartial(n *flows.Node, st *Step, sc *scope) {
	c, ok := d.run.Meta.Maps[st.Path]
	rest := strings.TrimPrefix(d.partial, n.Ref+"[")
	close := strings.IndexByte(rest, ']')
	if !ok || c.Started < 0 || close < 0 {
		d.needAll = true
		return
	}
	target, err := strconv.Atoi(rest[:close])
	if err != nil || target >= c.Started {
		d.needAll = true
		return
	}
	if d.mapSeen == nil {
		// The reported step was unfinished before this change, so its
		// iteration was not done yet.
		if from, ok := d.orig[d.target]; !ok || from.Finished() || !strings.HasPrefix(d.target, d.partial) {
			d.needAll = true
			return
		}
		d.mapSeen = map[int]result{target: resRunning}
	}
	items := d.mapItems(st)
	visit := func(k int) bool {
		isc := sc.child(n.Ref, k)
		isc.item, isc.index, isc.hasItem = items[k], k, true
		res, _, _ := d.seq(n.Do, isc)
		if d.needAll || res == resFailed {
			d.needAll = true
			return false
		}
		if res == resDone && d.mapSeen[k] != resDone {
			c.Done++
		}
		d.mapSeen[k] = res
		return true
	}
	ks := make([]int, 0, len(d.mapSeen))
	for k := range d.mapSeen {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	for _, k := range ks {
		if k >= len(items) || !visit(k) {
			d.needAll = true
			return
		}
	}
	for c.Started < len(items) && (n.Concurrency <= 0 || c.Started-c.Done < n.Concurrency) {
		k := c.Started
		c.Started++
		d.mapSeen[k] = resRunning
		if !visit(k) {
			return
		}
	}
	if c.Done >= len(items) {
		d.needAll = true // the map's output gathers every iteration
		return
	}
	d.setMapCount(st.Path, &c)
}
