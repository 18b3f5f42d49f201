package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ErrInvalidInput marks a request the caller must fix: a run input that
// does not match the flow's input schema, an unreadable cursor, a bad
// parameter. The message says what to change.
var ErrInvalidInput = errors.New("invalid input")

// Config configures an Engine. The zero value is usable.
type Config struct {
	// NowFunc is the clock (default time.Now); tests pass a fake and call
	// Tick after moving it.
	NowFunc func() time.Time
	// Retention is how long finished runs are kept (default 30 days;
	// negative keeps them forever).
	Retention time.Duration
	// RetentionInterval is how often the purge runs (default 1h).
	RetentionInterval time.Duration
	// CronRefresh is how often the cron loop rereads the flows with cron
	// triggers (default 1m), besides waking at each due time.
	CronRefresh time.Duration
	// DisableCron turns cron triggers off on this replica.
	DisableCron bool
	// MaxPollWait caps a poll's wait (default 60s).
	MaxPollWait time.Duration
	// StatsWindow is the period Stats counts runs and workers over
	// (default 24h).
	StatsWindow time.Duration
	// AfterClaimFunc, when set, is called by Poll after a claim of tasks
	// has committed and before Poll returns them: the seam where fault
	// injection (tests, WEFT_FAILPOINT in cmd/weft) cancels the poll or
	// kills the process between a claim's commit and its answer.
	AfterClaimFunc func(tasks []Task)
}

func (c Config) withDefaults() Config {
	if c.NowFunc == nil {
		c.NowFunc = time.Now
	}
	if c.Retention == 0 {
		c.Retention = 30 * 24 * time.Hour
	}
	if c.RetentionInterval <= 0 {
		c.RetentionInterval = time.Hour
	}
	if c.CronRefresh <= 0 {
		c.CronRefresh = time.Minute
	}
	if c.MaxPollWait <= 0 {
		c.MaxPollWait = 60 * time.Second
	}
	if c.StatsWindow <= 0 {
		c.StatsWindow = 24 * time.Hour
	}
	return c
}

// Engine runs blueprints durably on a Store. It is safe for concurrent
// use; several engines (replicas) may share one PostgreSQL store.
type Engine struct {
	cfg   Config
	store Store
	log   *slog.Logger
	v     validator
	hub   *hub
	cache *stepCache
	items *itemsMemo
	kick  chan struct{}
	start time.Time

	group   grouper
	leaders int // batches committed at once

	// written lists the runs the open transaction has saved (kept only
	// with one writer, whose transactions never overlap): their cached
	// rows are not yet committed state.
	writtenMu sync.Mutex
	written   map[string]bool

	mu       sync.Mutex
	touched  map[string]time.Time // worker id -> last recorded poll
	lastTick time.Time            // the previous Tick's now
	nextWake time.Time            // when the timer loop wakes next (zero: no due time known)
	ticking  bool                 // a Tick is reading the next due time
	dueSeen  time.Time            // the earliest due time noted while ticking
}

// New returns an engine on store. Call Run to start its loops (timers,
// leases, cron, retention); the API methods work without it, but nothing
// becomes due.
func New(cfg Config, store Store, logger *slog.Logger) *Engine {
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{cfg: cfg, store: store, log: logger, v: schemaValidator{}, hub: newHub(), cache: newStepCache(), items: newItemsMemo(),
		kick: make(chan struct{}, 1), start: cfg.NowFunc().UTC(), touched: map[string]time.Time{}}
	e.leaders = e.groupLeaders()
	return e
}

func (e *Engine) now() time.Time { return e.cfg.NowFunc().UTC() }

// Run runs the engine's loops until ctx ends, then waits for them.
func (e *Engine) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	loops := []func(context.Context){e.timerLoop, e.retentionLoop, e.listenLoop}
	if !e.cfg.DisableCron {
		loops = append(loops, e.cronLoop)
	}
	for _, loop := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					e.log.Error("engine loop panicked", "panic", fmt.Sprint(r))
				}
			}()
			loop(ctx)
		}()
	}
	wg.Wait()
	return nil
}

