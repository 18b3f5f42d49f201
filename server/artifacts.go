package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/internal/artifact"
	"github.com/weftlabs/weft/ui"
)

// Artifact and output limits (docs/concepts.md).
const (
	DefaultMaxArtifactBytes int64 = 5 << 30
	DefaultMaxOutputBytes   int64 = 1 << 20
	// outputSlack is what a complete body may hold beside its output
	// (lease, next).
	outputSlack = 64 << 10
	// completeDrain bounds how much of an oversized complete body is read
	// and dropped so the client sees the 413 instead of a reset.
	completeDrain = 256 << 20
)

// Routes whose bodies are not limited by MaxBodyBytes.
const (
	routeArtifactPut = "/api/v1/tasks/:id/artifacts/:name"
	routeComplete    = "/api/v1/tasks/:id/complete"
)

var artifactName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// ArtifactDeps are the artifact store's two halves: metadata in the
// database and bytes in a Blobs.
type ArtifactDeps struct {
	Meta  engine.ArtifactStore
	Blobs artifact.Blobs
	// Sweeper, when set, is kicked after an upload replaced an artifact.
	Sweeper *artifact.Sweeper
}

// bodyLimit is the largest body the route takes; 0: the route limits
// its body itself.
func (s *Server) bodyLimit(c echo.Context) int64 {
	switch c.Path() {
	case routeArtifactPut, routeComplete:
		return 0 // --max-artifact and --max-output, with their own codes
	}
	return s.cfg.MaxBodyBytes
}

func (s *Server) artifactsOn() error {
	if s.deps.Artifacts.Meta == nil || s.deps.Artifacts.Blobs == nil {
		return &apiError{status: http.StatusNotImplemented, code: "artifacts_off",
			msg: "this server has no artifact store; start weft serve with --artifacts"}
	}
	return nil
}

// storeError turns an artifact store failure into 503 (unreachable) or
// 507 (full), both with Retry-After: the step is not failed for it.
func storeError(c echo.Context, err error) error {
	switch {
	case errors.Is(err, artifact.ErrUnavailable):
		c.Response().Header().Set("Retry-After", "10")
		return &apiError{status: http.StatusServiceUnavailable, code: "artifact_store_unavailable",
			msg: "the artifact store cannot be reached: " + err.Error() + "; retry later (the step keeps its lease while it heartbeats)"}
	case errors.Is(err, artifact.ErrNoSpace):
		c.Response().Header().Set("Retry-After", "60")
		return &apiError{status: http.StatusInsufficientStorage, code: "artifact_store_full",
			msg: err.Error() + "; the upload stored nothing and may be retried once space is freed"}
	case errors.Is(err, artifact.ErrNotFound):
		return &apiError{status: http.StatusNotFound, code: "not_found",
			msg: "the artifact's bytes are missing from the store: " + err.Error()}
	}
	return err
}

// artifactTooLarge is what an upload's body reader returns past the limit.
type artifactTooLarge struct{ limit int64 }

func (e artifactTooLarge) Error() string {
	return fmt.Sprintf("artifact is larger than the server's --max-artifact of %d bytes", e.limit)
}

// countingReader hashes and counts what passes through, and refuses more
// than limit bytes.
type countingReader struct {
	r     io.Reader
	n     int64
	limit int64
	h     interface{ Write([]byte) (int, error) }
	err   error // the body's own error, if reading it failed
}

func (cr *countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.n += int64(n)
	if cr.n > cr.limit {
		cr.err = artifactTooLarge{limit: cr.limit}
		return 0, cr.err
	}
	cr.h.Write(p[:n])
	if err != nil && err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = artifactTooLarge{limit: mbe.Limit}
		}
		cr.err = err
	}
	return n, err
}

