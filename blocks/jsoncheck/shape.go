package jsoncheck

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// simpleTypes are the values of a schema's "type".
var simpleTypes = map[string]bool{"array": true, "boolean": true, "integer": true, "null": true,
	"number": true, "object": true, "string": true}

// SchemaShape reports every keyword of a user-supplied JSON Schema whose
// value has the wrong JSON type ("type": [-1], "required": "a",
// "properties": []), each at its own pointer below ptr, and every local
// $ref whose target does not exist, at the $ref. The JSON Schema
// compiler is only handed schemas that pass: it reports such mistakes
// without saying where, or not at all.
func SchemaShape(v any, ptr string) []*ValidationError {
	w := &shapeWalker{root: v}
	w.schema(v, ptr, "")
	sort.SliceStable(w.out, func(i, j int) bool { return w.out[i].Pointer < w.out[j].Pointer })
	return w.out
}

type shapeWalker struct {
	root any
	out  []*ValidationError
}

func (w *shapeWalker) fail(ptr, format string, args ...any) {
	w.out = append(w.out, &ValidationError{Pointer: ptr, Msg: fmt.Sprintf(format, args...)})
}

// schema checks a value in a schema position; local is its pointer from
// the schema's root (for $ref targets).
func (w *shapeWalker) schema(v any, ptr, local string) {
	m, ok := v.(map[string]any)
	if !ok {
		if _, isBool := v.(bool); !isBool {
			w.fail(ptr, "a schema must be an object (or true/false), not %s", kind(v))
		}
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e := m[k]
		p := ptr + "/" + Escape(k)
		lp := local + "/" + Escape(k)
		switch k {
		case "type":
			w.typeKeyword(e, p)
		case "required":
			w.strings(e, p, k)
		case "enum":
			if a, ok := e.([]any); !ok || len(a) == 0 {
				w.fail(p, "\"enum\" must be a non-empty array of the allowed values, not %s", kind(e))
			}
		case "pattern", "format", "title", "description", "$comment", "contentMediaType", "contentEncoding":
			if _, ok := e.(string); !ok {
				w.fail(p, "%q must be a string, not %s", k, kind(e))
			}
		case "$ref":
			w.ref(e, p)
		case "$id", "id", "$schema":
			if _, ok := e.(string); !ok {
				w.fail(p, "%q must be a string, not %s", k, kind(e))
			}
		case "multipleOf", "maximum", "minimum":
			if !isNumber(e) {
				w.fail(p, "%q must be a number, not %s", k, kind(e))
			}
		case "exclusiveMaximum", "exclusiveMinimum":
			if _, ok := e.(bool); !ok && !isNumber(e) {
				w.fail(p, "%q must be a number, not %s", k, kind(e))
			}
		case "maxLength", "minLength", "maxItems", "minItems", "maxProperties", "minProperties":
			if !isCount(e) {
				w.fail(p, "%q must be a whole number of 0 or more, not %s", k, kind(e))
			}
		case "uniqueItems", "readOnly", "writeOnly":
			if _, ok := e.(bool); !ok {
				w.fail(p, "%q must be true or false, not %s", k, kind(e))
			}
		case "properties", "definitions", "patternProperties", "$defs":
			sub, ok := e.(map[string]any)
			if !ok {
				w.fail(p, "%q must be an object mapping names to schemas, not %s", k, kind(e))
				continue
			}
			for _, name := range sortedNames(sub) {
				w.schema(sub[name], p+"/"+Escape(name), lp+"/"+Escape(name))
			}
		case "dependencies":
			sub, ok := e.(map[string]any)
			if !ok {
				w.fail(p, "\"dependencies\" must be an object, not %s", kind(e))
				continue
			}
			for _, name := range sortedNames(sub) {
				dp := p + "/" + Escape(name)
				if a, ok := sub[name].([]any); ok {
					w.strings(a, dp, "dependencies/"+name)
				} else {
					w.schema(sub[name], dp, lp+"/"+Escape(name))
				}
			}
		case "items":
			if a, ok := e.([]any); ok {
				for i, s := range a {
					w.schema(s, p+"/"+strconv.Itoa(i), lp+"/"+strconv.Itoa(i))
				}
			} else {
				w.schema(e, p, lp)
			}
		case "additionalItems", "additionalProperties", "contains", "propertyNames", "not", "if", "then", "else":
			w.schema(e, p, lp)
		case "allOf", "anyOf", "oneOf":
			a, ok := e.([]any)
			if !ok || len(a) == 0 {
				w.fail(p, "%q must be a non-empty array of schemas, not %s", k, kind(e))
				continue
			}
			for i, s := range a {
				w.schema(s, p+"/"+strconv.Itoa(i), lp+"/"+strconv.Itoa(i))
			}
		}
	}
}

