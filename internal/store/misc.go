package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/weftlabs/weft/engine"
)

// TouchWorker records that a worker polled.
func (s *Store) TouchWorker(ctx context.Context, w engine.WorkerSeen) error {
	qs, _ := json.Marshal(w.Queues)
	err := s.q(ctx).Exec(`INSERT INTO workers (id, queues, last_seen) VALUES (?, ?, ?)
ON CONFLICT (id) DO UPDATE SET queues = excluded.queues, last_seen = excluded.last_seen`, w.ID, string(qs), us(w.LastSeen)).Error
	if err != nil {
		return fmt.Errorf("touch worker %s: %w", w.ID, err)
	}
	return nil
}

// ClaimCronFire records one firing of flow at due; false when already fired.
func (s *Store) ClaimCronFire(ctx context.Context, flow string, due time.Time, runID string, now time.Time) (bool, error) {
	res := s.q(ctx).Exec("INSERT INTO cron_fires (flow, due_at, run_id, fired_at) VALUES (?, ?, ?, ?) ON CONFLICT (flow, due_at) DO NOTHING",
		flow, us(due), runID, us(now))
	if res.Error != nil {
		return false, fmt.Errorf("claim cron fire of %s: %w", flow, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// LastCronFire is the latest due time fired for flow.
func (s *Store) LastCronFire(ctx context.Context, flow string) (time.Time, bool, error) {
	var v *int64
	if err := s.q(ctx).Raw("SELECT max(due_at) FROM cron_fires WHERE flow = ?", flow).Scan(&v).Error; err != nil {
		return time.Time{}, false, fmt.Errorf("last cron fire of %s: %w", flow, err)
	}
	if v == nil {
		return time.Time{}, false, nil
	}
	return fromUS(*v), true, nil
}

// Stats counts runs and steps created since, queue depths and workers
// seen since.
func (s *Store) Stats(ctx context.Context, since time.Time) (engine.Stats, error) {
	st := engine.Stats{RunsByStatus: map[engine.RunStatus]int{}, StepsByStatus: map[engine.StepStatus]int{}, QueueDepths: map[string]int{}}
	type kv struct {
		K string `gorm:"column:k"`
		N int    `gorm:"column:n"`
	}
	var rows []kv
	if err := s.q(ctx).Raw("SELECT status AS k, count(*) AS n FROM runs WHERE created_at >= ? GROUP BY status", us(since)).Scan(&rows).Error; err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	for _, r := range rows {
		st.RunsByStatus[engine.RunStatus(r.K)] = r.N
	}
	rows = nil
	if err := s.q(ctx).Raw("SELECT status AS k, count(*) AS n FROM steps WHERE created_at >= ? GROUP BY status", us(since)).Scan(&rows).Error; err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	for _, r := range rows {
		st.StepsByStatus[engine.StepStatus(r.K)] = r.N
	}
	rows = nil
	if err := s.q(ctx).Raw("SELECT queue AS k, count(*) AS n FROM tasks WHERE state = 'ready' GROUP BY queue").Scan(&rows).Error; err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	for _, r := range rows {
		st.QueueDepths[r.K] = r.N
	}
	var ws []struct {
		ID       string `gorm:"column:id"`
		Queues   string `gorm:"column:queues"`
		LastSeen int64  `gorm:"column:last_seen"`
	}
	if err := s.q(ctx).Raw("SELECT id, queues, last_seen FROM workers WHERE last_seen >= ? ORDER BY last_seen DESC LIMIT 200", us(since)).Scan(&ws).Error; err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	for _, w := range ws {
		var qs []string
		_ = json.Unmarshal([]byte(w.Queues), &qs)
		st.Workers = append(st.Workers, engine.WorkerSeen{ID: w.ID, Queues: qs, LastSeen: fromUS(w.LastSeen)})
	}
	sort.Slice(st.Workers, func(i, j int) bool { return st.Workers[i].ID < st.Workers[j].ID })
	return st, nil
}

// Listen relays PostgreSQL notifications on channel weft_wake to fn until
// ctx ends, reconnecting after errors. On SQLite it waits for ctx.
func (s *Store) Listen(ctx context.Context, fn func(topic string)) error {
	return s.dia.listen(ctx, s, fn)
}
