package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// apiRoute is "METHOD /path/{param}" as the OpenAPI document writes it.
var echoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// documented reads the routes the OpenAPI document lists.
func documented(t *testing.T) map[string]bool {
	t.Helper()
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("server/openapi.json is not valid JSON: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("server/openapi.json: openapi is %q, want 3.1.0", doc.OpenAPI)
	}
	out := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options":
				out[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	return out
}

// registered reads the API routes the server registers: /healthz, /readyz,
// /metrics and everything under /api/ (the HTML pages are not the API).
func registered(s *Server) map[string]bool {
	out := map[string]bool{}
	for _, r := range s.echo.Routes() {
		if r.Path != "/healthz" && r.Path != "/readyz" && r.Path != "/metrics" && !strings.HasPrefix(r.Path, "/api/") {
			continue
		}
		switch r.Method {
		case http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodPatch, http.MethodHead, http.MethodOptions:
			out[r.Method+" "+echoParam.ReplaceAllString(r.Path, "{$1}")] = true
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestOpenAPIListsEveryRoute: every API route the server registers is in
// server/openapi.json, and the document lists no route the server lacks.
func TestOpenAPIListsEveryRoute(t *testing.T) {
	t.Parallel()
	s := New(Config{}, Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	reg, doc := registered(s), documented(t)
	if len(reg) < 40 {
		t.Fatalf("only %d API routes registered; the route walk is broken: %v", len(reg), sortedKeys(reg))
	}
	for _, r := range sortedKeys(reg) {
		if !doc[r] {
			method, path, _ := strings.Cut(r, " ")
			t.Errorf("route %s is registered (server/routes.go) but not documented: add paths[%q].%s to server/openapi.json", r, path, strings.ToLower(method))
		}
	}
	for _, r := range sortedKeys(doc) {
		if !reg[r] {
			t.Errorf("route %s is in server/openapi.json but the server does not register it: remove it from the document or register it in server/routes.go", r)
		}
	}
}

// TestOpenAPIOperations: each operation has a unique operationId and
// declares every {param} of its path.
func TestOpenAPIOperations(t *testing.T) {
	t.Parallel()
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Parameters  []struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	brace := regexp.MustCompile(`\{([^}]+)\}`)
	for path, ops := range doc.Paths {
		for method, op := range ops {
			where := strings.ToUpper(method) + " " + path
			if op.OperationID == "" {
				t.Errorf("%s: no operationId", where)
			} else if prev, dup := seen[op.OperationID]; dup {
				t.Errorf("%s: operationId %q is also used by %s", where, op.OperationID, prev)
			}
			seen[op.OperationID] = where
			for _, m := range brace.FindAllStringSubmatch(path, -1) {
				found := false
				for _, p := range op.Parameters {
					found = found || (p.In == "path" && p.Name == m[1])
				}
				if !found {
					t.Errorf("%s: path parameter %q is not declared in its parameters", where, m[1])
				}
			}
		}
	}
}

// TestOpenAPIServed: GET /api/v1/openapi.json answers the document.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	s := New(Config{}, Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ts := httptest.NewServer(s)
	defer ts.Close()
	res, err := http.Get(ts.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /api/v1/openapi.json: %d %s, want 200 application/json", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if string(body) != string(openAPI) {
		t.Fatalf("GET /api/v1/openapi.json answered %d bytes, not the embedded document (%d bytes)", len(body), len(openAPI))
	}
}
