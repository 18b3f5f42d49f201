package bench

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/weftlabs/weft/internal/runner"
)

// Workload 6: command steps. A command block that runs `true`, executed by
// the command runner (internal/runner, as in weft worker) over HTTP: a
// chain of 40 and one of 400, and a map of 1,000 steps on 8 slots. Each
// figure is set against running `true` directly the same number of times,
// the same way (one at a time, or 8 at a time); the difference per step is
// what Weft adds.

const trueBlock = `{"name": "bench.true", "dispatch": {"kind": "command", "queue": "bench-cmd", "command": ["true"]}, "heartbeat_timeout": "5m"}`

func trueChain(name string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"name": %q, "blocks": [`, name)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"ref": "s%d", "block": "bench.true"}`, i)
	}
	b.WriteString("]}")
	return b.String()
}

const trueMap = `{"name": "bench-true-map", "input_schema": {"type": "object"}, "blocks": [
  {"ref": "each", "type": "map", "items": "1..flow.input.n", "concurrency": 1000, "do": [
    {"ref": "t", "block": "bench.true", "input": {"i": "${item}"}}]}]}`

func (e *env) commands(ctx context.Context) ([]Result, error) {
	short, long, par := max(1, 40/e.cfg.Scale), max(1, 400/e.cfg.Scale), max(1, 1000/e.cfg.Scale)
	if err := e.call(ctx, "PUT", "/api/v1/blocks", []byte(trueBlock), nil); err != nil {
		return nil, fmt.Errorf("upload block: %w", err)
	}
	for _, f := range []string{trueChain("bench-true-short", short), trueChain("bench-true-long", long), trueMap} {
		if err := e.call(ctx, "POST", "/api/v1/flows", []byte(f), nil); err != nil {
			return nil, fmt.Errorf("upload flow: %w", err)
		}
	}
	truePath, err := exec.LookPath("true")
	if err != nil {
		return nil, fmt.Errorf("workload 6 runs the program true: %w", err)
	}
	r, err := runner.New(runner.Config{Server: e.base, WorkerID: "bench-commands", Queues: []string{"bench-cmd"}, Slots: 8,
		KillGrace: time.Second, StopGrace: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(wctx) }()
	defer func() {
		stop()
		<-done
		for e.target.PollsActive != nil && e.target.PollsActive() > 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}()

	// direct runs `true` n times, k at a time, and returns the wall time.
	direct := func(n, k int) (time.Duration, error) {
		start := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var first error
		next := make(chan struct{}, n)
		for i := 0; i < n; i++ {
			next <- struct{}{}
		}
		close(next)
		for g := 0; g < k; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range next {
					if err := exec.Command(truePath).Run(); err != nil {
						mu.Lock()
						first = err
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start), first
	}
	viaWeft := func(flow string, input any) (time.Duration, error) {
		start := time.Now()
		id, err := e.start(ctx, flow, input)
		if err == nil {
			_, err = e.wait(ctx, id)
		}
		return time.Since(start), err
	}
	var out []Result
	for _, c := range []struct {
		name  string
		flow  string
		input any
		n, k  int
	}{
		{fmt.Sprintf("chain of %d", short), "bench-true-short", map[string]any{}, short, 1},
		{fmt.Sprintf("chain of %d", long), "bench-true-long", map[string]any{}, long, 1},
		{fmt.Sprintf("%d parallel, 8 slots", par), "bench-true-map", map[string]any{"n": par}, par, 8},
	} {
		m := e.measure()
		w, err := viaWeft(c.flow, c.input)
		m.stop()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		d, err := direct(c.n, c.k)
		if err != nil {
			return nil, fmt.Errorf("%s: running true directly: %w", c.name, err)
		}
		per, perDirect := ms(w)/float64(c.n), ms(d)/float64(c.n)
		out = append(out,
			Result{6, c.name + ": per step", per, "ms", fmt.Sprintf("%.2fs in all; true alone %.3f ms/step", w.Seconds(), perDirect)},
			Result{6, c.name + ": overhead", per - perDirect, "ms/step", "over running true directly"})
		for _, r := range m.per(6, int64(c.n)) {
			r.Name = c.name + ": " + r.Name
			out = append(out, r)
		}
	}
	return out, nil
}
