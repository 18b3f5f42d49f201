package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/internal/artifact"
	"github.com/weftlabs/weft/internal/dispatch"
	"github.com/weftlabs/weft/internal/kube"
	"github.com/weftlabs/weft/internal/store"
	"github.com/weftlabs/weft/server"
)

// stack is what weft serve and weft bench run over an open store: the
// engine with its loops, the HTTP dispatcher when asked for, and the HTTP
// server's handler (the caller listens and serves).
type stack struct {
	eng *engine.Engine
	srv *server.Server
	log *slog.Logger

	stopEngine   context.CancelFunc
	engineDone   chan struct{}
	stopDispatch context.CancelFunc // nil without dispatch
	dispatchDone chan struct{}
	sweepDone    chan struct{}      // nil without an artifact store
	stopKube     context.CancelFunc // nil without a cluster
	kubeDone     chan struct{}
}

// stackOptions configure a stack.
type stackOptions struct {
	engine engine.Config
	server server.Config
	// dispatch configures the HTTP dispatcher; nil runs none (weft bench
	// has no HTTP blocks). Its Registerer and Logger are set here.
	dispatch *dispatch.Config
	// kube configures the Kubernetes dispatcher; nil runs none. Its
	// Logger and Logs are set here.
	kube     *kube.Config
	registry *prometheus.Registry // nil: the server keeps its own
	// artifacts is the artifact store; nil serves no artifacts. Its
	// sweeper (deleting the bytes of removed artifacts) runs with the
	// engine.
	artifacts artifact.Blobs
	log       *slog.Logger
}

// startStack wires the engine, the dispatcher and the server on st and
// starts the engine's loops and the dispatcher; stop ends them.
func startStack(ctx context.Context, st *store.Store, o stackOptions) *stack {
	s := &stack{log: o.log, engineDone: make(chan struct{})}
	s.eng = engine.New(o.engine, st, o.log.With("component", "engine"))
	var engCtx context.Context
	engCtx, s.stopEngine = context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(s.engineDone)
		if err := s.eng.Run(engCtx); err != nil {
			o.log.Error("engine stopped", "err", err)
		}
	}()
	deps := server.Deps{Engine: s.eng, Catalog: st, Tokens: st, Ready: server.ReadyFunc(st.Ping), Logger: o.log, Registry: o.registry, Logs: st}
	if o.dispatch != nil {
		cfg := *o.dispatch
		if o.registry != nil {
			cfg.Registerer = o.registry
		}
		cfg.Logger = o.log.With("component", "dispatch")
		cfg.Logs, cfg.MaxLogBytes = st, o.server.MaxLogBytes
		disp := dispatch.New(cfg, s.eng, st)
		var dispCtx context.Context
		dispCtx, s.stopDispatch = context.WithCancel(context.WithoutCancel(ctx))
		s.dispatchDone = make(chan struct{})
		go func() { defer close(s.dispatchDone); _ = disp.Run(dispCtx) }()
		deps.BlockStoredFunc = disp.BlockStored
	}
	if o.kube != nil {
		cfg := *o.kube
		cfg.Logger = o.log.With("component", "kube")
		cfg.Logs, cfg.MaxLogBytes = st, o.server.MaxLogBytes
		kd := kube.New(cfg, s.eng, st)
		var kubeCtx context.Context
		kubeCtx, s.stopKube = context.WithCancel(context.WithoutCancel(ctx))
		s.kubeDone = make(chan struct{})
		go func() { defer close(s.kubeDone); _ = kd.Run(kubeCtx) }()
		prev := deps.BlockStoredFunc
		deps.BlockStoredFunc = func(def *blocks.Definition) {
			if prev != nil {
				prev(def)
			}
			kd.BlockStored(def)
		}
		deps.CheckBlockFunc = kd.CheckBlock
	}
	if o.artifacts != nil {
		sweeper := artifact.NewSweeper(st, o.artifacts, o.log.With("component", "artifacts"))
		s.sweepDone = make(chan struct{})
		go func() { defer close(s.sweepDone); sweeper.Run(engCtx) }()
		deps.Artifacts = server.ArtifactDeps{Meta: st, Blobs: o.artifacts, Sweeper: sweeper}
	}
	s.srv = server.New(o.server, deps)
	return s
}

// stop ends the dispatcher (after its deliveries), then the engine's
// loops, waiting for them until deadline. Stop serving first.
func (s *stack) stop(deadline time.Time) {
	if s.stopKube != nil {
		s.stopKube()
		<-s.kubeDone
	}
	if s.stopDispatch != nil {
		s.stopDispatch()
		<-s.dispatchDone
	}
	s.stopEngine()
	select {
	case <-s.engineDone:
	case <-time.After(time.Until(deadline)):
		s.log.Warn("engine did not stop in time")
	}
	if s.sweepDone != nil {
		<-s.sweepDone
	}
}
