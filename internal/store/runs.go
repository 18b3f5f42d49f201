package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/weftlabs/weft/engine"
)

type runRow struct {
	ID             string  `gorm:"column:id"`
	Flow           string  `gorm:"column:flow"`
	Version        int     `gorm:"column:version"`
	Status         string  `gorm:"column:status"`
	Input          *string `gorm:"column:input"`
	Output         *string `gorm:"column:output"`
	Error          *string `gorm:"column:error"`
	IdempotencyKey *string `gorm:"column:idempotency_key"`
	ParentRunID    *string `gorm:"column:parent_run_id"`
	ParentPath     *string `gorm:"column:parent_path"`
	TriggerKind    string  `gorm:"column:trigger_kind"`
	State          *string `gorm:"column:state"`
	CreatedAt      int64   `gorm:"column:created_at"`
	StartedAt      *int64  `gorm:"column:started_at"`
	FinishedAt     *int64  `gorm:"column:finished_at"`
	Rev            int64   `gorm:"column:rev"`
}

type stepRow struct {
	RunID      string  `gorm:"column:run_id"`
	Path       string  `gorm:"column:path"`
	Ref        string  `gorm:"column:ref"`
	Type       string  `gorm:"column:type"`
	Block      string  `gorm:"column:block"`
	Status     string  `gorm:"column:status"`
	Input      *string `gorm:"column:input"`
	Output     *string `gorm:"column:output"`
	Error      *string `gorm:"column:error"`
	Attempt    int     `gorm:"column:attempt"`
	Attempts   *string `gorm:"column:attempts"`
	Control    *string `gorm:"column:control"`
	ChildRunID *string `gorm:"column:child_run_id"`
	Artifacts  *string `gorm:"column:artifacts"`
	Seq        int     `gorm:"column:seq"`
	CreatedAt  int64   `gorm:"column:created_at"`
	StartedAt  *int64  `gorm:"column:started_at"`
	FinishedAt *int64  `gorm:"column:finished_at"`
}

func rawPtr(b json.RawMessage) *string {
	if len(b) == 0 {
		return nil
	}
	s := string(b)
	return &s
}

func ptrRaw(s *string) json.RawMessage {
	if s == nil || *s == "" {
		return nil
	}
	return json.RawMessage(*s)
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func ptrStr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func jsonPtr(v any) *string {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return nil
	}
	s := string(b)
	return &s
}

func decode[T any](s *string) *T {
	if s == nil || *s == "" {
		return nil
	}
	var v T
	if json.Unmarshal([]byte(*s), &v) != nil {
		return nil
	}
	return &v
}

func toRunRow(r engine.Run) runRow {
	var meta *string
	if r.Meta != nil {
		meta = jsonPtr(r.Meta)
	}
	var errStr *string
	if r.Error != nil {
		errStr = jsonPtr(r.Error)
	}
	return runRow{
		ID: r.ID, Flow: r.Flow, Version: r.Version, Status: string(r.Status),
		Input: rawPtr(r.Input), Output: rawPtr(r.Output), Error: errStr,
		IdempotencyKey: strPtr(r.IdempotencyKey), ParentRunID: strPtr(r.ParentRunID), ParentPath: strPtr(r.ParentPath),
		TriggerKind: r.Trigger, State: meta, CreatedAt: us(r.CreatedAt), StartedAt: usPtr(r.StartedAt), FinishedAt: usPtr(r.FinishedAt),
		Rev: r.Rev,
	}
}

func (w runRow) run() engine.Run {
	r := engine.Run{
		ID: w.ID, Flow: w.Flow, Version: w.Version, Status: engine.RunStatus(w.Status),
		Input: ptrRaw(w.Input), Output: ptrRaw(w.Output), Error: decode[engine.ErrorInfo](w.Error),
		IdempotencyKey: ptrStr(w.IdempotencyKey), ParentRunID: ptrStr(w.ParentRunID), ParentPath: ptrStr(w.ParentPath),
		Trigger: w.TriggerKind, CreatedAt: fromUS(w.CreatedAt), StartedAt: fromUSPtr(w.StartedAt), FinishedAt: fromUSPtr(w.FinishedAt),
		Rev: w.Rev, Meta: decode[engine.RunMeta](w.State),
	}
	if r.Meta == nil {
		r.Meta = &engine.RunMeta{}
	}
	return r
}

