package conductor

import (
	"errors"
	"sort"
	"strings"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/flows"
)

// overlay looks up the converted blocks first, then the stored ones.
type overlay struct {
	mem  *blocks.MemCatalog
	base blocks.Catalog
}

func (o overlay) Block(name string, version int) (*blocks.Definition, error) {
	d, err := o.mem.Block(name, version)
	if err == nil || o.base == nil {
		return d, err
	}
	return o.base.Block(name, version)
}

// Validate checks every converted block and blueprint the way an upload
// would, against the converted blocks and then cat (may be nil), and adds
// what fails to Problems, pointing into the Conductor document. It
// returns the parsed blocks to store: a block made without a task
// definition is left out when cat already has one of that name.
func (r *Result) Validate(cat blocks.Catalog) []*blocks.Definition {
	mem, _ := blocks.NewMemCatalog()
	var defs []*blocks.Definition
	bad := map[string]bool{}
	for _, b := range r.Blocks {
		if b.Default && cat != nil {
			if _, err := cat.Block(b.Name, 0); err == nil {
				continue
			}
		}
		d, err := blocks.Parse(b.JSON)
		if err != nil {
			for _, p := range blocks.Problems(err) {
				r.Problems = append(r.Problems, Problem{Source: b.Source, Pointer: b.Pointer, Message: "block " + b.Name + " (from " + b.From + ") " + p.Pointer + ": " + p.Msg})
			}
			if b.Flow == "" {
				r.Complete = nil // a shared block: every workflow may use it
			} else {
				bad[b.Flow] = true
			}
			continue
		}
		defs = append(defs, d)
		cp := *d
		_ = mem.Add(&cp)
	}
	cat2 := overlay{mem: mem, base: cat}
	for i := range r.Flows {
		f := &r.Flows[i]
		if f.broken {
			continue // its problems are reported; validating adds echoes
		}
		if _, err := flows.Parse(f.JSON, cat2); err != nil {
			bad[f.From] = true
			for _, p := range flows.Problems(err) {
				r.Problems = append(r.Problems, Problem{Source: f.Source, Pointer: f.conductorPointer(p.Pointer), Message: p.Msg + " (in the converted blueprint at " + p.Pointer + ")"})
			}
			if len(flows.Problems(err)) == 0 {
				r.Problems = append(r.Problems, Problem{Source: f.Source, Pointer: f.Base, Message: err.Error()})
			}
		}
	}
	r.locate()
	if len(bad) > 0 {
		var keep []string
		for _, n := range r.Complete {
			if !bad[n] {
				keep = append(keep, n)
			}
		}
		r.Complete = keep
	}
	return defs
}

// conductorPointer maps a pointer into the blueprint to the Conductor
// task it came from (with its inputParameters key when inside input).
func (f *Flow) conductorPointer(wp string) string {
	keys := make([]string, 0, len(f.ptrs))
	for k := range f.ptrs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		if wp == k || strings.HasPrefix(wp, k+"/") {
			rest := wp[len(k):]
			if in, ok := strings.CutPrefix(rest, "/input"); ok && k != "/output" {
				return f.ptrs[k] + "/inputParameters" + in
			}
			if k == "/output" {
				return f.ptrs[k] + rest
			}
			return f.ptrs[k]
		}
	}
	return f.Base
}

// Err is the import's problems as one error, nil when there are none.
func (r *Result) Err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	errs := make([]error, len(r.Problems))
	for i, p := range r.Problems {
		errs[i] = errors.New(p.String())
	}
	return errors.Join(errs...)
}

func newMem(defs []*blocks.Definition) (*blocks.MemCatalog, error) {
	mem, _ := blocks.NewMemCatalog()
	for _, d := range defs {
		cp := *d
		if err := mem.Add(&cp); err != nil {
			return nil, err
		}
	}
	return mem, nil
}
