package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/flows"
	"github.com/weftlabs/weft/internal/store"
	"github.com/weftlabs/weft/server"
)

// BenchmarkLogAppend100Steps: 100 steps run at once, each sending its log
// in batches of 50 lines over real HTTP, as the Python worker does. Reports
// lines/s stored (SQLite always; PostgreSQL with WEFT_TEST_POSTGRES_URL).
func BenchmarkLogAppend100Steps(b *testing.B) {
	for _, d := range []struct {
		name string
		open func(testing.TB) (*store.Store, string)
	}{{"sqlite", openSQLiteTB}, {"postgres", openPostgresTB}} {
		b.Run(d.name, func(b *testing.B) {
			if d.name == "postgres" && os.Getenv("WEFT_TEST_POSTGRES_URL") == "" {
				b.Skip("set WEFT_TEST_POSTGRES_URL")
			}
			st, _ := d.open(b)
			ctx, cancel := context.WithCancel(context.Background())
			eng := engine.New(engine.Config{Retention: -1, DisableCron: true}, st, nil)
			done := make(chan struct{})
			go func() { defer close(done); eng.Run(ctx) }()
			b.Cleanup(func() { cancel(); <-done })
			srv := server.New(server.Config{AuthReason: "bench"}, server.Deps{Engine: eng, Catalog: st, Tokens: st, Logs: st,
				Logger: slog.New(slog.DiscardHandler)})
			hs := httptest.NewServer(srv)
			b.Cleanup(hs.Close)
			def, err := server.ParseBlock([]byte(apiBlockTrain))
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := st.PutBlock(ctx, def, []byte(apiBlockTrain)); err != nil {
				b.Fatal(err)
			}
			bp, err := flows.Parse([]byte(`{"name": "talk", "blocks": [{"ref": "train", "block": "model.train", "input": {"dataset": "d"}}]}`), st)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := st.PutFlow(ctx, bp); err != nil {
				b.Fatal(err)
			}
			const steps, batch = 100, 50
			for range steps {
				if _, _, err := eng.StartRun(ctx, engine.StartParams{Flow: "talk", Input: json.RawMessage(`{}`)}); err != nil {
					b.Fatal(err)
				}
			}
			var tasks []engine.Task
			for len(tasks) < steps {
				got, err := eng.Poll(ctx, engine.PollParams{WorkerID: "bench", Queues: []string{"gpu"}, Max: 100, Wait: 5 * time.Second})
				if err != nil {
					b.Fatal(err)
				}
				tasks = append(tasks, got...)
			}
			lines := make([]any, batch)
			for i := range lines {
				lines[i] = map[string]any{"level": "info", "message": fmt.Sprintf("epoch %d: loss 0.%06d accuracy 0.9%05d and a little more text", i, i*7919, i*31)}
			}
			bodies := make([][]byte, steps)
			for i, tk := range tasks {
				bodies[i], _ = json.Marshal(map[string]any{"lease": tk.Lease, "lines": lines})
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: steps}}
			per := max(1, b.N/steps) // batches per step
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			errs := make(chan error, steps)
			for i, tk := range tasks {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range per {
						resp, err := client.Post(hs.URL+"/api/v1/tasks/"+tk.ID+"/logs", "application/json", bytes.NewReader(bodies[i]))
						if err != nil {
							errs <- err
							return
						}
						resp.Body.Close()
						if resp.StatusCode != http.StatusNoContent {
							errs <- fmt.Errorf("append: %d", resp.StatusCode)
							return
						}
					}
				}()
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			got, err := st.Logs(context.Background(), engine.LogQuery{RunID: tasks[0].RunID, Limit: 1000})
			if err != nil || len(got) != min(1000, per*batch) {
				b.Fatalf("stored %d lines of the first step (%v), want %d", len(got), err, min(1000, per*batch))
			}
			b.ReportMetric(float64(steps*per*batch)/el.Seconds(), "lines/s")
			b.ReportMetric(float64(steps*per)/el.Seconds(), "batches/s")
		})
	}
}
