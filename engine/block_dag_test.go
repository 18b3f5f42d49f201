package engine

import (
	"fmt"
	"testing"

	"github.com/weftlabs/weft/flows"
)

// Every trigger rule against Airflow's documented semantics (Airflow
// concepts, "Trigger Rules"; airflow/ti_deps/deps/trigger_rule_dep.py):
//
//	all_success  (default) all parents have succeeded
//	all_failed   all parents are in a failed or upstream_failed state
//	all_done     all parents are done with their execution (a skip is done)
//	one_failed   fires as soon as at least one parent has failed, it does
//	             not wait for all parents to be done
//	one_success  fires as soon as at least one parent succeeds, it does
//	             not wait for all parents to be done
//	none_failed  all parents have not failed (failed or upstream_failed),
//	             i.e. all parents have succeeded or been skipped
//	always       (Airflow's "dummy") dependencies are just for show,
//	             trigger at will
//
// and skip propagation: under all_success a failed parent makes the task
// upstream_failed and a skipped one makes it skipped; all_failed skips
// when a parent succeeded or was skipped; one_failed skips when all
// parents are done and none failed; one_success is upstream_failed when
// all are done and none succeeded (skipped when all were skipped);
// none_failed is upstream_failed when a parent failed. Weft records
// upstream_failed as a skipped step whose error has type
// "upstream_failed", and counts it as a failure downstream, as Airflow
// does.
func TestTriggerRules(t *testing.T) {
	t.Parallel()
	// Dependencies given as outcomes: s success, f failed, u
	// upstream_failed, k skipped, p pending (running or not reached).
	tally := func(deps string) depCounts {
		c := depCounts{upstream: len(deps)}
		for _, r := range deps {
			switch r {
			case 's':
				c.success++
			case 'f':
				c.failed++
			case 'u':
				c.upstreamFailed++
			case 'k':
				c.skipped++
			}
		}
		return c
	}
	const (
		W = verdictWait
		R = verdictRun
		S = verdictSkip
		U = verdictUpstreamFailed
	)
	// deps: the verdict of each rule, in the order of rules.
	rules := []string{flows.RuleAllSuccess, flows.RuleAllFailed, flows.RuleAllDone, flows.RuleOneSuccess, flows.RuleOneFailed, flows.RuleNoneFailed, flows.RuleAlways}
	rows := []struct {
		deps string
		want []verdict // all_success all_failed all_done one_success one_failed none_failed always
	}{
		{"", []verdict{R, R, R, S, S, R, R}}, // no dependencies (the engine starts such blocks without asking)
		{"ss", []verdict{R, S, R, R, S, R, R}},
		{"sp", []verdict{W, S, W, R, W, W, R}}, // one_success fires without waiting
		{"fp", []verdict{U, W, W, W, R, U, R}}, // one_failed fires without waiting; all_success/none_failed give up at once
		{"ff", []verdict{U, R, R, U, R, U, R}},
		{"fu", []verdict{U, R, R, U, R, U, R}}, // upstream_failed counts as failed
		{"uu", []verdict{U, R, R, U, R, U, R}},
		{"sf", []verdict{U, S, R, R, R, U, R}},
		{"sk", []verdict{S, S, R, R, S, R, R}}, // a skip is "done" and "not failed"
		{"kk", []verdict{S, S, R, S, S, R, R}}, // one_success with every parent skipped: skipped
		{"kf", []verdict{U, S, R, U, R, U, R}},
		{"kp", []verdict{S, S, W, W, W, W, R}},
		{"pp", []verdict{W, W, W, W, W, W, R}},
		{"s", []verdict{R, S, R, R, S, R, R}},
		{"f", []verdict{U, R, R, U, R, U, R}},
		{"k", []verdict{S, S, R, S, S, R, R}},
		{"u", []verdict{U, R, R, U, R, U, R}},
	}
	name := map[verdict]string{W: "wait", R: "run", S: "skipped", U: "upstream_failed"}
	for _, row := range rows {
		for i, rule := range rules {
			c := tally(row.deps)
			// No dependencies: a DAG block without depends_on starts at
			// once whatever its rule (the engine never asks); trigger
			// itself answers as the counts say.
			if got := trigger(rule, c); got != row.want[i] {
				t.Errorf("%s with parents %q: got %s, want %s", rule, row.deps, name[got], name[row.want[i]])
			}
		}
	}
	if trigger("", tally("s")) != R || trigger("", tally("f")) != U {
		t.Error("the default rule is not all_success")
	}
}

