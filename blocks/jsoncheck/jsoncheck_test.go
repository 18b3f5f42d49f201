package jsoncheck_test

import (
	"strings"
	"testing"

	"github.com/weftlabs/weft/blocks/jsoncheck"
)

func TestIndexPositions(t *testing.T) {
	t.Parallel()
	doc := "{\n  \"a\": [1, {\"b~/c\": \"x\"}],\n  \"é\": {\"k\": \"ü\", \"z\": null},\n\t\"s\": \"esc\\\"aped\"\n}"
	ix, err := jsoncheck.NewIndex([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ptr       string
		line, col int
	}{
		{"", 1, 1},
		{"/a", 2, 3},
		{"/a/0", 2, 9},
		{"/a/1", 2, 12},
		{"/a/1/b~0~1c", 2, 13},
		{"/%C3%A9", 1, 1}, // not a pointer in the text: falls back to the root
		{"/é", 3, 3},
		{"/é/z", 3, 19}, // columns count characters, not bytes
		{"/é/z/deeper", 3, 19},
		{"/s", 4, 2},
		{"/a/7", 2, 3},
	}
	for _, tt := range tests {
		if line, col := ix.Pos(tt.ptr); line != tt.line || col != tt.col {
			t.Errorf("%s: got %d:%d, want %d:%d", tt.ptr, line, col, tt.line, tt.col)
		}
	}
	if got := strings.Join(ix.Keys("/é"), ","); got != "k,z" {
		t.Errorf("keys: got %s", got)
	}
}

func TestIndexSyntaxErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc       string
		line, col int
		msg       string
	}{
		{"{\n  \"a\": 1,\n  }", 3, 3, "invalid character '}'"},
		{"{\"a\": tru}", 1, 10, "invalid character '}'"},
		{"{\"a\": [1, 2}", 1, 12, "invalid character '}'"},
		{"{\"a\": 1", 1, 7, "unexpected end of JSON input"},
		{"   ", 0, 0, "the document is empty"},
	}
	for _, tt := range tests {
		_, err := jsoncheck.NewIndex([]byte(tt.doc))
		ve, ok := err.(*jsoncheck.ValidationError)
		if !ok || ve.Line != tt.line || ve.Col != tt.col || !strings.Contains(ve.Msg, tt.msg) {
			t.Errorf("%q: got %#v, want %d:%d %q", tt.doc, err, tt.line, tt.col, tt.msg)
		}
	}
}

func TestDuplicateKeys(t *testing.T) {
	t.Parallel()
	ix, err := jsoncheck.NewIndex([]byte("{\"a\": 1,\n \"b\": {\"c\": 1, \"c\": 2},\n \"a\": 3}"))
	if err != nil {
		t.Fatal(err)
	}
	got := ix.DuplicateKeys()
	if len(got) != 2 || got[0].Pointer != "/b/c" || got[0].Line != 2 || got[0].Col != 16 || got[1].Pointer != "/a" || got[1].Line != 3 {
		t.Errorf("got %v", got)
	}
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	keys := []string{"input", "block", "ref", "timeout", "do"}
	for got, want := range map[string]string{
		"id":      ` (did you mean "ref"?)`,
		"uses":    ` (did you mean "block"?)`,
		"with":    ` (did you mean "input"?)`,
		"inptu":   ` (did you mean "input"?)`,
		"blok":    ` (did you mean "block"?)`,
		"tim":     ` (did you mean "timeout"?)`,
		"zzzzzzz": "; allowed here: input, block, ref, timeout, do",
	} {
		if s := jsoncheck.Suggest(got, keys); s != want {
			t.Errorf("%s: got %q, want %q", got, s, want)
		}
	}
	if s := jsoncheck.Suggest("id", []string{"name", "dispatch"}); s != ` (did you mean "name"?)` {
		t.Errorf("id in a block definition: got %q", s)
	}
	if s := jsoncheck.Suggest("x", nil); s != "" {
		t.Errorf("no candidates: got %q", s)
	}
}

func TestSchemaKnownKeys(t *testing.T) {
	t.Parallel()
	s, err := jsoncheck.Compile([]byte(`{"type": "object", "additionalProperties": false,
		"properties": {"items": {"type": "array", "items": {"$ref": "#/definitions/n"}}},
		"definitions": {"n": {"type": "object", "additionalProperties": false, "properties": {"ref": {}, "input": {}}, "allOf": [{"properties": {"extra": {}}}]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.KnownKeys("/items/3"), ","); got != "extra,input,ref" {
		t.Errorf("got %s", got)
	}
	errs := s.Validate([]byte(`{"items": [{"ref": 1, "inptu": 2}], "x": 1}`), "")
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Pointer+" "+e.Msg)
	}
	got := strings.Join(msgs, "\n")
	for _, want := range []string{`/items/0/inptu unknown key "inptu" (did you mean "input"?)`, `/x unknown key "x"; allowed here: items`} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
}

func TestLocalRefsOnly(t *testing.T) {
	t.Parallel()
	v := map[string]any{
		"$ref": "#/definitions/a",
		"properties": map[string]any{
			"$ref": map[string]any{"type": "string"}, // a property named $ref
			"b":    map[string]any{"$ref": "file:///etc/passwd"},
		},
		"definitions": map[string]any{"a": map[string]any{"items": []any{map[string]any{"$ref": "http://x"}}}},
		"enum":        []any{map[string]any{"$ref": "data, not a keyword"}},
	}
	errs := jsoncheck.LocalRefsOnly(v, "/input_schema")
	if len(errs) != 2 || errs[0].Pointer != "/input_schema/definitions/a/items/0/$ref" || errs[1].Pointer != "/input_schema/properties/b/$ref" {
		t.Errorf("got %v", errs)
	}
}

func TestPrune(t *testing.T) {
	t.Parallel()
	out, err := jsoncheck.Prune([]byte(`{"a": {"b": 1, "c": 2}, "l": [1, 2], "k": 3}`), []*jsoncheck.ValidationError{
		{Pointer: "/a/b", Msg: "bad"}, {Pointer: "/l/1", Msg: "bad"}, {Pointer: "/k", Msg: `missing required key "x"`}, {Pointer: "", Msg: "root"}, {Pointer: "/zz/yy", Msg: "absent"},
	})
	if err != nil || string(out) != `{"a":{"c":2},"k":3,"l":[1,null]}` {
		t.Errorf("got %s, %v", out, err)
	}
}
