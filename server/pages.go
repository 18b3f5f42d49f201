package server

import (
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/internal/auth"
	"github.com/weftlabs/weft/ui"
)

// csrfCookie holds the double-submit token of the HTML forms.
const csrfCookie = "weft_csrf"

// pageRoutes registers the HTML pages of the web UI. Every page route
// carries the CSRF check (double-submit cookie, forms send _csrf) and the
// page's role check; /api/v1 is not touched by either.
func (s *Server) pageRoutes() {
	e := s.echo
	s.htmlError = s.renderHTMLError

	csrf := middleware.CSRFWithConfig(middleware.CSRFConfig{
		TokenLookup:    "form:_csrf",
		CookieName:     csrfCookie,
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSameSite: http.SameSiteStrictMode,
		CookieMaxAge:   86400,
		ErrorHandler: func(err error, c echo.Context) error {
			return s.pageError(c, http.StatusForbidden, "This form has expired or did not come from this site.",
				"Reload the page and submit the form again.")
		},
	})
	viewer := s.pageAuth(auth.Viewer)
	operator := s.pageAuth(auth.Operator)
	admin := s.pageAuth(auth.Admin)

	static := http.StripPrefix("/static/", http.FileServer(http.FS(ui.Static())))
	e.GET("/static/*", func(c echo.Context) error {
		if _, err := fs.Stat(ui.Static(), strings.TrimPrefix(c.Request().URL.Path, "/static/")); err != nil {
			return s.pageError(c, http.StatusNotFound, "No such file.", "")
		}
		c.Response().Header().Set("Cache-Control", "public, max-age=86400")
		static.ServeHTTP(c.Response(), c.Request())
		return nil
	})

	e.GET("/login", s.getLogin, csrf)
	e.POST("/login", s.postLogin, csrf)
	e.POST("/logout", s.postLogout, csrf)

	e.GET("/", s.getOverviewPage, s.pageProblems, csrf, viewer)
	e.GET("/flows", s.getFlowsPage, s.pageProblems, csrf, viewer)
	e.GET("/flows/upload", s.getUploadPage, s.pageProblems, csrf, admin)
	e.POST("/flows/upload", s.postUploadPage, s.pageProblems, csrf, admin)
	e.GET("/flows/:name", s.getFlowPage, s.pageProblems, csrf, viewer)
	e.POST("/flows/:name/runs", s.postStartRunPage, s.pageProblems, csrf, operator)
	e.GET("/blocks", s.getBlocksPage, s.pageProblems, csrf, viewer)
	e.GET("/blocks/:name", s.getBlockPage, s.pageProblems, csrf, viewer)
	e.GET("/runs", s.getRunsPage, s.pageProblems, csrf, viewer)
	e.POST("/runs/bulk", s.postBulkPage, s.pageProblems, csrf, operator)
	e.GET("/runs/:id", s.getRunPage, s.pageProblems, csrf, viewer)
	e.GET("/runs/:id/live", s.getRunLive, s.pageProblems, csrf, viewer)
	e.GET("/runs/:id/log.txt", s.getRunLogText, s.pageProblems, csrf, viewer)
	e.GET("/runs/:id/json", s.getRunJSONText, s.pageProblems, csrf, viewer)
	for _, action := range []string{"cancel", "pause", "resume", "retry"} {
		e.POST("/runs/:id/"+action, s.postRunAction(action), s.pageProblems, csrf, operator)
	}
	e.POST("/runs/:id/rerun", s.postRerunPage, s.pageProblems, csrf, operator)
	e.POST("/runs/:id/signal", s.postSignalPage, s.pageProblems, csrf, operator)
}

// pageAuth checks the browser's token (the weft_token cookie) for role
// need: without one it sends the browser to the login page.
func (s *Server) pageAuth(need auth.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !s.cfg.AuthRequired {
				return next(c)
			}
			role, ok := s.authenticate(c)
			if !ok {
				if c.Request().Method == http.MethodGet && c.Request().Header.Get("X-Weft-Fragment") == "" {
					return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
				}
				return s.pageError(c, http.StatusUnauthorized, "You are not signed in, or your token is no longer valid.",
					"Sign in again, then repeat the action.")
			}
			if !auth.Allows(auth.Role(role), need) {
				return s.pageError(c, http.StatusForbidden, "Your role ("+role+") may not do this; it needs "+string(need)+".",
					"Ask an admin for a token with that role.")
			}
			return next(c)
		}
	}
}

