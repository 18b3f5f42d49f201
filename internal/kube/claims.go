package kube

import (
	"context"
	"log/slog"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/engine"
)

// sweepClaims gives back lost claims once the informers are synced, then
// every ClaimSweep until ctx ends.
func (d *Dispatcher) sweepClaims(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := d.recoverClaims(ctx, time.Now()); err != nil && ctx.Err() == nil {
			d.log.Warn("look for lost claims", "err", err)
		} else if n > 0 {
			d.log.Info("claims without a Job given back", "tasks", n)
		}
		t.Reset(d.cfg.ClaimSweep)
	}
}

// recoverClaims gives back the claims of Kubernetes tasks that have no Job
// and nobody to create one: this replica's own made before it started, and
// other replicas' older than ClaimGrace. It answers how many it gave back.
func (d *Dispatcher) recoverClaims(ctx context.Context, now time.Time) (int, error) {
	queues, err := d.queues(ctx)
	if err != nil || len(queues) == 0 {
		return 0, err
	}
	before := now.Add(-d.cfg.ClaimGrace)
	if d.started.After(before) {
		before = d.started
	}
	n, after := 0, ""
	for {
		recs, err := d.tasks.ClaimsBefore(ctx, queues, before, after, 500)
		if err != nil {
			return n, err
		}
		for _, rec := range recs {
			if d.lostClaim(ctx, rec, now) {
				n++
			}
		}
		if len(recs) < 500 {
			return n, nil
		}
		after = recs[len(recs)-1].ID
	}
}

// lostClaim gives back rec if it is a lost claim; it answers whether it
// did.
func (d *Dispatcher) lostClaim(ctx context.Context, rec engine.TaskRecord, now time.Time) bool {
	if !strings.HasPrefix(rec.WorkerID, WorkerPrefix) || rec.ClaimedAt == nil {
		return false // a claim of a worker polling the queue itself: not ours to judge
	}
	own := rec.WorkerID == d.cfg.WorkerID
	switch {
	case own && !rec.ClaimedAt.Before(d.started):
		return false // in flight in this process
	case !own && rec.ClaimedAt.After(now.Add(-d.cfg.ClaimGrace)):
		return false // another replica may be creating its Job now
	}
	def, err := d.blocks.Block(rec.Block, rec.Version)
	if err != nil || def == nil || def.Dispatch.Kind != blocks.DispatchKubernetes {
		return false // the claimer reports this one
	}
	ns := def.Dispatch.Namespace
	if ns == "" {
		ns = d.cfg.Namespace
	}
	name := JobName(rec.ID, rec.Attempt)
	d.mu.Lock()
	_, followed := d.tracked[ns+"/"+name]
	d.mu.Unlock()
	if followed {
		return false
	}
	if _, err := d.jobs.Jobs(ns).Get(name); err == nil {
		return false // the informer adopts it
	}
	// The informer may lag a Job created a moment ago: ask the API server.
	gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = d.cfg.Client.BatchV1().Jobs(ns).Get(gctx, name, metav1.GetOptions{})
	cancel()
	if !apierrors.IsNotFound(err) {
		return false // it exists, or the API server cannot say now
	}
	log := d.log.With("task_id", rec.ID, "run_id", rec.RunID, "step_ref", rec.Path, "attempt", rec.Attempt)
	if err := d.tasks.Release(context.WithoutCancel(ctx), []engine.Task{rec.Task}); err != nil {
		log.Warn("give back a claim without a Job", "err", err)
		return false
	}
	log.Log(ctx, slog.LevelInfo, "claim without a Job given back", "claimed_by", rec.WorkerID, "claimed_at", rec.ClaimedAt.UTC(), "job", ns+"/"+name)
	return true
}
