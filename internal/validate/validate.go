// Package validate implements `weft validate [--server URL] PATH...`: it
// checks block definitions and flow definitions on disk and prints every
// problem as file:line:col pointer: message.
package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/flows"
)

const usage = `usage: weft validate [--server URL] PATH...

Checks block definitions and flow definitions. Each PATH is a file or a
folder (searched recursively for *.json). A file with a "dispatch" key is a
block definition; the blocks found form the catalog the flows are checked
against. With --server, blocks not found on disk are fetched from
URL/api/v1/blocks/{name}[/versions/{v}].

Prints one line per valid file and every problem as
file:line:col pointer: message. Exits 0 when everything is valid, 1 when
something is not, 2 on bad usage.
`

// Command runs `weft validate` with args (without the command name).
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("validate", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.Usage = func() { fmt.Fprint(stderr, usage) }
	server := fset.String("server", "", "fetch block definitions not found on disk from this Weft server")
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fset.NArg() == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	files, err := collect(fset.Args())
	if err != nil {
		fmt.Fprintf(stderr, "weft validate: %v\n", err)
		return 2
	}
	if len(files) == 0 {
		fmt.Fprintf(stderr, "weft validate: no .json files found in %s\n", strings.Join(fset.Args(), " "))
		return 2
	}

	local, _ := blocks.NewMemCatalog()
	var cat blocks.Catalog = local
	if *server != "" {
		u, perr := url.Parse(*server)
		if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			fmt.Fprintf(stderr, "weft validate: --server %q is not an http(s) URL such as http://127.0.0.1:8080\n", *server)
			return 2
		}
		cat = &chain{local: local, remote: &remoteCatalog{ctx: ctx, base: strings.TrimRight(*server, "/"), client: &http.Client{Timeout: 15 * time.Second}}}
	}

	ok := true
	var flowFiles []file
	for _, f := range files {
		if !f.block {
			flowFiles = append(flowFiles, f)
			continue
		}
		d, perr := blocks.Parse(f.data)
		if perr != nil {
			ok = false
			report(stderr, f.path, perr)
			continue
		}
		if aerr := local.Add(d); aerr != nil {
			ok = false
			fmt.Fprintf(stderr, "%s:1:1 /version: %v\n", f.path, aerr)
			continue
		}
		fmt.Fprintf(stdout, "%s: block %s@%d ok\n", f.path, d.Name, d.Version)
	}
	for _, f := range flowFiles {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "weft validate: %v\n", ctx.Err())
			return 1
		}
		bp, perr := flows.Parse(f.data, cat)
		if perr != nil {
			ok = false
			report(stderr, f.path, perr)
			continue
		}
		fmt.Fprintf(stdout, "%s: flow %s ok (%d blocks)\n", f.path, bp.Name, len(bp.Nodes))
		for i, t := range bp.Triggers {
			if t.Cron == "" {
				continue
			}
			due, _ := flows.NextDue(t.Cron, time.Now(), 3)
			at := make([]string, len(due))
			for j, d := range due {
				at[j] = d.Format(time.RFC3339)
			}
			fmt.Fprintf(stdout, "  /triggers/%d cron %q: next due %s\n", i, t.Cron, strings.Join(at, ", "))
		}
	}
	if !ok {
		return 1
	}
	return 0
}

func report(w io.Writer, path string, err error) {
	probs := flows.Problems(err)
	if len(probs) == 0 {
		fmt.Fprintf(w, "%s:1:1 /: %v\n", path, err)
		return
	}
	for _, p := range probs {
		ptr := p.Pointer
		if ptr == "" {
			ptr = "/"
		}
		line, col := max(p.Line, 1), max(p.Col, 1)
		fmt.Fprintf(w, "%s:%d:%d %s: %s\n", path, line, col, ptr, p.Msg)
	}
}

type file struct {
	path  string
	data  []byte
	block bool
}

// collect reads every file named or found under the folders named, sorted
// by path within each argument, and decides which are block definitions.
func collect(paths []string) ([]file, error) {
	var out []file
	seen := map[string]bool{}
	for _, root := range paths {
		info, err := os.Stat(root)
		if err != nil {
			return nil, err
		}
		var names []string
		if !info.IsDir() {
			names = []string{root}
		} else {
			err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if !d.IsDir() && strings.EqualFold(filepath.Ext(p), ".json") {
					names = append(names, p)
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			sort.Strings(names)
		}
		for _, n := range names {
			if seen[n] {
				continue
			}
			seen[n] = true
			data, err := os.ReadFile(n)
			if err != nil {
				return nil, err
			}
			out = append(out, file{path: n, data: data, block: isBlock(n, data)})
		}
	}
	return out, nil
}

// isBlock decides by content: an object with "dispatch" is a block
// definition, one with "blocks" is a flow; otherwise a file under a
// blocks/ folder is taken for a block definition.
func isBlock(path string, data []byte) bool {
	var keys map[string]json.RawMessage
	if json.Unmarshal(data, &keys) == nil {
		if _, ok := keys["dispatch"]; ok {
			return true
		}
		if _, ok := keys["blocks"]; ok {
			return false
		}
	}
	for _, part := range strings.Split(filepath.ToSlash(filepath.Dir(path)), "/") {
		if part == "blocks" {
			return true
		}
	}
	return false
}

// chain looks in the local catalog first, then on the server.
type chain struct {
	local  *blocks.MemCatalog
	remote *remoteCatalog
}

func (c *chain) Block(name string, version int) (*blocks.Definition, error) {
	if d, err := c.local.Block(name, version); err == nil {
		return d, nil
	}
	return c.remote.Block(name, version)
}

// remoteCatalog reads block definitions from a Weft server.
type remoteCatalog struct {
	ctx    context.Context
	base   string
	client *http.Client
}

func (r *remoteCatalog) Block(name string, version int) (*blocks.Definition, error) {
	u := r.base + "/api/v1/blocks/" + url.PathEscape(name)
	if version > 0 {
		u += "/versions/" + strconv.Itoa(version)
	}
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if tok := os.Getenv("WEFT_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 10<<20))
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get %s: %s: %w", u, resp.Status, blocks.ErrUnknownBlock)
	}
	// Accept the definition itself or an envelope holding it.
	var env struct {
		Definition json.RawMessage `json:"definition"`
	}
	if json.Unmarshal(body, &env) == nil && len(bytes.TrimSpace(env.Definition)) > 0 {
		body = env.Definition
	}
	if d, perr := blocks.Parse(body); perr == nil {
		return d, nil
	}
	var d blocks.Definition
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, fmt.Errorf("get %s: not a block definition: %w", u, err)
	}
	return &d, nil
}
