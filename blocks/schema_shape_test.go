package blocks_test

import (
	"strings"
	"testing"

	"github.com/weftlabs/weft/blocks"
)

// Finding 4: a user schema whose keywords have the wrong JSON type
// ({"type": [-1]} panicked inside the schema compiler) is refused at the
// keyword, and a $ref to nothing is reported at the $ref.
func TestUserSchemaShape(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ schema, ptr, msg string }{
		{`{"type": [-1]}`, "/s/type/0", `not the number -1`},
		{`{"type": ["string", "strin"]}`, "/s/type/1", `"strin" is not a JSON Schema type`},
		{`{"type": 7}`, "/s/type", `must be a type name`},
		{`{"required": [1]}`, "/s/required/0", `must be a property name`},
		{`{"required": ["a", "a"]}`, "/s/required/1", `listed twice`},
		{`{"pattern": 5}`, "/s/pattern", `must be a string`},
		{`{"$id": 5}`, "/s/$id", `must be a string`},
		{`{"dependencies": {"a": [1]}}`, "/s/dependencies/a/0", `must be a property name`},
		{`{"properties": {"a": {"items": [1]}}}`, "/s/properties/a/items/0", `a schema must be an object`},
		{`{"properties": []}`, "/s/properties", `must be an object mapping names to schemas`},
		{`{"minLength": -1}`, "/s/minLength", `whole number of 0 or more`},
		{`{"anyOf": []}`, "/s/anyOf", `non-empty array of schemas`},
		{`{"properties": {"a": {"$ref": "#/definitions/nope"}}}`, "/s/properties/a/$ref", `points at nothing`},
	} {
		errs := blocks.CheckUserSchema([]byte(tc.schema), "/s")
		if len(errs) == 0 {
			t.Errorf("%s: accepted", tc.schema)
			continue
		}
		if errs[0].Pointer != tc.ptr || !strings.Contains(errs[0].Msg, tc.msg) {
			t.Errorf("%s: got %s: %s, want %s: …%s…", tc.schema, errs[0].Pointer, errs[0].Msg, tc.ptr, tc.msg)
		}
	}
	for _, ok := range []string{`{"type": ["string", "null"], "required": [], "definitions": {"a": true}, "$ref": "#/definitions/a"}`,
		`{"properties": {"a/b": {"type": "string"}}, "items": {"$ref": "#/properties/a~1b"}}`, `true`} {
		if errs := blocks.CheckUserSchema([]byte(ok), "/s"); len(errs) > 0 {
			t.Errorf("%s: refused: %v", ok, errs[0])
		}
	}
}
