package server

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/flows"
	"github.com/weftlabs/weft/internal/conductor"
	"github.com/weftlabs/weft/ui"
)

// getOverviewPage shows runs by status over time, failing flows, queues
// and workers.
func (s *Server) getOverviewPage(c echo.Context) error {
	ctx := c.Request().Context()
	page, err := s.deps.Engine.ListRuns(ctx, engine.RunFilter{Limit: 500})
	if err != nil {
		return err
	}
	st, err := s.deps.Engine.Stats(ctx)
	if err != nil {
		return err
	}
	window := "the last " + strconv.Itoa(len(page.Runs)) + " runs"
	if page.NextCursor == "" {
		window = "all " + strconv.Itoa(len(page.Runs)) + " runs"
	}
	p := s.page(c, "Overview", "overview")
	return renderPage(c, http.StatusOK, ui.OverviewPage(p, ui.BuildOverview(page.Runs, st, window, s.now())))
}

// getFlowsPage lists every flow.
func (s *Server) getFlowsPage(c echo.Context) error {
	fs, err := s.deps.Catalog.ListFlows(c.Request().Context())
	if err != nil {
		return err
	}
	p := s.page(c, "Flows", "flows", ui.Crumb{Label: "Flows"})
	return renderPage(c, http.StatusOK, ui.FlowsPage(p, ui.FlowsData{Flows: fs}))
}

// getFlowPage shows one flow: graph, start form, runs, versions, JSON.
func (s *Server) getFlowPage(c echo.Context) error {
	d, err := s.flowData(c)
	if err != nil {
		return err
	}
	return s.renderFlow(c, http.StatusOK, d)
}

func (s *Server) flowData(c echo.Context) (ui.FlowData, error) {
	ctx := c.Request().Context()
	name := c.Param("name")
	version, _ := strconv.Atoi(c.QueryParam("version"))
	if version == 0 {
		version, _ = strconv.Atoi(c.FormValue("version"))
	}
	bp, err := s.deps.Catalog.GetFlow(ctx, name, version)
	if err != nil {
		return ui.FlowData{}, s.engineError(c, err, "Flow "+strconv.Quote(name)+versionText(version))
	}
	versions, err := s.deps.Catalog.FlowVersions(ctx, name)
	if err != nil {
		return ui.FlowData{}, err
	}
	sort.Ints(versions)
	var from, to *flows.Blueprint
	fv, _ := strconv.Atoi(c.QueryParam("from"))
	tv, _ := strconv.Atoi(c.QueryParam("to"))
	if fv == 0 && tv == 0 && bp.Version > 1 {
		fv, tv = prevVersion(versions, bp.Version), bp.Version
	}
	if fv > 0 && tv > 0 {
		if from, err = s.deps.Catalog.GetFlow(ctx, name, fv); err != nil {
			from = nil
		}
		if to, err = s.deps.Catalog.GetFlow(ctx, name, tv); err != nil {
			to = nil
		}
	}
	runs, err := s.deps.Engine.ListRuns(ctx, engine.RunFilter{Flow: name, Limit: 20})
	if err != nil {
		return ui.FlowData{}, err
	}
	return ui.BuildFlowData(bp, versions, from, to, runs.Runs, s.now()), nil
}

func (s *Server) renderFlow(c echo.Context, status int, d ui.FlowData) error {
	p := s.page(c, d.Name, "flows", ui.Crumb{Label: "Flows", Href: "/flows"}, ui.Crumb{Label: d.Name})
	return renderPage(c, status, ui.FlowPage(p, d))
}

func versionText(v int) string {
	if v == 0 {
		return ""
	}
	return " version " + strconv.Itoa(v)
}

func prevVersion(versions []int, v int) int {
	prev := 0
	for _, x := range versions {
		if x < v && x > prev {
			prev = x
		}
	}
	return prev
}

