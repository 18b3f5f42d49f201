package engine_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/weftlabs/weft/engine"
)

func TestRetryBackoff(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(`{"name": "flaky", "dispatch": {"kind": "worker"}, "retry": {"max_attempts": 3, "backoff": "exponential", "initial_interval": "2s"}}`)
	name := b.flow(`{"name": "r", "blocks": [{"ref": "f", "block": "flaky"}]}`)
	r := b.start(name, `{}`)
	t1 := b.one("flaky")
	b.fail(t1, "transient", true)
	got := b.run(r.ID)
	s := wantStep(t, got, "f", engine.StepScheduled)
	if s.Attempt != 2 || len(s.Attempts) != 2 || s.Attempts[0].Status != engine.StepFailed {
		t.Fatalf("after first failure: %+v", s)
	}
	if ts := b.poll("flaky", 1); len(ts) != 0 {
		t.Fatalf("retry visible before back-off ended")
	}
	b.advance(2 * time.Second)
	t2 := b.one("flaky")
	if t2.Attempt != 2 || t2.ID == t1.ID {
		t.Fatalf("second attempt: %+v", t2)
	}
	b.fail(t2, "transient", true)
	b.advance(3 * time.Second)
	if ts := b.poll("flaky", 1); len(ts) != 0 {
		t.Fatalf("exponential: third attempt visible after 3s, want 4s")
	}
	b.advance(time.Second)
	t3 := b.one("flaky")
	b.fail(t3, "still broken", true)
	got = b.run(r.ID)
	wantStatus(t, got, engine.RunFailed)
	s = wantStep(t, got, "f", engine.StepFailed)
	if s.Attempt != 3 || len(s.Attempts) != 3 || got.Error.Message != "still broken" {
		t.Fatalf("final: attempt %d attempts %d error %+v", s.Attempt, len(s.Attempts), got.Error)
	}
}

func TestNodeRetryOverridesDefinition(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(`{"name": "flaky", "dispatch": {"kind": "worker"}, "retry": {"max_attempts": 5}}`)
	name := b.flow(`{"name": "r", "blocks": [{"ref": "f", "block": "flaky", "retry": {"max_attempts": 1}}]}`)
	r := b.start(name, `{}`)
	b.fail(b.one("flaky"), "x", true)
	wantStatus(t, b.run(r.ID), engine.RunFailed)
}

func TestNonRetryableFailsAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(`{"name": "flaky", "dispatch": {"kind": "worker"}, "retry": {"max_attempts": 5}}`)
	name := b.flow(`{"name": "r", "blocks": [{"ref": "f", "block": "flaky"}]}`)
	r := b.start(name, `{}`)
	b.fail(b.one("flaky"), "bad input", false)
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunFailed)
	if s := step(got, "f"); s.Attempt != 1 {
		t.Fatalf("attempt: got %d, want 1", s.Attempt)
	}
}

func TestLeaseExpiryRetries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(`{"name": "slow", "dispatch": {"kind": "worker"}, "heartbeat_timeout": "30s", "retry": {"max_attempts": 2, "initial_interval": "1s"}}`)
	name := b.flow(`{"name": "r", "blocks": [{"ref": "s", "block": "slow"}]}`)
	r := b.start(name, `{}`)
	t1 := b.one("slow")
	if !t1.Deadline.Equal(b.clock.Now().Add(30 * time.Second)) {
		t.Fatalf("deadline: got %v", t1.Deadline)
	}
	b.advance(20 * time.Second)
	hb, err := b.eng.Heartbeat(b.ctx, t1.ID, t1.Lease)
	if err != nil || hb.CancelRequested || !hb.LeaseExpiresAt.Equal(b.clock.Now().Add(30*time.Second)) {
		t.Fatalf("heartbeat: %+v %v", hb, err)
	}
	b.advance(29 * time.Second)
	wantStep(t, b.run(r.ID), "s", engine.StepRunning)
	b.advance(time.Second)
	s := wantStep(t, b.run(r.ID), "s", engine.StepScheduled)
	if s.Attempts[0].Error == nil || !strings.Contains(s.Attempts[0].Error.Message, "lease expired") {
		t.Fatalf("attempt 1 error: %+v", s.Attempts[0].Error)
	}
	// The old lease is fenced off.
	if err := b.eng.Complete(b.ctx, t1.ID, t1.Lease, []byte(`{}`)); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("report on expired lease: got %v, want ErrConflict", err)
	}
	b.advance(time.Second)
	t2 := b.one("slow")
	b.complete(t2, `{}`)
	wantStatus(t, b.run(r.ID), engine.RunSucceeded)
}

func TestStepTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(`{"name": "long", "dispatch": {"kind": "worker"}, "timeout": "1h", "heartbeat_timeout": "2h"}`)
	name := b.flow(`{"name": "r", "blocks": [{"ref": "l", "block": "long", "timeout": "10m"}]}`)
	r := b.start(name, `{}`)
	tk := b.one("long")
	b.advance(10 * time.Minute)
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunFailed)
	wantStep(t, got, "l", engine.StepTimedOut)
	hb, err := b.eng.Heartbeat(b.ctx, tk.ID, tk.Lease)
	if err == nil && !hb.CancelRequested {
		t.Fatalf("timed-out task: heartbeat should ask to stop or be refused, got %+v", hb)
	}
}

