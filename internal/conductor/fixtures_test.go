package conductor

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/weftlabs/weft/flows"
)

// fixturesFull is how many of the Conductor OSS workflow definitions in
// testdata/conductor-oss convert fully; the test fails when fewer do.
const fixturesFull = 79

// TestFixturesRoundTrip imports every workflow definition of Conductor's
// own documentation and test resources (testdata/conductor-oss, one file
// per import, as weft import conductor would), validates the blueprints
// the way an upload does, and counts the workflows that convert fully.
func TestFixturesRoundTrip(t *testing.T) {
	t.Parallel()
	root := filepath.Join("testdata", "conductor-oss")
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	total, full := 0, 0
	why := map[string]int{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(f, root+string(filepath.Separator))
		res := Convert([]Source{{Name: name, Data: data}})
		if len(res.Problems) == 0 {
			res.Validate(nil)
		}
		total += len(res.Flows)
		if len(res.Flows) == 0 {
			total++ // a workflow that did not even get a blueprint
		}
		full += len(res.Complete)
		for _, p := range res.Problems {
			if p.Pointer == "" && p.Line == 0 && p.Source == "" {
				t.Errorf("%s: a problem without a place: %s", name, p.Message)
			}
			why[firstWords(p.Message)]++
		}
		// A complete workflow's blueprint parses again as it was stored.
		for _, fl := range res.Flows {
			if !contains(res.Complete, fl.From) {
				continue
			}
			if _, err := flows.Parse(fl.JSON, overlayFor(t, res)); err != nil {
				t.Errorf("%s: workflow %s counted complete but its blueprint does not parse: %v", name, fl.From, err)
			}
		}
		if testing.Verbose() {
			for _, p := range res.Problems {
				t.Logf("%s", p)
			}
		}
	}
	t.Logf("%d of %d Conductor workflow definitions in %d files convert fully", full, total, len(files))
	var reasons []string
	for k, n := range why {
		reasons = append(reasons, k+" ×"+itoa(n))
	}
	sort.Strings(reasons)
	t.Logf("problems by kind:\n%s", strings.Join(reasons, "\n"))
	if full < fixturesFull {
		t.Fatalf("%d workflows convert fully, fewer than the %d before", full, fixturesFull)
	}
}

func firstWords(s string) string {
	f := strings.Fields(s)
	if len(f) > 6 {
		f = f[:6]
	}
	return strings.Join(f, " ")
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// overlayFor is a catalog of the blocks res converted.
func overlayFor(t *testing.T, res *Result) overlay {
	t.Helper()
	defs := (&Result{Blocks: res.Blocks}).Validate(nil)
	m, err := newMem(defs)
	if err != nil {
		t.Fatal(err)
	}
	return overlay{mem: m}
}
