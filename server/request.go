package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/blocks/jsoncheck"
	"github.com/weftlabs/weft/flows"
)

// Pagination limits (docs/api.md).
const (
	defaultLimit = 50
	maxLimit     = 500
)

// limitBody refuses bodies over the configured size with 413.
func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		limit := s.bodyLimit(c)
		if limit == 0 {
			return next(c)
		}
		if r.ContentLength > limit {
			return errTooLarge{limit: limit}
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(c.Response(), r.Body, limit)
		}
		return next(c)
	}
}

// readBody reads the whole request body.
func readBody(c echo.Context) ([]byte, error) {
	b, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return nil, jsonProblem(nil, err)
	}
	return b, nil
}

// decodeBody reads the body and decodes it as JSON into v (decodeJSON).
func decodeBody(c echo.Context, v any, allowEmpty bool) ([]byte, error) {
	b, err := readBody(c)
	if err != nil {
		return nil, err
	}
	return b, decodeJSON(b, v, allowEmpty)
}

// decodeJSON decodes the request body b into v, refusing keys v does not
// have and everything checkJSON refuses. An empty body leaves v alone when
// allowEmpty.
func decodeJSON(b []byte, v any, allowEmpty bool) error {
	if len(bytes.TrimSpace(b)) == 0 {
		if allowEmpty {
			return nil
		}
		return badRequest("the request body is empty; send a JSON document")
	}
	if err := checkJSON(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(b, err)
	}
	return nil
}

// checkJSON reports a syntax error in b with its line and column, and
// what JSON allows but Weft refuses (jsoncheck.CheckText): bytes that are
// not UTF-8, NUL characters, unpaired surrogates, nesting deeper than
// jsoncheck.MaxDepth.
func checkJSON(b []byte) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return badRequest("the request body is empty; send a JSON document")
	}
	if p := jsoncheck.CheckText(b); p != nil {
		line, col := lineCol(b, int64(p.Offset)+1)
		return &apiError{status: http.StatusBadRequest, code: "bad_json",
			msg:     fmt.Sprintf("refused at line %d, column %d (byte %d): %s", line, col, p.Offset, p.Msg),
			details: []*flows.ValidationError{{Pointer: "", Msg: p.Msg, Line: line, Col: col}}}
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return jsonProblem(b, err)
	}
	return nil
}

// checkURL refuses a path or query that holds a NUL character or bytes
// that are not UTF-8: no name, id or filter in Weft can contain them, and
// PostgreSQL refuses them in text.
func checkURL(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := c.Request().URL
		if msg := badText(u.Path); msg != "" {
			return badRequest("the path %s; fix the URL", msg)
		}
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return badRequest("the query string is not valid: %s", err)
		}
		for k, vs := range q {
			if msg := badText(k); msg != "" {
				return badRequest("a query parameter name %s; fix the URL", msg)
			}
			for _, v := range vs {
				if msg := badText(v); msg != "" {
					return badRequest("query parameter %s %s; fix the URL", strconv.QuoteToASCII(k), msg)
				}
			}
		}
		return next(c)
	}
}

// badText says what is wrong with s as text Weft keeps ("" when nothing).
func badText(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return fmt.Sprintf("holds a NUL character (%%00) at byte %d", i)
	}
	if !utf8.ValidString(s) {
		for i, r := range s {
			if r == utf8.RuneError {
				return fmt.Sprintf("holds a byte that is not UTF-8 at byte %d", i)
			}
		}
	}
	return ""
}

// queryLimit parses ?limit= (default 50, at most 500).
func queryLimit(c echo.Context) (int, error) {
	v := c.QueryParam("limit")
	if v == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, badRequest("limit %q must be a whole number between 1 and %d", v, maxLimit)
	}
	if n > maxLimit {
		return 0, badRequest("limit %d is over the maximum of %d; page with cursor instead", n, maxLimit)
	}
	return n, nil
}

// queryTime parses an RFC 3339 query parameter; zero when absent.
func queryTime(c echo.Context, name string) (time.Time, error) {
	v := c.QueryParam(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badRequest("%s %q is not an RFC 3339 time; write e.g. 2026-01-02T15:04:05Z", name, v)
	}
	return t, nil
}

// queryDuration parses a duration query parameter, bounded by max.
func queryDuration(c echo.Context, name string, def, max time.Duration) (time.Duration, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	d, err := blocks.ParseDuration(v)
	if err != nil {
		return 0, badRequest("%s: %s", name, err)
	}
	if d > max {
		return 0, badRequest("%s %s is over the maximum of %s", name, v, max)
	}
	return d, nil
}

// pathInt parses a positive integer path parameter.
func pathInt(c echo.Context, name string) (int, error) {
	v := c.Param(name)
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, badRequest("%s %q must be a positive whole number", name, v)
	}
	return n, nil
}

// rawOrNull is b, or JSON null when b is empty.
func rawOrNull(b []byte) json.RawMessage {
	if len(bytes.TrimSpace(b)) == 0 {
		return json.RawMessage("null")
	}
	return json.RawMessage(b)
}
