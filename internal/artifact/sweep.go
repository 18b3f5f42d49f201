package artifact

import (
	"context"
	"log/slog"
	"time"
)

// Trash is where the database keeps the keys of deleted artifacts
// (implemented by internal/store).
type Trash interface {
	ArtifactTrash(ctx context.Context, limit int) ([]string, error)
	ForgetTrash(ctx context.Context, keys []string) error
}

// Sweeper deletes the bytes of artifacts whose rows are gone (their run
// purged, or replaced by an upload of the same name), then their trash
// rows. It runs at start, every Interval and when kicked.
type Sweeper struct {
	Trash    Trash
	Blobs    Blobs
	Log      *slog.Logger
	Interval time.Duration // default 10 minutes
	kick     chan struct{}
}

// NewSweeper returns a sweeper of trash over blobs.
func NewSweeper(trash Trash, blobs Blobs, log *slog.Logger) *Sweeper {
	if log == nil {
		log = slog.Default()
	}
	return &Sweeper{Trash: trash, Blobs: blobs, Log: log, Interval: 10 * time.Minute, kick: make(chan struct{}, 1)}
}

// Kick asks for a sweep soon.
func (s *Sweeper) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run sweeps until ctx ends.
func (s *Sweeper) Run(ctx context.Context) {
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.Log.Warn("artifact sweep failed; it runs again later", "store", s.Blobs.String(), "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

// Sweep deletes every trashed artifact's bytes and answers how many.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	total := 0
	for {
		keys, err := s.Trash.ArtifactTrash(ctx, 500)
		if err != nil || len(keys) == 0 {
			return total, err
		}
		for _, k := range keys {
			if err := s.Blobs.Delete(ctx, k); err != nil {
				return total, err
			}
		}
		if err := s.Trash.ForgetTrash(ctx, keys); err != nil {
			return total, err
		}
		total += len(keys)
		if len(keys) < 500 {
			return total, nil
		}
	}
}
