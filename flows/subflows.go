package flows

import (
	"sort"
	"strconv"
	"strings"

	"github.com/weftlabs/weft/blocks/jsoncheck"
)

// MaxSubflowDepth is how deep subflows nest at run time: a run started by
// a subflow of a run that is already this deep fails instead.
const MaxSubflowDepth = 16

// FlowGetter returns a stored flow; version 0 is the latest. It returns
// (nil, nil) or an error for a flow that is not stored.
type FlowGetter func(name string, version int) (*Blueprint, error)

// Subflows lists the subflow blocks of bp in document order, nested ones
// included.
func (bp *Blueprint) Subflows() []*Node {
	var out []*Node
	var walk func([]*Node)
	walk = func(seq []*Node) {
		for _, n := range seq {
			if n == nil {
				continue
			}
			if n.Type == TypeSubflow && n.FlowName != "" {
				out = append(out, n)
			}
			walk(n.Catch)
			for _, b := range n.Branches {
				walk(b)
			}
			names := make([]string, 0, len(n.Cases))
			for k := range n.Cases {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				walk(n.Cases[k])
			}
			walk(n.Default)
			walk(n.Do)
		}
	}
	walk(bp.Blocks)
	walk(bp.OnFailure)
	return out
}

// CheckSubflowCycles refuses a blueprint that would start itself through
// the stored flows: A calls B, B calls A. Each subflow block that starts
// such a cycle gets one *ValidationError naming it (subflow cycle
// a → b → a) with its pointer and line:col. A subflow written without a
// version follows the latest stored version of that flow; with @N, that
// version. Flows that are not stored end the search (they fail at run
// time, when the subflow starts).
func CheckSubflowCycles(bp *Blueprint, get FlowGetter) error {
	if bp == nil || get == nil {
		return nil
	}
	type key struct {
		name    string
		version int
	}
	cache := map[key][]*Node{}
	edges := func(name string, version int) []*Node {
		k := key{name, version}
		if e, ok := cache[k]; ok {
			return e
		}
		var e []*Node
		if name != bp.Name {
			if child, err := get(name, version); err == nil && child != nil {
				e = child.Subflows()
			}
		} else if version == 0 || version == bp.Version {
			e = bp.Subflows()
		} else if child, err := get(name, version); err == nil && child != nil {
			e = child.Subflows()
		}
		cache[k] = e
		return e
	}
	var errs []*ValidationError
	for _, start := range bp.Subflows() {
		// Depth-first search from the subflow's flow back to bp.Name.
		seen := map[key]bool{}
		var path []string
		var found []string
		var dfs func(name string, version int) bool
		dfs = func(name string, version int) bool {
			label := name
			if version > 0 {
				label += "@" + strconv.Itoa(version)
			}
			path = append(path, label)
			defer func() { path = path[:len(path)-1] }()
			if name == bp.Name && (version == 0 || version == bp.Version) {
				found = append([]string{bp.Name}, path...)
				return true
			}
			k := key{name, version}
			if seen[k] {
				return false
			}
			seen[k] = true
			for _, n := range edges(name, version) {
				if dfs(n.FlowName, n.FlowVersion) {
					return true
				}
			}
			return false
		}
		if dfs(start.FlowName, start.FlowVersion) {
			errs = append(errs, &ValidationError{Pointer: start.Pointer + "/flow",
				Msg: "subflow cycle " + strings.Join(found, " → ") + ": a run of " + bp.Name +
					" would start itself again without end; break the cycle (call another flow, or pin a version that does not call back)"})
		}
	}
	if len(errs) == 0 {
		return nil
	}
	if ix, err := jsoncheck.NewIndex(bp.Raw); err == nil && len(bp.Raw) > 0 {
		ix.Locate(errs)
	}
	return jsoncheck.Join(errs)
}
