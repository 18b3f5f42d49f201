package engine_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/weftlabs/weft/engine"
)

// Reports arriving together are committed together; a stale one among
// them is refused on its own and the others all take effect.
func TestConcurrentReportsOneStale(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.block(blockEcho)
	name := b.flow(`{"name": "one", "blocks": [{"ref": "a", "block": "echo"}]}`)
	const n = 40
	ids := make([]string, n)
	for i := range ids {
		ids[i] = b.start(name, `{}`).ID
	}
	ts := b.poll("echo", 100)
	if len(ts) != n {
		t.Fatalf("claimed %d tasks, want %d", len(ts), n)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, tk := range ts {
		lease := tk.Lease
		if i == 7 {
			lease = "stale"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = b.eng.Complete(b.ctx, tk.ID, lease, []byte(`{"ok": true}`))
		}()
	}
	wg.Wait()
	done := 0
	for i, tk := range ts {
		r := b.run(tk.RunID)
		if i == 7 {
			if !errors.Is(errs[i], engine.ErrConflict) {
				t.Fatalf("stale report: got %v, want ErrConflict", errs[i])
			}
			wantStatus(t, r, engine.RunRunning)
			continue
		}
		if errs[i] != nil {
			t.Fatalf("report %d: %v", i, errs[i])
		}
		wantStatus(t, r, engine.RunSucceeded)
		done++
	}
	if done != n-1 {
		t.Fatalf("%d runs succeeded, want %d", done, n-1)
	}
}
