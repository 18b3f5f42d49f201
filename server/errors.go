package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

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
	if status >= 500 {
		info.RequestID = c.Response().Header().Get(echo.HeaderXRequestID)
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path,
			"request_id", info.RequestID, "err", err)
	}
	if status == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="weft"`)
	}
	if !strings.HasPrefix(c.Request().URL.Path, "/api/") && isBrowser(c) && s.htmlError != nil {
		s.htmlError(c, status, info.Message)
		return
	}
	var werr error
	if c.Request().Method == http.MethodHead {
		werr = c.NoContent(status)
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
// column, or a 413 when the body was too large.
func jsonProblem(body []byte, err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errTooLarge{limit: mbe.Limit}
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	off := int64(-1)
	var what string
	switch {
	case errors.As(err, &se):
		off, what = se.Offset, se.Error()
	case errors.As(err, &te):
		off = te.Offset
		what = fmt.Sprintf("%s must be %s, not %s", fieldName(te.Field), te.Type, te.Value)
	default:
		if len(strings.TrimSpace(string(body))) == 0 {
			return badRequest("the request body is empty; send a JSON document")
		}
		return &apiError{status: http.StatusBadRequest, code: "bad_json", msg: "invalid JSON: " + err.Error()}
	}
	line, col := lineCol(body, off)
	return &apiError{status: http.StatusBadRequest, code: "bad_json",
		msg:     fmt.Sprintf("invalid JSON at line %d, column %d: %s", line, col, what),
		details: []*flows.ValidationError{{Pointer: "", Msg: what, Line: line, Col: col}}}
}

func fieldName(f string) string {
	if f == "" {
		return "the document"
	}
	return "/" + strings.ReplaceAll(f, ".", "/")
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