// postStartRunPage starts a run from the generated form or raw JSON.
func (s *Server) postStartRunPage(c echo.Context) error {
	d, err := s.flowData(c)
	if err != nil {
		return err
	}
	d.Form.IdempotencyKey = strings.TrimSpace(c.FormValue("idempotency_key"))
	var input json.RawMessage
	if c.FormValue("mode") == "raw" {
		raw := strings.TrimSpace(c.FormValue("input"))
		if raw == "" {
			raw = "{}"
		}
		d.Form.Raw = raw
		if err := jsonError(raw); err != nil {
			d.Form.Error = "The raw input is not valid JSON: " + err.Error()
			return s.renderFlow(c, http.StatusUnprocessableEntity, d)
		}
		input = json.RawMessage(raw)
	} else {
		form, _ := c.FormParams()
		in, ok := d.Form.Fill(func(name string) (string, bool) {
			v, present := form[name]
			if !present || len(v) == 0 {
				return "", false
			}
			return v[0], true
		})
		if !ok {
			d.Form.Error = "Some fields need fixing; nothing was started."
			return s.renderFlow(c, http.StatusUnprocessableEntity, d)
		}
		input = in
	}
	run, created, err := s.deps.Engine.StartRun(c.Request().Context(), engine.StartParams{
		Flow: d.Name, Version: d.Version, Input: input, IdempotencyKey: d.Form.IdempotencyKey,
		Trigger: "ui", Actor: actorOf(c)})
	if err != nil {
		if errors.Is(err, engine.ErrNotFound) || errors.Is(err, engine.ErrConflict) {
			return s.engineError(c, err, "Flow "+strconv.Quote(d.Name))
		}
		if status, _ := s.classify(err, c); status == http.StatusUnprocessableEntity || status == http.StatusBadRequest {
			d.Form.Error = "The run was not started: " + err.Error()
			return s.renderFlow(c, http.StatusUnprocessableEntity, d)
		}
		return err
	}
	done := "started"
	if !created {
		done = "existing"
	}
	return c.Redirect(http.StatusSeeOther, ui.RunHref(run.ID)+"?done="+done)
}

// getUploadPage shows the upload form.
func (s *Server) getUploadPage(c echo.Context) error {
	return s.renderUpload(c, http.StatusOK, ui.UploadData{})
}

func (s *Server) renderUpload(c echo.Context, status int, d ui.UploadData) error {
	p := s.page(c, "Upload a flow", "flows", ui.Crumb{Label: "Flows", Href: "/flows"}, ui.Crumb{Label: "Upload"})
	return renderPage(c, status, ui.UploadPage(p, d))
}

