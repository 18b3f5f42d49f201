package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/blocks/jsoncheck"
	"github.com/weftlabs/weft/engine"
)

// stored is the answer to an upload.
type stored struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
}

// putBlock stores a block definition: 201 for a new version, 200 when the
// content was identical to a stored one.
func (s *Server) putBlock(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	if err := checkJSON(body); err != nil {
		return err
	}
	def, err := ParseBlock(body)
	if err != nil {
		return err
	}
	if ps := s.checkBlock(c.Request().Context(), def); len(ps) > 0 {
		if ix, err := jsoncheck.NewIndex(body); err == nil {
			ix.Locate(ps)
		}
		return jsoncheck.Join(ps)
	}
	v, created, err := s.deps.Catalog.PutBlock(c.Request().Context(), def, body)
	if err != nil {
		if errors.Is(err, engine.ErrConflict) {
			return &apiError{status: http.StatusConflict, code: "conflict",
				msg: "block " + def.Name + " version already exists with different content; leave out version to store the next one"}
		}
		return err
	}
	def.Version = v
	if s.deps.BlockStoredFunc != nil {
		s.deps.BlockStoredFunc(def)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, stored{Name: def.Name, Version: v})
}

// checkBlock asks CheckBlockFunc about def.
func (s *Server) checkBlock(ctx context.Context, def *blocks.Definition) []*jsoncheck.ValidationError {
	if s.deps.CheckBlockFunc == nil {
		return nil
	}
	return s.deps.CheckBlockFunc(ctx, def)
}

// ParseBlock parses and checks an uploaded block definition (blocks.Parse);
// problems are validation errors joined together, each with its pointer
// and line:col.
func ParseBlock(body []byte) (*blocks.Definition, error) {
	return blocks.Parse(body)
}

// listBlocks lists every block with its latest version.
func (s *Server) listBlocks(c echo.Context) error {
	bs, err := s.deps.Catalog.ListBlocks(c.Request().Context())
	if err != nil {
		return err
	}
	if bs == nil {
		bs = []engine.BlockSummary{}
	}
	return c.JSON(http.StatusOK, map[string]any{"blocks": bs})
}

// getBlock shows the latest version of a block.
func (s *Server) getBlock(c echo.Context) error { return s.showBlock(c, 0) }

// getBlockVersion shows one version of a block.
func (s *Server) getBlockVersion(c echo.Context) error {
	v, err := pathInt(c, "version")
	if err != nil {
		return err
	}
	return s.showBlock(c, v)
}

func (s *Server) showBlock(c echo.Context, version int) error {
	def, _, err := s.deps.Catalog.GetBlock(c.Request().Context(), c.Param("name"), version)
	if err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return notFound("no block %s; upload it with PUT /api/v1/blocks", nameAt(c.Param("name"), version))
		}
		return err
	}
	return c.JSON(http.StatusOK, def)
}

// listBlockVersions lists the stored versions of a block.
func (s *Server) listBlockVersions(c echo.Context) error {
	vs, err := s.deps.Catalog.BlockVersions(c.Request().Context(), c.Param("name"))
	if err == nil && len(vs) == 0 {
		err = engine.ErrNotFound
	}
	if err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return notFound("no block %s", c.Param("name"))
		}
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"name": c.Param("name"), "versions": vs})
}

func nameAt(name string, version int) string {
	if version == 0 {
		return name
	}
	return name + "@" + itoa(version)
}
