package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/internal/auth"
)

// TokenStore keeps API tokens (implemented by the store).
type TokenStore interface {
	// TokenByHash finds a token by the hex SHA-256 of its secret;
	// engine.ErrNotFound when there is none.
	TokenByHash(ctx context.Context, hash string) (auth.Token, error)
	CreateToken(ctx context.Context, t auth.Token) error
	ListTokens(ctx context.Context) ([]auth.Token, error)
	// DeleteToken removes a token; engine.ErrNotFound when there is none.
	DeleteToken(ctx context.Context, id string) error
}

// TokenCookie is the cookie the UI's login stores the token in.
const TokenCookie = "weft_token"

// principal is who made a request.
type principal struct {
	role  auth.Role
	name  string
	flow  string // webhook tokens
	token string // token id; "" when auth is off
}

// actor names the principal in run events: "api" when auth is off,
// else role:name ("operator:alice").
func (p principal) actor() string {
	if p.token == "" {
		return "api"
	}
	return string(p.role) + ":" + p.name
}

const principalKey = "weft.principal"

func principalOf(c echo.Context) principal {
	if p, ok := c.Get(principalKey).(principal); ok {
		return p
	}
	return principal{role: auth.Admin, name: "anonymous"}
}

// authenticate identifies the caller from the Authorization: Bearer header
// or, for the UI, the weft_token cookie. With authentication off every
// caller is an admin. ok is false when no valid token was presented.
func (s *Server) authenticate(c echo.Context) (role string, ok bool) {
	p, err := s.identify(c)
	if err != nil {
		return "", false
	}
	c.Set(principalKey, p)
	return string(p.role), true
}

var errNoToken = errors.New("no token")

func (s *Server) identify(c echo.Context) (principal, error) {
	if !s.cfg.AuthRequired {
		return principal{role: auth.Admin, name: "anonymous"}, nil
	}
	secret, ok := auth.Bearer(c.Request().Header.Get("Authorization"))
	if !ok {
		if ck, err := c.Cookie(TokenCookie); err == nil && ck.Value != "" {
			secret, ok = ck.Value, true
		}
	}
	if !ok {
		return principal{}, errNoToken
	}
	if rt := s.cfg.RunnerToken; rt != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(rt)) == 1 {
		return principal{role: auth.Worker, name: "run-commands"}, nil
	}
	if s.deps.Tokens == nil {
		return principal{}, errors.New("no token store configured")
	}
	hash := auth.Hash(secret)
	t, err := s.deps.Tokens.TokenByHash(c.Request().Context(), hash)
	if err != nil {
		return principal{}, err
	}
	if !auth.Matches(secret, t.Hash) {
		return principal{}, engine.ErrNotFound
	}
	return principal{role: t.Role, name: t.Name, flow: t.Flow, token: t.ID}, nil
}

// require lets a request through when its token has role need.
func (s *Server) require(need auth.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p, err := s.identify(c)
			if err != nil {
				return s.authError(err)
			}
			if !auth.Allows(p.role, need) {
				return &apiError{status: http.StatusForbidden, code: "forbidden",
					msg: fmt.Sprintf("token %q has role %s; this needs %s", p.name, p.role, need)}
			}
			c.Set(principalKey, p)
			return next(c)
		}
	}
}