// noteDue tells the timer loop that something committed becomes due at
// t. It is woken only when t is earlier than the time it sleeps until: a
// claim's lease usually expires after leases already watched, and waking
// the loop for it would cost a Tick per claim. A Tick that is running may
// have read the next due time before t was committed, so t is remembered
// for its result.
func (e *Engine) noteDue(t time.Time) {
	e.mu.Lock()
	kick := false
	if e.ticking {
		if e.dueSeen.IsZero() || t.Before(e.dueSeen) {
			e.dueSeen = t
		}
	} else if e.nextWake.IsZero() || t.Before(e.nextWake) {
		kick = true
	}
	e.mu.Unlock()
	if kick {
		e.kickTimers()
	}
}

func (e *Engine) kickTimers() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

func newID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}

// newRunID is sortable by creation time (a millisecond prefix) and random.
func newRunID(now time.Time) string {
	return fmt.Sprintf("%011x", now.UnixMilli()) + newID(7)
}

// hub parks pollers and run watchers until something changes in process.
type hub struct {
	mu     sync.Mutex
	queues map[string]map[chan struct{}]struct{}
	runs   map[string]map[chan struct{}]struct{}

	// What an idle poll needs to skip its claim: every wake-up of a queue
	// bumps its generation (wake-ups of all queues bump all), and a claim
	// that found nothing records the generations it started from. Until
	// one of them moves, the same claim would find nothing again.
	gen   map[string]uint64
	all   uint64
	empty map[string]emptyMark
}

type emptyMark struct {
	stamp uint64
	at    time.Time
}

// emptyFor bounds how long a claim that found nothing is trusted without a
// wake-up: work that frees no wake-up (a lost LISTEN connection) is still
// found within it.
const emptyFor = 30 * time.Second

func newHub() *hub {
	return &hub{queues: map[string]map[chan struct{}]struct{}{}, runs: map[string]map[chan struct{}]struct{}{},
		gen: map[string]uint64{}, empty: map[string]emptyMark{}}
}

// stamp sums the generations of qs; any wake-up of one of them changes it.
func (h *hub) stamp(qs []string) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.all
	for _, q := range qs {
		s += h.gen[q]
	}
	return s
}

// knownEmpty reports whether a claim for key, started at stamp, found
// nothing less than emptyFor ago and nothing woke its queues since.
func (h *hub) knownEmpty(key string, stamp uint64, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	m, ok := h.empty[key]
	return ok && m.stamp == stamp && now.Sub(m.at) < emptyFor && !now.Before(m.at)
}

// markEmpty records that a claim for key, started at stamp, found nothing.
func (h *hub) markEmpty(key string, stamp uint64, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.empty) > 10000 {
		h.empty = map[string]emptyMark{}
	}
	h.empty[key] = emptyMark{stamp: stamp, at: now}
}

func (h *hub) watch(m map[string]map[chan struct{}]struct{}, keys []string) (chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	for _, k := range keys {
		if m[k] == nil {
			m[k] = map[chan struct{}]struct{}{}
		}
		m[k][ch] = struct{}{}
	}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		for _, k := range keys {
			delete(m[k], ch)
			if len(m[k]) == 0 {
				delete(m, k)
			}
		}
		h.mu.Unlock()
	}
}

func (h *hub) wake(m map[string]map[chan struct{}]struct{}, keys []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	send := func(set map[chan struct{}]struct{}) {
		for ch := range set {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	if keys == nil {
		for _, set := range m {
			send(set)
		}
		return
	}
	for _, k := range keys {
		send(m[k])
	}
}

func (h *hub) watchQueues(qs []string) (chan struct{}, func()) { return h.watch(h.queues, qs) }
func (h *hub) wakeQueues(qs []string) {
	h.mu.Lock()
	if qs == nil {
		h.all++
	}
	for _, q := range qs {
		h.gen[q]++
	}
	h.mu.Unlock()
	h.wake(h.queues, qs)
}
func (h *hub) watchRun(id string) (chan struct{}, func()) { return h.watch(h.runs, []string{id}) }
func (h *hub) wakeRuns(ids []string)                      { h.wake(h.runs, ids) }
