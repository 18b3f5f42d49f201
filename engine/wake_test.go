package engine_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/internal/store"
)

// armedClock is a test clock that, once armed, reports the first reading
// taken after arming on a channel: the test learns when a parked poller
// has read the time for its claim.
type armedClock struct {
	*testClock
	mu    sync.Mutex
	armed chan struct{}
}

func (c *armedClock) Now() time.Time {
	t := c.testClock.Now()
	c.mu.Lock()
	if c.armed != nil {
		close(c.armed)
		c.armed = nil
	}
	c.mu.Unlock()
	return t
}

func (c *armedClock) arm() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed = make(chan struct{})
	return c.armed
}

// A poller parked while a retry backs off is woken when the back-off ends,
// even when the first Tick after the retry runs only once the task is
// already visible (a busy or slow timer loop).
func TestPollWokenWhenBackoffEndsBeforeTick(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.OpenWith(ctx, filepath.Join(t.TempDir(), "weft.db"), nil, store.Options{SQLiteSynchronous: "OFF"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	clock := &armedClock{testClock: newTestClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))}
	eng := engine.New(engine.Config{NowFunc: clock.Now, DisableCron: true}, st, nil)
	b := &bundle{t: t, ctx: ctx, eng: eng, store: st, clock: clock.testClock}
	b.block(`{"name": "flaky", "dispatch": {"kind": "worker"},
	  "retry": {"max_attempts": 3, "initial_interval": "10ms", "backoff": "fixed"}}`)
	name := b.flow(`{"name": "retry-fast", "blocks": [{"ref": "a", "block": "flaky"}]}`)
	r := b.start(name, `{}`)
	first := b.one("flaky")
	b.tick() // the timer loop now knows only the lease expiry (minutes away)
	b.fail(first, "transient", true)

	armed := clock.arm()
	type polled struct {
		tasks []engine.Task
		err   error
	}
	got := make(chan polled, 1)
	go func() {
		ts, err := eng.Poll(ctx, engine.PollParams{Queues: []string{"flaky"}, Max: 1, Wait: 3 * time.Second})
		got <- polled{ts, err}
	}()
	select {
	case <-armed: // the poller registered and read the (old) time for its claim
	case <-time.After(10 * time.Second):
		t.Fatal("poller never claimed")
	}
	b.clock.Advance(20 * time.Millisecond) // back-off over; no Tick ran in between
	b.tick()
	var p polled
	select {
	case p = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("poll did not return")
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	if len(p.tasks) != 1 || p.tasks[0].Attempt != 2 {
		t.Fatalf("parked poller got %+v after the back-off ended, want attempt 2 of %s (it waited its whole wait)", p.tasks, r.ID)
	}
}
