package engine_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/weftlabs/weft/engine"
)

// eachDB runs fn on a SQLite file and on a PostgreSQL database.
func eachDB(t *testing.T, fn func(t *testing.T, b *bundle)) {
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); fn(t, setup(t)) })
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		st := openPG(t, pgDatabase(t))
		clock := newTestClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
		fn(t, &bundle{t: t, ctx: context.Background(), store: st, clock: clock,
			eng: engine.New(engine.Config{NowFunc: clock.Now, DisableCron: true}, st, nil)})
	})
}

// work claims every ready echo task, round after round, and answers each
// by its path: "fail:MSG" fails it, anything else is its output (default:
// its input). It returns the paths it answered, sorted per round.
func (b *bundle) work(answers map[string]string) []string {
	b.t.Helper()
	var done []string
	for {
		ts := b.poll("echo", 100)
		if len(ts) == 0 {
			return done
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i].Path < ts[j].Path })
		for _, tk := range ts {
			done = append(done, tk.Path)
			a, ok := answers[tk.Path]
			switch {
			case strings.HasPrefix(a, "fail:"):
				b.fail(tk, strings.TrimPrefix(a, "fail:"), false)
			case ok:
				b.complete(tk, a)
			default:
				b.complete(tk, string(tk.Input))
			}
		}
	}
}

func statuses(r engine.Run) string {
	var out []string
	for _, s := range r.Steps {
		out = append(out, s.Path+"="+string(s.Status))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func TestDAGDiamond(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, b *bundle) {
		b.block(blockEcho)
		name := b.flow(`{"name": "diamond", "blocks": [
			{"ref": "join", "block": "echo", "input": {"sum": "${left.output.v + right.output.v}", "src": "${src.output.v}"}, "depends_on": ["left", "right"]},
			{"ref": "left", "block": "echo", "input": {"v": "${src.output.v * 2}"}, "depends_on": ["src"]},
			{"ref": "right", "block": "echo", "input": {"v": "${src.output.v * 3}"}, "depends_on": ["src"]},
			{"ref": "src", "block": "echo", "input": {"v": "${flow.input.v}"}}]}`)
		r := b.start(name, `{"v": 2}`)
		if got := strings.Join(b.work(nil), " "); got != "src left right join" {
			t.Fatalf("order of work: %s", got)
		}
		got := b.run(r.ID)
		wantStatus(t, got, engine.RunSucceeded)
		jsonEq(t, "output", got.Output, `{"join": {"sum": 10, "src": 2}}`)
	})
}

func TestDAGWideFanIn(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, b *bundle) {
		b.block(blockEcho)
		const n = 40
		var blocks, deps, sum []string
		for i := 0; i < n; i++ {
			blocks = append(blocks, fmt.Sprintf(`{"ref": "p%d", "block": "echo", "input": {"v": %d}}`, i, i))
			deps = append(deps, fmt.Sprintf(`"p%d"`, i))
			sum = append(sum, fmt.Sprintf("p%d.output.v", i))
		}
		blocks = append(blocks, `{"ref": "total", "type": "lambda", "expr": "`+strings.Join(sum, " + ")+`", "depends_on": [`+strings.Join(deps, ", ")+`]}`)
		name := b.flow(`{"name": "fan", "blocks": [` + strings.Join(blocks, ",\n") + `]}`)
		r := b.start(name, `{}`)
		// All parents are ready at once; total waits for the last one.
		ts := b.poll("echo", 100)
		if len(ts) != n {
			t.Fatalf("%d tasks ready, want %d", len(ts), n)
		}
		for _, tk := range ts[:n-1] {
			b.complete(tk, string(tk.Input))
		}
		if s := step(b.run(r.ID), "total"); s.Status != "absent" {
			t.Fatalf("total is %s before its last parent finished", s.Status)
		}
		b.complete(ts[n-1], string(ts[n-1].Input))
		got := b.run(r.ID)
		wantStatus(t, got, engine.RunSucceeded)
		jsonEq(t, "output", got.Output, fmt.Sprintf(`{"total": %d}`, n*(n-1)/2))
	})
}

