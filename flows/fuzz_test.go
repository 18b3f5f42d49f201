package flows_test

import (
	"os"
	"strings"
	"testing"

	"github.com/weftlabs/weft/flows"
)

func FuzzParse(f *testing.F) {
	cat := exampleCatalog(f)
	for _, file := range exampleFlows(f) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"name": "t", "blocks": [{"ref": "a", "type": "map", "items": "1..3", "do": [{"ref": "b", "type": "lambda", "expr": "item"}]}]}`))
	f.Add([]byte(`{"name": "t", "blocks": [{"ref": "w", "type": "wait", "until": "${x}"}], "output": "$${a} ${b"}`))
	f.Add([]byte(`{"name":"t","blocks":[{"ref":"a","type":"decision","expr":"'x'","cases":{"x":[{"ref":"b","type":"fork","branches":[[{"ref":"c","type":"loop","max_iterations":2,"do":[{"ref":"d","type":"fail","message":"m"}]}]]}]}}]}`))
	f.Add([]byte(`{"name": "t", "input_schema": {"type": [-1], "properties": {"a": {"$ref": "#/definitions/x"}}}, "blocks": [{"ref": "a", "type": "lambda", "expr": "1"}]}`))
	f.Add([]byte(`{"name": "t", "triggers": [{"cron": "@every 1ms"}, {"cron": "0 0 30 2 *"}], "blocks": [{"ref": "a", "type": "lambda", "expr": "1"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		bp, err := flows.Parse(data, cat)
		if err == nil {
			if bp == nil {
				t.Fatal("no blueprint and no error")
			}
			if _, err := flows.Compile(bp.Raw, cat, bp.Pins); err != nil {
				t.Fatalf("a valid blueprint does not reload: %v", err)
			}
			return
		}
		probs := flows.Problems(err)
		if len(probs) == 0 {
			t.Fatalf("error without problems: %v", err)
		}
		for _, p := range probs {
			if p.Msg == "" || (p.Pointer != "" && !strings.HasPrefix(p.Pointer, "/")) {
				t.Fatalf("bad problem %#v", p)
			}
			if len(data) > 0 && strings.TrimSpace(string(data)) != "" && p.Line == 0 {
				t.Fatalf("problem without line: %v", p)
			}
		}
	})
}