func toStepRow(runID string, st engine.Step) stepRow {
	var errStr, attempts, control, artifacts *string
	if len(st.Artifacts) > 0 {
		artifacts = jsonPtr(st.Artifacts)
	}
	if st.Error != nil {
		errStr = jsonPtr(st.Error)
	}
	if len(st.Attempts) > 0 {
		attempts = jsonPtr(st.Attempts)
	}
	if st.Control != nil {
		control = jsonPtr(st.Control)
	}
	return stepRow{
		RunID: runID, Path: st.Path, Ref: st.Ref, Type: st.Type, Block: st.Block, Status: string(st.Status),
		Input: rawPtr(st.Input), Output: rawPtr(st.Output), Error: errStr, Attempt: st.Attempt, Attempts: attempts,
		Control: control, ChildRunID: strPtr(st.ChildRunID), Artifacts: artifacts, Seq: st.Seq,
		CreatedAt: us(st.CreatedAt), StartedAt: usPtr(st.StartedAt), FinishedAt: usPtr(st.FinishedAt),
	}
}

func (w stepRow) step() engine.Step {
	st := engine.Step{
		Path: w.Path, Ref: w.Ref, Type: w.Type, Block: w.Block, Status: engine.StepStatus(w.Status),
		Input: ptrRaw(w.Input), Output: ptrRaw(w.Output), Error: decode[engine.ErrorInfo](w.Error),
		Attempt: w.Attempt, ChildRunID: ptrStr(w.ChildRunID), Seq: w.Seq, Control: decode[engine.StepControl](w.Control),
		CreatedAt: fromUS(w.CreatedAt), StartedAt: fromUSPtr(w.StartedAt), FinishedAt: fromUSPtr(w.FinishedAt),
	}
	if a := decode[[]engine.Attempt](w.Attempts); a != nil {
		st.Attempts = *a
	}
	if a := decode[map[string]engine.ArtifactRef](w.Artifacts); a != nil {
		st.Artifacts = *a
	}
	return st
}

// CreateRun inserts a run; a known idempotency key is engine.ErrConflict.
func (s *Store) CreateRun(ctx context.Context, r engine.Run) error {
	row := toRunRow(r)
	if row.Rev == 0 {
		row.Rev = 1
	}
	err := s.q(ctx).Table("runs").Create(&row).Error
	if isUniqueViolation(err) {
		return engine.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("create run %s: %w", r.ID, err)
	}
	return nil
}

// RunByIdempotencyKey finds the run started with key.
func (s *Store) RunByIdempotencyKey(ctx context.Context, key string) (engine.Run, error) {
	var row runRow
	err := s.q(ctx).Table("runs").Where("idempotency_key = ?", key).Take(&row).Error
	if err != nil {
		return engine.Run{}, notFound(err)
	}
	return row.run(), nil
}

// LoadRun reads a run, with its steps in creation order when withSteps.
func (s *Store) LoadRun(ctx context.Context, id string, withSteps bool) (engine.Run, error) {
	// Scanned by hand: every transition reads its run.
	sql := `SELECT id, flow, version, status, input, output, error, idempotency_key, parent_run_id, parent_path, trigger_kind, state,
created_at, started_at, finished_at, rev FROM runs WHERE id = ?`
	if s.inTx {
		sql += s.dia.lockRow()
	}
	rows, err := s.q(ctx).Raw(sql, id).Rows()
	if err != nil {
		return engine.Run{}, fmt.Errorf("load run %s: %w", id, err)
	}
	var w runRow
	found := rows.Next()
	if found {
		err = rows.Scan(&w.ID, &w.Flow, &w.Version, &w.Status, &w.Input, &w.Output, &w.Error, &w.IdempotencyKey, &w.ParentRunID,
			&w.ParentPath, &w.TriggerKind, &w.State, &w.CreatedAt, &w.StartedAt, &w.FinishedAt, &w.Rev)
	}
	if err == nil {
		err = rows.Err()
	}
	rows.Close()
	if err != nil {
		return engine.Run{}, fmt.Errorf("load run %s: %w", id, err)
	}
	if !found {
		return engine.Run{}, fmt.Errorf("run %s: %w", id, engine.ErrNotFound)
	}
	r := w.run()
	if withSteps {
		steps, err := s.loadSteps(ctx, id)
		if err != nil {
			return engine.Run{}, fmt.Errorf("load steps of %s: %w", id, err)
		}
		r.Steps = steps
	}
	return r, nil
}

