package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weftlabs/weft/flows"
	"github.com/weftlabs/weft/internal/store"
)

// --load refuses flows that start each other through subflows, naming
// the cycle, as an upload does.
func TestLoadRefusesSubflowCycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, doc := range map[string]string{
		"a.json": `{"name": "a", "blocks": [{"ref": "call_b", "type": "subflow", "flow": "b"}]}`,
		"b.json": `{"name": "b", "blocks": [{"ref": "call_a", "type": "subflow", "flow": "a"}]}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "weft.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = loadDefinitions(ctx, st, []string{dir}, flows.ParseOptions{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "b.json") || !strings.Contains(err.Error(), "subflow cycle b → a → b") {
		t.Fatalf("load: %v", err)
	}
}
