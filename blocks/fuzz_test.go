package blocks_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weftlabs/weft/blocks"
)

func FuzzParseBlock(f *testing.F) {
	files, _ := filepath.Glob("../flows/examples/blocks/*.json")
	if len(files) == 0 {
		f.Fatal("no example block definitions")
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"name": "a", "dispatch": {"kind": "http", "url": "${secrets.X}"}, "input_schema": {"$ref": "#/definitions/x", "definitions": {"x": {"type": "object"}}}}`))
	f.Add([]byte(`{"name": "a", "dispatch": {"kind": "worker"}, "input_schema": {"type": [-1]}, "output_schema": {"required": [1]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := blocks.Parse(data)
		if err == nil {
			if d == nil {
				t.Fatal("no definition and no error")
			}
			_ = d.ValidateInput(map[string]any{"x": 1})
			_ = d.ValidateOutput(nil)
			return
		}
		for _, p := range blocks.Problems(err) {
			if p.Msg == "" || (p.Pointer != "" && !strings.HasPrefix(p.Pointer, "/")) {
				t.Fatalf("bad problem %#v", p)
			}
		}
		if len(blocks.Problems(err)) == 0 {
			t.Fatalf("error without problems: %v", err)
		}
	})
}

// FuzzUserSchema: any bytes given as a user's JSON Schema (a block's or a
// flow's input_schema) are accepted or refused with problems at pointers,
// and an accepted schema validates any value without panicking.
func FuzzUserSchema(f *testing.F) {
	for _, s := range []string{
		`{"type": "object", "required": ["a"], "properties": {"a": {"type": "string", "pattern": "^x"}}}`,
		`{"type": [-1]}`, `{"type": ["string", 1]}`, `{"required": [1]}`, `{"pattern": 5}`, `{"$id": 5}`,
		`{"$schema": 5}`, `{"$ref": 5}`, `{"dependencies": {"a": [1]}}`, `{"items": [1, {"type": "null"}]}`,
		`{"$ref": "#/definitions/a", "definitions": {"a": {"enum": [1, "x", null]}}}`,
		`{"properties": {"a": {"$ref": "#/definitions/missing"}}}`, `{"allOf": [{"$ref": "#"}]}`,
		`{"format": 1, "minLength": -1, "multipleOf": 0}`, `{"type": "integer", "maximum": 1e400}`,
		`{"if": {"type": "string"}, "then": {"minLength": 2}, "else": false}`, `true`, `[]`, `"x"`,
	} {
		f.Add([]byte(s), []byte(`{"a": "x1", "b": [1, 2.5, null, {"c": true}]}`))
	}
	f.Fuzz(func(t *testing.T, schema, value []byte) {
		errs := blocks.CheckUserSchema(schema, "/input_schema")
		for _, p := range errs {
			if p.Msg == "" || !strings.HasPrefix(p.Pointer, "/input_schema") {
				t.Fatalf("bad problem %#v", p)
			}
		}
		if len(errs) > 0 {
			return
		}
		c, err := blocks.NewChecker("input", schema)
		if err != nil {
			return
		}
		var v any
		if json.Unmarshal(value, &v) == nil {
			_ = c.Validate(v)
		}
	})
}