// LoadSteps reads a run's steps in creation order.
func (s *Store) LoadSteps(ctx context.Context, runID string) ([]engine.Step, error) {
	steps, err := s.loadSteps(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("load steps of %s: %w", runID, err)
	}
	return steps, nil
}

// stepScope is the outermost iteration prefix of a step path: "each[7]."
// for "each[7].inner[2].x", "" outside any iteration.
func stepScope(path string) string {
	i := strings.Index(path, "].")
	if i < 0 || !strings.Contains(path[:i], "[") {
		return ""
	}
	return path[:i+2]
}

// LoadScopedSteps reads the run's steps outside any iteration and those
// inside the iteration scope, in creation order.
func (s *Store) LoadScopedSteps(ctx context.Context, runID, scope string) ([]engine.Step, error) {
	steps, err := s.scanSteps(ctx, `WHERE run_id = ? AND scope IN ('', ?)`, runID, scope)
	if err != nil {
		return nil, fmt.Errorf("load steps of %s in %s: %w", runID, scope, err)
	}
	return steps, nil
}

// loadSteps scans a run's steps without reflection: a run with a large map
// has thousands, read on every transition.
func (s *Store) loadSteps(ctx context.Context, runID string) ([]engine.Step, error) {
	return s.scanSteps(ctx, `WHERE run_id = ?`, runID)
}

