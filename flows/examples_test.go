package flows_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/flows"
)

// exampleCatalog loads flows/examples/blocks/*.json.
func exampleCatalog(t testing.TB) *blocks.MemCatalog {
	t.Helper()
	files, err := filepath.Glob("examples/blocks/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example block definitions: %v", err)
	}
	cat, _ := blocks.NewMemCatalog()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d, err := blocks.Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := cat.Add(d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	return cat
}

func exampleFlows(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("examples/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example flows: %v", err)
	}
	return files
}

func TestExamplesValidate(t *testing.T) {
	t.Parallel()
	cat := exampleCatalog(t)
	for _, f := range exampleFlows(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			bp, err := flows.Parse(data, cat)
			if err != nil {
				t.Fatalf("%s does not validate:\n%v", f, err)
			}
			if want := strings.TrimSuffix(filepath.Base(f), ".json"); bp.Name != want {
				t.Errorf("got name %q, want %q (the file name)", bp.Name, want)
			}
			for ref, n := range bp.Nodes {
				if n.Type == flows.TypeTask && n.Def == nil {
					t.Errorf("%s: no definition resolved", ref)
				}
				if n.Type == flows.TypeTask && !strings.Contains(n.Block, "@") && bp.Pins[n.Def.Name] != n.Def.Version {
					t.Errorf("%s: pin %d, want %d", ref, bp.Pins[n.Def.Name], n.Def.Version)
				}
			}
			// Reloading with the recorded pins gives the same blueprint.
			again, err := flows.Compile(bp.Raw, cat, bp.Pins)
			if err != nil || len(again.Nodes) != len(bp.Nodes) {
				t.Fatalf("reload: %v", err)
			}
		})
	}
}