// putTaskArtifact streams the body to the artifact store and records it
// under the task's lease: 201 {"id", "name", "size", "sha256", "uri"}.
func (s *Server) putTaskArtifact(c echo.Context) error {
	if err := s.artifactsOn(); err != nil {
		return err
	}
	taskID, name := c.Param("id"), c.Param("name")
	if !artifactName.MatchString(name) {
		return badRequest("artifact name %q must be 1 to 128 letters, digits, '.', '_' or '-'", name)
	}
	lease := c.Request().Header.Get("X-Weft-Lease")
	if lease == "" {
		return badRequest("the X-Weft-Lease header is required: send the lease the poll answered, unchanged")
	}
	r := c.Request()
	if r.ContentLength > s.cfg.MaxArtifactBytes {
		return &apiError{status: http.StatusRequestEntityTooLarge, code: "artifact_too_large",
			msg: artifactTooLarge{limit: s.cfg.MaxArtifactBytes}.Error()}
	}
	ctx := r.Context()
	meta, blobs := s.deps.Artifacts.Meta, s.deps.Artifacts.Blobs
	// Refuse a stale lease before any byte is stored; the lease is checked
	// again when the row is written.
	if err := meta.CheckTaskLease(ctx, taskID, lease); err != nil {
		return err
	}
	mediaType := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(mediaType); err != nil || mt == "application/octet-stream" {
		mediaType = mime.TypeByExtension(filepath.Ext(name))
	}
	if mediaType == "" {
		mediaType = "application/octet-stream"
	}
	h := sha256.New()
	cr := &countingReader{r: r.Body, limit: s.cfg.MaxArtifactBytes, h: h}
	a := engine.Artifact{ID: newArtifactID(), TaskID: taskID, Name: name, MediaType: mediaType, CreatedAt: time.Now().UTC()}
	a.Key = a.ID
	if err := blobs.Put(ctx, a.Key, cr); err != nil {
		var tl artifactTooLarge
		switch {
		case errors.As(cr.err, &tl) || errors.As(err, &tl):
			return &apiError{status: http.StatusRequestEntityTooLarge, code: "artifact_too_large", msg: tl.Error()}
		case cr.err != nil || ctx.Err() != nil:
			return badRequest("the upload was cut off after %d bytes; nothing was stored: send it again", cr.n)
		}
		return storeError(c, err)
	}
	a.Size, a.SHA256 = cr.n, hex.EncodeToString(h.Sum(nil))
	if err := meta.AddArtifact(ctx, &a, lease); err != nil {
		// The lease went stale while the bytes streamed: drop them.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := blobs.Delete(dctx, a.Key); derr != nil {
			s.log.Warn("delete bytes of a refused artifact", "task_id", taskID, "key", a.Key, "err", derr)
		}
		return err
	}
	if sw := s.deps.Artifacts.Sweeper; sw != nil {
		sw.Kick() // an upload of the same name replaced one
	}
	s.log.Debug("artifact stored", "run_id", a.RunID, "step", a.Step, "task_id", taskID, "name", name, "size", a.Size)
	return c.JSON(http.StatusCreated, a.Ref())
}

func newArtifactID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}

// listRunArtifacts answers {"artifacts": [...]} for a run, oldest first.
func (s *Server) listRunArtifacts(c echo.Context) error {
	if err := s.artifactsOn(); err != nil {
		return err
	}
	id := c.Param("id")
	ctx := c.Request().Context()
	if _, err := s.deps.Engine.GetRun(ctx, id, false); err != nil {
		return err
	}
	as, err := s.deps.Artifacts.Meta.ListArtifacts(ctx, id)
	if err != nil {
		return err
	}
	if as == nil {
		as = []engine.Artifact{}
	}
	return c.JSON(http.StatusOK, map[string]any{"artifacts": as})
}

// getArtifact streams an artifact's bytes with Content-Length, ETag (the
// sha256) and single byte ranges.
func (s *Server) getArtifact(c echo.Context) error {
	if err := s.artifactsOn(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	a, err := s.deps.Artifacts.Meta.GetArtifact(ctx, c.Param("id"))
	if err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return notFound("no artifact %q: list a run's artifacts at /api/v1/runs/{id}/artifacts", c.Param("id"))
		}
		return err
	}
	hdr := c.Response().Header()
	etag := `"` + a.SHA256 + `"`
	hdr.Set("ETag", etag)
	hdr.Set("Accept-Ranges", "bytes")
	hdr.Set("Content-Type", a.MediaType)
	hdr.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.Name}))
	hdr.Set("Cache-Control", "private, max-age=31536000, immutable")
	if inm := c.Request().Header.Get("If-None-Match"); inm != "" && (inm == etag || inm == "*") {
		return c.NoContent(http.StatusNotModified)
	}
	off, n, partial, ok := parseRange(c.Request().Header.Get("Range"), a.Size)
	if ir := c.Request().Header.Get("If-Range"); ir != "" && ir != etag {
		off, n, partial, ok = 0, a.Size, false, true
	}
	if !ok {
		hdr.Set("Content-Range", fmt.Sprintf("bytes */%d", a.Size))
		return &apiError{status: http.StatusRequestedRangeNotSatisfiable, code: "range_not_satisfiable",
			msg: fmt.Sprintf("the range %q is outside the artifact's %d bytes", c.Request().Header.Get("Range"), a.Size)}
	}
	body, err := s.deps.Artifacts.Blobs.Get(ctx, a.Key, off, n)
	if err != nil {
		return storeError(c, err)
	}
	defer body.Close()
	hdr.Set("Content-Length", strconv.FormatInt(n, 10))
	status := http.StatusOK
	if partial {
		hdr.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, a.Size))
		status = http.StatusPartialContent
	}
	c.Response().WriteHeader(status)
	if c.Request().Method == http.MethodHead {
		return nil
	}
	// Straight to the connection's ReadFrom: a folder's file goes out with
	// sendfile.
	var sent int64
	if rf, ok := c.Response().Writer.(io.ReaderFrom); ok {
		sent, err = rf.ReadFrom(body)
	} else {
		sent, err = io.Copy(c.Response().Writer, body)
	}
	c.Response().Size += sent
	if err != nil && ctx.Err() == nil {
		s.log.Warn("artifact download cut off", "artifact_id", a.ID, "err", err)
	}
	return nil
}