func TestOptional(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "o", "blocks": [{"ref": "maybe", "block": "echo", "optional": true}, {"ref": "next", "type": "lambda", "expr": "maybe.status"}]}`)
	r := b.start(name, `{}`)
	b.fail(b.one("echo"), "meh", false)
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunSucceeded)
	wantStep(t, got, "maybe", engine.StepFailed)
	jsonEq(t, "next", wantStep(t, got, "next", engine.StepSucceeded).Output, `"failed"`)
}

func TestCatch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	b.block(`{"name": "notify", "dispatch": {"kind": "worker"}}`)
	name := b.flow(`{"name": "c", "blocks": [
		{"ref": "train", "block": "echo", "catch": [{"ref": "tell", "block": "notify", "input": {"text": "${train.error.message}"}}]},
		{"ref": "next", "type": "lambda", "expr": "'went on'"}]}`)
	r := b.start(name, `{}`)
	b.fail(b.one("echo"), "oom", false)
	tell := b.one("notify")
	jsonEq(t, "catch input", tell.Input, `{"text": "oom"}`)
	b.complete(tell, `{}`)
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunSucceeded)
	wantStep(t, got, "train", engine.StepFailed)
	wantStep(t, got, "next", engine.StepSucceeded)
}

func TestCompensationAndOnFailure(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	b.block(`{"name": "undo", "dispatch": {"kind": "worker"}}`)
	b.block(`{"name": "notify", "dispatch": {"kind": "worker"}}`)
	name := b.flow(`{"name": "saga", "blocks": [
		{"ref": "a", "block": "echo", "compensate": {"block": "undo", "input": {"what": "a", "out": "${a.output}"}}},
		{"ref": "b", "block": "echo", "compensate": {"block": "undo", "input": {"what": "b"}}},
		{"ref": "c", "block": "echo"}
	], "on_failure": [{"ref": "alert", "block": "notify", "input": {"text": "run ${flow.run_id} failed: ${flow.error}"}}]}`)
	r := b.start(name, `{}`)
	b.complete(b.one("echo"), `"A"`)
	b.complete(b.one("echo"), `"B"`)
	b.fail(b.one("echo"), "c broke", false)
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunRunning)
	u1 := b.one("undo")
	jsonEq(t, "first compensation", u1.Input, `{"what": "b"}`)
	if ts := b.poll("undo", 5); len(ts) != 0 {
		t.Fatalf("compensations must run one at a time")
	}
	b.complete(u1, `{}`)
	u2 := b.one("undo")
	jsonEq(t, "second compensation", u2.Input, `{"what": "a", "out": "A"}`)
	b.complete(u2, `{}`)
	alert := b.one("notify")
	jsonEq(t, "on_failure input", alert.Input, `{"text": "run `+r.ID+` failed: c broke"}`)
	b.complete(alert, `{}`)
	got = b.run(r.ID)
	wantStatus(t, got, engine.RunFailed)
	if got.Error.Message != "c broke" || got.Error.Step != "c" {
		t.Fatalf("run error: %+v", got.Error)
	}
	wantStep(t, got, "b.compensate", engine.StepSucceeded)
	wantStep(t, got, "a.compensate", engine.StepSucceeded)
}

func TestRunTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(`{"name": "echo", "dispatch": {"kind": "worker"}, "heartbeat_timeout": "2h"}`)
	name := b.flow(`{"name": "t", "timeout": "1h", "blocks": [{"ref": "a", "block": "echo"}]}`)
	r := b.start(name, `{}`)
	tk := b.one("echo")
	b.advance(time.Hour)
	got := b.run(r.ID)
	wantStatus(t, got, engine.RunTimedOut)
	wantStep(t, got, "a", engine.StepCancelled)
	hb, err := b.eng.Heartbeat(b.ctx, tk.ID, tk.Lease)
	if err != nil || !hb.CancelRequested {
		t.Fatalf("heartbeat after run timeout: %+v %v", hb, err)
	}
}

func TestSchemaValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(`{"name": "typed", "dispatch": {"kind": "worker"},
		"input_schema": {"type": "object", "required": ["dataset"], "properties": {"dataset": {"type": "string"}}},
		"output_schema": {"type": "object", "required": ["r2"], "properties": {"r2": {"type": "number"}}}}`)
	t.Run("input", func(t *testing.T) {
		t.Parallel()
		name := b.flow(`{"name": "in", "blocks": [{"ref": "x", "block": "typed", "input": {"dataset": "${flow.input.d}"}}]}`)
		got := b.run(b.start(name, `{"d": 7}`).ID)
		wantStatus(t, got, engine.RunFailed)
		s := wantStep(t, got, "x", engine.StepFailed)
		if !strings.Contains(s.Error.Message, "dataset") {
			t.Fatalf("error should name the field: %q", s.Error.Message)
		}
	})
	t.Run("output", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.block(`{"name": "typed", "dispatch": {"kind": "worker"}, "output_schema": {"type": "object", "required": ["r2"], "properties": {"r2": {"type": "number"}}}}`)
		name := b.flow(`{"name": "out", "blocks": [{"ref": "x", "block": "typed"}]}`)
		r := b.start(name, `{}`)
		b.complete(b.one("typed"), `{"r2": "high"}`)
		got := b.run(r.ID)
		wantStatus(t, got, engine.RunFailed)
		s := wantStep(t, got, "x", engine.StepFailed)
		if !strings.Contains(s.Error.Message, "r2") {
			t.Fatalf("error should name the field: %q", s.Error.Message)
		}
	})
	t.Run("run input", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		name := b.flow(`{"name": "fi", "input_schema": {"type": "object", "required": ["url"]}, "blocks": [{"ref": "x", "type": "lambda", "expr": "1"}]}`)
		_, _, err := b.eng.StartRun(b.ctx, engine.StartParams{Flow: name, Input: []byte(`{}`)})
		if !errors.Is(err, engine.ErrInvalidInput) || !strings.Contains(err.Error(), "url") {
			t.Fatalf("got %v, want ErrInvalidInput naming url", err)
		}
	})
}
