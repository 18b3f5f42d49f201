package engine

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"

	"github.com/weftlabs/weft/flows"
)

// scope is where a node is evaluated: the path prefix of its enclosing
// map/loop iterations and what they put in scope.
type scope struct {
	parent    *scope
	prefix    string
	item      any
	index     int
	hasItem   bool
	iteration int
	hasIter   bool
}

func (sc *scope) child(ref string, i int) *scope {
	return &scope{parent: sc, prefix: sc.prefix + ref + "[" + strconv.Itoa(i) + "].",
		item: sc.item, index: sc.index, hasItem: sc.hasItem, iteration: sc.iteration, hasIter: sc.hasIter}
}

func (d *decider) evalInput(n *flows.Node, v *flows.Value, sc *scope) (json.RawMessage, error) {
	if o, ok := d.run.Meta.Overrides[n.Ref]; ok && len(o) > 0 {
		return o, nil
	}
	if v == nil {
		return json.RawMessage("{}"), nil
	}
	x, err := v.Eval(d.env(v.Names(), sc))
	if err != nil {
		return nil, err
	}
	return json.Marshal(x)
}

// scopeOf rebuilds the scope of a step path such as each[2].score.
func (d *decider) scopeOf(path string) *scope {
	sc := &scope{}
	rest := path
	for {
		open := strings.IndexByte(rest, '[')
		dot := strings.IndexByte(rest, '.')
		if open < 0 || (dot >= 0 && dot < open) {
			return sc
		}
		close := strings.IndexByte(rest, ']')
		if close < open {
			return sc
		}
		ref := rest[:open]
		i, err := strconv.Atoi(rest[open+1 : close])
		if err != nil {
			return sc
		}
		ctl := d.steps[sc.prefix+ref]
		nsc := sc.child(ref, i)
		if ctl != nil && ctl.Type == flows.TypeMap && ctl.Control != nil {
			var items []any
			_ = json.Unmarshal(ctl.Control.Items, &items)
			if i < len(items) {
				nsc.item, nsc.index, nsc.hasItem = items[i], i, true
			}
		} else if ctl != nil && ctl.Type == flows.TypeLoop {
			nsc.iteration, nsc.hasIter = i, true
		}
		sc = nsc
		if close+2 > len(rest) {
			return sc
		}
		rest = rest[close+2:]
	}
}

// lookup finds the step a ref names from sc: the innermost iteration
// first, then outward; failing that, its latest instance anywhere.
func (d *decider) lookup(ref string, sc *scope) *Step {
	for s := sc; s != nil; s = s.parent {
		if st := d.steps[s.prefix+ref]; st != nil {
			return st
		}
	}
	d.wantAll()
	var best *Step
	for _, st := range d.steps {
		if st.Ref == ref && st.Type != typeCompensate && (best == nil || st.Seq > best.Seq) {
			best = st
		}
	}
	return best
}

// asList turns any slice or array an expression yields ([]any, []int,
// []string, ...) into []any.
func asList(v any) ([]any, bool) {
	if l, ok := v.([]any); ok {
		return l, true
	}
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || (rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array) {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}

func decodeJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	return v
}

// env builds the expression environment holding only names.
func (d *decider) env(names []string, sc *scope) map[string]any {
	env := make(map[string]any, len(names))
	for _, name := range names {
		switch name {
		case "flow":
			var errMsg any
			if d.run.Error != nil {
				errMsg = d.run.Error.Message
			}
			env["flow"] = map[string]any{"input": decodeJSON(d.run.Input), "run_id": d.run.ID, "name": d.run.Flow,
				"version": d.run.Version, "error": errMsg}
		case "item":
			env["item"] = sc.item
		case "index":
			env["index"] = sc.index
		case "iteration":
			env["iteration"] = sc.iteration
		default:
			st := d.lookup(name, sc)
			if st == nil {
				env[name] = map[string]any{"input": nil, "output": nil, "status": string(StepPending), "attempts": 0, "error": nil,
					"artifacts": map[string]any{}}
				continue
			}
			var e any
			if st.Error != nil {
				e = map[string]any{"message": st.Error.Message, "type": st.Error.Type}
			}
			env[name] = map[string]any{"input": decodeJSON(st.Input), "output": decodeJSON(st.Output), "status": string(st.Status),
				"attempts": st.Attempt, "error": e, "artifacts": artifactsEnv(st.Artifacts)}
		}
	}
	return env
}
