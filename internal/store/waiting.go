package store

import (
	"context"
	"fmt"

	"github.com/weftlabs/weft/engine"
)

// WaitingSteps lists the wait steps of waiting runs, oldest run first
// (the runs' status index read in ascending order), at most limit.
func (s *Store) WaitingSteps(ctx context.Context, limit int) ([]engine.WaitingStep, error) {
	if limit <= 0 {
		limit = 50
	}
	var rows []struct {
		RunID     string
		Flow      string
		Version   int
		CreatedAt int64
		Path      string
		Ref       string
		StartedAt *int64
	}
	err := s.q(ctx).Raw(`SELECT r.id AS run_id, r.flow, r.version, r.created_at, st.path, st.ref, st.started_at
FROM (SELECT id, flow, version, created_at FROM runs WHERE status = 'waiting' ORDER BY created_at, id LIMIT ?) r
JOIN steps st ON st.run_id = r.id AND st.status = 'waiting' AND st.type = 'wait'
ORDER BY r.created_at, r.id, st.seq`, limit).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("waiting steps: %w", err)
	}
	out := make([]engine.WaitingStep, len(rows))
	for i, w := range rows {
		out[i] = engine.WaitingStep{RunID: w.RunID, Flow: w.Flow, Version: w.Version, RunCreatedAt: fromUS(w.CreatedAt),
			Path: w.Path, Ref: w.Ref, Since: fromUSPtr(w.StartedAt)}
	}
	return out, nil
}
