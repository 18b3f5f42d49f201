package engine_test

import (
	"testing"
	"time"

	"github.com/weftlabs/weft/engine"
)

// Idle workers long-polling an empty queue cost the database nothing after
// the first empty claim, and new work still reaches the next poll at once.
func TestIdlePollsSkipTheDatabase(t *testing.T) {
	t.Parallel()
	b := setup(t)
	count := b.store.CountStatements()
	b.block(blockEcho)
	name := b.flow(`{"name": "idle", "blocks": [{"ref": "a", "block": "echo"}]}`)
	poll := func(wait time.Duration) []engine.Task {
		ts, err := b.eng.Poll(b.ctx, engine.PollParams{WorkerID: "w1", Queues: []string{"echo"}, Max: 1, Wait: wait})
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	if ts := poll(10 * time.Millisecond); len(ts) != 0 {
		t.Fatalf("first poll: got %d tasks, want none", len(ts))
	}
	before := count()
	for i := 0; i < 5; i++ {
		if ts := poll(10 * time.Millisecond); len(ts) != 0 {
			t.Fatalf("poll %d: got %d tasks, want none", i, len(ts))
		}
	}
	if n := count() - before; n != 0 {
		t.Errorf("5 idle polls issued %d statements, want 0", n)
	}
	// A poll that does not wait always asks.
	before = count()
	poll(0)
	if n := count() - before; n == 0 {
		t.Errorf("a poll with wait 0 issued no statement; it must check the database")
	}

	r := b.start(name, `{}`)
	ts := poll(5 * time.Second)
	if len(ts) != 1 || ts[0].RunID != r.ID {
		t.Fatalf("after a run started: got %v, want its task", ts)
	}
}
