package server_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Pages are sent gzipped to clients that accept it; the API is not (its
// artifact downloads carry the stored bytes' length, ETag and ranges, and
// its logs follow as server-sent events).
func TestPagesAreCompressedAndTheAPIIsNot(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, sqliteStore, apiOptions{})
	get := func(path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, b.url+path, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		// A Transport that leaves the encoding to us, to see what was sent.
		resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r io.Reader = resp.Body
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			r = zr
		}
		body, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return resp, string(body)
	}
	resp, body := get("/blocks")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(body, "</html>") {
		t.Errorf("/blocks: %d, Content-Encoding %q, %.200s", resp.StatusCode, resp.Header.Get("Content-Encoding"), body)
	}
	resp, body = get("/api/v1/openapi.json")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "" || !strings.Contains(body, `"openapi"`) {
		t.Errorf("/api/v1/openapi.json: %d, Content-Encoding %q", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
}
