// Package jsoncheck is the shared machinery behind block and flow
// validation: the ValidationError type, a scanner that maps JSON pointers to
// line:col in the uploaded text, and the translation of JSON Schema errors
// into plain English.
package jsoncheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ValidationError is one problem in a blueprint or block definition.
// Line and Col are 1-based and zero when the uploaded text is not known.
type ValidationError struct {
	Pointer string `json:"path"`
	Msg     string `json:"message"`
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"column,omitempty"`
}

func (e *ValidationError) Error() string {
	ptr := e.Pointer
	if ptr == "" {
		ptr = "/"
	}
	if e.Line > 0 {
		return fmt.Sprintf("%d:%d %s: %s", e.Line, e.Col, ptr, e.Msg)
	}
	return fmt.Sprintf("%s: %s", ptr, e.Msg)
}

// Problems unpacks an error returned by a Parse function into its
// validation errors, in order.
func Problems(err error) []*ValidationError {
	var out []*ValidationError
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if ve, ok := err.(*ValidationError); ok {
			out = append(out, ve)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var ve *ValidationError
		if errors.As(err, &ve) {
			out = append(out, ve)
		}
	}
	walk(err)
	return out
}

// Join sorts errs by position (line, then pointer), drops exact duplicates
// and joins them. It returns nil for no errors.
func Join(errs []*ValidationError) error {
	if len(errs) == 0 {
		return nil
	}
	sort.SliceStable(errs, func(i, j int) bool {
		a, b := errs[i], errs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		return a.Pointer < b.Pointer
	})
	out := make([]error, 0, len(errs))
	seen := map[string]bool{}
	for _, e := range errs {
		k := e.Pointer + "\x00" + e.Msg
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, e)
	}
	return errors.Join(out...)
}

// Escape escapes one JSON pointer segment (RFC 6901).
func Escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// Split splits a JSON pointer into unescaped segments.
func Split(ptr string) []string {
	if ptr == "" {
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(ptr, "/"), "/")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
	}
	return parts
}

// Index maps JSON pointers of a document to positions in its text. Object
// members are located at their key, array elements at their first byte.
type Index struct {
	data       []byte
	pos        map[string]int
	keys       map[string][]string
	lineStarts []int
	dups       []dup
}

type dup struct {
	ptr string
	off int
}

// NewIndex scans data. If data is not valid JSON it returns a
// *ValidationError that names the line and column of the problem.
func NewIndex(data []byte) (*Index, error) {
	ix := &Index{data: data, pos: map[string]int{}, keys: map[string][]string{}}
	ix.lineStarts = append(ix.lineStarts, 0)
	for i, c := range data {
		if c == '\n' {
			ix.lineStarts = append(ix.lineStarts, i+1)
		}
	}
	if p := CheckText(data); p != nil {
		ve := &ValidationError{Msg: p.Msg}
		ve.Line, ve.Col = ix.lineCol(p.Offset)
		return ix, ve
	}
	if err := syntaxCheck(data); err != nil {
		var off int64 = -1
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		msg := err.Error()
		switch {
		case errors.As(err, &se):
			off = se.Offset
			msg = se.Error()
		case errors.As(err, &te):
			off = te.Offset
		}
		ve := &ValidationError{Msg: "not valid JSON: " + msg + "; fix the syntax at this position"}
		if off >= 0 {
			if off > 0 && int(off) <= len(data) {
				off-- // the offset is just past the bad byte
			}
			ve.Line, ve.Col = ix.lineCol(int(off))
		}
		return ix, ve
	}
	s := &scanner{data: data, ix: ix}
	s.skip()
	s.value("")
	return ix, nil
}

func syntaxCheck(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		if len(strings.TrimSpace(string(data))) == 0 {
			return errors.New("the document is empty")
		}
		return err
	}
	return nil
}

// Pos returns the 1-based line and column of ptr, or of its nearest
// ancestor present in the text. It returns 0, 0 without text.
func (ix *Index) Pos(ptr string) (line, col int) {
	if ix == nil || len(ix.data) == 0 {
		return 0, 0
	}
	for {
		if off, ok := ix.pos[ptr]; ok {
			return ix.lineCol(off)
		}
		if ptr == "" {
			return ix.lineCol(0)
		}
		i := strings.LastIndexByte(ptr, '/')
		if i < 0 {
			ptr = ""
		} else {
			ptr = ptr[:i]
		}
	}
}

// Has reports whether ptr names a value present in the text.
func (ix *Index) Has(ptr string) bool {
	if ix == nil {
		return false
	}
	_, ok := ix.pos[ptr]
	return ok
}

// DuplicateKeys reports every key that appears twice in one object, at
// its second occurrence.
func (ix *Index) DuplicateKeys() []*ValidationError {
	var out []*ValidationError
	for _, d := range ix.dups {
		line, col := ix.lineCol(d.off)
		out = append(out, &ValidationError{Pointer: d.ptr, Msg: "key appears twice in this object; keep one", Line: line, Col: col})
	}
	return out
}

// Keys lists the keys of the object at ptr in text order (nil when ptr is
// not an object in the text).
func (ix *Index) Keys(ptr string) []string {
	if ix == nil {
		return nil
	}
	return ix.keys[ptr]
}

// Locate fills Line and Col of each error from its pointer.
func (ix *Index) Locate(errs []*ValidationError) {
	for _, e := range errs {
		if e.Line == 0 {
			e.Line, e.Col = ix.Pos(e.Pointer)
		}
	}
}

func (ix *Index) lineCol(off int) (int, int) {
	if off > len(ix.data) {
		off = len(ix.data)
	}
	i := sort.Search(len(ix.lineStarts), func(i int) bool { return ix.lineStarts[i] > off }) - 1
	if i < 0 {
		i = 0
	}
	start := ix.lineStarts[i]
	return i + 1, utf8.RuneCount(ix.data[start:off]) + 1
}

// scanner walks text already known to be valid JSON.
type scanner struct {
	data []byte
	i    int
	ix   *Index
}

func (s *scanner) skip() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) value(ptr string) {
	if _, ok := s.ix.pos[ptr]; !ok {
		s.ix.pos[ptr] = s.i
	}
	if s.i >= len(s.data) {
		return
	}
	switch s.data[s.i] {
	case '{':
		s.i++
		seen := map[string]bool{}
		for {
			s.skip()
			if s.i >= len(s.data) || s.data[s.i] == '}' {
				s.i++
				return
			}
			if s.data[s.i] == ',' {
				s.i++
				continue
			}
			keyStart := s.i
			key := s.str()
			p := ptr + "/" + Escape(key)
			if seen[key] {
				s.ix.dups = append(s.ix.dups, dup{p, keyStart})
			} else {
				s.ix.pos[p] = keyStart
				s.ix.keys[ptr] = append(s.ix.keys[ptr], key)
			}
			seen[key] = true
			s.skip()
			s.i++ // ':'
			s.skip()
			s.value(p)
		}
	case '[':
		s.i++
		n := 0
		for {
			s.skip()
			if s.i >= len(s.data) || s.data[s.i] == ']' {
				s.i++
				return
			}
			if s.data[s.i] == ',' {
				s.i++
				continue
			}
			s.value(ptr + "/" + strconv.Itoa(n))
			n++
		}
	case '"':
		s.str()
	default:
		for s.i < len(s.data) {
			switch s.data[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return
			}
			s.i++
		}
	}
}

// str consumes a string token and returns its decoded value.
func (s *scanner) str() string {
	start := s.i
	s.i++
	escaped := false
	for s.i < len(s.data) {
		c := s.data[s.i]
		s.i++
		if c == '\\' {
			escaped = true
			s.i++
			continue
		}
		if c == '"' {
			break
		}
	}
	raw := s.data[start:min(s.i, len(s.data))]
	if !escaped {
		return string(raw[1 : len(raw)-1])
	}
	var out string
	if err := json.Unmarshal(raw, &out); err != nil {
		return string(raw)
	}
	return out
}

// Prune removes from the document every value the given errors point at
// (except the root and the objects that merely miss a key) and returns the
// re-encoded text, so the rest can still be decoded into Go types and
// checked further.
func Prune(data []byte, errs []*ValidationError) ([]byte, error) {
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	for _, e := range errs {
		if e.Pointer == "" || strings.HasPrefix(e.Msg, "missing required key") {
			continue
		}
		segs := Split(e.Pointer)
		if len(segs) == 0 {
			continue
		}
		var parent any = doc
		for _, s := range segs[:len(segs)-1] {
			parent = step(parent, s)
		}
		last := segs[len(segs)-1]
		switch p := parent.(type) {
		case map[string]any:
			delete(p, last)
		case []any:
			if i, err := strconv.Atoi(last); err == nil && i >= 0 && i < len(p) {
				p[i] = nil
			}
		}
	}
	return json.Marshal(doc)
}

func step(v any, seg string) any {
	switch t := v.(type) {
	case map[string]any:
		return t[seg]
	case []any:
		if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(t) {
			return t[i]
		}
	}
	return nil
}
