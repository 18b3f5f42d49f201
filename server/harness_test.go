package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weftlabs/weft/internal/artifact"
	"github.com/weftlabs/weft/internal/auth"
	"github.com/weftlabs/weft/internal/pgscratch"
	"github.com/weftlabs/weft/internal/store"
	"github.com/weftlabs/weft/server"
)

// storeOpener opens a fresh, migrated store for one test.
type storeOpener func(t *testing.T) *store.Store

func sqliteStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "weft.db"), nil)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// postgresStore opens a store on a database made for the test.
func postgresStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), pgscratch.ForTest(t, "weft_server_test"), nil)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// dialects runs fn once per database.
func eachDialect(t *testing.T, fn func(t *testing.T, open storeOpener)) {
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); fn(t, sqliteStore) })
	t.Run("postgres", func(t *testing.T) { t.Parallel(); fn(t, postgresStore) })
}

// apiBundle is a running server and what tests need to talk to it.
type apiBundle struct {
	srv    *server.Server
	url    string
	st     *store.Store
	tokens map[auth.Role]string
}

type apiOptions struct {
	auth      bool
	maxBody   int64
	maxLog    int64
	maxOutput int64
	maxArt    int64
	blobs     artifact.Blobs // the artifact store; none when nil
}

// newToken stores a token and returns its secret.
func storeToken(t *testing.T, st *store.Store, role, flow string) string {
	t.Helper()
	tok, secret, err := server.NewToken(role, role+"-test", flow)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	return secret
}

func apiLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(apiLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type apiLogWriter struct{ t *testing.T }

func (w apiLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// apiReply is an answer from the server.
type apiReply struct {
	status int
	body   []byte
	header http.Header
}

func (r apiReply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("answer %d is not JSON: %v: %s", r.status, err, r.body)
	}
}

// apiErr is the docs/api.md error body.
type apiErr struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
		Details   []struct {
			Path    string `json:"path"`
			Message string `json:"message"`
			Line    int    `json:"line"`
			Column  int    `json:"column"`
		} `json:"details"`
	} `json:"error"`
}

// wantError checks status and error code and returns the error body.
func (r apiReply) wantError(t *testing.T, status int, code string) apiErr {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d: %s", r.status, status, r.body)
	}
	var e apiErr
	r.decode(t, &e)
	if e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("error = %s, want code %q with a message", r.body, code)
	}
	return e
}

func (r apiReply) want(t *testing.T, status int) apiReply {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

// call sends one request. body may be nil, a string, []byte or a value to
// encode as JSON.
func (b *apiBundle) call(t *testing.T, method, path, token string, body any) apiReply {
	t.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	case []byte:
		rd = bytes.NewReader(v)
	default:
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, b.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return apiReply{status: resp.StatusCode, body: raw, header: resp.Header}
}

// as is call with the token of role.
func (b *apiBundle) as(t *testing.T, role auth.Role, method, path string, body any) apiReply {
	t.Helper()
	return b.call(t, method, path, b.tokens[role], body)
}

// startHTTP serves h on a real loopback listener.
func serveOnLoopback(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
