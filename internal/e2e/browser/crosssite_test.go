package browser

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/weftlabs/weft/engine"
)

// seenRequest is one request the Weft server received.
type seenRequest struct {
	method, path, origin, site, ctype string
	status                            int
	allowOrigin                       string // Access-Control-Allow-Origin answered
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }

// forgingPage is served from another loopback port: it tries every
// request a page can make a browser send to another origin without a
// CORS preflight (fetch in no-cors mode with text/plain or no body, a
// text/plain form that smuggles JSON, URL-encoded forms to the API and to
// the UI), plus a JSON fetch that needs a preflight, then shows #done.
const forgingPage = `<!doctype html><html><body>
<iframe name="sink" id="sink"></iframe>
<form id="json-form" method="post" enctype="text/plain" target="sink" action="WEFT/api/v1/flows/e2e-pipeline/runs">
  <input name='{"input": {"dataset": "forged"}, "x": "' value='"}'>
</form>
<form id="ui-form" method="post" target="sink" action="WEFT/flows/e2e-pipeline/runs"><input name="dataset" value="forged-ui"></form>
<script>
const weft = "WEFT";
const forged = [
  ["/api/v1/flows/e2e-pipeline/runs", "text/plain", '{"input": {"dataset": "forged"}}'],
  ["/api/v1/runs/bulk", "text/plain", '{"action": "cancel", "flow": "e2e-pipeline"}'],
  ["/api/v1/tokens", "text/plain", '{"role": "admin", "name": "forged"}'],
  ["/api/v1/tokens", "application/x-www-form-urlencoded", "role=admin"],
  ["/api/v1/flows/e2e-pipeline/runs", null, null],
  ["/api/v1/runs/RUN/cancel", null, null],
];
async function go() {
  const calls = forged.map(([path, type, body]) => {
    const init = {method: "POST", mode: "no-cors", credentials: "include"};
    if (type) { init.headers = {"Content-Type": type}; init.body = body; }
    return fetch(weft + path, init);
  });
  calls.push(fetch(weft + "/api/v1/runs/bulk", {method: "POST", credentials: "include",
    headers: {"Content-Type": "application/json"}, body: '{"action": "cancel", "flow": "e2e-pipeline"}'}));
  await Promise.allSettled(calls);
  for (const id of ["json-form", "ui-form"]) {
    await new Promise((done) => {
      document.getElementById("sink").onload = done;
      document.getElementById(id).submit();
      setTimeout(done, 5000);
    });
  }
  const p = document.createElement("p"); p.id = "done"; p.textContent = "done";
  document.body.appendChild(p);
}
go();
</script></body></html>`

// A page on another origin drives real headless Chromium to send forged
// requests to Weft in its default mode (open on loopback): the requests
// arrive, and none of them changes anything.
func TestBrowserCrossSiteRequestsChangeNothing(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []seenRequest
	b := setup(t, options{wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw := &statusWriter{ResponseWriter: w, status: 200}
			h.ServeHTTP(sw, r)
			mu.Lock()
			seen = append(seen, seenRequest{r.Method, r.URL.Path, r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site"),
				r.Header.Get("Content-Type"), sw.status, sw.Header().Get("Access-Control-Allow-Origin")})
			mu.Unlock()
		})
	}})
	b.putFlow(t, pipelineFlow)
	ctx := context.Background()
	real, _, err := b.eng.StartRun(ctx, engine.StartParams{Flow: "e2e-pipeline", Input: []byte(`{"dataset": "real"}`), Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	b.waitRun(t, real.ID, func(r engine.Run) bool { return r.Status == engine.RunWaiting })

	page := strings.ReplaceAll(strings.ReplaceAll(forgingPage, "WEFT", b.url), "RUN", real.ID)
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	}))
	t.Cleanup(evil.Close)
	if strings.Split(evil.URL, ":")[2] == strings.Split(b.url, ":")[2] {
		t.Fatal("the forging page must be on another port")
	}

	bctx := browser(t)
	run(t, bctx, "open the forging page and let it finish", chromedp.Navigate(evil.URL), chromedp.WaitVisible(css("#done")))

	mu.Lock()
	got := append([]seenRequest(nil), seen...)
	mu.Unlock()
	var forged []seenRequest
	for _, r := range got {
		if r.method == "POST" {
			forged = append(forged, r)
		}
	}
	if len(forged) < 8 {
		t.Fatalf("only %d forged POSTs reached Weft (want 8: 6 fetches and 2 forms); the test did not exercise the server: %+v", len(forged), got)
	}
	for _, r := range forged {
		if r.status != http.StatusForbidden && r.status != http.StatusUnsupportedMediaType {
			t.Errorf("forged %s %s (Origin %q, Sec-Fetch-Site %q, Content-Type %q) answered %d, want 403 or 415",
				r.method, r.path, r.origin, r.site, r.ctype, r.status)
		}
	}
	for _, r := range got {
		if r.allowOrigin != "" {
			t.Errorf("%s %s allowed another origin: Access-Control-Allow-Origin: %s", r.method, r.path, r.allowOrigin)
		}
	}

	// Nothing changed: the one real run still waits, no other run, no token.
	page1, err := b.eng.ListRuns(ctx, engine.RunFilter{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if len(page1.Runs) != 1 {
		t.Errorf("runs = %d, want only the real one", len(page1.Runs))
	}
	r, err := b.eng.GetRun(ctx, real.ID, false)
	if err != nil || r.Status != engine.RunWaiting {
		t.Errorf("the real run is %s (%v), want still waiting for its approval", r.Status, err)
	}
	toks, err := b.st.ListTokens(ctx)
	if err != nil || len(toks) != 0 {
		t.Errorf("tokens = %+v (%v), want none: a forged request created one", toks, err)
	}
}
