package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// Finding 6: when the database's disk fills up, writes answer 503 with
// Retry-After (so clients retry) and /readyz answers 503 (so a load
// balancer stops sending work), while /healthz stays 200. The full disk
// is a file-size limit (ulimit -f) on a real `weft serve` over SQLite:
// its writes fail as they would on a full disk, and nothing else on the
// machine is touched.
func TestDiskFullAnswers503(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr := freeAddr(t)
	p := &proc{t: t, bin: "/bin/sh", addr: addr, log: filepath.Join(dir, "serve.log"),
		args: []string{"-c", `ulimit -f 4096 && exec "$0" "$@"`, weftBinary(t), "serve",
			"--db", filepath.Join(dir, "weft.db"), "--addr", addr}}
	p.start()
	t.Cleanup(p.stop)
	a := newAPI(p.url())
	ctx := context.Background()
	flow := `{"name": "fill", "blocks": [{"ref": "a", "type": "lambda", "expr": "flow.input"}], "output": {"a": "${a.output}"}}`
	if err := a.do(ctx, "POST", "/api/v1/flows", []byte(flow), nil); err != nil {
		t.Fatal(err)
	}
	input := map[string]any{"input": map[string]any{"pad": strings.Repeat("x", 8000)}}
	var full *httpError
	for i := 0; i < 3000; i++ {
		err := a.do(ctx, "POST", "/api/v1/flows/fill/runs", input, nil)
		if err == nil {
			continue
		}
		if !errors.As(err, &full) {
			t.Fatalf("run %d: %v", i, err)
		}
		break
	}
	if full == nil {
		t.Fatal("3000 runs fit under the file-size limit: the disk never filled")
	}
	var body struct {
		Error struct{ Code, Message string }
	}
	json.Unmarshal([]byte(full.body), &body)
	if full.status != 503 || body.Error.Code != "unavailable" {
		t.Fatalf("a write to a full disk answered %d %s, want 503 unavailable\n%s", full.status, full.body, tail(p.log))
	}
	// the answer carries Retry-After, and /readyz now says not ready
	resp, err := http.Post(p.url()+"/api/v1/flows/fill/runs", "application/json", strings.NewReader(`{"input": {"pad": "`+strings.Repeat("y", 8000)+`"}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second write: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	for path, want := range map[string]int{"/readyz": 503, "/healthz": 200} {
		resp, err := http.Get(p.url() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s = %d with the disk full, want %d", path, resp.StatusCode, want)
		}
	}
}