// Pure advance rows for lists in DAG form.
func TestDAGBlock(t *testing.T) {
	t.Parallel()
	const diamond = `{"name": "d", "blocks": [
		{"ref": "join", "type": "lambda", "expr": "left.output + right.output", "depends_on": ["left", "right"]},
		{"ref": "left", "block": "once", "depends_on": ["src"]},
		{"ref": "right", "block": "once", "depends_on": ["src"]},
		{"ref": "src", "block": "once"}]}`
	const handlers = `{"name": "h", "blocks": [
		{"ref": "train", "block": "once"},
		{"ref": "eval", "block": "once"},
		{"ref": "deploy", "block": "once", "depends_on": ["train", "eval"]},
		{"ref": "after_deploy", "type": "lambda", "expr": "1", "depends_on": ["deploy"]},
		{"ref": "alert", "type": "lambda", "expr": "'alert'", "depends_on": ["train", "eval"], "trigger_rule": "one_failed"},
		{"ref": "cleanup", "type": "lambda", "expr": "'clean'", "depends_on": ["train", "eval"], "trigger_rule": "all_done"},
		{"ref": "join", "type": "lambda", "expr": "'j'", "depends_on": ["after_deploy"], "trigger_rule": "none_failed"}]}`
	const branchy = `{"name": "b", "blocks": [
		{"ref": "pick", "type": "decision", "expr": "flow.input.go ? 'yes' : 'no'", "depends_on": [],
		 "cases": {"yes": [{"ref": "work", "block": "once"}]}, "default": [{"ref": "idle", "type": "lambda", "expr": "0"}]},
		{"ref": "a", "type": "lambda", "expr": "1", "depends_on": ["pick"]},
		{"ref": "b", "type": "lambda", "expr": "a.output + 1", "depends_on": ["a"]}]}`
	const skipper = `{"name": "k", "blocks": [
		{"ref": "gate", "block": "once"},
		{"ref": "never", "type": "lambda", "expr": "1", "depends_on": ["gate"], "trigger_rule": "all_failed"},
		{"ref": "next", "type": "lambda", "expr": "1", "depends_on": ["never"]},
		{"ref": "done", "type": "lambda", "expr": "2", "depends_on": ["never", "next"], "trigger_rule": "none_failed"},
		{"ref": "first", "type": "lambda", "expr": "3", "depends_on": ["never", "next"], "trigger_rule": "one_success"}]}`
	const inFork = `{"name": "f", "blocks": [
		{"ref": "side", "type": "fork", "branches": [
			[{"ref": "x", "block": "once"}, {"ref": "y", "type": "lambda", "expr": "x.output * 10", "depends_on": ["x"]}, {"ref": "z", "type": "lambda", "expr": "x.output", "depends_on": ["x"]}],
			[{"ref": "w", "block": "once"}]]},
		{"ref": "after", "type": "lambda", "expr": "y.output + z.output"}]}`
	const inMap = `{"name": "m", "blocks": [
		{"ref": "each", "type": "map", "items": "[1, 2]", "do": [
			{"ref": "sq", "type": "lambda", "expr": "item * item", "depends_on": []},
			{"ref": "fit", "block": "once", "depends_on": ["sq"], "input": {"n": "${sq.output}"}}]}]}`
	const skippedFork = `{"name": "sf", "blocks": [
		{"ref": "train", "block": "once"},
		{"ref": "both", "type": "fork", "depends_on": ["train"], "branches": [[{"ref": "p", "block": "once"}], [{"ref": "q", "type": "lambda", "expr": "1"}]]}]}`
	retried := func(*pure) change { return change{Kind: chRetry, Actor: "op"} }
	const handlerLists = `{"name": "hl", "blocks": [
		{"ref": "work", "block": "once", "catch": [
			{"ref": "c2", "type": "lambda", "expr": "c1.output + 1", "depends_on": ["c1"]},
			{"ref": "c1", "type": "lambda", "expr": "1", "depends_on": []}]},
		{"ref": "boom", "type": "fail", "message": "stop"}],
		"on_failure": [
			{"ref": "o2", "block": "once", "depends_on": ["o1"]},
			{"ref": "o1", "type": "lambda", "expr": "flow.error", "depends_on": []}]}`
	const loopBody = `{"name": "lb", "blocks": [
		{"ref": "again", "type": "loop", "max_iterations": 3, "while": "b.output < 2", "do": [
			{"ref": "b", "type": "lambda", "expr": "a.output", "depends_on": ["a"]},
			{"ref": "a", "type": "lambda", "expr": "iteration", "depends_on": []}]}]}`
	runBlockRows(t, []blockRow{{
		name: "catch and on_failure lists in DAG form", flow: handlerLists,
		acts: []act{failed("work", "broke", false)},
		steps: map[string]StepStatus{"work": StepFailed, "c1": StepSucceeded, "c2": StepSucceeded, "boom": StepFailed,
			"o1": StepSucceeded, "o2": StepScheduled},
		run: RunRunning, outs: map[string]string{"c2": `2`, "o1": `"stop"`}, seen: []string{"task o2 #1"},
	}, {
		name: "a loop body in DAG form", flow: loopBody,
		steps: map[string]StepStatus{"again": StepSucceeded, "again[0].a": StepSucceeded, "again[0].b": StepSucceeded,
			"again[1].a": StepSucceeded, "again[1].b": StepSucceeded, "again[2].a": StepSucceeded, "again[2].b": StepSucceeded},
		run: RunSucceeded, output: `{"b": 2}`,
	}, {
		name: "a skipped control block skips what it holds, for the same reason", flow: skippedFork,
		acts:  []act{failed("train", "boom", false)},
		steps: map[string]StepStatus{"train": StepFailed, "both": StepSkipped, "p": StepSkipped, "q": StepSkipped},
		run:   RunFailed, errs: map[string]string{"p": "both was skipped", "both": "train failed"},
	}, {
		name: "retry decides a skipped control block and what it holds again", flow: skippedFork,
		acts:  []act{failed("train", "boom", false), retried, completed("train", `1`)},
		steps: map[string]StepStatus{"train": StepSucceeded, "both": StepRunning, "p": StepScheduled, "q": StepSucceeded},
		run:   RunRunning, seen: []string{"task p #1"},
	}, {
		name: "diamond: only the source starts", flow: diamond,
		steps: map[string]StepStatus{"src": StepScheduled},
		run:   RunRunning, seen: []string{"task src #1"},
	}, {
		name: "diamond: the source done, both sides start", flow: diamond,
		acts:  []act{completed("src", `1`)},
		steps: map[string]StepStatus{"src": StepSucceeded, "left": StepScheduled, "right": StepScheduled},
		run:   RunRunning, seen: []string{"task left #1", "task right #1"},
	}, {
		name: "diamond: the join waits for both sides", flow: diamond,
		acts:  []act{completed("src", `1`), completed("right", `20`)},
		steps: map[string]StepStatus{"src": StepSucceeded, "left": StepScheduled, "right": StepSucceeded},
		run:   RunRunning,
	}, {
		name: "diamond: the join runs once, the output is the sinks'", flow: diamond,
		acts:  []act{completed("src", `1`), completed("right", `20`), completed("left", `3`)},
		steps: map[string]StepStatus{"src": StepSucceeded, "left": StepSucceeded, "right": StepSucceeded, "join": StepSucceeded},
		run:   RunSucceeded, output: `{"join": 23}`, outs: map[string]string{"join": `23`},
	}, {
		name: "diamond: a failed side skips the join at once (upstream_failed), the other side goes on", flow: diamond,
		acts:  []act{completed("src", `1`), failed("left", "oom", false)},
		steps: map[string]StepStatus{"src": StepSucceeded, "left": StepFailed, "right": StepScheduled, "join": StepSkipped},
		run:   RunRunning, errs: map[string]string{"join": "trigger rule all_success cannot hold (left failed)"},
	}, {
		name: "diamond: the run fails once every block is settled", flow: diamond,
		acts:  []act{completed("src", `1`), failed("left", "oom", false), completed("right", `2`)},
		steps: map[string]StepStatus{"src": StepSucceeded, "left": StepFailed, "right": StepSucceeded, "join": StepSkipped},
		run:   RunFailed, errs: map[string]string{"join": "left failed", "run": "oom"},
	}, {
		name: "handlers: independent roots start together", flow: handlers,
		steps: map[string]StepStatus{"train": StepScheduled, "eval": StepScheduled},
		run:   RunRunning, seen: []string{"task train #1", "task eval #1"},
	}, {
		name: "handlers: one_failed fires at the first failure, all_done waits", flow: handlers,
		acts: []act{failed("train", "diverged", false)},
		steps: map[string]StepStatus{"train": StepFailed, "eval": StepScheduled, "deploy": StepSkipped, "after_deploy": StepSkipped,
			"alert": StepSucceeded, "join": StepSkipped},
		run: RunRunning, errs: map[string]string{"deploy": "train failed", "after_deploy": "deploy was skipped"},
	}, {
		name: "handlers: all_done runs at the end, then the run fails with the failure", flow: handlers,
		acts: []act{failed("train", "diverged", false), completed("eval", `0.9`)},
		steps: map[string]StepStatus{"train": StepFailed, "eval": StepSucceeded, "deploy": StepSkipped, "after_deploy": StepSkipped,
			"alert": StepSucceeded, "cleanup": StepSucceeded, "join": StepSkipped},
		run: RunFailed, outs: map[string]string{"cleanup": `"clean"`}, errs: map[string]string{"run": "diverged"},
	}, {
		name: "handlers: all succeed, one_failed is skipped, none_failed runs", flow: handlers,
		acts: []act{completed("train", `1`), completed("eval", `2`), completed("deploy", `3`)},
		steps: map[string]StepStatus{"train": StepSucceeded, "eval": StepSucceeded, "deploy": StepSucceeded, "after_deploy": StepSucceeded,
			"alert": StepSkipped, "cleanup": StepSucceeded, "join": StepSucceeded},
		run: RunSucceeded, output: `{"alert": null, "cleanup": "clean", "join": "j"}`,
	}, {
		name: "a DAG block with a decision: the case not taken is skipped inside", flow: branchy, input: `{"go": false}`,
		steps: map[string]StepStatus{"pick": StepSucceeded, "work": StepSkipped, "idle": StepSucceeded, "a": StepSucceeded, "b": StepSucceeded},
		run:   RunSucceeded, output: `{"b": 2}`,
	}, {
		name: "skips propagate: all_success after a skip is skipped, none_failed runs, one_success with every parent skipped is skipped", flow: skipper,
		acts:  []act{completed("gate", `1`)},
		steps: map[string]StepStatus{"gate": StepSucceeded, "never": StepSkipped, "next": StepSkipped, "done": StepSucceeded, "first": StepSkipped},
		run:   RunSucceeded, output: `{"done": 2, "first": null}`,
		errs: map[string]string{"never": "all_failed cannot hold (gate succeeded)", "next": "never was skipped"},
	}, {
		name: "a DAG in a fork branch: the branch's output is its sinks'", flow: inFork,
		acts:  []act{completed("w", `0`), completed("x", `2`)},
		steps: map[string]StepStatus{"side": StepSucceeded, "x": StepSucceeded, "y": StepSucceeded, "z": StepSucceeded, "w": StepSucceeded, "after": StepSucceeded},
		run:   RunSucceeded, output: `22`, outs: map[string]string{"side": `{"z": {"y": 20, "z": 2}, "w": 0}`},
	}, {
		name: "a DAG in a map body runs per item", flow: inMap,
		steps: map[string]StepStatus{"each": StepRunning, "each[0].sq": StepSucceeded, "each[0].fit": StepScheduled,
			"each[1].sq": StepSucceeded, "each[1].fit": StepScheduled},
		run: RunRunning, seen: []string{`task each[0].fit #1`, `task each[1].fit #1`},
	}})
}

// Deciding a DAG costs time linear in its size: the pure decision on a
// wide fan-in touches each block and edge a bounded number of times.
func TestDAGWideFanInPure(t *testing.T) {
	t.Parallel()
	const n = 300
	src := `{"name": "w", "blocks": [`
	deps := ""
	for i := 0; i < n; i++ {
		src += fmt.Sprintf(`{"ref": "s%d", "block": "once"},`, i)
		if i > 0 {
			deps += ","
		}
		deps += fmt.Sprintf(`"s%d"`, i)
	}
	src += `{"ref": "fan", "type": "lambda", "expr": "s0.output + s299.output", "depends_on": [` + deps + `]}]}`
	p := startPure(t, pureBlueprint(t, src), "")
	for i := 0; i < n; i++ {
		if p.run.Status != RunRunning || p.step("fan") != nil {
			t.Fatalf("fan-in ran before all %d parents succeeded (after %d)", n, i)
		}
		p.apply(completed(fmt.Sprintf("s%d", i), fmt.Sprint(i))(p))
	}
	if p.run.Status != RunSucceeded || string(p.run.Output) != `{"fan":299}` {
		t.Fatalf("run %s output %s", p.run.Status, p.run.Output)
	}
}
