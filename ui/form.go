package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// StartForm is the "start run" form generated from a flow's input_schema.
type StartForm struct {
	Action string
	Fields []FormField
	// Raw is the JSON alternative, prefilled with the defaults.
	Raw string
	// Error is a problem not tied to one field.
	Error string
	// Free is true when the schema says nothing usable about the fields:
	// only the raw JSON editor is offered.
	Free           bool
	IdempotencyKey string
}

// FormField is one input of the generated form.
type FormField struct {
	Name        string
	Type        string // string, number, integer, boolean, enum, json
	Required    bool
	Default     string
	Value       string
	Description string
	Enum        []string
	Error       string
}

// InputName is the HTML name of the field's control.
func (f FormField) InputName() string { return "in." + f.Name }

type schemaProp struct {
	Type        any               `json:"type"`
	Description string            `json:"description"`
	Title       string            `json:"title"`
	Default     json.RawMessage   `json:"default"`
	Enum        []json.RawMessage `json:"enum"`
}

// BuildStartForm reads an object input_schema: its properties in document
// order, their types, which are required and their defaults.
func BuildStartForm(schema []byte) StartForm {
	var top struct {
		Type       any                        `json:"type"`
		Required   []string                   `json:"required"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	form := StartForm{Raw: "{}"}
	if len(bytes.TrimSpace(schema)) == 0 || json.Unmarshal(schema, &top) != nil || len(top.Properties) == 0 {
		form.Free = true
		return form
	}
	req := map[string]bool{}
	for _, r := range top.Required {
		req[r] = true
	}
	defaults := map[string]json.RawMessage{}
	for _, name := range propertyOrder(schema, top.Properties) {
		var p schemaProp
		_ = json.Unmarshal(top.Properties[name], &p)
		ff := FormField{Name: name, Required: req[name], Description: p.Description}
		if ff.Description == "" {
			ff.Description = p.Title
		}
		typ := typeName(p.Type)
		switch {
		case len(p.Enum) > 0:
			ff.Type = "enum"
			for _, e := range p.Enum {
				ff.Enum = append(ff.Enum, scalarText(e))
			}
		case typ == "string" || typ == "number" || typ == "integer" || typ == "boolean":
			ff.Type = typ
		default:
			ff.Type = "json"
		}
		if len(p.Default) > 0 {
			defaults[name] = p.Default
			if ff.Type == "json" {
				ff.Default = PrettyJSON(p.Default)
			} else {
				ff.Default = scalarText(p.Default)
			}
		}
		ff.Value = ff.Default
		form.Fields = append(form.Fields, ff)
	}
	if len(defaults) > 0 {
		b, _ := json.Marshal(defaults)
		form.Raw = PrettyJSON(b)
	}
	return form
}

// Fill sets each field's value from get (an HTML form's values) and builds
// the run input. Field problems are set on the fields; ok is false when
// there are any.
func (form *StartForm) Fill(get func(name string) (string, bool)) (input json.RawMessage, ok bool) {
	obj := map[string]any{}
	ok = true
	for i := range form.Fields {
		ff := &form.Fields[i]
		v, present := get(ff.InputName())
		if ff.Type == "boolean" {
			ff.Value = strconv.FormatBool(present && (v == "true" || v == "on"))
			obj[ff.Name] = present && (v == "true" || v == "on")
			continue
		}
		ff.Value = v
		if strings.TrimSpace(v) == "" {
			if ff.Required {
				ff.Error = "required: enter a value"
				ok = false
			}
			continue
		}
		switch ff.Type {
		case "number":
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				ff.Error = "must be a number, such as 0.8"
				ok = false
				continue
			}
			obj[ff.Name] = n
		case "integer":
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				ff.Error = "must be a whole number, such as 3"
				ok = false
				continue
			}
			obj[ff.Name] = n
		case "json":
			var x any
			if err := json.Unmarshal([]byte(v), &x); err != nil {
				ff.Error = "must be JSON: " + err.Error()
				ok = false
				continue
			}
			obj[ff.Name] = x
		case "enum":
			var x any
			if json.Unmarshal([]byte(v), &x) == nil {
				obj[ff.Name] = x
			} else {
				obj[ff.Name] = v
			}
		default:
			obj[ff.Name] = v
		}
	}
	if !ok {
		return nil, false
	}
	b, err := json.Marshal(obj)
	if err != nil {
		form.Error = err.Error()
		return nil, false
	}
	return b, true
}

// propertyOrder lists the keys of the schema's "properties" object in the
// order they are written; keys it cannot place come last, sorted.
func propertyOrder(schema []byte, props map[string]json.RawMessage) []string {
	var order []string
	seen := map[string]bool{}
	dec := json.NewDecoder(bytes.NewReader(schema))
	depth := 0
	inProps := false
	propsDepth := 0
	expectKey := false
	var keyStack []bool
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' || t == '[' {
				depth++
				keyStack = append(keyStack, t == '{')
				expectKey = t == '{'
			} else {
				depth--
				keyStack = keyStack[:len(keyStack)-1]
				if inProps && depth < propsDepth {
					inProps = false
				}
				expectKey = len(keyStack) > 0 && keyStack[len(keyStack)-1]
			}
			continue
		case string:
			if expectKey {
				if depth == 1 && t == "properties" {
					inProps, propsDepth = true, 2
				} else if inProps && depth == propsDepth {
					if _, ok := props[t]; ok && !seen[t] {
						seen[t] = true
						order = append(order, t)
					}
				}
				expectKey = false
				continue
			}
		}
		expectKey = len(keyStack) > 0 && keyStack[len(keyStack)-1]
	}
	var rest []string
	for k := range props {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(order, rest...)
}

func typeName(t any) string {
	switch v := t.(type) {
	case string:
		return v
	case []any: // ["string", "null"]
		for _, x := range v {
			if s, ok := x.(string); ok && s != "null" {
				return s
			}
		}
	}
	return ""
}

func scalarText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return strings.TrimSpace(fmt.Sprint(string(raw)))
}
