package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/weftlabs/weft/blocks/jsoncheck"
	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/flows"
	"github.com/weftlabs/weft/ui"
)

// bulkLimit bounds how many runs one bulk action touches.
const bulkLimit = 5000

// runsFilter reads the runs list's filter from the query or a form.
func runsFilter(get func(string) string, all func(string) []string) ui.RunsFilter {
	f := ui.RunsFilter{Flow: strings.TrimSpace(get("flow")), Preset: get("time"), Q: strings.TrimSpace(get("q")), Cursor: get("cursor")}
	for _, st := range all("status") {
		for _, known := range ui.RunStatuses() {
			if st == string(known) {
				f.Status = append(f.Status, st)
			}
		}
	}
	known := false
	for _, pr := range ui.TimePresets() {
		known = known || pr[0] == f.Preset
	}
	if !known {
		f.Preset = "" // unknown preset: any time
	}
	return f
}

func (s *Server) engineFilter(f ui.RunsFilter, limit int) engine.RunFilter {
	ef := engine.RunFilter{Flow: f.Flow, Search: f.Q, Limit: limit, Cursor: f.Cursor, Since: ui.PresetSince(f.Preset, s.now())}
	for _, st := range f.Status {
		ef.Statuses = append(ef.Statuses, engine.RunStatus(st))
	}
	return ef
}

// getRunsPage lists runs, filtered and keyset-paged through the URL.
func (s *Server) getRunsPage(c echo.Context) error {
	ctx := c.Request().Context()
	q := c.QueryParams()
	f := runsFilter(q.Get, func(k string) []string { return q[k] })
	page, err := s.deps.Engine.ListRuns(ctx, s.engineFilter(f, 50))
	if err != nil {
		return err
	}
	d := ui.RunsData{Filter: f, Rows: ui.RunRows(page.Runs, s.now()), Paged: f.Cursor != ""}
	if page.NextCursor != "" {
		v := f.Values()
		v.Set("cursor", page.NextCursor)
		d.NextHref = "/runs?" + v.Encode()
	}
	if fs, err := s.deps.Catalog.ListFlows(ctx); err == nil {
		for _, fl := range fs {
			d.Flows = append(d.Flows, fl.Name)
		}
	}
	p := s.page(c, "Runs", "runs", ui.Crumb{Label: "Runs"})
	return renderPage(c, http.StatusOK, ui.RunsPage(p, d))
}

// postBulkPage confirms, then applies, cancel or retry to every run
// matching the filter.
func (s *Server) postBulkPage(c echo.Context) error {
	ctx := c.Request().Context()
	form, err := c.FormParams()
	if err != nil {
		return err
	}
	f := runsFilter(form.Get, func(k string) []string { return form[k] })
	f.Cursor = ""
	d := ui.BulkData{Action: form.Get("action"), Filter: f}
	if d.Action != "cancel" && d.Action != "retry" {
		return s.pageError(c, http.StatusBadRequest, "Unknown bulk action "+quote(d.Action)+".", "Use the buttons on the runs list.")
	}
	var runs []engine.Run
	ef := s.engineFilter(f, 500)
	for len(runs) < bulkLimit {
		page, err := s.deps.Engine.ListRuns(ctx, ef)
		if err != nil {
			return err
		}
		runs = append(runs, page.Runs...)
		if page.NextCursor == "" {
			break
		}
		ef.Cursor = page.NextCursor
		d.More = len(runs) >= bulkLimit
	}
	if len(runs) > bulkLimit {
		runs = runs[:bulkLimit]
	}
	p := s.page(c, ui.RunsData{}.Href(), "runs", ui.Crumb{Label: "Runs", Href: (ui.RunsData{Filter: f}).Href()}, ui.Crumb{Label: "Bulk " + d.Action})
	p.Title = "Bulk " + d.Action
	if form.Get("confirm") != "yes" {
		d.Count = len(runs)
		sample := runs
		if len(sample) > 10 {
			sample = sample[:10]
		}
		d.Sample = ui.RunRows(sample, s.now())
		return renderPage(c, http.StatusOK, ui.BulkConfirmPage(p, d))
	}
	actor := actorOf(c)
	for _, r := range runs {
		var err error
		if d.Action == "cancel" {
			err = s.deps.Engine.Cancel(ctx, r.ID, actor)
		} else {
			err = s.deps.Engine.Retry(ctx, r.ID, actor)
		}
		if err != nil {
			d.Failed = append(d.Failed, r.ID+" ("+string(r.Status)+"): "+err.Error())
			continue
		}
		d.Done++
	}
	return renderPage(c, http.StatusOK, ui.BulkConfirmPage(p, d))
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

// runData loads everything a run's page shows.
func (s *Server) runData(c echo.Context) (ui.RunData, error) {
	ctx := c.Request().Context()
	id := c.Param("id")
	run, err := s.deps.Engine.GetRun(ctx, id, true)
	if err != nil {
		return ui.RunData{}, s.engineError(c, err, "Run "+quote(id))
	}
	var bp *flows.Blueprint
	if b, err := s.deps.Catalog.GetFlow(ctx, run.Flow, run.Version); err == nil {
		bp = b
	}
	events, err := s.deps.Engine.Events(ctx, id, 0, 1000)
	if err != nil {
		return ui.RunData{}, err
	}
	d := ui.BuildRunData(run, bp, events, c.QueryParam("step"), c.QueryParam("rerun"), s.now())
	if err := s.attachArtifacts(ctx, &d); err != nil {
		return ui.RunData{}, err
	}
	return d, nil
}

// getRunPage shows one run.
func (s *Server) getRunPage(c echo.Context) error {
	d, err := s.runData(c)
	if err != nil {
		return err
	}
	p := s.page(c, d.Run.Flow+" "+d.Run.ID, "runs", ui.Crumb{Label: "Runs", Href: "/runs"},
		ui.Crumb{Label: d.Run.Flow, Href: ui.FlowHref(d.Run.Flow)}, ui.Crumb{Label: d.Run.ID})
	// Its live part's units carry their keys and hashes for the refresh.
	c.SetRequest(c.Request().WithContext(ui.WithLive(c.Request().Context(), &ui.LiveState{})))
	return renderPage(c, http.StatusOK, ui.RunPage(p, d))
}

// getRunLive is the run page's live part alone, for its refresh.
func (s *Server) getRunLive(c echo.Context) error {
	d, err := s.runData(c)
	if err != nil {
		return err
	}
	ui.DeferLargeJSON(&d)
	h := c.Request().Header
	c.Response().Header().Set("X-Weft-Live", fmt.Sprint(d.Live))
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Vary", "X-Weft-Have, X-Weft-Events, X-Weft-Open")
	// What the browser already shows is sent as a placeholder (see
	// ui/liveunit.go), so a refresh carries what changed.
	st := ui.ParseLiveState(h.Get("X-Weft-Have"), h.Get("X-Weft-Events"), h.Get("X-Weft-Open"))
	c.SetRequest(c.Request().WithContext(ui.WithLive(c.Request().Context(), st)))
	return renderPage(c, http.StatusOK, ui.RunLive(s.page(c, "", "runs"), d))
}

// postRunAction cancels, pauses, resumes or retries a run.
func (s *Server) postRunAction(action string) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		id, actor := c.Param("id"), actorOf(c)
		var err error
		switch action {
		case "cancel":
			err = s.deps.Engine.Cancel(ctx, id, actor)
		case "pause":
			err = s.deps.Engine.Pause(ctx, id, actor)
		case "resume":
			err = s.deps.Engine.Resume(ctx, id, actor)
		case "retry":
			err = s.deps.Engine.Retry(ctx, id, actor)
		}
		if err != nil {
			return s.engineError(c, err, "Run "+quote(id))
		}
		return c.Redirect(http.StatusSeeOther, ui.RunHref(id)+"?done="+action)
	}
}

