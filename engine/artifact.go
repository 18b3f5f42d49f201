package engine

import (
	"context"
	"time"
)

// Artifact is the metadata of a file a step stored (docs/concepts.md); its
// bytes are in the artifact store under Key.
type Artifact struct {
	ID        string    `json:"id"`
	RunID     string    `json:"run_id"`
	Step      string    `json:"step"` // the step's path
	Attempt   int       `json:"attempt"`
	TaskID    string    `json:"-"`
	Name      string    `json:"name"`
	Size      int64     `json:"size"`
	SHA256    string    `json:"sha256"`
	MediaType string    `json:"media_type"`
	Key       string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
}

// ArtifactRef is how an artifact travels in a step's input and output:
// {"artifact": ArtifactRef} (docs/concepts.md).
type ArtifactRef struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	URI    string `json:"uri"`
}

// ArtifactPath is where an artifact's bytes are served, relative to the
// server's address; it is the URI of its ArtifactRef.
func ArtifactPath(id string) string { return "/api/v1/artifacts/" + id }

// Ref is a's reference.
func (a Artifact) Ref() ArtifactRef {
	return ArtifactRef{ID: a.ID, Name: a.Name, Size: a.Size, SHA256: a.SHA256, URI: ArtifactPath(a.ID)}
}

// ArtifactStore is the metadata side of artifacts, implemented by
// internal/store next to engine.Store.
type ArtifactStore interface {
	// CheckTaskLease answers nil when lease is the task's current lease,
	// else ErrConflict.
	CheckTaskLease(ctx context.Context, taskID, lease string) error
	// AddArtifact records a stored artifact of the task whose current lease
	// is lease, in one transaction with the lease check (ErrConflict when
	// stale). It fills a's RunID, Step and Attempt from the task. An
	// artifact of the same task and name is replaced (its bytes go to the
	// trash).
	AddArtifact(ctx context.Context, a *Artifact, lease string) error
	// ListArtifacts lists a run's artifacts, oldest first.
	ListArtifacts(ctx context.Context, runID string) ([]Artifact, error)
	// GetArtifact reads one artifact (ErrNotFound when none).
	GetArtifact(ctx context.Context, id string) (Artifact, error)
	// ArtifactTrash lists up to limit keys whose bytes are to be deleted.
	ArtifactTrash(ctx context.Context, limit int) ([]string, error)
	// ForgetTrash removes keys from the trash once their bytes are gone.
	ForgetTrash(ctx context.Context, keys []string) error
}

// artifactsEnv is a step's artifacts as expressions see them: by name,
// each {"artifact": {...}}, ready to pass in an input.
func artifactsEnv(refs map[string]ArtifactRef) map[string]any {
	out := make(map[string]any, len(refs))
	for name, r := range refs {
		out[name] = map[string]any{"artifact": map[string]any{"id": r.ID, "name": r.Name, "size": r.Size, "sha256": r.SHA256, "uri": r.URI}}
	}
	return out
}
