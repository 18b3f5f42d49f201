package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/internal/pgscratch"
	"github.com/weftlabs/weft/internal/store"
	"github.com/weftlabs/weft/server"
)

// The runs list over many seeded runs: an always-on correctness test with
// 20,000 runs on both databases, and BenchmarkRunsList1M (env
// WEFT_BENCH_1M=1) timing the real handlers over 1,000,000 runs.

var listFlows = []string{"ingest-daily", "train-model", "eval-suite", "embed-docs", "label-sync", "report-weekly"}

const listKeyEvery = 10

// listTarget is a server over a seeded store, called in process.
type listTarget struct {
	h      http.Handler
	st     *store.Store
	pgURL  string // the database's URL on PostgreSQL, "" on SQLite
	n      int
	seeded time.Duration
}

type tbLogWriter struct{ tb testing.TB }

func (w tbLogWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func openSQLiteTB(tb testing.TB) (*store.Store, string) {
	tb.Helper()
	st, err := store.Open(context.Background(), filepath.Join(tb.TempDir(), "weft.db"), nil)
	if err != nil {
		tb.Fatalf("open sqlite: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return st, ""
}

// openPostgresTB opens a store on a database made for the test.
func openPostgresTB(tb testing.TB) (*store.Store, string) {
	tb.Helper()
	dsn := pgscratch.ForTest(tb, "weft_runs_list")
	st, err := store.Open(context.Background(), dsn, nil)
	if err != nil {
		tb.Fatalf("open postgres: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return st, dsn
}

// newListTarget starts a real engine and server over st, uploads the
// flows and seeds n runs, the newest created a minute ago.
func newListTarget(tb testing.TB, st *store.Store, pgURL string, n int) *listTarget {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(tbLogWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	// Retention off: the seeded runs go back 30 days and must stay put.
	eng := engine.New(engine.Config{Retention: -1, DisableCron: true}, st, log)
	done := make(chan struct{})
	go func() { defer close(done); eng.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
	srv := server.New(server.Config{AuthReason: "test"},
		server.Deps{Engine: eng, Catalog: st, Tokens: st, Ready: server.ReadyFunc(st.Ping), Logger: log})
	lt := &listTarget{h: srv, st: st, pgURL: pgURL, n: n}
	for _, f := range listFlows {
		body := fmt.Sprintf(`{"name": %q, "blocks": [{"ref": "a", "type": "lambda", "expr": "flow.input.n * 2"}], "output": {"n": "${a.output}"}}`, f)
		req := httptest.NewRequest("POST", "/api/v1/flows", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			tb.Fatalf("upload flow %s: %d %s", f, rec.Code, rec.Body)
		}
	}
	t0 := time.Now()
	if err := st.SeedRuns(context.Background(), store.SeedSpec{N: n, Flows: listFlows, Newest: time.Now().Add(-time.Minute),
		Span: 30 * 24 * time.Hour, KeyEvery: listKeyEvery}); err != nil {
		tb.Fatalf("seed: %v", err)
	}
	lt.seeded = time.Since(t0)
	return lt
}

func (lt *listTarget) get(tb testing.TB, path string) *httptest.ResponseRecorder {
	tb.Helper()
	rec := httptest.NewRecorder()
	lt.h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	if rec.Code != http.StatusOK {
		tb.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	return rec
}

type listRun struct {
	ID             string          `json:"id"`
	Flow           string          `json:"flow"`
	Status         string          `json:"status"`
	Input          json.RawMessage `json:"input"`
	IdempotencyKey string          `json:"idempotency_key"`
	CreatedAt      time.Time       `json:"created_at"`
}

type listPage struct {
	Runs       []listRun `json:"runs"`
	NextCursor string    `json:"next_cursor"`
}

func (lt *listTarget) api(tb testing.TB, path string) listPage {
	tb.Helper()
	var p listPage
	if err := json.Unmarshal(lt.get(tb, path).Body.Bytes(), &p); err != nil {
		tb.Fatalf("GET %s: not JSON: %v", path, err)
	}
	return p
}

var (
	rowRe  = regexp.MustCompile(`data-testid="run-row" data-run="([^"]+)" data-status="([^"]+)"`)
	nextRe = regexp.MustCompile(`href="([^"]+)" data-testid="page-next"`)
)

// htmlRows reads the ids and statuses of the runs table and the "Older
// runs" link.
func (lt *listTarget) html(tb testing.TB, path string) (ids, statuses []string, next string) {
	tb.Helper()
	body := lt.get(tb, path).Body.String()
	for _, m := range rowRe.FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
		statuses = append(statuses, m[2])
	}
	if m := nextRe.FindStringSubmatch(body); m != nil {
		next = strings.ReplaceAll(m[1], "&amp;", "&")
	}
	return ids, statuses, next
}

// seq is run i's number, read back from its input {"n": i}.
func (r listRun) seq(tb testing.TB) int {
	tb.Helper()
	var in struct {
		N *int `json:"n"`
	}
	if err := json.Unmarshal(r.Input, &in); err != nil || in.N == nil {
		tb.Fatalf("run %s input %s: want {\"n\": <int>}", r.ID, r.Input)
	}
	return *in.N
}

// newestFirst lists the seeded run numbers newest first: runs 2k and 2k+1
// share a creation time and 2k+1 has the larger id.
func newestFirst(n int, keep func(i int) bool) []int {
	var out []int
	for k := 0; 2*k < n; k++ {
		for _, i := range []int{2*k + 1, 2 * k} {
			if i < n && keep(i) {
				out = append(out, i)
			}
		}
	}
	return out
}

func seqs(tb testing.TB, runs []listRun) []int {
	out := make([]int, len(runs))
	for i, r := range runs {
		out[i] = r.seq(tb)
	}
	return out
}

func ids(runs []listRun) []string {
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = r.ID
	}
	return out
}

func equalInts(a, b []int) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func TestRunsListSeeded(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, open storeOpener) {
		const n = 20_000
		lt := newListTarget(t, open(t), "", n)
		t.Logf("seeded %d runs in %v", n, lt.seeded)
		all := newestFirst(n, func(int) bool { return true })

		// First page, newest first, on the API and the HTML page.
		first := lt.api(t, "/api/v1/runs")
		if got := seqs(t, first.Runs); !equalInts(got, all[:50]) {
			t.Fatalf("API first page runs %v, want %v", got, all[:50])
		}
		for i, r := range first.Runs {
			if i > 0 && r.CreatedAt.After(first.Runs[i-1].CreatedAt) {
				t.Fatalf("run %d (%s) is newer than the one before it", i, r.ID)
			}
			if want := store.SeedStatus(r.seq(t)); r.Status != want || r.Flow != listFlows[r.seq(t)%len(listFlows)] {
				t.Fatalf("run %s: %s/%s, want %s/%s", r.ID, r.Flow, r.Status, listFlows[r.seq(t)%len(listFlows)], want)
			}
		}
		hIDs, _, next := lt.html(t, "/runs")
		if fmt.Sprint(hIDs) != fmt.Sprint(ids(first.Runs)) {
			t.Fatalf("/runs rows %v, want the API's %v", hIDs, ids(first.Runs))
		}
		if next == "" {
			t.Fatal("/runs has no 'Older runs' link over 20,000 runs")
		}

		// The cursor walks on without duplicates or gaps, API and HTML.
		var walked []int
		cursor := ""
		for page := 0; page < 20; page++ {
			p := lt.api(t, "/api/v1/runs?cursor="+url.QueryEscape(cursor))
			if p.NextCursor == "" {
				t.Fatalf("page %d has no next_cursor", page+1)
			}
			walked = append(walked, seqs(t, p.Runs)...)
			cursor = p.NextCursor
			if page == 0 {
				second := lt.api(t, "/api/v1/runs?cursor="+url.QueryEscape(p.NextCursor))
				h2, _, _ := lt.html(t, next)
				if fmt.Sprint(h2) != fmt.Sprint(ids(second.Runs)) {
					t.Fatalf("/runs second page %v, want the API's %v", h2, ids(second.Runs))
				}
			}
		}
		if !equalInts(walked, all[:1000]) {
			t.Fatalf("20 pages walked %v..., want %v...", walked[:60], all[:60])
		}

		// Filtered: one flow, failed. Every page holds only matching runs
		// and the walk ends with exactly the matching runs.
		flow := listFlows[2]
		match := func(i int) bool { return listFlows[i%len(listFlows)] == flow && store.SeedStatus(i) == "failed" }
		want := newestFirst(n, match)
		if len(want) < 200 {
			t.Fatalf("seed gives only %d %s/failed runs; want several pages", len(want), flow)
		}
		q := "flow=" + flow + "&status=failed"
		walked, cursor = nil, ""
		for pages := 0; ; pages++ {
			path := "/api/v1/runs?" + q
			if cursor != "" {
				path += "&cursor=" + url.QueryEscape(cursor)
			}
			p := lt.api(t, path)
			for _, r := range p.Runs {
				if r.Flow != flow || r.Status != "failed" {
					t.Fatalf("%s answered run %s: %s/%s", path, r.ID, r.Flow, r.Status)
				}
			}
			walked = append(walked, seqs(t, p.Runs)...)
			if p.NextCursor == "" {
				break
			}
			if pages > len(want) {
				t.Fatal("the filtered walk does not end")
			}
			cursor = p.NextCursor
		}
		if !equalInts(walked, want) {
			t.Fatalf("filtered walk gave %d runs, want %d: %v...", len(walked), len(want), walked[:min(len(walked), 20)])
		}
		fIDs, fSt, _ := lt.html(t, "/runs?"+q)
		if len(fIDs) != 50 {
			t.Fatalf("/runs?%s shows %d rows, want 50", q, len(fIDs))
		}
		apiFirst := lt.api(t, "/api/v1/runs?"+q)
		for i := range fIDs {
			if fSt[i] != "failed" || fIDs[i] != apiFirst.Runs[i].ID {
				t.Fatalf("/runs?%s row %d: %s %s, want %s failed", q, i, fIDs[i], fSt[i], apiFirst.Runs[i].ID)
			}
		}

		// Two statuses (API: comma-separated; page: repeated checkboxes)
		// and the page's time preset.
		two := func(i int) bool {
			st := store.SeedStatus(i)
			return listFlows[i%len(listFlows)] == flow && (st == "paused" || st == "timed_out")
		}
		want = newestFirst(n, two)
		walked, cursor = nil, ""
		for {
			path := "/api/v1/runs?limit=20&flow=" + flow + "&status=paused,timed_out&cursor=" + url.QueryEscape(cursor)
			p := lt.api(t, path)
			walked = append(walked, seqs(t, p.Runs)...)
			if p.NextCursor == "" || len(walked) > len(want) {
				break
			}
			cursor = p.NextCursor
		}
		if len(want) < 40 || !equalInts(walked, want) {
			t.Fatalf("paused,timed_out walk gave %d runs, want %d", len(walked), len(want))
		}
		tIDs, tSt, _ := lt.html(t, "/runs?flow="+flow+"&status=paused&status=timed_out&time=7d")
		// Run i is i/2 steps of 30d/(n/2) old: the last 7 days hold the
		// first ~n*7/30 (give or take the pair at the edge).
		inner := len(newestFirst(n, func(i int) bool { return two(i) && i < n*7/30-2 }))
		outer := len(newestFirst(n, func(i int) bool { return two(i) && i < n*7/30+2 }))
		if len(tIDs) < min(50, inner) || len(tIDs) > min(50, outer) || inner == 0 {
			t.Fatalf("/runs last 7 days paused+timed_out shows %d rows, want %d..%d", len(tIDs), min(50, inner), min(50, outer))
		}
		for i := range tIDs {
			if tSt[i] != "paused" && tSt[i] != "timed_out" {
				t.Fatalf("/runs paused+timed_out row %d is %s", i, tSt[i])
			}
		}

		// Search by idempotency key and by id.
		key := fmt.Sprintf("seed-key-%d", 12340)
		p := lt.api(t, "/api/v1/runs?q="+key)
		if len(p.Runs) != 1 || p.Runs[0].IdempotencyKey != key || p.Runs[0].seq(t) != 12340 {
			t.Fatalf("search %s: %+v, want run 12340 alone", key, p.Runs)
		}
		sIDs, _, _ := lt.html(t, "/runs?q="+key)
		if len(sIDs) != 1 || sIDs[0] != p.Runs[0].ID {
			t.Fatalf("/runs?q=%s rows %v, want [%s]", key, sIDs, p.Runs[0].ID)
		}
		byID := lt.api(t, "/api/v1/runs?q="+first.Runs[7].ID)
		if len(byID.Runs) != 1 || byID.Runs[0].ID != first.Runs[7].ID {
			t.Fatalf("search by id %s: %v", first.Runs[7].ID, ids(byID.Runs))
		}
		if none := lt.api(t, "/api/v1/runs?q=seed-key-12341"); len(none.Runs) != 0 {
			t.Fatalf("search for an unknown key answered %v", ids(none.Runs))
		}
	})
}

// BenchmarkRunsList1M times the runs list through the real handlers over
// 1,000,000 seeded runs on PostgreSQL and SQLite.
func BenchmarkRunsList1M(b *testing.B) {
	if os.Getenv("WEFT_BENCH_1M") != "1" {
		b.Skip("set WEFT_BENCH_1M=1 to seed 1,000,000 runs and time the runs list")
	}
	n := 1_000_000
	b.Run("postgres", func(b *testing.B) { st, u := openPostgresTB(b); benchRunsList(b, newListTarget(b, st, u, n)) })
	b.Run("sqlite", func(b *testing.B) { st, u := openSQLiteTB(b); benchRunsList(b, newListTarget(b, st, u, n)) })
}

func benchRunsList(b *testing.B, lt *listTarget) {
	b.Logf("seeded %d runs in %v", lt.n, lt.seeded)
	flow := listFlows[2]
	// The 20th page: follow 19 cursors.
	cursor := ""
	for range 19 {
		cursor = lt.api(b, "/api/v1/runs?cursor="+url.QueryEscape(cursor)).NextCursor
	}
	deep := lt.api(b, "/api/v1/runs?cursor="+url.QueryEscape(cursor))
	if want := newestFirst(1000, func(int) bool { return true })[950]; len(deep.Runs) != 50 || deep.Runs[0].seq(b) != want {
		b.Fatalf("page 20 starts with %v, want run %d", ids(deep.Runs[:1]), want)
	}
	key := fmt.Sprintf("seed-key-%d", lt.n/2)
	if p := lt.api(b, "/api/v1/runs?q="+key); len(p.Runs) != 1 {
		b.Fatalf("search %s found %d runs", key, len(p.Runs))
	}
	c := url.QueryEscape(cursor)
	cases := []struct{ name, path string }{
		{"html_first", "/runs"},
		{"api_first", "/api/v1/runs"},
		{"html_flow_failed", "/runs?flow=" + flow + "&status=failed"},
		{"api_flow_failed", "/api/v1/runs?flow=" + flow + "&status=failed"},
		{"api_status_paused", "/api/v1/runs?status=paused"},
		{"html_flow_paused_timed_out", "/runs?flow=" + flow + "&status=paused&status=timed_out"},
		{"api_flow_paused_timed_out", "/api/v1/runs?flow=" + flow + "&status=paused,timed_out"},
		{"html_flow_failed_7d", "/runs?flow=" + flow + "&status=failed&time=7d"},
		{"html_page20", "/runs?cursor=" + c},
		{"api_page20", "/api/v1/runs?cursor=" + c},
		{"html_key", "/runs?q=" + key},
		{"api_key", "/api/v1/runs?q=" + key},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			lt.get(b, tc.path) // warm
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				lt.h.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s: %d", tc.path, rec.Code)
				}
			}
		})
	}
	if lt.pgURL != "" {
		explainRunsList(b, lt.pgURL, flow, cursor, key)
	}
}