// page is the layout data every handler starts from.
func (s *Server) page(c echo.Context, title, section string, crumbs ...ui.Crumb) ui.Page {
	p := ui.Page{Title: title, Section: section, AuthOn: s.cfg.AuthRequired, Version: "dev"}
	if tok, ok := c.Get(middleware.DefaultCSRFConfig.ContextKey).(string); ok {
		p.CSRF = tok
	}
	if s.cfg.AuthRequired {
		p.Role = string(principalOf(c).role)
	}
	if len(crumbs) > 0 {
		p.Crumbs = append([]ui.Crumb{{Label: "Weft", Href: "/"}}, crumbs...)
	}
	switch c.QueryParam("done") {
	case "":
	case "cancel":
		p.Flash = &ui.Flash{Kind: "ok", Text: "Cancel requested: running steps are told to stop."}
	case "pause":
		p.Flash = &ui.Flash{Kind: "ok", Text: "Paused: nothing new is scheduled until you resume."}
	case "resume":
		p.Flash = &ui.Flash{Kind: "ok", Text: "Resumed."}
	case "retry":
		p.Flash = &ui.Flash{Kind: "ok", Text: "Retrying from the failed steps; successful outputs are kept."}
	case "signal":
		p.Flash = &ui.Flash{Kind: "ok", Text: "Signal delivered."}
	case "started":
		p.Flash = &ui.Flash{Kind: "ok", Text: "Run started."}
	case "rerun":
		p.Flash = &ui.Flash{Kind: "ok", Text: "Rerun started: this is the new run."}
	case "existing":
		p.Flash = &ui.Flash{Kind: "ok", Text: "A run with this idempotency key already exists: here it is."}
	}
	return p
}

// pageCSP allows only this site's own scripts and styles (inline style
// attributes carry the widths of bars and charts).
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"

// renderPage writes a templ component as the answer.
func renderPage(c echo.Context, status int, comp templ.Component) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().Header().Set("X-Content-Type-Options", "nosniff")
	c.Response().Header().Set("X-Frame-Options", "DENY")
	c.Response().Header().Set("Content-Security-Policy", pageCSP)
	c.Response().WriteHeader(status)
	return comp.Render(c.Request().Context(), c.Response())
}

// pageError answers an error page.
func (s *Server) pageError(c echo.Context, status int, msg, hint string) error {
	title := http.StatusText(status)
	p := s.page(c, title, "")
	return renderPage(c, status, ui.ErrorPage(p, ui.ErrorData{Code: status, Title: title, Message: msg, Hint: hint}))
}

// renderHTMLError is the error handler's HTML answer for browsers.
func (s *Server) renderHTMLError(c echo.Context, status int, msg string) {
	hint := ""
	switch status {
	case http.StatusNotFound:
		msg, hint = "There is no page at "+c.Request().URL.Path+".", "Use the navigation above."
	case http.StatusUnauthorized:
		hint = "Sign in at /login."
	}
	if err := s.pageError(c, status, msg, hint); err != nil {
		s.log.Error("write error page", "err", err)
	}
}

// pageProblem is an error a page handler returns to show an error page
// (pageProblems renders it).
type pageProblem struct {
	status    int
	msg, hint string
}

func (p *pageProblem) Error() string { return p.msg }

// pageProblems renders the *pageProblem a page handler returns.
func (s *Server) pageProblems(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		var pp *pageProblem
		if errors.As(err, &pp) {
			return s.pageError(c, pp.status, pp.msg, pp.hint)
		}
		return err
	}
}

// engineError turns an engine error into an error page.
func (s *Server) engineError(c echo.Context, err error, what string) error {
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return &pageProblem{http.StatusNotFound, what + " does not exist.", "It may have been purged, or the link is wrong."}
	case errors.Is(err, engine.ErrInvalidState):
		return &pageProblem{http.StatusConflict, err.Error(), "Reload the page to see the current status."}
	case errors.Is(err, engine.ErrConflict):
		return &pageProblem{http.StatusConflict, err.Error(), "Someone changed it at the same time; reload and try again."}
	}
	return err
}

func (s *Server) now() time.Time { return time.Now() }

// actor names who acted, for the run's history.
func actorOf(c echo.Context) string {
	p := principalOf(c)
	if p.token == "" {
		return "ui"
	}
	return p.actor()
}

// compressPages gzips the UI's answers (pages, the run page's live
// refresh, its JSON values, static files) for clients that accept it,
// as every browser does: the live refresh runs every 1.5 s while a run is
// live, and a run page with its values inline can be hundreds of KB. The
// API is left as it is: artifact downloads carry Content-Length, ETag and
// ranges of the stored bytes, logs follow as server-sent events, and
// workers and SDKs read it plain.
func compressPages() echo.MiddlewareFunc {
	return middleware.GzipWithConfig(middleware.GzipConfig{
		Level:     5,
		MinLength: 1024,
		Skipper: func(c echo.Context) bool {
			p := c.Request().URL.Path
			return strings.HasPrefix(p, "/api/") || p == "/metrics" || p == "/healthz" || p == "/readyz"
		},
	})
}