// postUploadPage validates and stores a blueprint from a file or the
// pasted text: every problem beside its line, or the new version and diff.
func (s *Server) postUploadPage(c echo.Context) error {
	ctx := c.Request().Context()
	text := c.FormValue("text")
	if fh, err := c.FormFile("file"); err == nil && fh.Size > 0 {
		f, err := fh.Open()
		if err != nil {
			return err
		}
		b, err := io.ReadAll(io.LimitReader(f, s.cfg.MaxBodyBytes))
		f.Close()
		if err != nil {
			return err
		}
		text = string(b)
	}
	if strings.TrimSpace(text) == "" {
		return s.renderUpload(c, http.StatusBadRequest, ui.BuildUploadProblems(text, []*flows.ValidationError{
			{Msg: "nothing to upload: choose a .json file or paste the blueprint"}}))
	}
	if conductor.Looks([]byte(text)) {
		return s.uploadConductor(c, text)
	}
	bp, err := flows.ParseWith([]byte(text), s.deps.Catalog, s.parseOptions())
	if err != nil {
		ps := flows.Problems(err)
		if len(ps) == 0 {
			ps = []*flows.ValidationError{{Msg: err.Error()}}
		}
		return s.renderUpload(c, http.StatusUnprocessableEntity, ui.BuildUploadProblems(text, ps))
	}
	versions, _ := s.deps.Catalog.FlowVersions(ctx, bp.Name)
	prev := 0
	for _, v := range versions {
		prev = max(prev, v)
	}
	v, created, err := s.deps.Catalog.PutFlow(ctx, bp)
	if err != nil {
		if errors.Is(err, engine.ErrConflict) {
			return s.renderUpload(c, http.StatusConflict, ui.BuildUploadProblems(text, []*flows.ValidationError{{Pointer: "/version",
				Msg: "version " + strconv.Itoa(bp.Version) + " already exists with different content; leave out version to store the next one"}}))
		}
		return err
	}
	res := &ui.UploadResult{Name: bp.Name, Version: v, Created: created}
	if created && prev > 0 && prev != v {
		if old, err := s.deps.Catalog.GetFlow(ctx, bp.Name, prev); err == nil {
			full := ui.Diff(ui.PrettyJSON(old.Raw), ui.PrettyJSON([]byte(text)))
			res.Prev = prev
			res.Added, res.Removed = ui.DiffChanged(full)
			res.Diff = ui.DiffContext(full, 3)
		}
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return s.renderUpload(c, status, ui.UploadData{Result: res})
}

// uploadConductor imports Conductor definitions uploaded on the page:
// every problem beside the line it points at, or what was stored.
func (s *Server) uploadConductor(c echo.Context, text string) error {
	ans, err := s.importConductor(c.Request().Context(), []conductor.Source{{Data: []byte(text)}})
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.status < 500 {
			ps := ae.details
			if len(ps) == 0 {
				ps = []*flows.ValidationError{{Msg: ae.msg}}
			}
			return s.renderUpload(c, ae.status, ui.BuildUploadProblems(text, ps))
		}
		return err
	}
	res := &ui.UploadResult{Conductor: true, Created: true}
	for _, b := range ans.Blocks {
		res.Stored = append(res.Stored, "block "+b.Name+" v"+strconv.Itoa(b.Version))
	}
	for _, f := range ans.Flows {
		res.Stored = append(res.Stored, "flow "+f.Name+" v"+strconv.Itoa(f.Version))
		res.Name, res.Version = f.Name, f.Version
	}
	for _, n := range ans.Notes {
		res.Notes = append(res.Notes, n.Pointer+": "+n.Message)
	}
	return s.renderUpload(c, http.StatusCreated, ui.UploadData{Result: res})
}

// getBlocksPage lists block definitions.
func (s *Server) getBlocksPage(c echo.Context) error {
	bs, err := s.deps.Catalog.ListBlocks(c.Request().Context())
	if err != nil {
		return err
	}
	p := s.page(c, "Blocks", "blocks", ui.Crumb{Label: "Blocks"})
	return renderPage(c, http.StatusOK, ui.BlocksPage(p, ui.BlocksData{Blocks: bs}))
}

// getBlockPage shows a block definition and the flows using it.
func (s *Server) getBlockPage(c echo.Context) error {
	ctx := c.Request().Context()
	name := c.Param("name")
	version, _ := strconv.Atoi(c.QueryParam("version"))
	def, raw, err := s.deps.Catalog.GetBlock(ctx, name, version)
	if err != nil {
		return s.engineError(c, err, "Block "+strconv.Quote(name)+versionText(version))
	}
	versions, err := s.deps.Catalog.BlockVersions(ctx, name)
	if err != nil {
		return err
	}
	sort.Ints(versions)
	var uses []ui.FlowUse
	if fs, err := s.deps.Catalog.ListFlows(ctx); err == nil {
		for _, f := range fs {
			bp, err := s.deps.Catalog.GetFlow(ctx, f.Name, 0)
			if err != nil {
				continue
			}
			if u, ok := ui.FlowUses(bp, name); ok {
				uses = append(uses, u)
			}
		}
	}
	p := s.page(c, name, "blocks", ui.Crumb{Label: "Blocks", Href: "/blocks"}, ui.Crumb{Label: name})
	return renderPage(c, http.StatusOK, ui.BlockPage(p, ui.BuildBlockData(def, raw, versions, uses)))
}
