package server

import (
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// Cross-site request forgery (SECURITY.md). A web page on another site can
// make a visitor's browser send POST, PUT and DELETE requests to Weft
// without asking first, as long as they look like what an HTML form can
// send: a body of type text/plain, application/x-www-form-urlencoded or
// multipart/form-data, or no body. Such a request carries the visitor's
// cookies, and in the default mode (open on loopback) needs none. So every
// state-changing request is refused when
//
//   - the browser says it comes from another site or origin
//     (Sec-Fetch-Site other than same-origin or none), or
//   - its Origin header names another origin than this server's, or
//   - it has a body whose Content-Type is not one the endpoint reads
//     (application/json for the JSON API): a cross-site page can only
//     send application/json after a CORS preflight, which Weft never
//     answers.
//
// Requests that carry neither Origin nor Sec-Fetch-Site come from programs
// (the SDK, workers, webhook senders, curl); they pass the first two
// checks, and the third only asks them to label their JSON as JSON.

// jsonTypes are the media types the JSON API reads.
var jsonTypes = []string{echo.MIMEApplicationJSON}

// stateChanging reports whether method may change something.
func stateChanging(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// sameOrigin refuses state-changing requests a browser sent from another
// site or origin. Every route passes through it (the API and the forms).
func (s *Server) sameOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if !stateChanging(r.Method) {
			return next(c)
		}
		if msg := s.crossSite(r); msg != "" {
			if !strings.HasPrefix(r.URL.Path, "/api/") && s.htmlError != nil {
				return s.pageError(c, http.StatusForbidden, msg,
					"Open Weft itself and submit the form from there.")
			}
			return &apiError{status: http.StatusForbidden, code: "cross_site", msg: msg}
		}
		return next(c)
	}
}

// crossSite says why r came from another site ("" when it did not).
func (s *Server) crossSite(r *http.Request) string {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return "the browser sent this request from a page on another site (Sec-Fetch-Site: " + site +
			"); Weft accepts changes only from its own pages and from programs"
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return ""
	}
	if !s.ownOrigin(r, origin) {
		return "the request comes from a page at " + quoteHeader(origin) +
			", not from this server; Weft accepts changes only from its own pages and from programs"
	}
	return ""
}

// ownOrigin reports whether origin is this server: the host and port the
// request was sent to, or those of Config.PublicURL (for a server behind a
// proxy that rewrites Host).
func (s *Server) ownOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false // includes "null" (sandboxed frames, file: pages)
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	if pu, err := url.Parse(s.cfg.PublicURL); err == nil && pu.Host != "" {
		return strings.EqualFold(pu.Scheme, u.Scheme) && strings.EqualFold(pu.Host, u.Host)
	}
	return false
}

// bodyTypes lists, per API route, the media types its body may have when
// they are not application/json (an upload of raw bytes would name
// application/octet-stream here).
var bodyTypes = map[string][]string{}

// anyBody lists the routes whose body may have any media type: an
// artifact upload carries the file's own type (text/csv, application/zip,
// …). It is a PUT, which a browser sends cross-site only after a preflight
// this server never answers, and it is authorised by the task's lease.
var anyBody = map[string]bool{"/api/v1/tasks/:id/artifacts/:name": true}

// apiContentType guards the state-changing API routes: a request with a
// body must label it with a type the route reads (application/json unless
// bodyTypes says otherwise). A request without a body may leave
// Content-Type out.
func apiContentType(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if !stateChanging(r.Method) || !strings.HasPrefix(r.URL.Path, "/api/") {
			return next(c)
		}
		if anyBody[c.Path()] {
			return next(c)
		}
		types, ok := bodyTypes[c.Path()]
		if !ok {
			types = jsonTypes
		}
		ct := r.Header.Get(echo.HeaderContentType)
		if ct == "" && r.ContentLength == 0 {
			return next(c)
		}
		if mt, _, err := mime.ParseMediaType(ct); err == nil {
			for _, t := range types {
				if mt == t {
					return next(c)
				}
			}
		}
		what := "no Content-Type"
		if ct != "" {
			what = "Content-Type " + quoteHeader(ct)
		}
		return &apiError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
			msg: "the request has " + what + "; send the body as " + strings.Join(types, " or ") +
				" with the header Content-Type: " + types[0]}
	}
}

// quoteHeader quotes a header value for a message, cut to 100 bytes.
func quoteHeader(v string) string {
	if len(v) > 100 {
		v = v[:100] + "…"
	}
	return `"` + strings.ToValidUTF8(v, "?") + `"`
}
