package engine

import (
	"encoding/json"
	"fmt"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/flows"
)

// schemaValidator checks step input and output against block schemas.
type schemaValidator struct{}

func (schemaValidator) Input(def *blocks.Definition, v any) error  { return def.ValidateInput(v) }
func (schemaValidator) Output(def *blocks.Definition, v any) error { return def.ValidateOutput(v) }

// validateFlowInput checks a run's input against the flow's input_schema.
func validateFlowInput(bp *flows.Blueprint, input json.RawMessage) error {
	if len(bp.InputSchema) == 0 {
		return nil
	}
	var v any
	if len(input) > 0 {
		if err := json.Unmarshal(input, &v); err != nil {
			return fmt.Errorf("run input is not JSON: %s: %w", err, ErrInvalidInput)
		}
	}
	if err := bp.ValidateInput(v); err != nil {
		return fmt.Errorf("run input does not match the input_schema of flow %s: %s: %w", bp.Name, err, ErrInvalidInput)
	}
	return nil
}
