// Package artifact stores the bytes of artifacts (docs/concepts.md) behind one
// small interface, Blobs, with two implementations: a local folder (the
// default, beside the SQLite file) and any S3-compatible service through
// minio-go. Their metadata lives in the database (internal/store); this
// package only moves bytes by key.
package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
)

// Errors a Blobs returns, compared with errors.Is.
var (
	// ErrNotFound: no bytes under the key.
	ErrNotFound = errors.New("artifact bytes not found")
	// ErrUnavailable: the store cannot be reached now; try again later.
	ErrUnavailable = errors.New("artifact store unavailable")
	// ErrNoSpace: the store is full; free space, then retry.
	ErrNoSpace = errors.New("artifact store out of space")
)

// Blobs moves artifact bytes by key. Implementations stream: none holds a
// whole artifact in memory.
type Blobs interface {
	// Put stores r's bytes under key. Nothing is visible under key unless
	// Put returns nil (a failed or cut-off upload leaves nothing behind).
	Put(ctx context.Context, key string, r io.Reader) error
	// Get opens the bytes under key from offset off, n bytes (n < 0: to
	// the end).
	Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)
	// Delete removes the bytes under key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// String names the store for logs and errors (no credentials).
	String() string
}

// Open opens the store spec names: an s3:// URL
// (s3://bucket/prefix?endpoint=http://host:port&region=R, credentials from
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), a file:// URL or a folder
// path. An empty spec is the folder def.
func Open(ctx context.Context, spec, def string) (Blobs, error) {
	if spec == "" {
		spec = def
	}
	switch {
	case strings.HasPrefix(spec, "s3://"):
		u, err := url.Parse(spec)
		if err != nil {
			return nil, fmt.Errorf("artifact store %q: %w", spec, err)
		}
		return OpenS3(ctx, S3ConfigFromURL(u))
	case strings.HasPrefix(spec, "file://"):
		return OpenFolder(strings.TrimPrefix(spec, "file://"))
	case strings.Contains(spec, "://"):
		return nil, fmt.Errorf("artifact store %q: use a folder path or an s3://bucket/prefix?endpoint=... URL", spec)
	}
	return OpenFolder(filepath.Clean(spec))
}
