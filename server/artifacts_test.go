package server_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weftlabs/weft/internal/artifact"
	"github.com/weftlabs/weft/internal/weedtest"
)

// blobsOpener makes a fresh artifact store for one test.
type blobsOpener func(t *testing.T) artifact.Blobs

func folderBlobs(t *testing.T) artifact.Blobs {
	t.Helper()
	f, err := artifact.OpenFolder(filepath.Join(t.TempDir(), "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func s3Blobs(t *testing.T) artifact.Blobs {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	cfg := weedtest.Config(t, "server-"+hex.EncodeToString(b))
	s, err := artifact.OpenS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// eachStore runs fn on both databases with both artifact stores.
func eachStore(t *testing.T, fn func(t *testing.T, open storeOpener, blobs blobsOpener)) {
	for _, db := range []struct {
		name string
		open storeOpener
	}{{"sqlite", sqliteStore}, {"postgres", postgresStore}} {
		for _, bs := range []struct {
			name  string
			blobs blobsOpener
		}{{"folder", folderBlobs}, {"s3", s3Blobs}} {
			t.Run(db.name+"/"+bs.name, func(t *testing.T) { fn(t, db.open, bs.blobs) })
		}
	}
}

// patterned is a reader of n pseudo-random bytes made on the fly (the
// test holds none of them), hashing what it hands out.
type patterned struct {
	left int64
	x    uint64
	h    hash.Hash
}

func newPatterned(n int64) *patterned {
	return &patterned{left: n, x: 88172645463325252, h: sha256.New()}
}

func (p *patterned) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	for i := range b {
		p.x ^= p.x << 13
		p.x ^= p.x >> 7
		p.x ^= p.x << 17
		b[i] = byte(p.x)
	}
	p.left -= int64(len(b))
	p.h.Write(b)
	return len(b), nil
}

func (p *patterned) sum() string { return hex.EncodeToString(p.h.Sum(nil)) }

// rssKB reads a field (VmRSS, VmHWM) of this process's status in KiB.
func rssKB(t *testing.T, field string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

type artifactRef struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	URI    string `json:"uri"`
}

func (b *apiBundle) upload(t *testing.T, taskID, lease, name string, body io.Reader, size int64) apiReply {
	t.Helper()
	req, err := http.NewRequest("PUT", b.url+"/api/v1/tasks/"+taskID+"/artifacts/"+name, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("X-Weft-Lease", lease)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return apiReply{status: resp.StatusCode, body: raw, header: resp.Header}
}

const artifactFlow = `{"name": "artifacts",
  "blocks": [
    {"ref": "make", "block": "art.make"},
    {"ref": "use", "block": "art.use", "input": {"data": "${make.artifacts.data}", "size": "${make.artifacts.data.artifact.size}"}}
  ]}`

// TestArtifactsAPI is not parallel: it measures the process's memory
// while 100 MB stream through the server, which other tests would blur.
func TestArtifactsAPI(t *testing.T) {
	eachStore(t, func(t *testing.T, open storeOpener, openBlobs blobsOpener) {
		blobs := openBlobs(t)
		b := setupAPI(t, open, apiOptions{blobs: blobs, maxOutput: 64 << 10})
		b.call(t, "PUT", "/api/v1/blocks", "", `{"name": "art.make", "dispatch": {"kind": "worker"}}`).want(t, 201)
		b.call(t, "PUT", "/api/v1/blocks", "", `{"name": "art.use", "dispatch": {"kind": "worker"}, "retry": {"max_attempts": 3, "initial_interval": "10ms"}}`).want(t, 201)
		b.call(t, "POST", "/api/v1/flows", "", artifactFlow).want(t, 201)
		var run apiRun
		b.call(t, "POST", "/api/v1/flows/artifacts/runs", "", map[string]any{"input": map[string]any{}}).want(t, 201).decode(t, &run)
		tasks := b.poll(t, "art.make")
		if len(tasks) != 1 {
			t.Fatalf("got %d tasks of art.make, want 1", len(tasks))
		}
		task := tasks[0]

		// Bad input first: nothing of it may be stored.
		b.upload(t, task.ID, task.Lease, "no/slash", strings.NewReader("x"), 1).wantError(t, 400, "bad_request")
		b.upload(t, task.ID, task.Lease, "bad%20name", strings.NewReader("x"), 1).wantError(t, 400, "bad_request")
		b.upload(t, task.ID, task.Lease+"0", "data", strings.NewReader("stale"), 5).wantError(t, 409, "lease_conflict")
		b.upload(t, "nosuchtask", task.Lease, "data", strings.NewReader("stale"), 5).wantError(t, 409, "lease_conflict")

		// Cut off mid-stream: nothing appears in the list.
		req, _ := http.NewRequest("PUT", b.url+"/api/v1/tasks/"+task.ID+"/artifacts/cut", &cutReader{n: 5 << 20})
		req.Header.Set("X-Weft-Lease", task.Lease)
		req.ContentLength = 20 << 20
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		time.Sleep(200 * time.Millisecond) // let the server see the cut
		if as, err := b.st.ListArtifacts(context.Background(), run.ID); err != nil || len(as) != 0 {
			t.Fatalf("after a cut-off upload the list holds %v (%v)", as, err)
		}

		// 100 MB, streamed: the process must not grow by the artifact's size.
		const size = 100 << 20
		runtime.GC()
		debug.FreeOSMemory()
		before := rssKB(t, "VmRSS")
		if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
			t.Fatalf("reset peak RSS: %v", err)
		}
		src := newPatterned(size)
		start := time.Now()
		up := b.upload(t, task.ID, task.Lease, "data", src, size).want(t, 201)
		took := time.Since(start)
		peak := rssKB(t, "VmHWM")
		growth := peak - before
		t.Logf("uploaded %d MB in %s (%.0f MB/s); RSS %d MB before, peak %d MB: grew %d MB", size>>20, took.Round(time.Millisecond),
			float64(size)/1e6/took.Seconds(), before>>10, peak>>10, growth>>10)
		if growth > 64<<10 {
			t.Errorf("RSS grew by %d MB during a %d MB upload, want < 64 MB: the upload is not streamed", growth>>10, size>>20)
		}
		var ref artifactRef
		up.decode(t, &ref)
		if ref.Size != size || ref.SHA256 != src.sum() || ref.Name != "data" || ref.URI != "/api/v1/artifacts/"+ref.ID {
			t.Fatalf("upload answered %+v, want size %d sha256 %s", ref, size, src.sum())
		}
		small := b.upload(t, task.ID, task.Lease, "notes.txt", strings.NewReader("hello artifacts"), -1).want(t, 201)
		var notes artifactRef
		small.decode(t, &notes)

		// List.
		var list struct {
			Artifacts []struct {
				ID        string `json:"id"`
				Step      string `json:"step"`
				Name      string `json:"name"`
				Size      int64  `json:"size"`
				SHA256    string `json:"sha256"`
				MediaType string `json:"media_type"`
				CreatedAt string `json:"created_at"`
			} `json:"artifacts"`
		}
		b.call(t, "GET", "/api/v1/runs/"+run.ID+"/artifacts", "", nil).want(t, 200).decode(t, &list)
		if len(list.Artifacts) != 2 || list.Artifacts[0].Name != "data" || list.Artifacts[0].Step != "make" ||
			list.Artifacts[0].SHA256 != ref.SHA256 || list.Artifacts[1].MediaType != "text/plain; charset=utf-8" {
			t.Fatalf("list = %+v", list.Artifacts)
		}
		b.call(t, "GET", "/api/v1/runs/nosuchrun/artifacts", "", nil).wantError(t, 404, "not_found")

		// Download: whole, streamed and checked; a range; If-None-Match.
		resp, err := http.Get(b.url + ref.URI)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || n != size || hex.EncodeToString(h.Sum(nil)) != ref.SHA256 ||
			resp.Header.Get("Content-Length") != strconv.Itoa(size) || resp.Header.Get("ETag") != `"`+ref.SHA256+`"` {
			t.Fatalf("download: status %d, %d bytes, headers %v, err %v", resp.StatusCode, n, resp.Header, err)
		}
		want := make([]byte, 1000)
		p := newPatterned(size)
		io.ReadFull(p, make([]byte, 5000))
		io.ReadFull(p, want)
		req, _ = http.NewRequest("GET", b.url+ref.URI, nil)
		req.Header.Set("Range", "bytes=5000-5999")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 206 || string(got) != string(want) || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 5000-5999/%d", size) {
			t.Fatalf("ranged download: status %d, %d bytes, Content-Range %q", resp.StatusCode, len(got), resp.Header.Get("Content-Range"))
		}
		req, _ = http.NewRequest("GET", b.url+notes.URI, nil)
		req.Header.Set("Range", "bytes=-9")
		resp, _ = http.DefaultClient.Do(req)
		got, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 206 || string(got) != "artifacts" {
			t.Fatalf("suffix range: %d %q", resp.StatusCode, got)
		}
		req.Header.Set("Range", "bytes=999-")
		resp, _ = http.DefaultClient.Do(req)
		resp.Body.Close()
		if resp.StatusCode != 416 {
			t.Fatalf("range past the end: status %d, want 416", resp.StatusCode)
		}
		req, _ = http.NewRequest("GET", b.url+notes.URI, nil)
		req.Header.Set("If-None-Match", `"`+notes.SHA256+`"`)
		resp, _ = http.DefaultClient.Do(req)
		resp.Body.Close()
		if resp.StatusCode != 304 {
			t.Fatalf("If-None-Match: status %d, want 304", resp.StatusCode)
		}
		b.call(t, "GET", "/api/v1/artifacts/nosuchartifact", "", nil).wantError(t, 404, "not_found")

		// The downstream step receives the artifact object.
		b.call(t, "POST", "/api/v1/tasks/"+task.ID+"/complete", "", map[string]any{"lease": task.Lease, "output": map[string]any{}}).want(t, 204)
		b.upload(t, task.ID, task.Lease, "late", strings.NewReader("late"), 4).wantError(t, 409, "lease_conflict")
		tasks = b.poll(t, "art.use")
		if len(tasks) != 1 {
			t.Fatalf("got %d tasks of art.use, want 1", len(tasks))
		}
		use := tasks[0]
		obj, _ := use.Input["data"].(map[string]any)["artifact"].(map[string]any)
		if obj == nil || obj["id"] != ref.ID || obj["name"] != "data" || obj["sha256"] != ref.SHA256 || obj["uri"] != ref.URI ||
			obj["size"] != float64(size) || use.Input["size"] != float64(size) {
			t.Fatalf("use's input = %v, want the artifact object of %s", use.Input, ref.ID)
		}

		// An output over --max-output is refused at once and fails the attempt.
		big := strings.Repeat("x", 100<<10)
		r := b.call(t, "POST", "/api/v1/tasks/"+use.ID+"/complete", "", map[string]any{"lease": use.Lease, "output": map[string]any{"rows": big}})
		e := r.wantError(t, 413, "output_too_large")
		if !strings.Contains(e.Error.Message, "artifact") {
			t.Fatalf("output_too_large message does not say to store it as an artifact: %s", e.Error.Message)
		}
		var after struct {
			Steps []struct {
				Path     string `json:"path"`
				Status   string `json:"status"`
				Attempts []struct {
					Status string `json:"status"`
					Error  *struct {
						Type string `json:"type"`
					} `json:"error"`
				} `json:"attempts"`
			} `json:"steps"`
		}
		b.call(t, "GET", "/api/v1/runs/"+run.ID, "", nil).want(t, 200).decode(t, &after)
		failedAttempt := false
		for _, st := range after.Steps {
			if st.Path == "use" && st.Status == "failed" && len(st.Attempts) == 1 && st.Attempts[0].Error != nil &&
				st.Attempts[0].Error.Type == "output_too_large" {
				failedAttempt = true
			}
		}
		if !failedAttempt {
			t.Fatalf("after 413 the attempt of use is not failed with output_too_large: %+v", after.Steps)
		}
		// Not retried: the same output would be refused again.
		b.waitRun(t, run.ID, func(r apiRun) bool { return r.Status == "failed" })

		// Purge removes rows and then, by the sweeper, the bytes.
		n2, err := b.st.PurgeRuns(context.Background(), time.Now().Add(time.Hour), 500)
		if err != nil || n2 != 1 {
			t.Fatalf("purge: %d runs, %v", n2, err)
		}
		if swept, err := artifact.NewSweeper(b.st, blobs, apiLogger(t)).Sweep(context.Background()); err != nil || swept != 2 {
			t.Fatalf("sweep: %d, %v; want 2 artifacts' bytes deleted", swept, err)
		}
		b.call(t, "GET", ref.URI, "", nil).wantError(t, 404, "not_found")
		if _, err := blobs.Get(context.Background(), ref.ID, 0, -1); !errors.Is(err, artifact.ErrNotFound) {
			t.Fatalf("bytes of a purged artifact: %v, want ErrNotFound", err)
		}
		if as, err := b.st.ListArtifacts(context.Background(), run.ID); err != nil || len(as) != 0 {
			t.Fatalf("rows of a purged run: %v, %v", as, err)
		}
	})
}

// cutReader hands out n bytes, then fails as a dropped connection does.
type cutReader struct{ n int }

func (c *cutReader) Read(p []byte) (int, error) {
	if c.n == 0 {
		return 0, errors.New("connection dropped")
	}
	k := min(len(p), c.n)
	c.n -= k
	return k, nil
}

func TestArtifactsBadInput(t *testing.T) {
	t.Parallel()
	blobs := folderBlobs(t)
	b := setupAPI(t, sqliteStore, apiOptions{blobs: blobs, maxArt: 1 << 20})
	b.call(t, "PUT", "/api/v1/blocks", "", `{"name": "art.make", "dispatch": {"kind": "worker"}}`).want(t, 201)
	b.call(t, "PUT", "/api/v1/blocks", "", `{"name": "art.use", "dispatch": {"kind": "worker"}}`).want(t, 201)
	b.call(t, "POST", "/api/v1/flows", "", artifactFlow).want(t, 201)
	var run apiRun
	b.call(t, "POST", "/api/v1/flows/artifacts/runs", "", map[string]any{"input": map[string]any{}}).want(t, 201).decode(t, &run)
	task := b.poll(t, "art.make")[0]

	// An upload cut off mid-stream leaves nothing in the list or the folder.
	req, _ := http.NewRequest("PUT", b.url+"/api/v1/tasks/"+task.ID+"/artifacts/cut", &cutReader{n: 3 << 20})
	req.Header.Set("X-Weft-Lease", task.Lease)
	req.ContentLength = 10 << 20
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var files []string
		filepath.WalkDir(blobs.(*artifact.Folder).Root, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files = append(files, p)
			}
			return nil
		})
		as, err := b.st.ListArtifacts(context.Background(), run.ID)
		if err != nil || len(as) != 0 {
			t.Fatalf("after a cut-off upload the list holds %v (%v)", as, err)
		}
		if len(files) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a cut-off upload the folder still holds %v", files)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Over --max-artifact: refused by its length, or while streaming.
	b.upload(t, task.ID, task.Lease, "big", newPatterned(2<<20), 2<<20).wantError(t, 413, "artifact_too_large")
	b.upload(t, task.ID, task.Lease, "big", io.MultiReader(newPatterned(2<<20)), -1).wantError(t, 413, "artifact_too_large")
	if as, err := b.st.ListArtifacts(context.Background(), run.ID); err != nil || len(as) != 0 {
		t.Fatalf("after refused uploads the list holds %v (%v)", as, err)
	}

	// A complete far over the body limit is still refused as output_too_large
	// (not left to lapse), and fails the attempt.
	big := `{"lease": "` + task.Lease + `", "output": {"rows": "` + strings.Repeat("x", 12<<20) + `"}}`
	b.call(t, "POST", "/api/v1/tasks/"+task.ID+"/complete", "", big).wantError(t, 413, "output_too_large")
	r := b.waitRun(t, run.ID, func(r apiRun) bool { return r.Status == "failed" })
	if r.Error == nil || !strings.Contains(r.Error.Message, "artifact") {
		t.Fatalf("run error = %+v, want the output_too_large message", r.Error)
	}
}

