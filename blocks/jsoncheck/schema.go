package jsoncheck

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/xeipuuv/gojsonschema"
)

// Schema is a compiled JSON Schema together with its source, which is used
// to name the keys allowed where an unknown key was found.
type Schema struct {
	compiled *gojsonschema.Schema
	doc      map[string]any
	// Patterns maps a "pattern" of the schema to the explanation shown when
	// a value does not match it ("%s" receives the value).
	Patterns map[string]string
}

// MustCompile compiles one of the schemas shipped in the binary; it panics
// when the schema is broken, which a test catches.
func MustCompile(src []byte, patterns map[string]string) *Schema {
	s, err := Compile(src)
	if err != nil {
		panic(fmt.Sprintf("jsoncheck: shipped schema does not compile: %v", err))
	}
	s.Patterns = patterns
	return s
}

// Compile compiles a schema document. It does not load remote references;
// check user schemas with LocalRefsOnly first.
func Compile(src []byte) (s *Schema, err error) {
	// The compiler asserts types it only half checked ({"type": [-1]}
	// panicked); SchemaShape catches those first, this catches the rest.
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("the schema cannot be compiled: %v", r)
		}
	}()
	var doc map[string]any
	if err := json.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	c, err := gojsonschema.NewSchemaLoader().Compile(gojsonschema.NewBytesLoader(src))
	if err != nil {
		return nil, err
	}
	return &Schema{compiled: c, doc: doc}, nil
}

// Validate checks data (JSON text) against the schema and returns its
// problems, rooted at prefix (a JSON pointer), in plain English.
func (s *Schema) Validate(data []byte, prefix string) (errs []*ValidationError) {
	defer func() {
		if r := recover(); r != nil {
			errs = []*ValidationError{{Pointer: prefix, Msg: fmt.Sprintf("cannot validate against this schema: %v", r)}}
		}
	}()
	res, err := s.compiled.Validate(gojsonschema.NewBytesLoader(data))
	if err != nil {
		return []*ValidationError{{Pointer: prefix, Msg: "cannot validate: " + err.Error()}}
	}
	return s.translate(res, prefix)
}

// ValidateValue checks a decoded Go value against the schema.
func (s *Schema) ValidateValue(v any, prefix string) []*ValidationError {
	b, err := json.Marshal(v)
	if err != nil {
		return []*ValidationError{{Pointer: prefix, Msg: "value is not JSON: " + err.Error()}}
	}
	return s.Validate(b, prefix)
}

var aggregates = map[string]bool{
	"number_one_of": true, "number_any_of": true, "number_all_of": true,
	"condition_then": true, "condition_else": true,
}

