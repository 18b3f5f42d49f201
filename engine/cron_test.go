package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/weftlabs/weft/engine"
)

func TestCronFiresOncePerDueTime(t *testing.T) {
	t.Parallel()
	b := setup(t)
	name := b.flow(`{"name": "nightly", "triggers": [{"cron": "0 3 * * *", "input": {"src": "cron"}}], "blocks": [{"ref": "x", "type": "lambda", "expr": "flow.input.src"}]}`)
	// A second engine on the same store plays another replica.
	other := engine.New(engine.Config{NowFunc: b.clock.Now, DisableCron: true}, b.store, nil)
	count := func() int {
		page, err := b.eng.ListRuns(b.ctx, engine.RunFilter{Flow: name})
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Runs)
	}
	next, ok, err := b.eng.TickCron(b.ctx)
	if err != nil || !ok || !next.Equal(time.Date(2030, 1, 1, 3, 0, 0, 0, time.UTC)) {
		t.Fatalf("next due: %v %v %v", next, ok, err)
	}
	if count() != 0 {
		t.Fatal("fired before due")
	}
	b.clock.Advance(3 * time.Hour)
	for _, e := range []*engine.Engine{b.eng, other, b.eng} {
		if _, _, err := e.TickCron(b.ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(); n != 1 {
		t.Fatalf("runs after due time: got %d, want 1", n)
	}
	page, _ := b.eng.ListRuns(b.ctx, engine.RunFilter{Flow: name})
	if page.Runs[0].Trigger != "cron" {
		t.Fatalf("trigger: got %q", page.Runs[0].Trigger)
	}
	r := b.run(page.Runs[0].ID)
	jsonEq(t, "cron input", step(r, "x").Output, `"cron"`)

	// Down for three days: one run for the latest missed time, not three.
	b.clock.Advance(72 * time.Hour)
	if _, _, err := b.eng.TickCron(b.ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Fatalf("after downtime: got %d runs, want 2", n)
	}
}

func TestRetentionPurgesFinishedRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	eng := engine.New(engine.Config{NowFunc: b.clock.Now, DisableCron: true, Retention: 24 * time.Hour}, b.store, nil)
	name := b.flow(`{"name": "p", "blocks": [{"ref": "x", "type": "lambda", "expr": "1"}]}`)
	oldRun, _, _ := eng.StartRun(b.ctx, engine.StartParams{Flow: name})
	live := b.flow(`{"name": "live", "blocks": [{"ref": "w", "type": "wait", "signal": "s"}]}`)
	liveRun, _, _ := eng.StartRun(b.ctx, engine.StartParams{Flow: live})
	b.clock.Advance(23 * time.Hour)
	if n, err := eng.Purge(context.Background()); err != nil || n != 0 {
		t.Fatalf("purge before retention: %d %v", n, err)
	}
	b.clock.Advance(2 * time.Hour)
	if n, err := eng.Purge(context.Background()); err != nil || n != 1 {
		t.Fatalf("purge: got %d %v, want 1", n, err)
	}
	if _, err := eng.GetRun(b.ctx, oldRun.ID, true); err == nil {
		t.Fatal("purged run still readable")
	}
	if _, err := eng.GetRun(b.ctx, liveRun.ID, true); err != nil {
		t.Fatalf("unfinished run purged: %v", err)
	}
}
