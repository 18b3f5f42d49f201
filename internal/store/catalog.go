package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/flows"
)

// canonical re-encodes JSON with sorted keys, so that equal content compares
// equal whatever its formatting.
func canonical(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		return nil, err
	}
	return json.Marshal(x)
}

type blockRow struct {
	Name      string `gorm:"column:name"`
	Version   int    `gorm:"column:version"`
	Content   string `gorm:"column:content"`
	Raw       string `gorm:"column:raw"`
	CreatedAt int64  `gorm:"column:created_at"`
}

// PutBlock stores def (DESIGN.md §3 version rules): without a version the
// next number when the content changed, the latest when identical; an
// explicit version with other content than stored is engine.ErrConflict.
func (s *Store) PutBlock(ctx context.Context, def *blocks.Definition, raw []byte) (int, bool, error) {
	if def == nil || def.Name == "" {
		return 0, false, fmt.Errorf("put block: name is required")
	}
	d := *def
	want := d.Version
	d.Version = 0
	content, err := canonical(d)
	if err != nil {
		return 0, false, fmt.Errorf("put block %s: %w", def.Name, err)
	}
	if len(raw) == 0 {
		raw, _ = json.Marshal(def)
	}
	var version int
	var created bool
	err = s.InTx(ctx, func(txs engine.Store) error {
		tx := txs.(*Store)
		var latest blockRow
		err := tx.q(ctx).Table("block_defs").Where("name = ?", def.Name).Order("version DESC").Limit(1).Take(&latest).Error
		hasLatest := err == nil
		if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			return err
		}
		if want > 0 {
			var same blockRow
			err := tx.q(ctx).Table("block_defs").Where("name = ? AND version = ?", def.Name, want).Take(&same).Error
			if err == nil {
				if same.Content == string(content) {
					version = want
					return nil
				}
				return fmt.Errorf("block %s@%d exists with other content; upload without a version or with %d: %w", def.Name, want, latest.Version+1, engine.ErrConflict)
			}
			if !errors.Is(err, gorm.ErrRecordNotFound) {
				return err
			}
			version = want
		} else {
			if hasLatest && latest.Content == string(content) {
				version = latest.Version
				return nil
			}
			version = latest.Version + 1
		}
		created = true
		return tx.q(ctx).Table("block_defs").Create(&blockRow{Name: def.Name, Version: version, Content: string(content), Raw: string(raw), CreatedAt: us(nowUTC())}).Error
	})
	if err != nil {
		if errors.Is(err, engine.ErrConflict) {
			return 0, false, err
		}
		if isUniqueViolation(err) {
			return 0, false, fmt.Errorf("block %s@%d was stored concurrently: %w", def.Name, version, engine.ErrConflict)
		}
		return 0, false, fmt.Errorf("put block %s: %w", def.Name, err)
	}
	return version, created, nil
}

func (s *Store) blockRow(ctx context.Context, name string, version int) (blockRow, error) {
	var row blockRow
	q := s.q(ctx).Table("block_defs").Where("name = ?", name)
	if version > 0 {
		q = q.Where("version = ?", version)
	} else {
		q = q.Order("version DESC").Limit(1)
	}
	if err := q.Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			if version > 0 {
				return row, fmt.Errorf("block %s@%d: %w", name, version, engine.ErrNotFound)
			}
			return row, fmt.Errorf("block %s: %w", name, engine.ErrNotFound)
		}
		return row, fmt.Errorf("get block %s: %w", name, err)
	}
	return row, nil
}

func (row blockRow) def() (*blocks.Definition, error) {
	// Parse fills the schema cache; stored content passed it at upload.
	if d, err := blocks.Parse([]byte(row.Content)); err == nil {
		d.Version = row.Version
		return d, nil
	}
	var d blocks.Definition
	if err := json.Unmarshal([]byte(row.Content), &d); err != nil {
		return nil, fmt.Errorf("block %s@%d: stored content unreadable: %w", row.Name, row.Version, err)
	}
	d.Version = row.Version
	return &d, nil
}

// GetBlock returns a definition and its uploaded text; version 0 = latest.
func (s *Store) GetBlock(ctx context.Context, name string, version int) (*blocks.Definition, []byte, error) {
	row, err := s.blockRow(ctx, name, version)
	if err != nil {
		return nil, nil, err
	}
	d, err := row.def()
	if err != nil {
		return nil, nil, err
	}
	return d, []byte(row.Raw), nil
}

// Block implements blocks.Catalog; version 0 = latest. Stored versions
// never change, so their definitions are cached.
func (s *Store) Block(name string, version int) (*blocks.Definition, error) {
	if version > 0 {
		s.shared.mu.Lock()
		d, ok := s.shared.defCache[flowKey{name, version}]
		s.shared.mu.Unlock()
		if ok {
			return d, nil
		}
	}
	row, err := s.blockRow(context.Background(), name, version)
	if err != nil {
		return nil, err
	}
	d, err := row.def()
	if err != nil {
		return nil, err
	}
	s.shared.mu.Lock()
	s.shared.defCache[flowKey{name, row.Version}] = d
	s.shared.mu.Unlock()
	return d, nil
}