func (s *Store) scanSteps(ctx context.Context, where string, args ...any) ([]engine.Step, error) {
	rows, err := s.q(ctx).Raw(`SELECT path, ref, type, block, status, input, output, error, attempt, attempts, control, child_run_id, artifacts, seq, created_at, started_at, finished_at
FROM steps `+where+` ORDER BY seq, path`, args...).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []engine.Step
	for rows.Next() {
		var w stepRow
		if err := rows.Scan(&w.Path, &w.Ref, &w.Type, &w.Block, &w.Status, &w.Input, &w.Output, &w.Error, &w.Attempt, &w.Attempts,
			&w.Control, &w.ChildRunID, &w.Artifacts, &w.Seq, &w.CreatedAt, &w.StartedAt, &w.FinishedAt); err != nil {
			return nil, err
		}
		var ctl *string
		if w.Control != nil && len(*w.Control) >= bigControl {
			// A map's control holds its items: decode them once, not on
			// every report inside the map.
			ctl, w.Control = w.Control, nil
		}
		st := w.step()
		if ctl != nil {
			st.Control = s.shared.control(*ctl)
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// bigControl is the size from which decoded step controls are memoised.
const bigControl = 4096

// control decodes a large step control, reusing the last decoding of the
// same text. The caller may change the returned struct, not its Items.
func (sh *shared) control(raw string) *engine.StepControl {
	sh.mu.Lock()
	if sh.ctlRaw == raw && sh.ctl != nil {
		c := *sh.ctl
		sh.mu.Unlock()
		return &c
	}
	sh.mu.Unlock()
	c := decode[engine.StepControl](&raw)
	if c == nil {
		return nil
	}
	sh.mu.Lock()
	cp := *c
	sh.ctlRaw, sh.ctl = raw, &cp
	sh.mu.Unlock()
	return c
}

// LoadStep reads one step.
func (s *Store) LoadStep(ctx context.Context, runID, path string) (engine.Step, error) {
	var w stepRow
	if err := s.q(ctx).Table("steps").Where("run_id = ? AND path = ?", runID, path).Take(&w).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return engine.Step{}, fmt.Errorf("step %s of run %s: %w", path, runID, engine.ErrNotFound)
		}
		return engine.Step{}, fmt.Errorf("load step %s of %s: %w", path, runID, err)
	}
	return w.step(), nil
}

// SaveRun writes the run when its rev is still readRev.
func (s *Store) SaveRun(ctx context.Context, r engine.Run, readRev int64) error {
	row := toRunRow(r)
	moved := func(n int64) error {
		if n == 0 {
			return engine.ErrConflict
		}
		return nil
	}
	err := s.execCheck(ctx, "save run "+r.ID, `UPDATE runs SET status = ?, version = ?, output = ?, error = ?, state = ?, started_at = ?, finished_at = ?, rev = ?
WHERE id = ? AND rev = ?`, moved, row.Status, row.Version, row.Output, row.Error, row.State, row.StartedAt, row.FinishedAt, readRev+1, r.ID, readRev)
	if errors.Is(err, engine.ErrConflict) {
		return err
	}
	if err != nil {
		return fmt.Errorf("save run %s: %w", r.ID, err)
	}
	return nil
}

const upsertStepHead = `INSERT INTO steps (run_id, path, ref, type, block, status, input, output, error, attempt, attempts, control, child_run_id, artifacts, seq, created_at, started_at, finished_at, scope)
VALUES `

const upsertStepTail = `
ON CONFLICT (run_id, path) DO UPDATE SET ref = excluded.ref, type = excluded.type, block = excluded.block, status = excluded.status,
input = excluded.input, output = excluded.output, error = excluded.error, attempt = excluded.attempt, attempts = excluded.attempts,
control = excluded.control, child_run_id = excluded.child_run_id, artifacts = excluded.artifacts, seq = excluded.seq, started_at = excluded.started_at, finished_at = excluded.finished_at`

// UpsertSteps inserts or replaces steps by (run, path), several rows a
// statement.
func (s *Store) UpsertSteps(ctx context.Context, runID string, steps []engine.Step) error {
	for len(steps) > 0 {
		chunk := steps
		if len(chunk) > 50 {
			chunk = chunk[:50]
		}
		steps = steps[len(chunk):]
		var sb strings.Builder
		sb.WriteString(upsertStepHead)
		args := make([]any, 0, 19*len(chunk))
		for i, st := range chunk {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			w := toStepRow(runID, st)
			args = append(args, w.RunID, w.Path, w.Ref, w.Type, w.Block, w.Status, w.Input, w.Output, w.Error,
				w.Attempt, w.Attempts, w.Control, w.ChildRunID, w.Artifacts, w.Seq, w.CreatedAt, w.StartedAt, w.FinishedAt, stepScope(st.Path))
		}
		sb.WriteString(upsertStepTail)
		if err := s.exec(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("save steps of %s (%s...): %w", runID, chunk[0].Path, err)
		}
	}
	return nil
}

// DeleteSteps removes steps by path.
func (s *Store) DeleteSteps(ctx context.Context, runID string, paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	where, args := inPaths("run_id = ?", []any{runID}, paths)
	if err := s.exec(ctx, "DELETE FROM steps WHERE "+where, args...); err != nil {
		return fmt.Errorf("delete steps of %s: %w", runID, err)
	}
	return nil
}

// ChildRuns lists runs whose parent is runID.
func (s *Store) ChildRuns(ctx context.Context, runID string) ([]string, error) {
	var ids []string
	err := s.q(ctx).Raw("SELECT id FROM runs WHERE parent_run_id = ? ORDER BY created_at", runID).Scan(&ids).Error
	return ids, err
}

// cursor is the keyset position: the last run's creation time and id.
func encodeCursor(r engine.Run) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(us(r.CreatedAt), 10) + ":" + r.ID))
}

func decodeCursor(c string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", fmt.Errorf("invalid cursor: pass next_cursor from the previous page unchanged")
	}
	ts, id, ok := strings.Cut(string(b), ":")
	v, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil {
		return 0, "", fmt.Errorf("invalid cursor: pass next_cursor from the previous page unchanged")
	}
	return v, id, nil
}

