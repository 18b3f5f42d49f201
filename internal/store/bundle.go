package store

import (
	"context"
	"fmt"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/flows"
)

// PutBundle stores block definitions and then blueprints in one
// transaction: each blueprint is compiled against the blocks as stored in
// it, and if anything fails nothing is stored. It answers the versions
// stored (or found identical), in order.
func (s *Store) PutBundle(ctx context.Context, defs []*blocks.Definition, docs [][]byte, opt flows.ParseOptions) (blockVersions, flowVersions []int, err error) {
	err = s.InTx(ctx, func(txs engine.Store) error {
		tx := txs.(*Store)
		blockVersions, flowVersions = nil, nil
		for _, d := range defs {
			v, _, err := tx.PutBlock(ctx, d, nil)
			if err != nil {
				return err
			}
			blockVersions = append(blockVersions, v)
		}
		for _, doc := range docs {
			bp, err := flows.ParseWith(doc, uncachedCatalog{ctx, tx}, opt)
			if err != nil {
				return fmt.Errorf("compile imported flow: %w", err)
			}
			v, _, err := tx.PutFlow(ctx, bp)
			if err != nil {
				return err
			}
			flowVersions = append(flowVersions, v)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("put bundle: %w", err)
	}
	return blockVersions, flowVersions, nil
}

// uncachedCatalog reads block definitions inside a transaction without
// filling the shared cache, which must not learn of versions a rollback
// may undo.
type uncachedCatalog struct {
	ctx context.Context
	tx  *Store
}

func (c uncachedCatalog) Block(name string, version int) (*blocks.Definition, error) {
	row, err := c.tx.blockRow(c.ctx, name, version)
	if err != nil {
		return nil, err
	}
	return row.def()
}
