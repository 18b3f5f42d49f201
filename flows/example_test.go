package flows_test

import (
	"fmt"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/flows"
)

func ExampleParse() {
	def, _ := blocks.Parse([]byte(`{"name": "model.train", "version": 2, "dispatch": {"kind": "worker"},
		"input_schema": {"type": "object", "required": ["dataset"], "properties": {"dataset": {"type": "string"}}}}`))
	cat, _ := blocks.NewMemCatalog(def)

	bp, err := flows.Parse([]byte(`{"name": "train", "blocks": [
		{"ref": "fit", "block": "model.train", "input": {"dataset": "${flow.input.dataset}"}}
	]}`), cat)
	fmt.Println(bp.Name, bp.Pins, err)

	_, err = flows.Parse([]byte(`{"name": "train", "blocks": [
		{"ref": "fit", "block": "model.train", "inptu": {}},
		{"ref": "best", "type": "lambda", "expr": "fti.output"}
	]}`), cat)
	for _, p := range flows.Problems(err) {
		fmt.Println(p)
	}
	// Output:
	// train map[model.train:2] <nil>
	// 2:3 /blocks/0/input: missing required key "dataset" (input_schema of block model.train@2)
	// 2:42 /blocks/0/inptu: unknown key "inptu" (did you mean "input"?)
	// 3:37 /blocks/1/expr: unknown name "fti" (did you mean "fit"?); in scope here: flow, fit
}
