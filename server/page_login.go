package server

import (
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/weftlabs/weft/ui"
)

// getLogin shows the sign-in form.
func (s *Server) getLogin(c echo.Context) error {
	p := s.page(c, "Sign in", "")
	return renderPage(c, http.StatusOK, ui.LoginPage(p, ui.LoginData{Next: safeNext(c.QueryParam("next"))}))
}

// postLogin checks the token and keeps it in the weft_token cookie.
func (s *Server) postLogin(c echo.Context) error {
	next := safeNext(c.FormValue("next"))
	if !s.cfg.AuthRequired {
		return c.Redirect(http.StatusSeeOther, next)
	}
	token := strings.TrimSpace(c.FormValue("token"))
	c.Request().Header.Set("Authorization", "Bearer "+token)
	if _, ok := s.authenticate(c); token == "" || !ok {
		p := s.page(c, "Sign in", "")
		return renderPage(c, http.StatusUnauthorized, ui.LoginPage(p, ui.LoginData{Next: next,
			Error: "That token is not valid: it is unknown or was deleted. Create one with weft token create --role operator."}))
	}
	c.SetCookie(&http.Cookie{Name: TokenCookie, Value: token, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: c.Request().TLS != nil, Expires: time.Now().Add(30 * 24 * time.Hour)})
	return c.Redirect(http.StatusSeeOther, next)
}

// postLogout forgets the token cookie.
func (s *Server) postLogout(c echo.Context) error {
	c.SetCookie(&http.Cookie{Name: TokenCookie, Value: "", Path: "/", HttpOnly: true, MaxAge: -1})
	return c.Redirect(http.StatusSeeOther, "/login")
}

// safeNext keeps redirects on this site: it answers next when it is a
// path on this server however a browser reads it, else "/". Browsers drop
// tabs and newlines anywhere in a URL, trim spaces and control characters
// at its ends and read a backslash as a slash, so "/\t/evil.example" and
// "/\\evil.example" lead to another host; anything holding such a
// character is refused rather than cleaned.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || !utf8.ValidString(next) {
		return "/"
	}
	for _, r := range next {
		if r < 0x20 || r == 0x7f || r == '\\' || unicode.IsSpace(r) {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") {
		return "/"
	}
	return next
}