// BlockVersions lists the stored versions of a block, oldest first.
func (s *Store) BlockVersions(ctx context.Context, name string) ([]int, error) {
	var vs []int
	if err := s.q(ctx).Raw("SELECT version FROM block_defs WHERE name = ? ORDER BY version", name).Scan(&vs).Error; err != nil {
		return nil, fmt.Errorf("block versions of %s: %w", name, err)
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("block %s: %w", name, engine.ErrNotFound)
	}
	return vs, nil
}

// ListBlocks lists the latest version of every block, by name.
func (s *Store) ListBlocks(ctx context.Context) ([]engine.BlockSummary, error) {
	var rows []blockRow
	if err := s.q(ctx).Raw(`SELECT b.name, b.version, b.content, b.created_at FROM block_defs b
WHERE b.version = (SELECT max(version) FROM block_defs c WHERE c.name = b.name) ORDER BY b.name`).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("list blocks: %w", err)
	}
	out := make([]engine.BlockSummary, 0, len(rows))
	for _, r := range rows {
		d, err := r.def()
		if err != nil {
			return nil, err
		}
		kind := d.Dispatch.Kind
		if kind == "" {
			kind = blocks.DispatchWorker
		}
		sum := engine.BlockSummary{Name: r.Name, LatestVersion: r.Version, Title: d.Title, Kind: kind, UpdatedAt: fromUS(r.CreatedAt)}
		if kind == blocks.DispatchWorker || kind == blocks.DispatchCommand {
			sum.Queue = d.Queue()
		}
		out = append(out, sum)
	}
	return out, nil
}

type flowRow struct {
	Name        string `gorm:"column:name"`
	Version     int    `gorm:"column:version"`
	Raw         string `gorm:"column:raw"`
	Pins        string `gorm:"column:pins"`
	Title       string `gorm:"column:title"`
	Description string `gorm:"column:description"`
	HasCron     int    `gorm:"column:has_cron"`
	CreatedAt   int64  `gorm:"column:created_at"`
}

// flowContent is the blueprint text without its version, canonicalised.
func flowContent(raw []byte) (string, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", err
	}
	delete(m, "version")
	b, err := json.Marshal(m)
	return string(b), err
}

// pinsOf maps each block named without @version to the version its node
// was compiled against.
func pinsOf(bp *flows.Blueprint) map[string]int {
	if bp.Pins != nil {
		return bp.Pins
	}
	pins := map[string]int{}
	add := func(ref string, d *blocks.Definition) {
		if d != nil && !strings.Contains(ref, "@") {
			pins[d.Name] = d.Version
		}
	}
	for _, n := range bp.Nodes {
		add(n.Block, n.Def)
		if n.Compensate != nil {
			add(n.Compensate.Block, n.Compensate.Def)
		}
	}
	return pins
}

// PutFlow stores a compiled blueprint's uploaded text with its pins.
func (s *Store) PutFlow(ctx context.Context, bp *flows.Blueprint) (int, bool, error) {
	if bp == nil || bp.Name == "" {
		return 0, false, fmt.Errorf("put flow: name is required")
	}
	raw := bp.Raw
	if len(raw) == 0 {
		var err error
		if raw, err = json.Marshal(bp); err != nil {
			return 0, false, fmt.Errorf("put flow %s: %w", bp.Name, err)
		}
	}
	content, err := flowContent(raw)
	if err != nil {
		return 0, false, fmt.Errorf("put flow %s: %w", bp.Name, err)
	}
	pins, _ := json.Marshal(pinsOf(bp))
	hasCron := 0
	for _, t := range bp.Triggers {
		if t.Cron != "" {
			hasCron = 1
		}
	}
	var version int
	var created bool
	err = s.InTx(ctx, func(txs engine.Store) error {
		tx := txs.(*Store)
		var rows []flowRow
		if err := tx.q(ctx).Table("flow_defs").Where("name = ?", bp.Name).Order("version DESC").Find(&rows).Error; err != nil {
			return err
		}
		same := func(r flowRow) bool {
			c, err := flowContent([]byte(r.Raw))
			return err == nil && c == content && bytes.Equal([]byte(r.Pins), pins)
		}
		latest := 0
		if len(rows) > 0 {
			latest = rows[0].Version
		}
		if bp.Version > 0 {
			for _, r := range rows {
				if r.Version == bp.Version {
					if same(r) {
						version = r.Version
						return nil
					}
					return fmt.Errorf("flow %s@%d exists with other content; upload without a version or with %d: %w", bp.Name, bp.Version, latest+1, engine.ErrConflict)
				}
			}
			version = bp.Version
		} else {
			if len(rows) > 0 && same(rows[0]) {
				version = latest
				return nil
			}
			version = latest + 1
		}
		created = true
		return tx.q(ctx).Table("flow_defs").Create(&flowRow{Name: bp.Name, Version: version, Raw: string(raw), Pins: string(pins),
			Title: bp.Title, Description: bp.Description, HasCron: hasCron, CreatedAt: us(nowUTC())}).Error
	})
	if err != nil {
		if errors.Is(err, engine.ErrConflict) {
			return 0, false, err
		}
		if isUniqueViolation(err) {
			return 0, false, fmt.Errorf("flow %s@%d was stored concurrently: %w", bp.Name, version, engine.ErrConflict)
		}
		return 0, false, fmt.Errorf("put flow %s: %w", bp.Name, err)
	}
	return version, created, nil
}

