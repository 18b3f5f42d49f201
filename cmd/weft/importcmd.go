package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
)

// cmdImport converts definitions of another engine into Weft's and stores
// them through the server: weft import conductor FILE...
func cmdImport(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlags("import", stderr)
	srv, tok := clientFlags(fs)
	fs.Usage = usage(fs, "import conductor [flags] FILE...", "Convert Conductor workflow and task definitions (JSON files: one definition,\na list, or {\"workflowDefs\", \"taskDefs\"}) into Weft blocks and flows and store\nthem, all or nothing. Every problem is listed with its file, line, column and\nJSON pointer. docs/conductor.md says what converts and how.")
	if len(args) == 0 || args[0] != "conductor" {
		fs.Usage()
		return errUsage
	}
	if err := parse(fs, reorder(args[1:], fs), getenv); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	// The files go as they are (not re-encoded), so that the server's
	// line and column numbers are those of the files.
	var body bytes.Buffer
	body.WriteString(`{"files": [`)
	for i, p := range fs.Args() {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b = bytes.TrimSpace(b)
		if !json.Valid(b) {
			var v any
			err := json.Unmarshal(b, &v)
			return &exitError{code: 1, msg: fmt.Sprintf("nothing imported: %s is not JSON: %v", p, err)}
		}
		name, _ := json.Marshal(p)
		if i > 0 {
			body.WriteString(", ")
		}
		fmt.Fprintf(&body, `{"name": %s, "content": %s}`, name, b)
	}
	body.WriteString("]}")
	var out struct {
		Blocks []struct {
			Name    string `json:"name"`
			Version int    `json:"version"`
		} `json:"blocks"`
		Flows []struct {
			Name    string `json:"name"`
			Version int    `json:"version"`
		} `json:"flows"`
		Notes []struct {
			Source  string `json:"source"`
			Path    string `json:"path"`
			Message string `json:"message"`
			Line    int    `json:"line"`
			Column  int    `json:"column"`
		} `json:"notes"`
	}
	_, err := newClient(*srv, *tok).do(ctx, http.MethodPost, "/api/v1/import/conductor", body.Bytes(), &out)
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("nothing imported: %v", err)}
	}
	for _, b := range out.Blocks {
		fmt.Fprintf(stdout, "block %s@%d\n", b.Name, b.Version)
	}
	for _, f := range out.Flows {
		fmt.Fprintf(stdout, "flow %s@%d\n", f.Name, f.Version)
	}
	for _, n := range out.Notes {
		fmt.Fprintf(stderr, "note: %s:%d:%d %s: %s\n", n.Source, n.Line, n.Column, n.Path, n.Message)
	}
	return nil
}
