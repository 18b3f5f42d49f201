package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// definition is one block or flow file found on disk.
type definition struct {
	path   string
	name   string
	isFlow bool
	raw    []byte
}

// findDefinitions reads every .json file under paths (files or
// directories, recursively) and sorts them into blocks and flows: a JSON
// object with a "blocks" list is a flow, any other object with a "name"
// is a block. Other JSON files are skipped.
func findDefinitions(paths []string) (blockDefs, flowDefs []definition, err error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(d.Name(), ".json") {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	sort.Strings(files)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		var head struct {
			Name   string          `json:"name"`
			Blocks json.RawMessage `json:"blocks"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, nil, fmt.Errorf("%s: not a JSON object: %w", f, err)
		}
		if head.Name == "" {
			continue
		}
		d := definition{path: f, name: head.Name, raw: raw, isFlow: len(head.Blocks) > 0}
		if d.isFlow {
			flowDefs = append(flowDefs, d)
		} else {
			blockDefs = append(blockDefs, d)
		}
	}
	return blockDefs, flowDefs, nil
}

// inPasses stores flows, repeating the failed ones while any pass stores
// something (a subflow's child must be stored before its parent).
func inPasses(defs []definition, store func(definition) error) map[string]error {
	failed := map[string]error{}
	pending := defs
	for len(pending) > 0 {
		var next []definition
		for _, d := range pending {
			if err := store(d); err != nil {
				failed[d.path] = err
				next = append(next, d)
			} else {
				delete(failed, d.path)
			}
		}
		if len(next) == len(pending) {
			break
		}
		pending = next
	}
	return failed
}
