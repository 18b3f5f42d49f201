package blocks_test

import (
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
