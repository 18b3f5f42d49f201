package engine

import (
	"context"
	"errors"
	"strconv"
	"sync"
)

// Group commit: reports, claims and run starts that arrive while another
// transaction is committing are gathered and written in one transaction
// (one fsync on SQLite, one commit round trip on PostgreSQL). Each is a
// savepoint inside it, so one caller's error (a stale lease) rolls back
// only its own writes; a batch that fails as a whole is run again one
// caller at a time. Every caller is answered after the transaction that
// holds its change has committed.

// maxGroup bounds a batch (PostgreSQL keeps few subtransactions cheaply).
const maxGroup = 32

type groupReq struct {
	ctx  context.Context
	fn   func(tx Store, n *txNotes) error
	done chan error    // the result, after commit
	lead chan struct{} // closed: this caller commits the next batch
	led  bool          // lead was closed (under grouper.mu)
}

type grouper struct {
	mu      sync.Mutex
	pending []*groupReq
	busy    int // leaders committing a batch
}

// ParallelTx is implemented by a store that says how many transactions
// are worth running at once (SQLite: one writer).
type ParallelTx interface{ ParallelTx() int }

func (e *Engine) groupLeaders() int {
	if p, ok := e.store.(ParallelTx); ok && p.ParallelTx() > 0 {
		return p.ParallelTx()
	}
	return 1
}

// inTxGroup is inTx, committed together with concurrent callers.
func (e *Engine) inTxGroup(ctx context.Context, fn func(tx Store, n *txNotes) error) error {
	g := &e.group
	r := &groupReq{ctx: ctx, fn: fn, done: make(chan error, 1), lead: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, r)
	leader := g.busy < e.leaders
	if leader {
		g.busy++
		r.led = true
	}
	g.mu.Unlock()
	var result error
	answered := false
	if !leader {
		select {
		case result = <-r.done:
			answered = true
		case <-r.lead:
		}
		g.mu.Lock()
		led := r.led
		g.mu.Unlock()
		if !led {
			return result
		}
		// Promoted (perhaps while another leader answered): lead, so
		// the place handed over is not lost.
	}
	for {
		g.mu.Lock()
		n := len(g.pending)
		if n > maxGroup {
			n = maxGroup
		}
		batch := append([]*groupReq(nil), g.pending[:n]...)
		g.pending = append(g.pending[:0], g.pending[n:]...)
		g.mu.Unlock()
		if len(batch) > 0 {
			e.commitGroup(batch)
		}
		if !answered {
			select {
			case result = <-r.done:
				answered = true
			default:
			}
		}
		g.mu.Lock()
		if len(g.pending) == 0 {
			g.busy--
			g.mu.Unlock()
			break
		}
		if answered {
			// Pass this leader's place to the oldest caller not yet
			// promoted; when all are, they commit what is pending.
			passed := false
			for _, p := range g.pending {
				if !p.led {
					p.led, passed = true, true
					close(p.lead)
					break
				}
			}
			if !passed {
				g.busy--
			}
			g.mu.Unlock()
			break
		}
		g.mu.Unlock()
	}
	if !answered {
		result = <-r.done
	}
	return result
}

// commitGroup writes batch in one transaction, each request under its
// own savepoint, and answers every request.
func (e *Engine) commitGroup(batch []*groupReq) {
	if len(batch) == 1 {
		r := batch[0]
		r.done <- e.inTx(r.ctx, r.fn)
		return
	}
	errs := make([]error, len(batch))
	notes := make([]*txNotes, len(batch))
	alone := make([]bool, len(batch)) // run again by itself
	err := e.store.InTx(context.WithoutCancel(batch[0].ctx), func(tx Store) error {
		e.txBegun()
		for i, r := range batch {
			errs[i], notes[i], alone[i] = nil, nil, false
			if r.ctx.Err() != nil {
				errs[i] = r.ctx.Err()
				continue
			}
			sp := "weft_g" + strconv.Itoa(i)
			if err := tx.Savepoint(r.ctx, sp); err != nil {
				return err
			}
			n := newNotes()
			err := r.fn(tx, n)
			if err == nil {
				notes[i] = n
				continue
			}
			if rerr := tx.RollbackTo(r.ctx, sp); rerr != nil {
				return rerr
			}
			if !answerable(err) {
				// A race lost (deadlock, a run moved) or a database error:
				// run it again by itself, which settles what to answer.
				alone[i] = true
				continue
			}
			errs[i] = err
		}
		return nil
	})
	if err != nil {
		e.log.Debug("group commit failed; committing its requests one by one", attrErr(err), "size", len(batch))
		for _, r := range batch {
			r.done <- e.inTx(r.ctx, r.fn)
		}
		return
	}
	for i, r := range batch {
		if notes[i] != nil {
			e.announce(notes[i])
		}
		if alone[i] {
			r.done <- e.inTx(r.ctx, r.fn)
			continue
		}
		r.done <- errs[i]
	}
}

// answerable reports an error that is the request's own answer (the same
// in any transaction), not an accident of the batch.
func answerable(err error) bool {
	return !errors.Is(err, ErrTxConflict) && (errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) ||
		errors.Is(err, ErrInvalidInput) || errors.Is(err, ErrInvalidState) || errors.Is(err, errStale))
}
