package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/flows"
	"github.com/weftlabs/weft/ui"
)

// uploadDoc is one definition of an upload: a flow or a block definition.
type uploadDoc struct {
	raw    []byte
	prefix string // its pointer in the upload when the upload is a JSON array ("/2")
	line   int    // for one of several documents one after another: where it starts (1-based)
	col    int
	isFlow bool
	def    *blocks.Definition
}

// splitUpload finds the definitions of an upload: one JSON object, a JSON
// array of them, or several objects one after another (as
// `python -m weft build` and `cat *.json` write them).
func splitUpload(text string) ([]uploadDoc, error) {
	trimmed := strings.TrimSpace(text)
	if strings.HasPrefix(trimmed, "[") {
		var list []json.RawMessage
		if err := json.Unmarshal([]byte(trimmed), &list); err != nil {
			return nil, err
		}
		out := make([]uploadDoc, len(list))
		for i, r := range list {
			out[i] = uploadDoc{raw: r, prefix: "/" + strconv.Itoa(i)}
		}
		return out, nil
	}
	dec := json.NewDecoder(strings.NewReader(text))
	var out []uploadDoc
	for {
		start := int(dec.InputOffset())
		var r json.RawMessage
		if err := dec.Decode(&r); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		rest := text[start:]
		at := start + len(rest) - len(strings.TrimLeft(rest, " \t\r\n"))
		line := 1 + strings.Count(text[:at], "\n")
		col := at - strings.LastIndex(text[:at], "\n")
		out = append(out, uploadDoc{raw: r, line: line, col: col})
	}
	if len(out) == 1 {
		out[0].line, out[0].col = 0, 0
	}
	return out, nil
}

// classify tells a flow (it has "blocks") from a block definition (it has
// "dispatch", or none of a flow's keys).
func (d *uploadDoc) classify() {
	var head map[string]json.RawMessage
	if json.Unmarshal(d.raw, &head) != nil {
		d.isFlow = true // the flow parser names the problem
		return
	}
	_, blocksKey := head["blocks"]
	_, dispatch := head["dispatch"]
	d.isFlow = blocksKey || !dispatch
}

// place gives a document's problems their pointer and line in the upload.
func (d *uploadDoc) place(ps []*flows.ValidationError) []*flows.ValidationError {
	var lines map[string][2]int
	out := make([]*flows.ValidationError, len(ps))
	for i, p := range ps {
		c := *p
		if d.line > 0 {
			if c.Line == 0 {
				if lines == nil {
					lines = ui.PointerLines(d.raw)
				}
				c.Line, c.Col = ui.LocatePointer(lines, c.Pointer)
			}
			if c.Line == 1 {
				c.Col += d.col - 1
			}
			c.Line += d.line - 1
		} else if d.prefix != "" {
			c.Pointer = d.prefix + c.Pointer
			c.Line, c.Col = 0, 0
		}
		out[i] = &c
	}
	return out
}

// overlay is the stored catalog with the block definitions of an upload
// on top, so that its flows validate against them before anything is
// stored.
type overlay struct {
	base Catalog
	defs map[string]*blocks.Definition
}

func (o overlay) Block(name string, version int) (*blocks.Definition, error) {
	if d, ok := o.defs[name]; ok && (version == 0 || version == d.Version) {
		return d, nil
	}
	return o.base.Block(name, version)
}