func (s *Schema) translate(res *gojsonschema.Result, prefix string) []*ValidationError {
	var out, agg []*ValidationError
	for _, re := range res.Errors() {
		ptr := prefix + contextPointer(re.Context())
		d := re.Details()
		var msg string
		switch re.Type() {
		case "additional_property_not_allowed":
			prop := fmt.Sprint(d["property"])
			known := s.KnownKeys(strings.TrimPrefix(ptr, prefix))
			ptr += "/" + Escape(prop)
			msg = fmt.Sprintf("unknown key %q", prop) + Suggest(prop, known)
		case "required":
			msg = fmt.Sprintf("missing required key %q", fmt.Sprint(d["property"]))
		case "invalid_type":
			msg = fmt.Sprintf("must be %s, not %s", article(fmt.Sprint(d["expected"])), article(fmt.Sprint(d["given"])))
		case "enum":
			msg = fmt.Sprintf("must be one of %s, not %s", fmt.Sprint(d["allowed"]), show(re.Value()))
			if str, ok := re.Value().(string); ok {
				if hint := Suggest(str, strings.Split(strings.ReplaceAll(fmt.Sprint(d["allowed"]), `"`, ""), ", ")); strings.HasPrefix(hint, " (did") {
					msg += hint
				}
			}
		case "const":
			msg = fmt.Sprintf("must be %v", d["allowed"])
		case "pattern":
			p := fmt.Sprint(d["pattern"])
			if expl, ok := s.Patterns[p]; ok {
				msg = fmt.Sprintf(expl, re.Value())
			} else {
				msg = fmt.Sprintf("%s does not match the pattern %s", show(re.Value()), p)
			}
		case "string_gte":
			if fmt.Sprint(d["min"]) == "1" {
				msg = "must not be empty"
			} else {
				msg = fmt.Sprintf("must be at least %v characters long", d["min"])
			}
		case "string_lte":
			msg = fmt.Sprintf("must be at most %v characters long", d["max"])
		case "number_gte":
			msg = fmt.Sprintf("must be at least %v, not %v", d["min"], re.Value())
		case "number_gt":
			msg = fmt.Sprintf("must be greater than %v, not %v", d["min"], re.Value())
		case "number_lte":
			msg = fmt.Sprintf("must be at most %v, not %v", d["max"], re.Value())
		case "number_lt":
			msg = fmt.Sprintf("must be less than %v, not %v", d["max"], re.Value())
		case "array_min_items":
			msg = fmt.Sprintf("must hold at least %v item(s)", d["min"])
		case "array_max_items":
			msg = fmt.Sprintf("must hold at most %v item(s)", d["max"])
		case "array_min_properties":
			msg = fmt.Sprintf("must hold at least %v key(s)", d["min"])
		case "array_max_properties":
			msg = fmt.Sprintf("must hold at most %v key(s)", d["max"])
		case "unique":
			msg = "items must be unique"
		case "false":
			msg = "is not allowed here"
		case "invalid_property_name":
			msg = fmt.Sprintf("invalid key %v", d["property"])
		default:
			msg = re.Description()
		}
		ve := &ValidationError{Pointer: ptr, Msg: msg}
		if aggregates[re.Type()] {
			agg = append(agg, ve)
			continue
		}
		out = append(out, ve)
	}
	// An aggregate (oneOf, if/then) only matters when nothing more precise
	// was said about the same value or below it.
	for _, a := range agg {
		covered := false
		for _, e := range out {
			if e.Pointer == a.Pointer || strings.HasPrefix(e.Pointer, a.Pointer+"/") {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, a)
		}
	}
	return out
}

func contextPointer(c *gojsonschema.JsonContext) string {
	if c == nil {
		return ""
	}
	parts := strings.Split(c.String("\x00"), "\x00")
	var b strings.Builder
	for i, p := range parts {
		if i == 0 && p == "(root)" {
			continue
		}
		b.WriteString("/")
		b.WriteString(Escape(p))
	}
	return b.String()
}

func article(t string) string {
	t = strings.Trim(t, "[]")
	if strings.Contains(t, ",") {
		parts := strings.Split(t, ",")
		for i, p := range parts {
			parts[i] = article(strings.TrimSpace(p))
		}
		return strings.Join(parts, " or ")
	}
	switch t {
	case "null":
		return "null"
	case "object", "array", "integer":
		return "an " + t
	}
	return "a " + t
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil || len(b) > 80 {
		return fmt.Sprint(v)
	}
	return string(b)
}

