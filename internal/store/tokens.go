package store

import (
	"context"
	"fmt"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/internal/auth"
)

// tokenRow is a row of api_tokens.
type tokenRow struct {
	ID        string `gorm:"column:id;primaryKey"`
	Name      string `gorm:"column:name"`
	Role      string `gorm:"column:role"`
	Flow      string `gorm:"column:flow"`
	Hash      string `gorm:"column:hash"`
	CreatedAt int64  `gorm:"column:created_at"`
}

func (tokenRow) TableName() string { return "api_tokens" }

func (w tokenRow) token() auth.Token {
	return auth.Token{ID: w.ID, Name: w.Name, Role: auth.Role(w.Role), Flow: w.Flow, Hash: w.Hash,
		CreatedAt: fromUS(w.CreatedAt)}
}

// CreateToken stores a token (its hash, never its secret).
func (s *Store) CreateToken(ctx context.Context, t auth.Token) error {
	row := tokenRow{ID: t.ID, Name: t.Name, Role: string(t.Role), Flow: t.Flow, Hash: t.Hash, CreatedAt: us(t.CreatedAt)}
	if err := s.q(ctx).Create(&row).Error; err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("create token %s: %w", t.Name, engine.ErrConflict)
		}
		return fmt.Errorf("create token %s: %w", t.Name, err)
	}
	return nil
}

// TokenByHash finds the token whose secret hashes to hash.
func (s *Store) TokenByHash(ctx context.Context, hash string) (auth.Token, error) {
	var row tokenRow
	if err := s.q(ctx).Where("hash = ?", hash).Take(&row).Error; err != nil {
		return auth.Token{}, notFound(err)
	}
	return row.token(), nil
}

// ListTokens lists every token, newest first.
func (s *Store) ListTokens(ctx context.Context) ([]auth.Token, error) {
	var rows []tokenRow
	if err := s.q(ctx).Order("created_at DESC, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	out := make([]auth.Token, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.token())
	}
	return out, nil
}

// CountTokens is the number of stored tokens.
func (s *Store) CountTokens(ctx context.Context) (int, error) {
	var n int64
	if err := s.q(ctx).Model(&tokenRow{}).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count tokens: %w", err)
	}
	return int(n), nil
}

// DeleteToken removes a token.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	res := s.q(ctx).Where("id = ?", id).Delete(&tokenRow{})
	if res.Error != nil {
		return fmt.Errorf("delete token %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return engine.ErrNotFound
	}
	return nil
}
