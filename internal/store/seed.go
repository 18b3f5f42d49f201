package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SeedSpec describes synthetic runs for load tests and benchmarks.
type SeedSpec struct {
	// N is how many runs to insert.
	N int
	// Flows are the flow names, used in turn (at version 1).
	Flows []string
	// Newest is the creation time of the newest run; the others go back
	// in even steps over Span (pairs of runs share a creation time, so
	// pages must break ties on the id).
	Newest time.Time
	Span   time.Duration
	// KeyEvery gives every KeyEvery-th run the idempotency key
	// "seed-key-<i>" (0: none).
	KeyEvery int
	// Batch is how many rows one INSERT writes (default 200,000).
	Batch int
}

// seedStatuses spreads runs over every status like a busy installation:
// mostly succeeded, some failed, a few of the others. Weights sum to 100.
var seedStatuses = []struct {
	status string
	weight int
}{
	{"succeeded", 70}, {"failed", 12}, {"running", 5}, {"queued", 4}, {"cancelled", 4}, {"timed_out", 3}, {"paused", 2},
}

// SeedRuns bulk-inserts synthetic runs in a few statements (PostgreSQL:
// INSERT ... SELECT FROM generate_series; SQLite: a recursive CTE). Run i
// (0 is the newest) has flow Flows[i % len(Flows)], a status picked from a
// fixed spread by a multiplicative hash of i, input {"n": i}, an output
// when it succeeded and an error when it failed or timed out. It writes no
// steps, tasks or events.
func (s *Store) SeedRuns(ctx context.Context, spec SeedSpec) error {
	if spec.N <= 0 {
		return nil
	}
	if len(spec.Flows) == 0 {
		return errors.New("seed runs: Flows is empty; name at least one flow")
	}
	if spec.Span <= 0 {
		spec.Span = 30 * 24 * time.Hour
	}
	if spec.Newest.IsZero() {
		spec.Newest = time.Now()
	}
	if spec.Batch <= 0 {
		spec.Batch = 200_000
	}
	pairs := int64((spec.N + 1) / 2)
	step := spec.Span.Microseconds() / pairs
	if step < 1 {
		step = 1
	}
	newest := us(spec.Newest)

	var flow strings.Builder
	flow.WriteString("CASE i % " + fmt.Sprint(len(spec.Flows)))
	for k, f := range spec.Flows {
		fmt.Fprintf(&flow, " WHEN %d THEN '%s'", k, strings.ReplaceAll(f, "'", "''"))
	}
	flow.WriteString(" END")
	var status strings.Builder
	status.WriteString("CASE")
	acc := 0
	for _, st := range seedStatuses {
		acc += st.weight
		fmt.Fprintf(&status, " WHEN (i * 7919) %% 100 < %d THEN '%s'", acc, st.status)
	}
	status.WriteString(" END")

	key := "NULL"
	if spec.KeyEvery > 0 {
		key = fmt.Sprintf("CASE WHEN i %% %d = 0 THEN 'seed-key-' || i END", spec.KeyEvery)
	}
	created := fmt.Sprintf("(%d - (i / 2) * %d)", newest, step)
	// The id looks like the engine's: an 11-hex-digit millisecond prefix,
	// then 14 hex digits (here i and a hash, so it is unique).
	id, series := s.dia.seedRunSQL(created)
	sql := `INSERT INTO runs (id, flow, version, status, input, output, error, idempotency_key, trigger_kind, created_at, started_at, finished_at, rev)
SELECT ` + id + `, flow, 1, status, '{"n": ' || i || '}',
  CASE WHEN status = 'succeeded' THEN '{"ok": true, "n": ' || i || '}' END,
  CASE WHEN status IN ('failed', 'timed_out') THEN '{"message": "step train failed: exit status 1 (seeded run ' || i || ')", "step": "train"}' END,
  ` + key + `, 'api', ` + created + `,
  CASE WHEN status <> 'queued' THEN ` + created + ` + 1000000 END,
  CASE WHEN status IN ('succeeded', 'failed', 'cancelled', 'timed_out') THEN ` + created + ` + 1000000 + (i % 600) * 1000000 END,
  1
FROM (SELECT i, ` + flow.String() + ` AS flow, ` + status.String() + ` AS status FROM (` + series + `) AS g0) AS r`
	for lo := 0; lo < spec.N; lo += spec.Batch {
		hi := min(lo+spec.Batch, spec.N) - 1
		if err := s.q(ctx).Exec(sql, lo, hi).Error; err != nil {
			return fmt.Errorf("seed runs %d..%d: %w", lo, hi, err)
		}
	}
	if err := s.dia.analyze(ctx, s, "runs"); err != nil {
		return fmt.Errorf("seed runs: analyze: %w", err)
	}
	return nil
}

// SeedStatus is the status SeedRuns gives run i.
func SeedStatus(i int) string {
	h := (i * 7919) % 100
	acc := 0
	for _, st := range seedStatuses {
		acc += st.weight
		if h < acc {
			return st.status
		}
	}
	return seedStatuses[len(seedStatuses)-1].status
}