func (o overlay) Names() []string {
	var out []string
	if l, ok := o.base.(interface{ Names() []string }); ok {
		out = l.Names()
	}
	for n := range o.defs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// upload validates every definition of text and stores them all (blocks
// first), or stores nothing and returns every problem.
func (s *Server) upload(ctx context.Context, text string) ([]ui.UploadResult, []*flows.ValidationError, error) {
	docs, err := splitUpload(text)
	if err != nil || len(docs) == 0 {
		// One broken document: the flow parser says where.
		docs = []uploadDoc{{raw: []byte(text), isFlow: true}}
	} else {
		for i := range docs {
			docs[i].classify()
		}
	}
	var problems []*flows.ValidationError
	ov := overlay{base: s.deps.Catalog, defs: map[string]*blocks.Definition{}}
	for i := range docs {
		d := &docs[i]
		if d.isFlow {
			continue
		}
		def, err := blocks.Parse(d.raw)
		if err != nil {
			problems = append(problems, d.place(problemsOf(err))...)
			continue
		}
		if ps := s.checkBlock(ctx, def); len(ps) > 0 {
			problems = append(problems, d.place(ps)...)
			continue
		}
		d.def = def
		shadow := *def
		if shadow.Version == 0 {
			vs, _ := s.deps.Catalog.BlockVersions(ctx, def.Name)
			for _, v := range vs {
				shadow.Version = max(shadow.Version, v)
			}
			shadow.Version++
		}
		ov.defs[def.Name] = &shadow
	}
	for i := range docs {
		d := &docs[i]
		if !d.isFlow {
			continue
		}
		if _, err := flows.ParseWith(d.raw, ov, s.parseOptions()); err != nil {
			problems = append(problems, d.place(problemsOf(err))...)
		}
	}
	if len(problems) > 0 {
		return nil, problems, nil
	}
	var out []ui.UploadResult
	for _, d := range docs {
		if d.isFlow {
			continue
		}
		res, err := s.storeBlock(ctx, d)
		if err != nil {
			return out, d.place([]*flows.ValidationError{{Pointer: "/version", Msg: err.Error()}}), nil
		}
		out = append(out, res)
	}
	for _, d := range docs {
		if !d.isFlow {
			continue
		}
		res, ps, err := s.storeFlow(ctx, d)
		if err != nil || len(ps) > 0 {
			return out, d.place(ps), err
		}
		out = append(out, res)
	}
	return out, nil, nil
}

func problemsOf(err error) []*flows.ValidationError {
	ps := flows.Problems(err)
	if len(ps) == 0 {
		ps = []*flows.ValidationError{{Msg: err.Error()}}
	}
	return ps
}

var errVersionTaken = errors.New("version already exists with different content; leave out version to store the next one")

func (s *Server) storeBlock(ctx context.Context, d uploadDoc) (ui.UploadResult, error) {
	prev := 0
	vs, _ := s.deps.Catalog.BlockVersions(ctx, d.def.Name)
	for _, v := range vs {
		prev = max(prev, v)
	}
	v, created, err := s.deps.Catalog.PutBlock(ctx, d.def, d.raw)
	if errors.Is(err, engine.ErrConflict) {
		return ui.UploadResult{}, fmt.Errorf("block %s version %d: %w", d.def.Name, d.def.Version, errVersionTaken)
	}
	if err != nil {
		return ui.UploadResult{}, err
	}
	res := ui.UploadResult{Kind: "block", Name: d.def.Name, Version: v, Created: created}
	if created && prev > 0 && prev != v {
		if _, old, err := s.deps.Catalog.GetBlock(ctx, d.def.Name, prev); err == nil {
			res.SetDiff(prev, ui.Diff(ui.PrettyJSON(old), ui.PrettyJSON(d.raw)))
		}
	}
	return res, nil
}

func (s *Server) storeFlow(ctx context.Context, d uploadDoc) (ui.UploadResult, []*flows.ValidationError, error) {
	bp, err := flows.ParseWith(d.raw, s.deps.Catalog, s.parseOptions())
	if err != nil {
		return ui.UploadResult{}, problemsOf(err), nil
	}
	prev := 0
	vs, _ := s.deps.Catalog.FlowVersions(ctx, bp.Name)
	for _, v := range vs {
		prev = max(prev, v)
	}
	v, created, err := s.deps.Catalog.PutFlow(ctx, bp)
	if errors.Is(err, engine.ErrConflict) {
		return ui.UploadResult{}, []*flows.ValidationError{{Pointer: "/version",
			Msg: "version " + strconv.Itoa(bp.Version) + " already exists with different content; leave out version to store the next one"}}, nil
	}
	if err != nil {
		return ui.UploadResult{}, nil, err
	}
	res := ui.UploadResult{Kind: "flow", Name: bp.Name, Version: v, Created: created}
	if created && prev > 0 && prev != v {
		if old, err := s.deps.Catalog.GetFlow(ctx, bp.Name, prev); err == nil {
			res.SetDiff(prev, ui.Diff(ui.PrettyJSON(old.Raw), ui.PrettyJSON(bytes.TrimSpace(d.raw))))
		}
	}
	return res, nil, nil
}
