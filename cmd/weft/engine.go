package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/internal/store"
)

// engineOptions configure the engine weft serve runs.
type engineOptions struct {
	retention time.Duration // 0 keeps finished runs forever
	log       *slog.Logger
	registry  *prometheus.Registry
	// afterClaim is the WEFT_FAILPOINT hook (nil: none).
	afterClaim func([]engine.Task)
}

// startEngine builds the engine on st and runs its loops until ctx ends;
// done closes when they stopped.
func startEngine(ctx context.Context, st *store.Store, o engineOptions) (*engine.Engine, <-chan struct{}, error) {
	retention := o.retention
	if retention == 0 {
		retention = -1
	}
	eng := engine.New(engine.Config{Retention: retention, AfterClaimFunc: o.afterClaim}, st, o.log.With("component", "engine"))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := eng.Run(ctx); err != nil {
			o.log.Error("engine stopped", "err", err)
		}
	}()
	return eng, done, nil
}