// TestArtifactsStoreDown: an unreachable store is 503 with Retry-After, and
// the step keeps running (the server's fault fails no step).
func TestArtifactsStoreDown(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	down, err := artifact.NewS3(artifact.S3Config{Endpoint: "http://" + addr, Bucket: "gone", Region: "us-east-1", AccessKey: "k", SecretKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	b := setupAPI(t, sqliteStore, apiOptions{blobs: down})
	b.call(t, "PUT", "/api/v1/blocks", "", `{"name": "art.make", "dispatch": {"kind": "worker"}}`).want(t, 201)
	b.call(t, "PUT", "/api/v1/blocks", "", `{"name": "art.use", "dispatch": {"kind": "worker"}}`).want(t, 201)
	b.call(t, "POST", "/api/v1/flows", "", artifactFlow).want(t, 201)
	var run apiRun
	b.call(t, "POST", "/api/v1/flows/artifacts/runs", "", map[string]any{"input": map[string]any{}}).want(t, 201).decode(t, &run)
	task := b.poll(t, "art.make")[0]
	r := b.upload(t, task.ID, task.Lease, "data", strings.NewReader("some bytes"), 10)
	r.wantError(t, 503, "artifact_store_unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	b.call(t, "POST", "/api/v1/tasks/"+task.ID+"/heartbeat", "", map[string]any{"lease": task.Lease}).want(t, 200)
	b.call(t, "POST", "/api/v1/tasks/"+task.ID+"/complete", "", map[string]any{"lease": task.Lease, "output": map[string]any{}}).want(t, 204)
}

func TestFolderDiskFull(t *testing.T) {
	t.Parallel()
	f := folderBlobs(t).(*artifact.Folder)
	// /dev/full answers every write with ENOSPC, as a full disk does.
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full here")
	}
	_, werr := full.Write([]byte("x"))
	full.Close()
	err = artifact.FolderError(f, "write", werr)
	if !errors.Is(err, artifact.ErrNoSpace) || !strings.Contains(err.Error(), f.Root) || !strings.Contains(err.Error(), "free space") {
		t.Fatalf("a full disk is %v, want ErrNoSpace naming the folder and what to do", err)
	}
}