// ListRuns pages through runs newest first.
func (s *Store) ListRuns(ctx context.Context, f engine.RunFilter) (engine.RunPage, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	if limit > 500 {
		limit = 500
	}
	// One query per status: each reads its (flow, status, created_at)
	// index in page order, where status IN (...) would walk the date index
	// and discard rows (100 ms for an empty page at 1,000,000 runs). The
	// pages are merged here.
	statuses := []string{""}
	if len(f.Statuses) > 0 {
		statuses = statuses[:0]
		for _, st := range f.Statuses {
			statuses = append(statuses, string(st))
		}
	}
	var cursorTS int64
	var cursorID string
	if f.Cursor != "" {
		ts, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return engine.RunPage{}, fmt.Errorf("list runs: %s: %w", err, engine.ErrInvalidInput)
		}
		cursorTS, cursorID = ts, id
	}
	var rows []runRow
	for _, status := range statuses {
		q := s.q(ctx).Table("runs")
		if f.Flow != "" {
			q = q.Where("flow = ?", f.Flow)
		}
		if status != "" {
			q = q.Where("status = ?", status)
		}
		if !f.Since.IsZero() {
			q = q.Where("created_at >= ?", us(f.Since))
		}
		if !f.Until.IsZero() {
			q = q.Where("created_at < ?", us(f.Until))
		}
		if f.Search != "" {
			q = q.Where("(id = ? OR idempotency_key = ?)", f.Search, f.Search)
		}
		if f.Cursor != "" {
			q = q.Where("(created_at, id) < (?, ?)", cursorTS, cursorID)
		}
		var part []runRow
		if err := q.Order("created_at DESC, id DESC").Limit(limit + 1).Find(&part).Error; err != nil {
			return engine.RunPage{}, fmt.Errorf("list runs: %w", err)
		}
		rows = append(rows, part...)
	}
	if len(statuses) > 1 {
		sort.Slice(rows, func(i, j int) bool {
			if rows[i].CreatedAt != rows[j].CreatedAt {
				return rows[i].CreatedAt > rows[j].CreatedAt
			}
			return rows[i].ID > rows[j].ID
		})
		if len(rows) > limit+1 {
			rows = rows[:limit+1]
		}
	}
	page := engine.RunPage{Runs: make([]engine.Run, 0, len(rows))}
	for i, w := range rows {
		if i == limit {
			page.NextCursor = encodeCursor(page.Runs[limit-1])
			break
		}
		page.Runs = append(page.Runs, w.run())
	}
	return page, nil
}

// PurgeRuns deletes up to limit runs finished before t (steps, events,
// tasks and timers go with them).
func (s *Store) PurgeRuns(ctx context.Context, before time.Time, limit int) (int, error) {
	res := s.q(ctx).Exec(`DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE finished_at IS NOT NULL AND finished_at < ? ORDER BY finished_at LIMIT ?)`, us(before), limit)
	if res.Error != nil {
		return 0, fmt.Errorf("purge runs: %w", res.Error)
	}
	if err := s.q(ctx).Exec("DELETE FROM cron_fires WHERE due_at < ?", us(before)).Error; err != nil {
		return 0, fmt.Errorf("purge cron fires: %w", err)
	}
	return int(res.RowsAffected), nil
}

type eventRow struct {
	Seq    int64   `gorm:"column:seq"`
	RunID  string  `gorm:"column:run_id"`
	Time   int64   `gorm:"column:time"`
	Actor  string  `gorm:"column:actor"`
	Kind   string  `gorm:"column:kind"`
	Path   string  `gorm:"column:path"`
	From   string  `gorm:"column:from_state"`
	To     string  `gorm:"column:to_state"`
	Detail *string `gorm:"column:detail"`
}

// AppendEvents adds history entries, several rows a statement.
func (s *Store) AppendEvents(ctx context.Context, evs []engine.Event) error {
	for len(evs) > 0 {
		chunk := evs
		if len(chunk) > 100 {
			chunk = chunk[:100]
		}
		evs = evs[len(chunk):]
		var sb strings.Builder
		sb.WriteString("INSERT INTO events (run_id, time, actor, kind, path, from_state, to_state, detail) VALUES ")
		args := make([]any, 0, 8*len(chunk))
		for i, e := range chunk {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, e.RunID, us(e.Time), e.Actor, e.Kind, e.Path, e.From, e.To, rawPtr(e.Detail))
		}
		if err := s.exec(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("append event %s: %w", chunk[0].Kind, err)
		}
	}
	return nil
}

// Events lists a run's history after afterSeq, oldest first.
func (s *Store) Events(ctx context.Context, runID string, afterSeq int64, limit int) ([]engine.Event, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	var rows []eventRow
	if err := s.q(ctx).Table("events").Where("run_id = ? AND seq > ?", runID, afterSeq).Order("seq").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("events of %s: %w", runID, err)
	}
	out := make([]engine.Event, len(rows))
	for i, w := range rows {
		out[i] = engine.Event{Seq: w.Seq, RunID: w.RunID, Time: fromUS(w.Time), Actor: w.Actor, Kind: w.Kind, Path: w.Path, From: w.From, To: w.To, Detail: ptrRaw(w.Detail)}
	}
	return out, nil
}
