package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/weftlabs/weft/blocks/jsoncheck"
	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/flows"
)

// errorBody is the error answer of every API endpoint (DESIGN.md §6).
type errorBody struct {
	Error errorInfo `json:"error"`
}

type errorInfo struct {
	Code      string                   `json:"code"`
	Message   string                   `json:"message"`
	Details   []*flows.ValidationError `json:"details,omitempty"`
	RequestID string                   `json:"request_id,omitempty"`
}

// apiError is an error a handler returns with its status and code decided.
type apiError struct {
	status  int
	code    string
	msg     string
	details []*flows.ValidationError
}

func (e *apiError) Error() string { return e.msg }

// badRequest is a 400 with code bad_request.
func badRequest(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, code: "bad_request", msg: fmt.Sprintf(format, args...)}
}

// notFound is a 404 naming what was not found.
func notFound(format string, args ...any) error {
	return &apiError{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf(format, args...)}
}

// errTooLarge is what reading an oversized body returns.
type errTooLarge struct{ limit int64 }

func (e errTooLarge) Error() string {
	return fmt.Sprintf("request body is larger than %d bytes; send less or raise the server's max body size", e.limit)
}

// handleError is the echo HTTPErrorHandler: it alone turns errors into the
// error body and status.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, info := s.classify(err, c)
	if status == http.StatusServiceUnavailable {
		info.RequestID = c.Response().Header().Get(echo.HeaderXRequestID)
		s.log.Warn("request failed: database unavailable", "method", c.Request().Method, "path", c.Request().URL.Path,
			"request_id", info.RequestID, "err", err)
	} else if status >= 500 {
		info.RequestID = c.Response().Header().Get(echo.HeaderXRequestID)
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path,
			"request_id", info.RequestID, "err", err)
	}
	if status == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="weft"`)
	}
	if status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", retryAfter)
	}
	if !strings.HasPrefix(c.Request().URL.Path, "/api/") && isBrowser(c) && s.htmlError != nil {
		s.htmlError(c, status, info.Message)
		return
	}
	var werr error
	if c.Request().Method == http.MethodHead {
		werr = c.NoContent(status)
	} else if isConductorPath(c.Request().URL.Path) {
		werr = c.JSON(status, conductorErrorBody(status, info))
	} else {
		werr = c.JSON(status, errorBody{Error: info})
	}
	if werr != nil {
		s.log.Error("write error answer", "err", werr)
	}
}

func isBrowser(c echo.Context) bool {
	return strings.Contains(c.Request().Header.Get("Accept"), "text/html")
}

func (s *Server) classify(err error, c echo.Context) (int, errorInfo) {
	var ae *apiError
	var he *echo.HTTPError
	var tl errTooLarge
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &ae):
		return ae.status, errorInfo{Code: ae.code, Message: ae.msg, Details: ae.details}
	case errors.As(err, &tl):
		return http.StatusRequestEntityTooLarge, errorInfo{Code: "body_too_large", Message: tl.Error()}
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, errorInfo{Code: "body_too_large",
			Message: errTooLarge{limit: mbe.Limit}.Error()}
	case errors.As(err, &se), errors.As(err, &te):
		var pe *apiError
		if errors.As(jsonProblem(nil, err), &pe) {
			return pe.status, errorInfo{Code: pe.code, Message: pe.msg, Details: pe.details}
		}
		return http.StatusBadRequest, errorInfo{Code: "bad_json", Message: err.Error()}
	case errors.Is(err, engine.ErrNotFound):
		return http.StatusNotFound, errorInfo{Code: "not_found", Message: message(err, "not found")}
	case errors.Is(err, engine.ErrConflict):
		if strings.HasPrefix(c.Path(), "/api/v1/tasks/") {
			return http.StatusConflict, errorInfo{Code: "lease_conflict",
				Message: "the lease is stale or was already reported: the task was redelivered, finished or cancelled; drop this result"}
		}
		return http.StatusConflict, errorInfo{Code: "conflict", Message: message(err, "conflict")}
	case errors.Is(err, engine.ErrInvalidState):
		return http.StatusConflict, errorInfo{Code: "invalid_state", Message: message(err, "the action does not apply to the run's status")}
	case len(flows.Problems(err)) > 0:
		ps := flows.Problems(err)
		return http.StatusUnprocessableEntity, errorInfo{Code: "validation_failed",
			Message: fmt.Sprintf("%d problem(s): %s", len(ps), ps[0].Error()), Details: ps}
	case errors.Is(err, engine.ErrInvalidInput):
		return http.StatusUnprocessableEntity, errorInfo{Code: "validation_failed", Message: message(err, "invalid input")}
	case errors.As(err, &he):
		return he.Code, errorInfo{Code: httpCode(he.Code), Message: httpMessage(he)}
	case badDatabaseText(err):
		return http.StatusBadRequest, errorInfo{Code: "bad_request",
			Message: "the request holds text the database cannot store (a NUL character or bytes that are not UTF-8); remove it"}
	}
	if why, full := unavailable(err); why != "" {
		if full {
			s.health.sawFull(why)
		}
		return http.StatusServiceUnavailable, errorInfo{Code: "unavailable",
			Message: why + "; nothing was changed by this request unless its answer said so: try again in a few seconds (Retry-After)"}
	}
	return http.StatusInternalServerError, errorInfo{Code: "internal",
		Message: "internal error; the server log has the details under this request id"}
}

// message is err's text without the sentinel's suffix, or fallback when
// err is the bare sentinel.
func message(err error, fallback string) string {
	if err == nil {
		return fallback
	}
	msg := err.Error()
	for _, s := range []error{engine.ErrNotFound, engine.ErrConflict, engine.ErrInvalidState, engine.ErrInvalidInput} {
		if msg == s.Error() {
			return fallback
		}
		msg = strings.TrimSuffix(msg, ": "+s.Error())
	}
	return msg
}

func httpCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "body_too_large"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	if status >= 500 {
		return "internal"
	}
	return strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_")
}

func httpMessage(he *echo.HTTPError) string {
	switch he.Code {
	case http.StatusNotFound:
		return "no such endpoint; the API lives under /api/v1 (see DESIGN.md §6)"
	case http.StatusMethodNotAllowed:
		return "method not allowed on this endpoint"
	}
	if m, ok := he.Message.(string); ok && m != "" {
		return m
	}
	return http.StatusText(he.Code)
}

// jsonProblem turns a decoding error of body into a 400 naming line and
// column and, in the API's words, what was wrong, or a 413 when the body
// was too large.
func jsonProblem(body []byte, err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errTooLarge{limit: mbe.Limit}
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	off := int64(-1)
	var what, ptr string
	switch {
	case errors.As(err, &se):
		off, what = se.Offset, se.Error()
	case errors.As(err, &te):
		off = te.Offset
		ptr = fieldPointer(te.Field)
		if ptr == "" {
			what = fmt.Sprintf("the request body must be %s, not %s", jsonKind(te.Type), valueKind(te.Value))
		} else {
			what = fmt.Sprintf("%s must be %s, not %s", ptr, jsonKind(te.Type), valueKind(te.Value))
		}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		key, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		ptr = keyPointer(body, key)
		what = fmt.Sprintf("unknown key %q at %s; this endpoint does not read it: check the spelling (DESIGN.md §6 lists the keys each endpoint reads)", key, ptr)
		if off = keyOffset(body, key); off >= 0 {
			off++
		}
	default:
		if len(strings.TrimSpace(string(body))) == 0 {
			return badRequest("the request body is empty; send a JSON document")
		}
		return &apiError{status: http.StatusBadRequest, code: "bad_json", msg: "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
	}
	if off < 0 {
		return &apiError{status: http.StatusBadRequest, code: "bad_json", msg: what,
			details: []*flows.ValidationError{{Pointer: ptr, Msg: what}}}
	}
	line, col := lineCol(body, off)
	return &apiError{status: http.StatusBadRequest, code: "bad_json",
		msg:     fmt.Sprintf("invalid JSON at line %d, column %d: %s", line, col, what),
		details: []*flows.ValidationError{{Pointer: ptr, Msg: what, Line: line, Col: col}}}
}

// fieldPointer turns encoding/json's dotted field path into a JSON pointer.
func fieldPointer(f string) string {
	if f == "" {
		return ""
	}
	return "/" + strings.ReplaceAll(f, ".", "/")
}

// jsonKind names what a Go type accepts, in JSON's words.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a JSON value"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.String {
			return "an array of strings"
		}
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "a JSON value"
}

// valueKind names what encoding/json found ("string", "number 1.5", ...).
func valueKind(v string) string {
	switch {
	case v == "string":
		return "a string"
	case v == "bool":
		return "true or false"
	case v == "array":
		return "an array"
	case v == "object":
		return "an object"
	case v == "number":
		return "a number"
	case strings.HasPrefix(v, "number "):
		return strings.TrimPrefix(v, "number ")
	}
	return v
}

// keyPointer finds where key sits in the JSON document body (the first
// object holding it, breadth first), as a JSON pointer.
func keyPointer(body []byte, key string) string {
	var doc any
	if json.Unmarshal(body, &doc) != nil {
		return "/" + jsoncheck.Escape(key)
	}
	type node struct {
		v   any
		ptr string
	}
	queue := []node{{doc, ""}}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		switch t := n.v.(type) {
		case map[string]any:
			if _, ok := t[key]; ok {
				return n.ptr + "/" + jsoncheck.Escape(key)
			}
			for k, e := range t {
				queue = append(queue, node{e, n.ptr + "/" + jsoncheck.Escape(k)})
			}
		case []any:
			for i, e := range t {
				queue = append(queue, node{e, n.ptr + "/" + strconv.Itoa(i)})
			}
		}
	}
	return "/" + jsoncheck.Escape(key)
}

// keyOffset is the byte offset of the first "key": in body, or -1.
func keyOffset(body []byte, key string) int64 {
	q, _ := json.Marshal(key)
	re := regexp.MustCompile(regexp.QuoteMeta(string(q)) + `\s*:`)
	if loc := re.FindIndex(body); loc != nil {
		return int64(loc[0])
	}
	return -1
}

// lineCol converts a byte offset into 1-based line and column.
func lineCol(b []byte, off int64) (int, int) {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	line, col := 1, 1
	for i := int64(0); i < off; i++ {
		if b[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	if col > 1 {
		col-- // the offset points just past the offending byte
	}
	return line, col
}