func (w *shapeWalker) typeKeyword(e any, p string) {
	switch t := e.(type) {
	case string:
		if !simpleTypes[t] {
			w.fail(p, "type %q is not a JSON Schema type; use one of array, boolean, integer, null, number, object, string", t)
		}
	case []any:
		if len(t) == 0 {
			w.fail(p, "\"type\" must name at least one type")
		}
		seen := map[string]bool{}
		for i, x := range t {
			s, ok := x.(string)
			ip := p + "/" + strconv.Itoa(i)
			switch {
			case !ok:
				w.fail(ip, "each entry of \"type\" must be a type name such as \"string\", not %s", kind(x))
			case !simpleTypes[s]:
				w.fail(ip, "type %q is not a JSON Schema type; use one of array, boolean, integer, null, number, object, string", s)
			case seen[s]:
				w.fail(ip, "type %q is listed twice", s)
			}
			seen[s] = true
		}
	default:
		w.fail(p, "\"type\" must be a type name such as \"string\" or an array of them, not %s", kind(e))
	}
}

func (w *shapeWalker) strings(e any, p, what string) {
	a, ok := e.([]any)
	if !ok {
		w.fail(p, "%q must be an array of property names, not %s", what, kind(e))
		return
	}
	seen := map[string]bool{}
	for i, x := range a {
		s, ok := x.(string)
		ip := p + "/" + strconv.Itoa(i)
		switch {
		case !ok:
			w.fail(ip, "each entry of %q must be a property name (a string), not %s", what, kind(x))
		case seen[s]:
			w.fail(ip, "%q is listed twice", s)
		}
		seen[s] = true
	}
}

// ref checks that a local $ref points at something in the schema.
func (w *shapeWalker) ref(e any, p string) {
	s, ok := e.(string)
	if !ok {
		w.fail(p, "\"$ref\" must be a string such as \"#/definitions/name\", not %s", kind(e))
		return
	}
	if !strings.HasPrefix(s, "#") {
		return // LocalRefsOnly reports it
	}
	target := strings.TrimPrefix(s, "#")
	if u, err := url.PathUnescape(target); err == nil {
		target = u
	}
	if target != "" && !strings.HasPrefix(target, "/") {
		return // LocalRefsOnly reports it
	}
	var cur any = w.root
	for _, seg := range Split(target) {
		next := step(cur, seg)
		if next == nil {
			w.fail(p, "$ref %q points at nothing: the schema has no %q; define it there or fix the reference", s, "#"+target)
			return
		}
		cur = next
	}
}

func sortedNames(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func isNumber(v any) bool {
	switch v.(type) {
	case float64, json.Number, int, int64:
		return true
	}
	return false
}

func isCount(v any) bool {
	switch n := v.(type) {
	case float64:
		return n >= 0 && n == float64(int64(n))
	case json.Number:
		i, err := n.Int64()
		return err == nil && i >= 0
	case int:
		return n >= 0
	}
	return false
}

// kind names a decoded JSON value's type for a message.
func kind(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprintf("%t", t)
	case float64, json.Number:
		return fmt.Sprintf("the number %v", t)
	case string:
		return fmt.Sprintf("the string %q", t)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
