package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// maxSleep bounds a loop's sleep so a clock jump cannot strand it.
const maxSleep = time.Hour

func (e *Engine) sleep(ctx context.Context, until time.Time, ok bool, kick <-chan struct{}) bool {
	d := maxSleep
	if ok {
		d = until.Sub(e.now())
		if d > maxSleep {
			d = maxSleep
		}
		if d < 0 {
			d = 0
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-kick:
	}
	return true
}

// timerLoop fires due timers and expired leases, then sleeps until the
// next due time or a wake-up.
func (e *Engine) timerLoop(ctx context.Context) {
	for ctx.Err() == nil {
		next, ok, err := e.Tick(ctx)
		if err != nil && ctx.Err() == nil {
			e.log.Error("timers", attrErr(err))
			next, ok = e.now().Add(time.Second), true
		}
		if !e.sleep(ctx, next, ok, e.kick) {
			return
		}
	}
}

func ignorable(err error) bool {
	return errors.Is(err, errStale) || errors.Is(err, ErrInvalidState) || errors.Is(err, ErrNotFound)
}

// Tick does everything due at the engine's now: fires timers (waits,
// timeouts), fails attempts whose lease expired, wakes pollers for tasks
// whose back-off ended. It returns the next due time (ok=false: none).
// The timer loop calls it; tests call it after moving a fake clock.
func (e *Engine) Tick(ctx context.Context) (time.Time, bool, error) {
	now := e.now()
	e.mu.Lock()
	prev := e.lastTick
	if prev.IsZero() || prev.After(now) {
		prev = e.start
	}
	e.ticking, e.dueSeen = true, time.Time{}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.ticking = false
		e.mu.Unlock()
	}()
	// Cheap read first: most wake-ups find nothing due and need no write
	// transaction. Delayed tasks are counted from the previous Tick, not
	// from now: a back-off that ended between two Ticks (a retry committed
	// after the last Tick, whose visible_at passed before this one) must
	// still wake the pollers parked on its queue.
	first, some, err := e.store.NextWake(ctx, prev)
	if err != nil {
		return time.Time{}, false, err
	}
	if some && !first.After(now) {
		if err := e.fireDue(ctx, now); err != nil {
			return time.Time{}, false, err
		}
		// Something became due since the previous Tick: possibly a task
		// whose back-off ended; let pollers look.
		e.hub.wakeQueues(nil)
	}
	next, ok, err := e.store.NextWake(ctx, now)
	if err != nil {
		return time.Time{}, false, err
	}
	e.mu.Lock()
	e.lastTick = now
	if !e.dueSeen.IsZero() && (!ok || e.dueSeen.Before(next)) {
		next, ok = e.dueSeen, true
	}
	e.nextWake = time.Time{}
	if ok {
		e.nextWake = next
	}
	e.mu.Unlock()
	return next, ok, nil
}