// parseRange reads one "bytes=" range of a size-byte body: the offset and
// length to send, whether it is partial, and false when unsatisfiable.
// Several ranges, or a header it does not understand, serve the whole.
func parseRange(h string, size int64) (off, n int64, partial, ok bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if h == "" || !found || strings.Contains(spec, ",") {
		return 0, size, false, true
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, size, false, true
	}
	if first == "" { // the last N bytes
		k, err := strconv.ParseInt(last, 10, 64)
		if err != nil || k < 0 {
			return 0, size, false, true
		}
		if k == 0 || size == 0 {
			return 0, 0, false, false
		}
		k = min(k, size)
		return size - k, k, true, true
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || a < 0 {
		return 0, size, false, true
	}
	if a >= size {
		return 0, 0, false, false
	}
	b := size - 1
	if last != "" {
		if b, err = strconv.ParseInt(last, 10, 64); err != nil || b < a {
			return 0, size, false, true
		}
		b = min(b, size-1)
	}
	return a, b - a + 1, true, true
}

// limitOutput guards task completions: a body of at most MaxOutputBytes
// goes straight on; a larger one is read (up to the output limit and its
// slack) to find the output's size. An output over MaxOutputBytes fails
// the task at once, telling the worker to store it as an artifact, and
// answers 413 output_too_large.
func (s *Server) limitOutput(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		max := s.cfg.MaxOutputBytes
		if r.ContentLength >= 0 && r.ContentLength <= max {
			r.Body = http.MaxBytesReader(c.Response(), r.Body, max)
			return next(c)
		}
		buf, err := io.ReadAll(io.LimitReader(r.Body, max+outputSlack+1))
		if err != nil {
			return jsonProblem(nil, err)
		}
		if int64(len(buf)) <= max+outputSlack {
			var probe struct {
				Output json.RawMessage `json:"output"`
			}
			if json.Unmarshal(buf, &probe) != nil || int64(len(probe.Output)) <= max {
				r.Body = io.NopCloser(bytes.NewReader(buf))
				return next(c)
			}
			return s.refuseOutput(c, leaseIn(buf), int64(len(probe.Output)))
		}
		// Drop the rest, so the worker reads the answer instead of a reset.
		rest, _ := io.Copy(io.Discard, io.LimitReader(r.Body, completeDrain))
		return s.refuseOutput(c, leaseIn(buf), int64(len(buf))+rest)
	}
}

// leaseIn finds the top-level "lease" of a (possibly cut) JSON object.
func leaseIn(b []byte) string {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return ""
		}
		if k == "lease" {
			var l string
			if dec.Decode(&l) != nil {
				return ""
			}
			return l
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return ""
		}
	}
	return ""
}

func (s *Server) refuseOutput(c echo.Context, lease string, size int64) error {
	id := c.Param("id")
	msg := fmt.Sprintf("the output is %d bytes, over the server's --max-output of %d bytes: store large data as an artifact "+
		"(ctx.save_artifact(name, path) in the Python SDK, or PUT /api/v1/tasks/%s/artifacts/{name}) and return its reference",
		size, s.cfg.MaxOutputBytes, id)
	failed := ""
	if lease != "" {
		_, err := s.deps.Engine.Report(c.Request().Context(), engine.ReportParams{TaskID: id, Lease: lease,
			Error: &engine.TaskError{Message: msg, Type: "output_too_large"}})
		if err == nil {
			failed = "; the step's attempt was failed with this message"
			s.metrics.reported(id, "failed")
		}
	}
	return &apiError{status: http.StatusRequestEntityTooLarge, code: "output_too_large", msg: msg + failed}
}

// attachArtifacts lists the run's artifacts under its steps on the run page.
func (s *Server) attachArtifacts(ctx context.Context, d *ui.RunData) error {
	if s.deps.Artifacts.Meta == nil {
		return nil
	}
	as, err := s.deps.Artifacts.Meta.ListArtifacts(ctx, d.Run.ID)
	if err != nil {
		return err
	}
	ui.AttachArtifacts(d, as)
	return nil
}
