package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
)

func cmdDeploy(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlags("deploy", stderr)
	srv, tok := clientFlags(fs)
	fs.Usage = usage(fs, "deploy [flags] PATH...", "Upload the block and flow definitions found in PATH (files or directories,\nrecursively): blocks first, then flows. A JSON object with a \"blocks\" list is a flow.")
	if err := parse(fs, reorder(args, fs), getenv); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	blockDefs, flowDefs, err := findDefinitions(fs.Args())
	if err != nil {
		return err
	}
	if len(blockDefs)+len(flowDefs) == 0 {
		return fmt.Errorf("no block or flow definitions found in %v", fs.Args())
	}
	c := newClient(*srv, *tok)
	failures := 0
	upload := func(kind, method, path string) func(d definition) error {
		return func(d definition) error {
			var out struct {
				Name    string `json:"name"`
				Version int    `json:"version"`
			}
			status, err := c.do(ctx, method, path, d.raw, &out)
			if err != nil {
				return err
			}
			what := "unchanged"
			if status == http.StatusCreated {
				what = "stored"
			}
			fmt.Fprintf(stdout, "%s %s@%d %s (%s)\n", kind, out.Name, out.Version, what, d.path)
			return nil
		}
	}
	putBlock := upload("block", http.MethodPut, "/api/v1/blocks")
	for _, d := range blockDefs {
		if err := putBlock(d); err != nil {
			fmt.Fprintf(stderr, "block %s (%s): %s\n", d.name, d.path, err)
			failures++
		}
	}
	failed := inPasses(flowDefs, upload("flow", http.MethodPost, "/api/v1/flows"))
	paths := make([]string, 0, len(failed))
	for p := range failed {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		fmt.Fprintf(stderr, "flow %s: %s\n", p, failed[p])
		failures++
	}
	if failures > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d definition(s) not stored", failures)}
	}
	return nil
}