// KnownKeys lists the keys the schema declares for the object at ptr (a
// pointer into the validated document), sorted.
func (s *Schema) KnownKeys(ptr string) []string {
	node := s.resolve(s.doc)
	for _, seg := range Split(ptr) {
		node = s.child(node, seg)
		if node == nil {
			return nil
		}
	}
	var keys []string
	for _, sub := range s.branches(node) {
		if props, ok := sub["properties"].(map[string]any); ok {
			for k := range props {
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

func (s *Schema) resolve(n map[string]any) map[string]any {
	for i := 0; n != nil && i < 16; i++ {
		ref, ok := n["$ref"].(string)
		if !ok || !strings.HasPrefix(ref, "#") {
			return n
		}
		var cur any = s.doc
		for _, seg := range Split(strings.TrimPrefix(ref, "#")) {
			m, _ := cur.(map[string]any)
			cur = m[seg]
		}
		n, _ = cur.(map[string]any)
	}
	return n
}

// branches returns n and the schemas reachable through allOf/anyOf/oneOf.
func (s *Schema) branches(n map[string]any) []map[string]any {
	n = s.resolve(n)
	if n == nil {
		return nil
	}
	out := []map[string]any{n}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		if list, ok := n[k].([]any); ok {
			for _, e := range list {
				if m, ok := e.(map[string]any); ok {
					out = append(out, s.branches(m)...)
				}
			}
		}
	}
	return out
}

func (s *Schema) child(n map[string]any, seg string) map[string]any {
	for _, b := range s.branches(n) {
		if props, ok := b["properties"].(map[string]any); ok {
			if c, ok := props[seg].(map[string]any); ok {
				return s.resolve(c)
			}
		}
		if c, ok := b["items"].(map[string]any); ok && isIndex(seg) {
			return s.resolve(c)
		}
		if c, ok := b["additionalProperties"].(map[string]any); ok {
			return s.resolve(c)
		}
	}
	return nil
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Suggest returns ` (did you mean "x"?)` for the closest candidate, or a
// list of allowed keys when none is close, or "" without candidates.
func Suggest(got string, candidates []string) string {
	for _, want := range synonyms[strings.ToLower(got)] {
		for _, c := range candidates {
			if c == want {
				return fmt.Sprintf(" (did you mean %q?)", c)
			}
		}
	}
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if len(got) >= 2 && strings.HasPrefix(strings.ToLower(c), strings.ToLower(got)) {
			return fmt.Sprintf(" (did you mean %q?)", c)
		}
		if d := distance(strings.ToLower(got), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	if bestD <= 2 || (bestD <= len(got)/3) {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	if len(candidates) > 24 {
		return ""
	}
	return "; allowed here: " + strings.Join(candidates, ", ")
}

// synonyms are the words other workflow tools use for a key, by the keys
// they mean here (the first one allowed where the word was written wins):
// spelling distance alone would take "id" for "do".
var synonyms = map[string][]string{
	"id":         {"ref", "name"},
	"key":        {"ref", "name"},
	"step":       {"ref"},
	"uses":       {"block"},
	"task":       {"block"},
	"params":     {"input"},
	"parameters": {"input"},
	"inputs":     {"input", "input_schema"},
	"with":       {"input"},
	"steps":      {"blocks", "do"},
	"tasks":      {"blocks"},
	"needs":      {"depends_on"},
	"after":      {"depends_on"},
	"condition":  {"expr"},
	"when":       {"expr"},
}

// distance is the Damerau (optimal string alignment) edit distance.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 1 << 20
	}
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// LocalRefsOnly reports every "$ref" inside a user-supplied schema that is
// not local ("#..."), and every "$schema" that is not a known draft, so
// compiling it never reaches the network.
func LocalRefsOnly(v any, ptr string) []*ValidationError {
	var out []*ValidationError
	var walk func(v any, ptr string)
	walk = func(v any, ptr string) {
		switch t := v.(type) {
		case map[string]any:
			for k, e := range t {
				p := ptr + "/" + Escape(k)
				switch k {
				case "$ref":
					if s, ok := e.(string); !ok || !strings.HasPrefix(s, "#") {
						out = append(out, &ValidationError{Pointer: p, Msg: fmt.Sprintf("remote $ref %s is not allowed; define the schema inline or under \"definitions\" and refer to it as \"#/definitions/name\"", show(e))})
					} else if s != "#" && !strings.HasPrefix(s, "#/") {
						out = append(out, &ValidationError{Pointer: p, Msg: fmt.Sprintf("$ref %s is not a JSON pointer; write it as \"#/definitions/name\"", show(e))})
					}
				case "$id", "id":
					if _, ok := e.(string); ok {
						out = append(out, &ValidationError{Pointer: p, Msg: fmt.Sprintf("%s is not supported in Weft schemas (it changes how $ref resolves); remove it", k)})
					}
				case "$schema":
					s, _ := e.(string)
					s = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://"), "#")
					switch s {
					case "json-schema.org/draft-04/schema", "json-schema.org/draft-06/schema", "json-schema.org/draft-07/schema":
					default:
						out = append(out, &ValidationError{Pointer: p, Msg: fmt.Sprintf("$schema %s is not supported; use \"http://json-schema.org/draft-07/schema#\" or leave it out", show(e))})
					}
				case "properties", "definitions", "patternProperties", "dependencies":
					// Keys below are names, not keywords.
					if m, ok := e.(map[string]any); ok {
						for name, sub := range m {
							walk(sub, p+"/"+Escape(name))
						}
						continue
					}
				case "enum", "const", "default", "examples":
					continue
				}
				walk(e, p)
			}
		case []any:
			for i, e := range t {
				walk(e, fmt.Sprintf("%s/%d", ptr, i))
			}
		}
	}
	walk(v, ptr)
	sort.Slice(out, func(i, j int) bool { return out[i].Pointer < out[j].Pointer })
	return out
}

// RefCycles reports a user schema that applies itself to the same value
// in a loop ({"$ref": "#"}, or definitions whose $ref, allOf, anyOf,
// oneOf, not, if/then/else chain back to themselves): validating with it
// would never end. ptr is where the schema sits in its document.
func RefCycles(schema any, ptr string) []*ValidationError {
	state := map[string]int{} // 1 on the path, 2 done
	var cycleAt string
	var visit func(p string, node any) bool
	visit = func(p string, node any) bool {
		switch state[p] {
		case 1:
			cycleAt = p
			return true
		case 2:
			return false
		}
		state[p] = 1
		if m, ok := node.(map[string]any); ok {
			for _, e := range sameValueEdges(schema, m, p) {
				if visit(e.ptr, e.node) {
					return true
				}
			}
		}
		state[p] = 2
		return false
	}
	var all func(p string, node any) bool
	all = func(p string, node any) bool {
		switch t := node.(type) {
		case map[string]any:
			if visit(p, t) {
				return true
			}
			for k, v := range t {
				switch k {
				case "enum", "const", "default", "examples":
					continue
				}
				if all(p+"/"+Escape(k), v) {
					return true
				}
			}
		case []any:
			for i, v := range t {
				if all(p+"/"+strconv.Itoa(i), v) {
					return true
				}
			}
		}
		return false
	}
	if all("", schema) {
		at := "#" + cycleAt
		return []*ValidationError{{Pointer: ptr + cycleAt, Msg: fmt.Sprintf("the schema at %q refers back to itself without descending into the value ($ref, allOf, anyOf, oneOf, not or if/then/else in a loop); validating with it would never end", at)}}
	}
	return nil
}

type edge struct {
	ptr  string
	node any
}

func sameValueEdges(root any, m map[string]any, p string) []edge {
	var out []edge
	if ref, ok := m["$ref"].(string); ok && strings.HasPrefix(ref, "#") {
		target := strings.TrimPrefix(ref, "#")
		if u, err := url.PathUnescape(target); err == nil {
			target = u
		}
		var cur any = root
		canon := ""
		for _, seg := range Split(target) {
			cur = step(cur, seg)
			canon += "/" + Escape(seg)
		}
		if cur != nil {
			out = append(out, edge{canon, cur})
		}
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		if list, ok := m[k].([]any); ok {
			for i, v := range list {
				out = append(out, edge{p + "/" + k + "/" + strconv.Itoa(i), v})
			}
		}
	}
	for _, k := range []string{"not", "if", "then", "else"} {
		if v, ok := m[k].(map[string]any); ok {
			out = append(out, edge{p + "/" + k, v})
		}
	}
	if deps, ok := m["dependencies"].(map[string]any); ok {
		for k, v := range deps {
			if sub, ok := v.(map[string]any); ok {
				out = append(out, edge{p + "/dependencies/" + Escape(k), sub})
			}
		}
	}
	return out
}
