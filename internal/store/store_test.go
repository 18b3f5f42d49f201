package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/flows"
	"github.com/weftlabs/weft/internal/pgscratch"
	"github.com/weftlabs/weft/internal/store"
	"github.com/weftlabs/weft/internal/store/storetest"
	"github.com/weftlabs/weft/migrations"
)

func openSQLite(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "weft.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var dialects = map[string]func(t *testing.T) *store.Store{"sqlite": openSQLite, "postgres": openPostgres}

func TestSuite(t *testing.T) {
	t.Parallel()
	for name, open := range dialects {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, func(t *testing.T) engine.Store { return open(t) })
		})
	}
}

func TestMigrationsRecorded(t *testing.T) {
	t.Parallel()
	for name, open := range dialects {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			ms, err := migrations.List(s.Dialect())
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.AppliedMigrations(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(ms) {
				t.Fatalf("applied %v, want %d migrations", got, len(ms))
			}
			// Applying again is a no-op.
			if err := s.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := s.Ping(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCatalog(t *testing.T) {
	t.Parallel()
	for name, open := range dialects {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := open(t)
			put := func(src string) (int, bool, error) {
				def, err := blocks.Parse([]byte(src))
				if err != nil {
					t.Fatal(err)
				}
				return s.PutBlock(ctx, def, []byte(src))
			}
			v, created, err := put(`{"name": "echo", "dispatch": {"kind": "worker"}}`)
			if err != nil || v != 1 || !created {
				t.Fatalf("first put: %d %v %v", v, created, err)
			}
			v, created, err = put(`{"dispatch": {"kind": "worker"},   "name": "echo"}`)
			if err != nil || v != 1 || created {
				t.Fatalf("identical content: %d %v %v", v, created, err)
			}
			v, created, err = put(`{"name": "echo", "title": "Echo", "dispatch": {"kind": "worker", "queue": "q"}}`)
			if err != nil || v != 2 || !created {
				t.Fatalf("changed content: %d %v %v", v, created, err)
			}
			if _, _, err = put(`{"name": "echo", "version": 1, "title": "different", "dispatch": {"kind": "worker"}}`); !errors.Is(err, engine.ErrConflict) {
				t.Fatalf("explicit version with other content: got %v", err)
			}
			if v, created, err = put(`{"name": "echo", "version": 1, "dispatch": {"kind": "worker"}}`); err != nil || v != 1 || created {
				t.Fatalf("explicit version, same content: %d %v %v", v, created, err)
			}
			d, raw, err := s.GetBlock(ctx, "echo", 0)
			if err != nil || d.Version != 2 || d.Queue() != "q" || !strings.Contains(string(raw), "Echo") {
				t.Fatalf("latest block: %+v %s %v", d, raw, err)
			}
			if vs, _ := s.BlockVersions(ctx, "echo"); len(vs) != 2 {
				t.Fatalf("versions: %v", vs)
			}
			if _, err := s.Block("nope", 0); !errors.Is(err, engine.ErrNotFound) {
				t.Fatalf("unknown block: %v", err)
			}
			list, err := s.ListBlocks(ctx)
			if err != nil || len(list) != 1 || list[0].LatestVersion != 2 || list[0].Kind != "worker" || list[0].Queue != "q" {
				t.Fatalf("list blocks: %+v %v", list, err)
			}

			src := `{"name": "f", "blocks": [{"ref": "a", "block": "echo"}, {"ref": "b", "block": "echo@1"}]}`
			bp, err := flows.Parse([]byte(src), s)
			if err != nil {
				t.Fatal(err)
			}
			fv, created, err := s.PutFlow(ctx, bp)
			if err != nil || fv != 1 || !created {
				t.Fatalf("put flow: %d %v %v", fv, created, err)
			}
			if fv, created, _ = s.PutFlow(ctx, bp); fv != 1 || created {
				t.Fatalf("same flow again: %d %v", fv, created)
			}
			// A new block version does not change what the stored flow pinned.
			if _, _, err := put(`{"name": "echo", "title": "v3", "dispatch": {"kind": "worker", "queue": "q3"}}`); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetFlow(ctx, "f", 0)
			if err != nil || got.Version != 1 || got.Nodes["a"].Def.Version != 2 || got.Nodes["b"].Def.Version != 1 {
				t.Fatalf("get flow: %+v %v", got, err)
			}
			if _, err := s.GetFlow(ctx, "f", 9); !errors.Is(err, engine.ErrNotFound) {
				t.Fatalf("unknown version: %v", err)
			}
			fl, err := s.ListFlows(ctx)
			if err != nil || len(fl) != 1 || fl[0].LatestVersion != 1 {
				t.Fatalf("list flows: %+v %v", fl, err)
			}
		})
	}
}

// openPostgres opens a store on a fresh database of the test server,
// dropped at cleanup.
func openPostgres(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), pgscratch.ForTest(t, "weft_test"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
