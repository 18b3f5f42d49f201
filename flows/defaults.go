package flows

import (
	"encoding/json"
	"fmt"
)

// WithDefaults returns a run's input with the input_schema's top-level
// property defaults filled in where the input leaves them out, so a run
// started with {} gets the values a generated form would show. Input that
// is not an object (or a schema without properties) is returned as it is.
func (bp *Blueprint) WithDefaults(input json.RawMessage) (json.RawMessage, error) {
	if len(bp.InputSchema) == 0 {
		return input, nil
	}
	var schema struct {
		Properties map[string]struct {
			Default json.RawMessage `json:"default"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(bp.InputSchema, &schema); err != nil || len(schema.Properties) == 0 {
		return input, nil
	}
	obj := map[string]json.RawMessage{}
	if len(input) > 0 && string(input) != "null" {
		if err := json.Unmarshal(input, &obj); err != nil {
			return input, nil // not an object: the schema check says what is wrong
		}
	}
	added := false
	for name, p := range schema.Properties {
		if _, ok := obj[name]; ok || len(p.Default) == 0 {
			continue
		}
		obj[name] = p.Default
		added = true
	}
	if !added {
		return input, nil
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("fill input defaults: %w", err)
	}
	return out, nil
}