// requireReader guards what a worker must read to run a task (a block
// definition's version, an input artifact's bytes): viewers and workers.
func (s *Server) requireReader(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := s.identify(c)
		if err != nil {
			return s.authError(err)
		}
		if !auth.Allows(p.role, auth.Viewer) && !auth.Allows(p.role, auth.Worker) {
			return &apiError{status: http.StatusForbidden, code: "forbidden",
				msg: fmt.Sprintf("token %q has role %s; this needs viewer or worker", p.name, p.role)}
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

// requireLease guards task reports (complete, fail, heartbeat). The lease
// in the body is an unguessable capability the engine checks, so a report
// without any credentials is let through (a service answering an HTTP
// block's callback_url needs no token); a report that presents a token
// must present a valid one with the worker role (or operator, admin).
func (s *Server) requireLease(next echo.HandlerFunc) echo.HandlerFunc {
	worker := s.require(auth.Worker)(next)
	return func(c echo.Context) error {
		if _, ok := auth.Bearer(c.Request().Header.Get("Authorization")); !ok && s.cfg.AuthRequired {
			c.Set(principalKey, principal{role: auth.Worker, name: "lease-holder"})
			return next(c)
		}
		return worker(c)
	}
}

// requireHook lets a webhook through with the flow's webhook token or any
// operator token.
func (s *Server) requireHook(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := s.identify(c)
		if err != nil {
			return s.authError(err)
		}
		switch {
		case p.role == auth.Webhook && p.flow == c.Param("flow"):
		case auth.Allows(p.role, auth.Operator):
		default:
			return &apiError{status: http.StatusForbidden, code: "forbidden",
				msg: fmt.Sprintf("token %q may not start flow %q: use that flow's webhook token or an operator token", p.name, c.Param("flow"))}
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

func (s *Server) authError(err error) error {
	if errors.Is(err, errNoToken) {
		return &apiError{status: http.StatusUnauthorized, code: "unauthorized",
			msg: "authentication required: send Authorization: Bearer <token> (create one with `weft token create --role viewer`)"}
	}
	if errors.Is(err, engine.ErrNotFound) {
		return &apiError{status: http.StatusUnauthorized, code: "unauthorized",
			msg: "the token is not valid: it is unknown or was deleted"}
	}
	return fmt.Errorf("check token: %w", err)
}

type tokenRequest struct {
	Role string `json:"role"`
	Name string `json:"name"`
	Flow string `json:"flow"`
}

type tokenCreated struct {
	auth.Token
	Secret string `json:"token"`
}

// postToken creates a token and answers its secret, once.
func (s *Server) postToken(c echo.Context) error {
	var req tokenRequest
	if _, err := decodeBody(c, &req, false); err != nil {
		return err
	}
	t, secret, err := NewToken(req.Role, req.Name, req.Flow)
	if err != nil {
		return &apiError{status: http.StatusUnprocessableEntity, code: "validation_failed", msg: err.Error()}
	}
	if err := s.tokens().CreateToken(c.Request().Context(), t); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, tokenCreated{Token: t, Secret: secret})
}

// listTokens lists tokens without their secrets.
func (s *Server) listTokens(c echo.Context) error {
	ts, err := s.tokens().ListTokens(c.Request().Context())
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []auth.Token{}
	}
	return c.JSON(http.StatusOK, map[string]any{"tokens": ts})
}

// deleteToken removes a token.
func (s *Server) deleteToken(c echo.Context) error {
	if err := s.tokens().DeleteToken(c.Request().Context(), c.Param("id")); err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return notFound("no token with id %q", c.Param("id"))
		}
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) tokens() TokenStore {
	if s.deps.Tokens == nil {
		return noTokens{}
	}
	return s.deps.Tokens
}

// NewToken builds a token of role (with its name and, for webhook tokens,
// flow) and returns it with its secret, which is shown once.
func NewToken(role, name, flow string) (auth.Token, string, error) {
	r, err := auth.ParseRole(role)
	if err != nil {
		return auth.Token{}, "", err
	}
	if r == auth.Webhook && flow == "" {
		return auth.Token{}, "", errors.New("a webhook token needs the flow it may start (flow)")
	}
	if r != auth.Webhook && flow != "" {
		return auth.Token{}, "", errors.New("only webhook tokens name a flow")
	}
	secret, id, err := auth.Generate()
	if err != nil {
		return auth.Token{}, "", err
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = string(r) + "-" + id[:6]
	}
	return auth.Token{ID: id, Name: name, Role: r, Flow: flow, Hash: auth.Hash(secret),
		CreatedAt: time.Now().UTC()}, secret, nil
}

type noTokens struct{}

var errNoTokenStore = &apiError{status: http.StatusNotImplemented, code: "not_implemented",
	msg: "this server has no token store"}

func (noTokens) TokenByHash(context.Context, string) (auth.Token, error) {
	return auth.Token{}, engine.ErrNotFound
}
func (noTokens) CreateToken(context.Context, auth.Token) error    { return errNoTokenStore }
func (noTokens) ListTokens(context.Context) ([]auth.Token, error) { return nil, errNoTokenStore }
func (noTokens) DeleteToken(context.Context, string) error        { return errNoTokenStore }
