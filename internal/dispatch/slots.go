package dispatch

import (
	"context"
	"time"
)

// Acquire takes at least one slot of sem (blocking) and then every free
// one, at most 100; it answers how many it took, 0 when ctx ended. The
// engine's own workers (HTTP delivery, Kubernetes Jobs) size their polls
// by it.
func Acquire(ctx context.Context, sem chan struct{}) int {
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	n := 1
	for n < cap(sem) && n < 100 {
		select {
		case sem <- struct{}{}:
			n++
		default:
			return n
		}
	}
	return n
}

// Sleep waits for dur, for ctx to end, or for a wake-up, whichever comes
// first.
func Sleep(ctx context.Context, dur time.Duration, wake <-chan struct{}) {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-wake:
	}
}
