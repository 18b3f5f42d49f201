package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/weftlabs/weft/engine"
)

// ClaimsBefore lists leased tasks of the given queues claimed by a time,
// in pages by id, and neither ready tasks nor those of other queues.
func testClaimsBefore(t *testing.T, s engine.Store) {
	ctx := context.Background()
	mkRun(t, s, "r1", t0)
	if err := s.AddTasks(ctx, []engine.TaskRecord{mkTask("r1", "t1", "kube:a"), mkTask("r1", "t2", "kube:a"),
		mkTask("r1", "t3", "kube:b"), mkTask("r1", "t4", "other"), mkTask("r1", "t5", "kube:a")}); err != nil {
		t.Fatal(err)
	}
	claim(t, s, "kube:a", 1, t0, nil)
	claim(t, s, "kube:a", 1, t0.Add(10*time.Second), nil)
	claim(t, s, "kube:b", 1, t0.Add(20*time.Second), nil)
	claim(t, s, "other", 1, t0, nil)
	queues := []string{"kube:a", "kube:b"}
	got, err := s.ClaimsBefore(ctx, queues, t0.Add(10*time.Second), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "t1" || got[1].ID != "t2" || got[0].Lease == "" || got[0].WorkerID != "w" || got[0].ClaimedAt == nil || !got[0].ClaimedAt.Equal(t0) {
		t.Fatalf("claims at or before t0+10s: %+v", got)
	}
	if got, _ := s.ClaimsBefore(ctx, queues, t0.Add(time.Hour), "", 2); len(got) != 2 || got[1].ID != "t2" {
		t.Fatalf("first page of 2: %+v", got)
	}
	if got, _ := s.ClaimsBefore(ctx, queues, t0.Add(time.Hour), "t2", 2); len(got) != 1 || got[0].ID != "t3" {
		t.Fatalf("the page after t2: %+v", got)
	}
	if got, _ := s.ClaimsBefore(ctx, queues, t0.Add(-time.Second), "", 10); len(got) != 0 {
		t.Fatalf("claims before the first: %+v", got)
	}
	if got, err := s.ClaimsBefore(ctx, nil, t0.Add(time.Hour), "", 10); err != nil || len(got) != 0 {
		t.Fatalf("no queues: %+v %v", got, err)
	}
}