// postRerunPage reruns a run from a block, optionally with edited input.
func (s *Server) postRerunPage(c echo.Context) error {
	id := c.Param("id")
	p := engine.RerunParams{From: c.FormValue("from"), Latest: c.FormValue("latest") == "true", Actor: actorOf(c)}
	if in := strings.TrimSpace(c.FormValue("input")); in != "" {
		if err := jsonError(in); err != nil {
			return s.pageError(c, http.StatusBadRequest, "The edited input is not valid JSON: "+err.Error()+".",
				"Go back, fix the input (or leave it empty to keep the recorded one) and rerun.")
		}
		p.Input = json.RawMessage(in)
	}
	run, err := s.deps.Engine.Rerun(c.Request().Context(), id, p)
	if err != nil {
		if status, info := s.classify(err, c); status == http.StatusUnprocessableEntity || status == http.StatusBadRequest {
			return s.pageError(c, status, "The rerun was refused: "+info.Message, "Go back and pick another block or fix the input.")
		}
		return s.engineError(c, err, "Run "+quote(id))
	}
	return c.Redirect(http.StatusSeeOther, ui.RunHref(run.ID)+"?done=rerun")
}

// postSignalPage delivers a signal (approve/reject buttons or the form).
func (s *Server) postSignalPage(c echo.Context) error {
	id := c.Param("id")
	name := strings.TrimSpace(c.FormValue("name"))
	payload := strings.TrimSpace(c.FormValue("payload"))
	if payload == "" {
		payload = "{}"
	}
	if name == "" {
		return s.pageError(c, http.StatusBadRequest, "The signal needs a name.", "Go back and enter the name the wait block listens for.")
	}
	if err := jsonError(payload); err != nil {
		return s.pageError(c, http.StatusBadRequest, "The payload is not valid JSON: "+err.Error()+".", "Go back and fix it.")
	}
	if err := s.deps.Engine.Signal(c.Request().Context(), id, name, json.RawMessage(payload), actorOf(c)); err != nil {
		return s.engineError(c, err, "Run "+quote(id))
	}
	return c.Redirect(http.StatusSeeOther, ui.RunHref(id)+"?done=signal")
}

// jsonError says what is wrong with s as a JSON value Weft stores: its
// syntax, or what jsoncheck.CheckText refuses (bytes that are not UTF-8,
// NUL, nesting past 256 levels).
func jsonError(s string) error {
	if p := jsoncheck.CheckText([]byte(s)); p != nil {
		return p
	}
	var v any
	return json.Unmarshal([]byte(s), &v)
}
