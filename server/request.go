package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/weftlabs/weft/blocks"
)

// Pagination limits (DESIGN.md §6).
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

// decodeBody reads the body and decodes it as JSON into v. An empty body
// leaves v alone when allowEmpty.
func decodeBody(c echo.Context, v any, allowEmpty bool) ([]byte, error) {
	b, err := readBody(c)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		if allowEmpty {
			return b, nil
		}
		return nil, badRequest("the request body is empty; send a JSON document")
	}
	if err := checkJSON(b); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, jsonProblem(b, err)
	}
	return b, nil
}

// checkJSON reports a syntax error in b with its line and column.
func checkJSON(b []byte) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return badRequest("the request body is empty; send a JSON document")
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return jsonProblem(b, err)
	}
	return nil
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
