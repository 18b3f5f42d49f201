package runner

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReadLinesSplitsLongLines(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", maxLine+10)
	var got []string
	readLines(strings.NewReader("a\r\n\nb\n"+long+"\nlast"), func(s string) { got = append(got, s) })
	want := []string{"a", "", "b", strings.Repeat("x", maxLine), "xxxxxxxxxx", "last"}
	if len(got) != len(want) {
		t.Fatalf("got %d lines %q, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: got %q (%d bytes), want %q", i, got[i][:min(len(got[i]), 20)], len(got[i]), want[i][:min(len(want[i]), 20)])
		}
	}
}

func TestLineCol(t *testing.T) {
	t.Parallel()
	doc := []byte("{\n  \"a\": 1,\n  \"b\": }")
	var v any
	err := json.Unmarshal(doc, &v)
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a syntax error", err)
	}
	if l, c := lineCol(doc, se.Offset); l != 3 || c != 8 {
		t.Errorf("got line %d column %d, want 3, 8", l, c)
	}
}

func TestFindArtifacts(t *testing.T) {
	t.Parallel()
	var v any
	_ = json.Unmarshal([]byte(`{"b": {"artifact": {"id": "a2", "name": "test.csv"}}, "a": [{"artifact": {"id": "a1", "name": "train.csv"}}],
		"bad": {"artifact": {"id": "a3", "name": "../x"}}, "more": {"artifact": {"id": "a4", "name": "m"}, "other": 1}}`), &v)
	got := findArtifacts(v, nil)
	if len(got) != 2 || got[0] != (artifactRef{"a1", "train.csv"}) || got[1] != (artifactRef{"a2", "test.csv"}) {
		t.Errorf("got %+v, want train.csv then test.csv (no path names, no objects with other keys)", got)
	}
}

// runProc with real child processes: a missing program, output in order,
// and a process group stopped on cancel.
func TestRunProc(t *testing.T) {
	t.Parallel()
	env := []string{"PATH=" + os.Getenv("PATH")}
	dir := t.TempDir()
	_, err := runProc(context.Background(), procSpec{Argv: []string{"no-such-program-weft"}, Dir: dir, Env: env, Grace: time.Second}, func(string) {})
	var nf *notFoundError
	if !errors.As(err, &nf) || err.Error() != "command not found: no-such-program-weft" {
		t.Fatalf("got %v, want command not found", err)
	}
	var lines []string
	res, err := runProc(context.Background(), procSpec{Argv: []string{"sh", "-c", "echo one; echo two >&2; echo three; exit 7"}, Dir: dir, Env: env, Grace: time.Second},
		func(s string) { lines = append(lines, s) })
	if err != nil || res.ExitCode != 7 || strings.Join(lines, ",") != "one,two,three" {
		t.Fatalf("got %+v %v %q, want exit 7 and one,two,three", res, err, lines)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	pidFile := filepath.Join(dir, "pid")
	done := make(chan procResult, 1)
	go func() {
		r, _ := runProc(ctx, procSpec{Argv: []string{"sh", "-c", "trap '' TERM; sleep 1000 & echo $! > " + pidFile + ".tmp; mv " + pidFile + ".tmp " + pidFile + "; wait"},
			Dir: dir, Env: env, Grace: 200 * time.Millisecond}, func(string) {})
		done <- r
	}()
	deadline := time.Now().Add(30 * time.Second)
	var pid []byte
	for time.Now().Before(deadline) {
		if pid, err = os.ReadFile(pidFile); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	cancel(errCancelled)
	r := <-done
	if !errors.Is(r.Stopped, errCancelled) || r.Signal != "killed" {
		t.Errorf("got %+v, want stopped by the cancel and killed (it ignores SIGTERM)", r)
	}
	stat := "/proc/" + strings.TrimSpace(string(pid)) + "/stat"
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(stat)
		if err != nil || strings.Contains(string(b), ") Z ") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the grandchild %s is still running", strings.TrimSpace(string(pid)))
}
