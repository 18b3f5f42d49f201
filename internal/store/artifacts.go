package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/weftlabs/weft/engine"
)

var _ engine.ArtifactStore = (*Store)(nil)

const artifactCols = `id, run_id, step, attempt, task_id, name, size, sha256, media_type, store_key, created_at`

func scanArtifacts(rows *sql.Rows) ([]engine.Artifact, error) {
	defer rows.Close()
	var out []engine.Artifact
	for rows.Next() {
		var a engine.Artifact
		var created int64
		if err := rows.Scan(&a.ID, &a.RunID, &a.Step, &a.Attempt, &a.TaskID, &a.Name, &a.Size, &a.SHA256, &a.MediaType, &a.Key, &created); err != nil {
			return nil, err
		}
		a.CreatedAt = fromUS(created)
		out = append(out, a)
	}
	return out, rows.Err()
}

// AddArtifact records a stored artifact under the task's current lease, in
// one transaction: the lease check (counting the task's artifacts), the
// replacement of an artifact of the same name, and the new row.
func (s *Store) AddArtifact(ctx context.Context, a *engine.Artifact, lease string) error {
	return s.InTx(ctx, func(txs engine.Store) error {
		tx := txs.(*Store)
		rows, err := tx.query(ctx, `UPDATE tasks SET artifacts = artifacts + 1 WHERE id = ? AND lease = ? AND state = 'leased'
RETURNING run_id, path, attempt`, a.TaskID, lease)
		if err != nil {
			return fmt.Errorf("add artifact %s of task %s: %w", a.Name, a.TaskID, err)
		}
		found := false
		for rows.Next() {
			found = true
			if err := rows.Scan(&a.RunID, &a.Step, &a.Attempt); err != nil {
				rows.Close()
				return fmt.Errorf("add artifact %s of task %s: %w", a.Name, a.TaskID, err)
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("task %s: stale lease: %w", a.TaskID, engine.ErrConflict)
		}
		if err := tx.exec(ctx, `DELETE FROM artifacts WHERE task_id = ? AND name = ?`, a.TaskID, a.Name); err != nil {
			return fmt.Errorf("replace artifact %s of task %s: %w", a.Name, a.TaskID, err)
		}
		if err := tx.exec(ctx, `INSERT INTO artifacts (`+artifactCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, a.RunID, a.Step, a.Attempt, a.TaskID, a.Name, a.Size, a.SHA256, a.MediaType, a.Key, us(a.CreatedAt)); err != nil {
			return fmt.Errorf("add artifact %s of task %s: %w", a.Name, a.TaskID, err)
		}
		return nil
	})
}

// ListArtifacts lists a run's artifacts, oldest first.
func (s *Store) ListArtifacts(ctx context.Context, runID string) ([]engine.Artifact, error) {
	rows, err := s.query(ctx, `SELECT `+artifactCols+` FROM artifacts WHERE run_id = ? ORDER BY created_at, step, name`, runID)
	if err != nil {
		return nil, fmt.Errorf("list artifacts of run %s: %w", runID, err)
	}
	as, err := scanArtifacts(rows)
	if err != nil {
		return nil, fmt.Errorf("list artifacts of run %s: %w", runID, err)
	}
	return as, nil
}

// GetArtifact reads one artifact.
func (s *Store) GetArtifact(ctx context.Context, id string) (engine.Artifact, error) {
	rows, err := s.query(ctx, `SELECT `+artifactCols+` FROM artifacts WHERE id = ?`, id)
	if err != nil {
		return engine.Artifact{}, fmt.Errorf("get artifact %s: %w", id, err)
	}
	as, err := scanArtifacts(rows)
	if err != nil {
		return engine.Artifact{}, fmt.Errorf("get artifact %s: %w", id, err)
	}
	if len(as) == 0 {
		return engine.Artifact{}, fmt.Errorf("artifact %s: %w", id, engine.ErrNotFound)
	}
	return as[0], nil
}

// TaskArtifacts lists the artifacts stored under a task.
func (s *Store) TaskArtifacts(ctx context.Context, taskID string) ([]engine.Artifact, error) {
	rows, err := s.query(ctx, `SELECT `+artifactCols+` FROM artifacts WHERE task_id = ? ORDER BY name`, taskID)
	if err != nil {
		return nil, fmt.Errorf("artifacts of task %s: %w", taskID, err)
	}
	as, err := scanArtifacts(rows)
	if err != nil {
		return nil, fmt.Errorf("artifacts of task %s: %w", taskID, err)
	}
	return as, nil
}

// ArtifactTrash lists keys whose bytes are to be deleted from the store.
func (s *Store) ArtifactTrash(ctx context.Context, limit int) ([]string, error) {
	rows, err := s.query(ctx, `SELECT store_key FROM artifact_trash ORDER BY store_key LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("artifact trash: %w", err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("artifact trash: %w", err)
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// ForgetTrash removes keys from the trash.
func (s *Store) ForgetTrash(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	if err := s.exec(ctx, `DELETE FROM artifact_trash WHERE store_key IN (`+qmarks(len(keys))+`)`, args...); err != nil {
		return fmt.Errorf("forget artifact trash: %w", err)
	}
	return nil
}

// CheckTaskLease answers nil when lease is the task's current lease, else
// ErrConflict (an unknown task included).
func (s *Store) CheckTaskLease(ctx context.Context, taskID, lease string) error {
	rows, err := s.query(ctx, `SELECT 1 FROM tasks WHERE id = ? AND lease = ? AND state = 'leased'`, taskID, lease)
	if err != nil {
		return fmt.Errorf("check lease of task %s: %w", taskID, err)
	}
	defer rows.Close()
	if !rows.Next() {
		return fmt.Errorf("task %s: stale lease: %w", taskID, engine.ErrConflict)
	}
	return rows.Err()
}
