package flows

import (
	"encoding/json"
	"testing"
)

func TestWithDefaults(t *testing.T) {
	t.Parallel()
	bp := &Blueprint{InputSchema: json.RawMessage(`{"type": "object", "required": ["url"], "properties": {
		"url": {"type": "string", "default": "data.csv"}, "seed": {"type": "integer", "default": 7}, "name": {"type": "string"}}}`)}
	for _, tc := range []struct{ in, want string }{
		{``, `{"seed":7,"url":"data.csv"}`},
		{`null`, `{"seed":7,"url":"data.csv"}`},
		{`{}`, `{"seed":7,"url":"data.csv"}`},
		{`{"url": "other.csv"}`, `{"seed":7,"url":"other.csv"}`},
		{`{"url": "a", "seed": 1}`, `{"url": "a", "seed": 1}`}, // nothing to add: kept byte for byte
		{`[1, 2]`, `[1, 2]`},                                   // not an object: left to the schema check
	} {
		got, err := bp.WithDefaults(json.RawMessage(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("WithDefaults(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if got, _ := (&Blueprint{}).WithDefaults(json.RawMessage(`{"a":1}`)); string(got) != `{"a":1}` {
		t.Errorf("without a schema: got %s", got)
	}
}
