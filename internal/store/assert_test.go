package store_test

import (
	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/internal/store"
	"github.com/weftlabs/weft/server"
)

var (
	_ server.Catalog = (*store.Store)(nil)
	_ blocks.Catalog = (*store.Store)(nil)
	_ engine.Store   = (*store.Store)(nil)
	_ server.Engine  = (*engine.Engine)(nil)
)
