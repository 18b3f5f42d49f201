package artifact_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/weftlabs/weft/internal/artifact"
	"github.com/weftlabs/weft/internal/weedtest"
)

// failingReader yields n bytes, then fails as a dropped upload does.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("client went away")
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

// TestBlobs runs one suite on both stores: put, ranged get, a cut-off put
// that leaves nothing, delete.
func TestBlobs(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) artifact.Blobs{
		"folder": func(t *testing.T) artifact.Blobs {
			f, err := artifact.OpenFolder(filepath.Join(t.TempDir(), "a"))
			if err != nil {
				t.Fatal(err)
			}
			return f
		},
		"s3": func(t *testing.T) artifact.Blobs {
			b := make([]byte, 6)
			_, _ = rand.Read(b)
			s, err := artifact.OpenS3(context.Background(), weedtest.Config(t, "blobs-"+hex.EncodeToString(b)))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			bs := open(t)
			data := make([]byte, 3<<20+17)
			_, _ = rand.Read(data)
			if err := bs.Put(ctx, "k1", bytes.NewReader(data)); err != nil {
				t.Fatalf("put: %v", err)
			}
			read := func(off, n int64) []byte {
				t.Helper()
				r, err := bs.Get(ctx, "k1", off, n)
				if err != nil {
					t.Fatalf("get %d+%d: %v", off, n, err)
				}
				defer r.Close()
				b, err := io.ReadAll(r)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			if got := read(0, -1); !bytes.Equal(got, data) {
				t.Fatalf("whole get: %d bytes, want %d equal ones", len(got), len(data))
			}
			if got := read(1000, 5000); !bytes.Equal(got, data[1000:6000]) {
				t.Fatalf("ranged get: %d bytes, not the range", len(got))
			}
			if got := read(int64(len(data))-10, -1); !bytes.Equal(got, data[len(data)-10:]) {
				t.Fatalf("tail get: %q", got)
			}
			if err := bs.Put(ctx, "cut", &failingReader{n: 2 << 20}); err == nil {
				t.Fatal("a put whose reader failed answered nil")
			}
			if _, err := bs.Get(ctx, "cut", 0, -1); !errors.Is(err, artifact.ErrNotFound) {
				t.Fatalf("after a cut-off put: %v, want ErrNotFound", err)
			}
			if err := bs.Delete(ctx, "k1"); err != nil {
				t.Fatal(err)
			}
			if err := bs.Delete(ctx, "k1"); err != nil {
				t.Fatalf("deleting a missing key: %v", err)
			}
			if _, err := bs.Get(ctx, "k1", 0, -1); !errors.Is(err, artifact.ErrNotFound) {
				t.Fatalf("after delete: %v, want ErrNotFound", err)
			}
			if f, ok := bs.(*artifact.Folder); ok {
				left, _ := os.ReadDir(filepath.Join(f.Root, ".partial"))
				if len(left) != 0 {
					t.Fatalf("partial files left: %v", left)
				}
			}
		})
	}
}