// GetFlow returns the compiled blueprint; version 0 = latest. Compiled
// blueprints are cached by (name, version): a stored version never changes.
func (s *Store) GetFlow(ctx context.Context, name string, version int) (*flows.Blueprint, error) {
	if version <= 0 {
		var v *int
		if err := s.q(ctx).Raw("SELECT max(version) FROM flow_defs WHERE name = ?", name).Scan(&v).Error; err != nil {
			return nil, fmt.Errorf("get flow %s: %w", name, err)
		}
		if v == nil {
			return nil, fmt.Errorf("flow %s: %w", name, engine.ErrNotFound)
		}
		version = *v
	}
	key := flowKey{name, version}
	s.shared.mu.Lock()
	bp, ok := s.shared.flowCache[key]
	s.shared.mu.Unlock()
	if ok {
		return bp, nil
	}
	var row flowRow
	if err := s.q(ctx).Table("flow_defs").Where("name = ? AND version = ?", name, version).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, fmt.Errorf("flow %s@%d: %w", name, version, engine.ErrNotFound)
		}
		return nil, fmt.Errorf("get flow %s@%d: %w", name, version, err)
	}
	bp, err := s.compile(row)
	if err != nil {
		return nil, err
	}
	s.shared.mu.Lock()
	s.shared.flowCache[key] = bp
	s.shared.mu.Unlock()
	return bp, nil
}

func (s *Store) compile(row flowRow) (*flows.Blueprint, error) {
	pins := map[string]int{}
	_ = json.Unmarshal([]byte(row.Pins), &pins)
	bp, err := flows.Compile([]byte(row.Raw), s, pins)
	if err != nil {
		return nil, fmt.Errorf("flow %s@%d no longer compiles: %w", row.Name, row.Version, err)
	}
	bp.Version = row.Version
	bp.Pins = pins
	return bp, nil
}

// FlowVersions lists the stored versions of a flow, oldest first.
func (s *Store) FlowVersions(ctx context.Context, name string) ([]int, error) {
	var vs []int
	if err := s.q(ctx).Raw("SELECT version FROM flow_defs WHERE name = ? ORDER BY version", name).Scan(&vs).Error; err != nil {
		return nil, fmt.Errorf("flow versions of %s: %w", name, err)
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("flow %s: %w", name, engine.ErrNotFound)
	}
	return vs, nil
}

// ListFlows lists the latest version of every flow with its last runs.
func (s *Store) ListFlows(ctx context.Context) ([]engine.FlowSummary, error) {
	var rows []flowRow
	if err := s.q(ctx).Raw(`SELECT f.name, f.version, f.title, f.description, f.created_at FROM flow_defs f
WHERE f.version = (SELECT max(version) FROM flow_defs g WHERE g.name = f.name) ORDER BY f.name`).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("list flows: %w", err)
	}
	out := make([]engine.FlowSummary, 0, len(rows))
	for _, r := range rows {
		sum := engine.FlowSummary{Name: r.Name, LatestVersion: r.Version, Title: r.Title, Description: r.Description, UpdatedAt: fromUS(r.CreatedAt)}
		var sts []string
		if err := s.q(ctx).Raw("SELECT status FROM runs WHERE flow = ? ORDER BY created_at DESC, id DESC LIMIT 10", r.Name).Scan(&sts).Error; err != nil {
			return nil, fmt.Errorf("list flows: %w", err)
		}
		for _, st := range sts {
			sum.LastRuns = append(sum.LastRuns, engine.RunStatus(st))
		}
		out = append(out, sum)
	}
	return out, nil
}

// CronFlows returns the latest version of every flow that has a cron trigger.
func (s *Store) CronFlows(ctx context.Context) ([]*flows.Blueprint, error) {
	var rows []flowRow
	if err := s.q(ctx).Raw(`SELECT f.name, f.version FROM flow_defs f
WHERE f.version = (SELECT max(version) FROM flow_defs g WHERE g.name = f.name) AND f.has_cron = 1 ORDER BY f.name`).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("cron flows: %w", err)
	}
	var out []*flows.Blueprint
	for _, r := range rows {
		bp, err := s.GetFlow(ctx, r.Name, r.Version)
		if err != nil {
			s.shared.logger.Error("cron flow does not load", "flow", r.Name, "version", r.Version, "err", err)
			continue
		}
		out = append(out, bp)
	}
	return out, nil
}