// explainRunsList logs PostgreSQL's plans for the statements ListRuns
// issues (same WHERE, ORDER BY and LIMIT as internal/store).
func explainRunsList(b *testing.B, dsn, flow, cursor, key string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		b.Fatal(err)
	}
	tss, id, _ := strings.Cut(string(raw), ":")
	ts, err := strconv.ParseInt(tss, 10, 64)
	if err != nil {
		b.Fatalf("cursor %q: %v", raw, err)
	}
	queries := []struct {
		name, sql string
		args      []any
	}{
		{"first", `SELECT * FROM runs ORDER BY created_at DESC, id DESC LIMIT 51`, nil},
		{"flow_failed", `SELECT * FROM runs WHERE flow = $1 AND status = $2 ORDER BY created_at DESC, id DESC LIMIT 51`, []any{flow, "failed"}},
		{"status_paused", `SELECT * FROM runs WHERE status = $1 ORDER BY created_at DESC, id DESC LIMIT 51`, []any{"paused"}},
		{"flow_paused_timed_out", `SELECT * FROM runs WHERE flow = $1 AND status IN ($2, $3) ORDER BY created_at DESC, id DESC LIMIT 51`, []any{flow, "paused", "timed_out"}},
		{"flow_failed_7d", `SELECT * FROM runs WHERE flow = $1 AND status = $2 AND created_at >= $3 ORDER BY created_at DESC, id DESC LIMIT 51`, []any{flow, "failed", time.Now().Add(-7 * 24 * time.Hour).UnixMicro()}},
		{"page20", `SELECT * FROM runs WHERE (created_at, id) < ($1, $2) ORDER BY created_at DESC, id DESC LIMIT 51`, []any{ts, id}},
		{"key", `SELECT * FROM runs WHERE (id = $1 OR idempotency_key = $2) ORDER BY created_at DESC, id DESC LIMIT 51`, []any{key, key}},
	}
	for _, q := range queries {
		rows, err := conn.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+q.sql, q.args...)
		if err != nil {
			b.Fatalf("explain %s: %v", q.name, err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				b.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		b.Logf("EXPLAIN %s:\n%s", q.name, strings.Join(plan, "\n"))
	}
}