// fireDue fires the timers and lease expiries due at now.
func (e *Engine) fireDue(ctx context.Context, now time.Time) error {
	for i := 0; i < 10000; i++ {
		found := false
		err := e.inTx(ctx, func(tx Store, n *txNotes) error {
			ts, err := tx.DueTimers(ctx, now, 1)
			if err != nil || len(ts) == 0 {
				return err
			}
			found = true
			t := ts[0]
			err = e.applyTx(ctx, tx, t.RunID, change{Kind: chTimer, Actor: "engine", Path: t.Path, Timer: t}, n)
			if ignorable(err) {
				e.log.Debug("timer ignored", attrRun(t.RunID), attrStep(t.Path), "kind", t.Kind, attrErr(err))
				return nil
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("fire timers: %w", err)
		}
		if !found {
			break
		}
	}
	for {
		recs, err := e.store.ExpiredLeases(ctx, now, 100)
		if err != nil {
			return err
		}
		for _, t := range recs {
			err := e.inTx(ctx, func(tx Store, n *txNotes) error {
				cur, err := tx.GetTask(ctx, t.ID)
				if errors.Is(err, ErrNotFound) {
					return nil // reported meanwhile
				}
				if err != nil {
					return err
				}
				if cur.Lease != t.Lease {
					return nil // reported meanwhile
				}
				if cur.DeadlineAt != nil && !cur.DeadlineAt.After(now) && (cur.LeaseExpiresAt == nil || cur.LeaseExpiresAt.After(now)) {
					// The attempt ran past its step timeout: time it out
					// (its task is asked to stop) once.
					if err := tx.ClearDeadline(ctx, t.ID, t.Lease); err != nil {
						if errors.Is(err, ErrConflict) {
							return nil
						}
						return err
					}
					timer := Timer{RunID: t.RunID, Path: t.Path, Kind: TimerStepTimeout, Attempt: t.Attempt, DueAt: *cur.DeadlineAt}
					err = e.applyTx(ctx, tx, t.RunID, change{Kind: chTimer, Actor: "engine", Path: t.Path, Timer: timer, Claimed: claimOf(cur)}, n)
					if ignorable(err) {
						return nil
					}
					return err
				}
				if cur.LeaseExpiresAt == nil || cur.LeaseExpiresAt.After(now) {
					return nil // heartbeat extended it meanwhile
				}
				if err := tx.ConsumeTask(ctx, t.ID, t.Lease); err != nil {
					if errors.Is(err, ErrConflict) {
						return nil // reported or extended meanwhile
					}
					return err
				}
				err = e.applyTx(ctx, tx, t.RunID, change{Kind: chLeaseExpired, Actor: "engine", Path: t.Path, Attempt: t.Attempt, Claimed: claimOf(cur)}, n)
				if ignorable(err) {
					return nil
				}
				if err == nil {
					e.log.Warn("lease expired; attempt failed", attrTask(t.ID), attrRun(t.RunID), attrStep(t.Path), attrAttempt(t.Attempt))
				}
				return err
			})
			if err != nil {
				return fmt.Errorf("expire leases: %w", err)
			}
		}
		if len(recs) < 100 {
			return nil
		}
	}
}

// cronLoop starts runs for cron triggers.
func (e *Engine) cronLoop(ctx context.Context) {
	for ctx.Err() == nil {
		next, ok, err := e.TickCron(ctx)
		if err != nil && ctx.Err() == nil {
			e.log.Error("cron", attrErr(err))
		}
		refresh := e.now().Add(e.cfg.CronRefresh)
		if !ok || next.After(refresh) {
			next = refresh
		}
		if !e.sleep(ctx, next, true, nil) {
			return
		}
	}
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseCron parses a 5-field cron spec or a descriptor such as @hourly.
func ParseCron(spec string) (cron.Schedule, error) { return cronParser.Parse(spec) }

// TickCron starts the runs of cron triggers that are due and returns the
// next due time. Each due time fires at most once across replicas (a
// unique row in cron_fires is written first). After downtime a trigger
// fires once, for the most recent due time it missed, not for every one;
// a trigger never fired before starts counting at the engine's start.
func (e *Engine) TickCron(ctx context.Context) (time.Time, bool, error) {
	bps, err := e.store.CronFlows(ctx)
	if err != nil {
		return time.Time{}, false, err
	}
	now := e.now()
	var next time.Time
	var some bool
	for _, bp := range bps {
		last, fired, err := e.store.LastCronFire(ctx, bp.Name)
		if err != nil {
			return time.Time{}, false, err
		}
		from := e.start
		if fired && last.After(from) {
			from = last
		}
		for ti, trig := range bp.Triggers {
			if trig.Cron == "" {
				continue
			}
			sched, err := ParseCron(trig.Cron)
			if err != nil {
				e.log.Error("cron trigger does not parse", attrFlow(bp.Name), "cron", trig.Cron, attrErr(err))
				continue
			}
			due := time.Time{}
			for t, i := sched.Next(from), 0; !t.IsZero() && !t.After(now) && i < 1_000_000; t, i = sched.Next(t), i+1 {
				due = t
			}
			if !due.IsZero() {
				if err := e.fireCron(ctx, bp.Name, ti, trig.Input, due); err != nil {
					e.log.Error("cron run did not start", attrFlow(bp.Name), attrErr(err))
				}
			}
			if t := sched.Next(now); !t.IsZero() && (!some || t.Before(next)) {
				next, some = t, true
			}
		}
	}
	return next, some, nil
}

func (e *Engine) fireCron(ctx context.Context, flow string, trigger int, input []byte, due time.Time) error {
	bp, err := e.store.GetFlow(ctx, flow, 0)
	if err != nil {
		return err
	}
	key := "cron:" + flow + ":" + strconv.FormatInt(due.Unix(), 10)
	if trigger > 0 {
		key += ":" + strconv.Itoa(trigger)
	}
	return e.inTx(ctx, func(tx Store, n *txNotes) error {
		ok, err := tx.ClaimCronFire(ctx, flow, due, "", e.now())
		if err != nil || !ok {
			return err
		}
		id, err := e.startTx(ctx, tx, n, bp, StartParams{Flow: flow, Input: input, IdempotencyKey: key, Trigger: "cron", Actor: "cron"})
		if err != nil {
			return err
		}
		e.log.Info("cron run started", attrFlow(flow), attrRun(id), "due", due.Format(time.RFC3339))
		return nil
	})
}

// retentionLoop purges finished runs older than the retention period.
func (e *Engine) retentionLoop(ctx context.Context) {
	if e.cfg.Retention < 0 {
		return
	}
	for ctx.Err() == nil {
		if _, err := e.Purge(ctx); err != nil && ctx.Err() == nil {
			e.log.Error("purge finished runs", attrErr(err))
		}
		if !e.sleep(ctx, e.now().Add(e.cfg.RetentionInterval), true, nil) {
			return
		}
	}
}

// PurgeBatch is how many runs one purge statement deletes.
const PurgeBatch = 500

// Purge deletes runs finished longer than Config.Retention ago, in
// batches, and returns how many went.
func (e *Engine) Purge(ctx context.Context) (int, error) {
	if e.cfg.Retention < 0 {
		return 0, nil
	}
	before := e.now().Add(-e.cfg.Retention)
	total := 0
	for ctx.Err() == nil {
		n, err := e.store.PurgeRuns(ctx, before, PurgeBatch)
		total += n
		if err != nil {
			return total, err
		}
		if n < PurgeBatch {
			break
		}
	}
	if total > 0 {
		e.log.Info("finished runs purged", "count", total)
	}
	return total, nil
}

// listenLoop relays other replicas' wake-ups to this one's waiters.
func (e *Engine) listenLoop(ctx context.Context) {
	err := e.store.Listen(ctx, func(topic string) {
		switch {
		case topic == "":
			e.hub.wakeQueues(nil)
			e.hub.wakeRuns(nil)
			e.kickTimers()
		case strings.HasPrefix(topic, "run:"):
			e.hub.wakeRuns([]string{strings.TrimPrefix(topic, "run:")})
		default:
			e.hub.wakeQueues([]string{topic})
		}
	})
	if err != nil && ctx.Err() == nil {
		e.log.Error("listen for wake-ups", attrErr(err))
	}
}
