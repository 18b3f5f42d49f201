package engine_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/internal/store"
)

// BenchmarkTwoStepRun starts a run of a two-block flow and works it to the
// end through Poll and Complete, on SQLite with synchronous=FULL.
func BenchmarkTwoStepRun(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(b.TempDir(), "weft.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	bb := &bundle{t: b, ctx: ctx, store: st, eng: engine.New(engine.Config{DisableCron: true}, st, nil)}
	bb.block(blockEcho)
	name := bb.flow(`{"name": "two", "blocks": [{"ref": "a", "block": "echo"}, {"ref": "b", "block": "echo", "input": {"x": "${a.output}"}}]}`)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := bb.start(name, `{}`)
		bb.complete(bb.one("echo"), `1`)
		bb.complete(bb.one("echo"), `2`)
		if got := bb.run(r.ID); got.Status != engine.RunSucceeded {
			b.Fatalf("run %s", got.Status)
		}
	}
}

// BenchmarkConcurrentWorkers: eight workers drain b.N one-block runs, with
// SQLite's synchronous=FULL (the default) and OFF (no fsync).
func BenchmarkConcurrentWorkers(b *testing.B) {
	for _, sync := range []string{"FULL", "OFF"} {
		b.Run("synchronous="+sync, func(b *testing.B) { benchWorkers(b, sync) })
	}
}

func benchWorkers(b *testing.B, sync string) {
	ctx := context.Background()
	st, err := store.OpenWith(ctx, filepath.Join(b.TempDir(), "weft.db"), nil, store.Options{SQLiteSynchronous: sync})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	eng := engine.New(engine.Config{DisableCron: true}, st, nil)
	bb := &bundle{t: b, ctx: ctx, store: st, eng: eng}
	bb.block(blockEcho)
	name := bb.flow(`{"name": "one", "blocks": [{"ref": "a", "block": "echo"}]}`)
	for i := 0; i < b.N; i++ {
		bb.start(name, `{}`)
	}
	b.ResetTimer()
	done := make(chan error, 8)
	for w := 0; w < 8; w++ {
		go func() {
			for {
				ts, err := eng.Poll(ctx, engine.PollParams{WorkerID: "w", Queues: []string{"echo"}, Max: 1})
				if err != nil || len(ts) == 0 {
					done <- err
					return
				}
				if err := eng.Complete(ctx, ts[0].ID, ts[0].Lease, []byte(`1`)); err != nil {
					done <- err
					return
				}
			}
		}()
	}
	for w := 0; w < 8; w++ {
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMap500 works a 500-item map (concurrency 200) with four workers.
func BenchmarkMap500(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(b.TempDir(), "weft.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	eng := engine.New(engine.Config{DisableCron: true}, st, nil)
	bb := &bundle{t: b, ctx: ctx, store: st, eng: eng}
	bb.block(blockEcho)
	name := bb.flow(`{"name": "m", "blocks": [{"ref": "each", "type": "map", "items": "1..500", "concurrency": 200, "do": [{"ref": "work", "block": "echo", "input": {"i": "${item}"}}]}]}`)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := bb.start(name, `{}`)
		done := make(chan error, 4)
		for w := 0; w < 4; w++ {
			go func() {
				for {
					ts, err := eng.Poll(ctx, engine.PollParams{WorkerID: "w", Queues: []string{"echo"}, Max: 10})
					if err != nil || len(ts) == 0 {
						done <- err
						return
					}
					for _, tk := range ts {
						if err := eng.Complete(ctx, tk.ID, tk.Lease, []byte(`1`)); err != nil {
							done <- err
							return
						}
					}
				}
			}()
		}
		for w := 0; w < 4; w++ {
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
		if got := bb.run(r.ID); got.Status != engine.RunSucceeded {
			b.Fatalf("run %s", got.Status)
		}
	}
}
