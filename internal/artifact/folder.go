package artifact

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Folder keeps artifacts as files under a local folder: key "ab12..." is
// Root/ab/ab12.... An upload is written to Root/.partial first and renamed
// into place once complete, so a cut-off upload is never visible.
type Folder struct {
	Root string
}

var _ Blobs = (*Folder)(nil)

// OpenFolder creates root (and its .partial folder) when missing.
func OpenFolder(root string) (*Folder, error) {
	if root == "" {
		return nil, errors.New("artifact folder: no path given")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("artifact folder %s: %w", root, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, ".partial"), 0o750); err != nil {
		return nil, fmt.Errorf("artifact folder %s: %w; create it or choose another with --artifacts", abs, err)
	}
	// Partial files of a crashed server are garbage.
	if ents, err := os.ReadDir(filepath.Join(abs, ".partial")); err == nil {
		for _, e := range ents {
			_ = os.Remove(filepath.Join(abs, ".partial", e.Name()))
		}
	}
	return &Folder{Root: abs}, nil
}

func (f *Folder) String() string { return "folder " + f.Root }

func (f *Folder) path(key string) (string, error) {
	if key == "" || strings.ContainsAny(key, `/\`) || strings.HasPrefix(key, ".") {
		return "", fmt.Errorf("artifact key %q is not a plain name", key)
	}
	shard := key
	if len(shard) > 2 {
		shard = shard[:2]
	}
	return filepath.Join(f.Root, shard, key), nil
}

// Put writes r to a partial file, syncs it and renames it into place.
func (f *Folder) Put(ctx context.Context, key string, r io.Reader) (err error) {
	dst, err := f.path(key)
	if err != nil {
		return err
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(f.Root, ".partial", key+"."+hex.EncodeToString(rnd[:]))
	w, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return f.fail("create", err)
	}
	defer func() {
		if err != nil {
			w.Close()
			os.Remove(tmp)
		}
	}()
	// 1 MiB at a time (io.Copy would use 32 KiB through os.File's ReadFrom).
	if _, err = io.CopyBuffer(writerOnly{w}, ctxReader{ctx, r}, make([]byte, 1<<20)); err != nil {
		return f.fail("write", err)
	}
	if err = w.Sync(); err != nil {
		return f.fail("sync", err)
	}
	if err = w.Close(); err != nil {
		return f.fail("close", err)
	}
	if err = os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return f.fail("create folder", err)
	}
	if err = os.Rename(tmp, dst); err != nil {
		return f.fail("rename", err)
	}
	return nil
}

// fail classifies a file system error: a full disk is ErrNoSpace.
func (f *Folder) fail(op string, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("artifact folder %s: %s: %w (%v): free space there, then retry", f.Root, op, ErrNoSpace, err)
	}
	var se storeWriteError
	if errors.As(err, &se) {
		return err // the reader's own error (the client went away, a size limit)
	}
	return fmt.Errorf("artifact folder %s: %s: %w", f.Root, op, err)
}

// Get opens the file at off, limited to n bytes.
func (f *Folder) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	p, err := f.path(key)
	if err != nil {
		return nil, err
	}
	fh, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("artifact folder %s: %s: %w", f.Root, key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("artifact folder %s: %w", f.Root, err)
	}
	if off > 0 {
		if _, err := fh.Seek(off, io.SeekStart); err != nil {
			fh.Close()
			return nil, fmt.Errorf("artifact folder %s: %w", f.Root, err)
		}
	}
	if n < 0 {
		return fh, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(fh, n), fh}, nil
}

// Delete removes the file.
func (f *Folder) Delete(ctx context.Context, key string) error {
	p, err := f.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("artifact folder %s: delete %s: %w", f.Root, key, err)
	}
	return nil
}

// writerOnly hides a writer's ReadFrom, so io.CopyBuffer uses its buffer.
type writerOnly struct{ io.Writer }

// ctxReader stops reading once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		err = storeWriteError{err}
	}
	return n, err
}

// storeWriteError marks an error of the reader being stored (not of the
// store), so Put returns it as it is.
type storeWriteError struct{ err error }

func (e storeWriteError) Error() string { return e.err.Error() }
func (e storeWriteError) Unwrap() error { return e.err }

// FolderError is how the folder reports a file system error of op (a full
// disk is ErrNoSpace); exported for tests that cannot fill a disk.
func FolderError(f *Folder, op string, err error) error { return f.fail(op, err) }