// A failure: one_failed and all_done handlers run, the all_success path
// is skipped as upstream_failed, independent branches finish, and the run
// fails with the failure. Retry runs the failed block again and keeps
// the succeeded branches; the skipped path is decided again and runs.
func TestDAGFailureHandlersAndRetry(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, b *bundle) {
		b.block(blockEcho)
		name := b.flow(`{"name": "handlers", "blocks": [
			{"ref": "prep", "block": "echo", "input": {"rows": 10}},
			{"ref": "train", "block": "echo", "input": {"rows": "${prep.output.rows}"}, "depends_on": ["prep"]},
			{"ref": "stats", "block": "echo", "input": {"rows": "${prep.output.rows}"}, "depends_on": ["prep"]},
			{"ref": "deploy", "block": "echo", "input": {"model": "${train.output}"}, "depends_on": ["train", "stats"]},
			{"ref": "alert", "block": "echo", "input": {"text": "${train.status}"}, "depends_on": ["train", "stats"], "trigger_rule": "one_failed"},
			{"ref": "cleanup", "block": "echo", "input": {"train": "${train.status}", "stats": "${stats.status}"}, "depends_on": ["train", "stats"], "trigger_rule": "all_done"}
		]}`)
		r := b.start(name, `{}`)
		b.work(map[string]string{"train": "fail:diverged"})
		got := b.run(r.ID)
		wantStatus(t, got, engine.RunFailed)
		if want := "alert=succeeded cleanup=succeeded deploy=skipped prep=succeeded stats=succeeded train=failed"; statuses(got) != want {
			t.Fatalf("steps: %s\nwant %s", statuses(got), want)
		}
		if got.Error == nil || !strings.Contains(got.Error.Message, "diverged") {
			t.Fatalf("run error: %+v", got.Error)
		}
		d := wantStep(t, got, "deploy", engine.StepSkipped)
		if d.Error == nil || d.Error.Type != "upstream_failed" || !strings.Contains(d.Error.Message, "train failed") {
			t.Fatalf("deploy: %+v", d.Error)
		}
		jsonEq(t, "alert input", wantStep(t, got, "alert", engine.StepSucceeded).Input, `{"text": "failed"}`)
		jsonEq(t, "cleanup input", wantStep(t, got, "cleanup", engine.StepSucceeded).Input, `{"train": "failed", "stats": "succeeded"}`)

		if err := b.eng.Retry(b.ctx, r.ID, "operator:amy"); err != nil {
			t.Fatal(err)
		}
		if again := strings.Join(b.work(nil), " "); again != "train deploy" {
			t.Fatalf("retry ran %q, want the failed block and what it skipped", again)
		}
		got = b.run(r.ID)
		wantStatus(t, got, engine.RunSucceeded)
		if want := "alert=succeeded cleanup=succeeded deploy=succeeded prep=succeeded stats=succeeded train=succeeded"; statuses(got) != want {
			t.Fatalf("after retry: %s", statuses(got))
		}
		jsonEq(t, "output", got.Output, `{"deploy": {"model": {"rows": 10}}, "alert": {"text": "failed"}, "cleanup": {"train": "failed", "stats": "succeeded"}}`)
	})
}

// Rerun from a block inside a DAG runs it and what depends on it again,
// wherever they are written, and keeps the independent branches.
func TestDAGRerunFrom(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, b *bundle) {
		b.block(blockEcho)
		name := b.flow(`{"name": "rerun", "blocks": [
			{"ref": "report", "block": "echo", "input": {"a": "${feat.output.v}", "b": "${other.output.v}"}, "depends_on": ["feat", "other"]},
			{"ref": "load", "block": "echo", "input": {"v": 1}},
			{"ref": "feat", "block": "echo", "input": {"v": "${load.output.v + 1}"}, "depends_on": ["load"]},
			{"ref": "other", "block": "echo", "input": {"v": "${load.output.v + 2}"}, "depends_on": ["load"]},
			{"ref": "late", "block": "echo", "input": {"v": 9}, "depends_on": ["load"]}
		]}`)
		r := b.start(name, `{}`)
		b.work(nil)
		wantStatus(t, b.run(r.ID), engine.RunSucceeded)
		nr, err := b.eng.Rerun(b.ctx, r.ID, engine.RerunParams{From: "feat", Input: []byte(`{"v": 100}`)})
		if err != nil {
			t.Fatal(err)
		}
		if again := strings.Join(b.work(nil), " "); again != "feat report" {
			t.Fatalf("rerun ran %q, want feat and report only", again)
		}
		got := b.run(nr.ID)
		wantStatus(t, got, engine.RunSucceeded)
		jsonEq(t, "output", got.Output, `{"report": {"a": 100, "b": 3}, "late": {"v": 9}}`)
	})
}
