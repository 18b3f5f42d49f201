package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/flows"
	"github.com/weftlabs/weft/internal/conductor"
)

// BundleStorer stores block definitions and blueprints together, all or
// nothing (implemented by the store).
type BundleStorer interface {
	PutBundle(ctx context.Context, defs []*blocks.Definition, docs [][]byte, opt flows.ParseOptions) (blockVersions, flowVersions []int, err error)
}

// importAnswer is what an import stored, with the differences to know.
type importAnswer struct {
	Blocks []stored            `json:"blocks"`
	Flows  []stored            `json:"flows"`
	Notes  []conductor.Problem `json:"notes"`
}

// postImportConductor converts a Conductor workflow definition (or a list
// of workflow and task definitions) and stores the blocks and blueprints
// in one transaction: 201 with what was stored, or 422 with every problem
// pointing into the Conductor JSON, and nothing stored.
func (s *Server) postImportConductor(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	if err := checkJSON(body); err != nil {
		return err
	}
	srcs := []conductor.Source{{Data: body}}
	var bundle struct {
		Files []struct {
			Name    string          `json:"name"`
			Content json.RawMessage `json:"content"`
		} `json:"files"`
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal(body, &keys) == nil && len(keys) == 1 && keys["files"] != nil {
		// Several documents imported together: {"files": [{"name", "content"}]}.
		if err := decodeJSON(body, &bundle, false); err != nil {
			return err
		}
		srcs = srcs[:0]
		for i, f := range bundle.Files {
			if f.Name == "" || len(f.Content) == 0 {
				return badRequest("files[%d] needs a name and a content (the Conductor JSON document)", i)
			}
			srcs = append(srcs, conductor.Source{Name: f.Name, Data: f.Content})
		}
	}
	ans, err := s.importConductor(c.Request().Context(), srcs)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, ans)
}

// importConductor converts and stores srcs; a conversion or validation
// problem is a 422 listing them all.
func (s *Server) importConductor(ctx context.Context, srcs []conductor.Source) (*importAnswer, error) {
	bs, ok := s.deps.Catalog.(BundleStorer)
	if !ok {
		return nil, &apiError{status: http.StatusNotImplemented, code: "not_implemented", msg: "this server's catalog cannot store an import"}
	}
	res := conductor.Convert(srcs)
	var defs []*blocks.Definition
	if len(res.Problems) == 0 {
		defs = res.Validate(s.deps.Catalog)
	}
	if len(res.Problems) > 0 {
		details := make([]*flows.ValidationError, len(res.Problems))
		for i, p := range res.Problems {
			msg := p.Message
			if p.Source != "" {
				msg = p.Source + ": " + msg
			}
			details[i] = &flows.ValidationError{Pointer: p.Pointer, Msg: msg, Line: p.Line, Col: p.Col}
		}
		return nil, &apiError{status: http.StatusUnprocessableEntity, code: "validation_failed",
			msg:     fmt.Sprintf("the Conductor definitions cannot be imported: %d problem(s), each with a pointer into the Conductor JSON; nothing was stored", len(res.Problems)),
			details: details}
	}
	docs := make([][]byte, len(res.Flows))
	for i, f := range res.Flows {
		docs[i] = f.JSON
	}
	bv, fv, err := bs.PutBundle(ctx, defs, docs, s.parseOptions())
	if err != nil {
		if errors.Is(err, engine.ErrConflict) {
			return nil, &apiError{status: http.StatusConflict, code: "conflict", msg: err.Error()}
		}
		return nil, err
	}
	ans := &importAnswer{Blocks: []stored{}, Flows: []stored{}, Notes: res.Notes}
	if ans.Notes == nil {
		ans.Notes = []conductor.Problem{}
	}
	for i, d := range defs {
		ans.Blocks = append(ans.Blocks, stored{Name: d.Name, Version: bv[i]})
		if s.deps.BlockStoredFunc != nil {
			d.Version = bv[i]
			s.deps.BlockStoredFunc(d)
		}
	}
	for i, f := range res.Flows {
		ans.Flows = append(ans.Flows, stored{Name: f.Name, Version: fv[i]})
	}
	return ans, nil
}
