// Package migrations holds Weft's versioned SQL schema, one directory per
// dialect (sqlite/, postgres/), embedded in the binary. Files are named
// NNNN_name.sql and applied in order; a released file is never edited.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

//go:embed sqlite/*.sql postgres/*.sql
var files embed.FS

// Dialects with a migration directory.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Migration is one versioned SQL file.
type Migration struct {
	Version int
	Name    string // file name, e.g. 0001_init.sql
	SQL     string
}

// List returns the migrations of dialect in version order.
func List(dialect string) ([]Migration, error) {
	entries, err := fs.ReadDir(files, dialect)
	if err != nil {
		return nil, fmt.Errorf("migrations for %q: %w", dialect, err)
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s/%s: name must start with NNNN_", dialect, name)
		}
		b, err := fs.ReadFile(files, dialect+"/"+name)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("migrations %s/%s and %s share version %d", dialect, out[i-1].Name, out[i].Name, out[i].Version)
		}
	}
	return out, nil
}
