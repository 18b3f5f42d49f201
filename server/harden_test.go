package server_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/weftlabs/weft/internal/auth"
	"github.com/weftlabs/weft/internal/pgscratch"
	"github.com/weftlabs/weft/internal/store"
)

// raw sends one request with the given headers and body as is.
func (b *apiBundle) raw(t *testing.T, method, path, body string, hdr ...string) apiReply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, b.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return apiReply{status: resp.StatusCode, body: out, header: resp.Header}
}

const lambdaFlow = `{"name": "echo", "blocks": [{"ref": "a", "type": "lambda", "expr": "flow.input"}], "output": {"a": "${a.output}"}}`

// Finding 1: a page on another site can make a browser send POSTs that
// need no preflight (text/plain, form types, no body). None of them may
// change anything, with authentication off (the default on loopback) or
// on (the browser would add the weft_token cookie).
func TestAPIRefusesCrossSiteRequests(t *testing.T) {
	t.Parallel()
	for _, authOn := range []bool{false, true} {
		name := "auth-off"
		if authOn {
			name = "auth-on"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setupAPI(t, sqliteStore, apiOptions{auth: authOn})
			b.as(t, auth.Admin, "POST", "/api/v1/flows", lambdaFlow).want(t, 201)
			admin := []string{}
			if authOn {
				admin = []string{"Authorization", "Bearer " + b.tokens[auth.Admin]}
			}
			with := func(h ...string) []string { return append(append([]string{}, admin...), h...) }
			evil := "http://evil.example"

			// What a forging page can send without a preflight.
			b.raw(t, "POST", "/api/v1/flows/echo/runs", `{"input": {}}`,
				with("Content-Type", "text/plain;charset=UTF-8", "Origin", evil, "Sec-Fetch-Site", "cross-site")...).
				wantError(t, 403, "cross_site")
			b.raw(t, "POST", "/api/v1/tokens", `{"role": "admin"}`, with("Content-Type", "text/plain", "Origin", evil)...).
				wantError(t, 403, "cross_site")
			b.raw(t, "POST", "/api/v1/runs/bulk", `{"action": "cancel", "flow": "echo"}`,
				with("Content-Type", "text/plain", "Sec-Fetch-Site", "same-site")...).wantError(t, 403, "cross_site")
			b.raw(t, "POST", "/api/v1/flows/echo/runs", "", with("Origin", "null")...).wantError(t, 403, "cross_site")
			// Another port of the same host is another origin.
			other := strings.Replace(b.url, "127.0.0.1:", "127.0.0.1:1", 1)
			b.raw(t, "POST", "/api/v1/flows/echo/runs", `{}`, with("Content-Type", "application/json", "Origin", other)...).
				wantError(t, 403, "cross_site")
			// Without Origin (an older browser, a proxy that drops it) the
			// body type still gives it away.
			e := b.raw(t, "POST", "/api/v1/flows/echo/runs", `{"input": {}}`, with("Content-Type", "text/plain")...).
				wantError(t, 415, "unsupported_media_type")
			if !strings.Contains(e.Error.Message, "application/json") {
				t.Fatalf("415 message %q does not say what to send", e.Error.Message)
			}
			b.raw(t, "POST", "/api/v1/tokens", "role=admin", with("Content-Type", "application/x-www-form-urlencoded")...).
				wantError(t, 415, "unsupported_media_type")
			b.raw(t, "PUT", "/api/v1/blocks", `{"name": "x"}`, with("Content-Type", "multipart/form-data; boundary=x")...).
				wantError(t, 415, "unsupported_media_type")

			// Nothing changed: no run, no new token.
			var runs struct{ Runs []apiRun }
			b.as(t, auth.Viewer, "GET", "/api/v1/runs", nil).want(t, 200).decode(t, &runs)
			if len(runs.Runs) != 0 {
				t.Fatalf("forged requests started %d runs", len(runs.Runs))
			}
			if authOn {
				var toks struct{ Tokens []auth.Token }
				b.as(t, auth.Admin, "GET", "/api/v1/tokens", nil).want(t, 200).decode(t, &toks)
				if len(toks.Tokens) != 5 {
					t.Fatalf("tokens = %d, want the 5 the test made", len(toks.Tokens))
				}
			} else {
				var toks struct{ Tokens []auth.Token }
				b.call(t, "GET", "/api/v1/tokens", "", nil).want(t, 200).decode(t, &toks)
				if len(toks.Tokens) != 0 {
					t.Fatalf("a forged request created a token: %+v", toks.Tokens)
				}
			}

			// Weft's own pages and programs still work.
			b.raw(t, "POST", "/api/v1/flows/echo/runs", `{"input": {"n": 1}}`,
				with("Content-Type", "application/json", "Origin", b.url, "Sec-Fetch-Site", "same-origin")...).want(t, 201)
			b.raw(t, "POST", "/api/v1/flows/echo/runs", `{"input": {"n": 2}}`,
				with("Content-Type", "application/json; charset=utf-8")...).want(t, 201)
			var run apiRun
			b.raw(t, "POST", "/api/v1/flows/echo/runs", "", with()...).want(t, 201).decode(t, &run)
			b.raw(t, "POST", "/api/v1/runs/"+run.ID+"/cancel", "", with()...)
			hook := []string{"Content-Type", "application/json"}
			if authOn {
				hook = append(hook, "Authorization", "Bearer "+b.tokens[auth.Operator])
			}
			b.raw(t, "POST", "/api/v1/hooks/echo", `{"from": "hook"}`, hook...).want(t, 201)
			worker := []string{"Content-Type", "application/json"}
			if authOn {
				worker = append(worker, "Authorization", "Bearer "+b.tokens[auth.Worker])
			}
			b.raw(t, "POST", "/api/v1/tasks/poll", `{"worker_id": "w", "queues": ["q"], "wait": "1ms"}`, worker...).want(t, 200)
		})
	}
}

// Finding 2: the login page's next parameter never leads off the site,
// however the browser normalises it.
func TestLoginRedirectStaysOnSite(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, sqliteStore, apiOptions{})
	for _, next := range []string{"/\t/evil.example", "/\n/evil.example", "/\\evil.example", "//evil.example",
		"/\t\\evil.example", " /evil", "https://evil.example/", "/\r\n/evil.example", "/\x7f/evil.example"} {
		r := b.raw(t, "GET", "/login?next="+url.QueryEscape(next), "", "Accept", "text/html")
		if r.status != 200 {
			t.Fatalf("GET /login?next=%q: %d", next, r.status)
		}
		if !strings.Contains(string(r.body), `name="next" value="/"`) {
			i := strings.Index(string(r.body), `name="next"`)
			t.Fatalf("next=%q: the form carries %.60s, want value=\"/\"", next, string(r.body[max(i, 0):]))
		}
	}
	r := b.raw(t, "GET", "/login?next="+url.QueryEscape("/runs?status=failed"), "", "Accept", "text/html")
	if !strings.Contains(string(r.body), `name="next" value="/runs?status=failed"`) {
		t.Fatalf("a path on the site was not kept")
	}
}

// Finding 5: text the JSON grammar allows but clients and PostgreSQL do
// not is refused with 400 and where it is; stored values stay readable.
func TestAPIRefusesBadText(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, open storeOpener) {
		b := setupAPI(t, open, apiOptions{})
		b.call(t, "POST", "/api/v1/flows", "", lambdaFlow).want(t, 201)
		j := []string{"Content-Type", "application/json"}

		e := b.raw(t, "POST", "/api/v1/flows/echo/runs", "{\"input\": {\"s\": \"a\xffb\"}}", j...).wantError(t, 400, "bad_json")
		if !strings.Contains(e.Error.Message, "UTF-8") || !strings.Contains(e.Error.Message, "byte 18") ||
			len(e.Error.Details) != 1 || e.Error.Details[0].Line != 1 || e.Error.Details[0].Column != 19 {
			t.Fatalf("invalid UTF-8: %+v, want byte 18, line 1 column 19", e.Error)
		}
		e = b.raw(t, "POST", "/api/v1/flows/echo/runs", `{"input": {"s": "a\u0000b"}}`, j...).wantError(t, 400, "bad_json")
		if !strings.Contains(e.Error.Message, "NUL") {
			t.Fatalf("NUL: %q", e.Error.Message)
		}
		b.raw(t, "POST", "/api/v1/flows/echo/runs", `{"input": {"s": "\ud800"}}`, j...).wantError(t, 400, "bad_json")
		deep := `{"input": ` + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + `}`
		e = b.raw(t, "POST", "/api/v1/flows/echo/runs", deep, j...).wantError(t, 400, "bad_json")
		if !strings.Contains(e.Error.Message, "256") {
			t.Fatalf("deep: %q", e.Error.Message)
		}
		ok := `{"input": {"v": ` + strings.Repeat("[", 250) + strings.Repeat("]", 250) + `, "s": "é😀\u00e9\ud83d\ude00"}}`
		b.raw(t, "POST", "/api/v1/flows/echo/runs", ok, j...).want(t, 201)
		// the same checks guard signals, task reports and uploads
		b.raw(t, "POST", "/api/v1/runs/x/signals/go", "\"\xc3\"", j...).wantError(t, 400, "bad_json")
		b.raw(t, "PUT", "/api/v1/blocks", "{\"name\": \"a\xff\", \"dispatch\": {\"kind\": \"worker\"}}", j...).wantError(t, 400, "bad_json")

		// NUL in a path or query is 400, not a database error.
		b.raw(t, "GET", "/api/v1/runs?flow=a%00b", "").wantError(t, 400, "bad_request")
		b.raw(t, "GET", "/api/v1/runs/a%00b", "").wantError(t, 400, "bad_request")
		b.raw(t, "GET", "/api/v1/flows/a%ffb", "").wantError(t, 400, "bad_request")
		b.raw(t, "GET", "/api/v1/runs?q=%00", "").wantError(t, 400, "bad_request")

		// The list stays JSON every client can read.
		r := b.call(t, "GET", "/api/v1/runs", "", nil).want(t, 200)
		var list struct{ Runs []apiRun }
		r.decode(t, &list)
		if len(list.Runs) != 1 {
			t.Fatalf("runs = %d, want the one valid run", len(list.Runs))
		}
	})
}

// Finding 6 (messages): unknown keys are refused and type errors speak
// JSON, not Go.
func TestAPIRequestBodiesAreStrict(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, sqliteStore, apiOptions{})
	b.call(t, "POST", "/api/v1/flows", "", lambdaFlow).want(t, 201)
	e := b.call(t, "POST", "/api/v1/flows/echo/runs", "", `{"inptu": {"n": 1}}`).wantError(t, 400, "bad_json")
	if !strings.Contains(e.Error.Message, `"inptu"`) || len(e.Error.Details) != 1 || e.Error.Details[0].Path != "/inptu" ||
		e.Error.Details[0].Line != 1 || e.Error.Details[0].Column != 2 {
		t.Fatalf("unknown key: %+v", e.Error)
	}
	e = b.call(t, "POST", "/api/v1/tasks/t/fail", "", `{"lease": "x", "error": {"message": "m", "kind": "k"}}`).wantError(t, 400, "bad_json")
	if len(e.Error.Details) != 1 || e.Error.Details[0].Path != "/error/kind" {
		t.Fatalf("nested unknown key: %+v", e.Error)
	}
	for body, want := range map[string]string{
		`[]`:                             "the request body must be an object, not an array",
		`{"version": "2"}`:               "/version must be a whole number, not a string",
		`{"version": 1.5}`:               "/version must be a whole number, not 1.5",
		`{"idempotency_key": {"a": 1}}`:  "/idempotency_key must be a string, not an object",
		`{"input": {}, "version": true}`: "/version must be a whole number, not true or false",
	} {
		e := b.call(t, "POST", "/api/v1/flows/echo/runs", "", body).wantError(t, 400, "bad_json")
		if !strings.Contains(e.Error.Message, want) || strings.Contains(e.Error.Message, "server.") || strings.Contains(e.Error.Message, "Go ") {
			t.Fatalf("%s: message %q, want it to contain %q", body, e.Error.Message, want)
		}
	}
	b.call(t, "POST", "/api/v1/tasks/poll", "", `{"worker_id": "w", "queues": ["q"], "wait": "1ms", "tags": []}`).wantError(t, 400, "bad_json")
	b.call(t, "POST", "/api/v1/tokens", "", `{"role": "viewer", "expires": "1d"}`).wantError(t, 400, "bad_json")
	b.call(t, "POST", "/api/v1/runs/bulk", "", `{"action": "cancel", "ids": ["x"], "force": true}`).wantError(t, 400, "bad_json")
}

// Finding 6: with the database gone the API answers 503 with Retry-After
// (clients retry), /readyz answers 503, /healthz stays 200.
func TestAPIDatabaseDown(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, sqliteStore, apiOptions{})
	b.st.Close()
	r := b.call(t, "GET", "/api/v1/blocks", "", nil)
	e := r.wantError(t, 503, "unavailable")
	if e.Error.RequestID == "" || e.Error.RequestID != r.header.Get("X-Request-Id") {
		t.Fatalf("503 request_id %q, header %q: want equal and set", e.Error.RequestID, r.header.Get("X-Request-Id"))
	}
	if r.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	b.call(t, "POST", "/api/v1/flows", "", lambdaFlow).wantError(t, 503, "unavailable")
	rd := b.call(t, "GET", "/readyz", "", nil).want(t, 503)
	if rd.header.Get("Retry-After") == "" {
		t.Fatal("/readyz 503 without Retry-After")
	}
	b.call(t, "GET", "/healthz", "", nil).want(t, 200)
}

// PostgreSQL going away under a running server (here: the network path to
// it is cut) is 503 too, and /readyz says so.
func TestAPIPostgresUnreachable(t *testing.T) {
	t.Parallel()
	dbURL := pgscratch.ForTest(t, "weft_server_test")
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	px := startProxy(t, u.Host)
	u.Host = px.addr
	st, err := store.Open(context.Background(), u.String(), nil)
	if err != nil {
		t.Fatalf("open postgres through the proxy: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	b := setupAPI(t, func(t *testing.T) *store.Store { return st }, apiOptions{})
	b.call(t, "POST", "/api/v1/flows", "", lambdaFlow).want(t, 201)
	b.call(t, "GET", "/readyz", "", nil).want(t, 200)
	px.cut()
	r := b.call(t, "POST", "/api/v1/flows/echo/runs", "", `{"input": {}}`)
	r.wantError(t, 503, "unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	b.call(t, "GET", "/api/v1/runs", "", nil).wantError(t, 503, "unavailable")
	b.call(t, "GET", "/readyz", "", nil).want(t, 503)
}

// proxy forwards TCP connections to a target until cut.
type proxy struct {
	addr  string
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: ln.Addr().String(), ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(p.cut)
	return p
}

// cut closes the listener and every connection: the database is gone.
func (p *proxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Finding 4: the three endpoints that compile user schemas answer 422
// with the pointer of the bad keyword, not 500.
func TestAPIUserSchemaTypeList(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, sqliteStore, apiOptions{})
	block := `{"name": "x.y", "dispatch": {"kind": "worker"}, "input_schema": {"type": [-1]}}`
	flow := `{"name": "f", "input_schema": {"type": ["object", -1]}, "blocks": [{"ref": "a", "type": "lambda", "expr": "1"}]}`
	for _, c := range []struct{ method, path, body, ptr string }{
		{"PUT", "/api/v1/blocks", block, "/input_schema/type/0"},
		{"POST", "/api/v1/flows", flow, "/input_schema/type/1"},
		{"POST", "/api/v1/flows/validate", flow, "/input_schema/type/1"},
	} {
		e := b.call(t, c.method, c.path, "", c.body).wantError(t, 422, "validation_failed")
		if len(e.Error.Details) == 0 || e.Error.Details[0].Path != c.ptr {
			t.Fatalf("%s %s: %+v, want a problem at %s", c.method, c.path, e.Error, c.ptr)
		}
	}
}

// Finding 6 (cron): the API refuses a schedule that fires every
// millisecond or never, at the trigger's pointer.
func TestAPICronTriggerRules(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, sqliteStore, apiOptions{})
	for spec, want := range map[string]string{"@every 1ms": "more often than the allowed once every 1m0s", "0 0 30 2 *": "never fires"} {
		flow := `{"name": "c", "triggers": [{"cron": "` + spec + `"}], "blocks": [{"ref": "a", "type": "lambda", "expr": "1"}]}`
		e := b.call(t, "POST", "/api/v1/flows", "", flow).wantError(t, 422, "validation_failed")
		if len(e.Error.Details) != 1 || e.Error.Details[0].Path != "/triggers/0/cron" || !strings.Contains(e.Error.Details[0].Message, want) {
			t.Fatalf("%s: %+v", spec, e.Error)
		}
	}
	b.call(t, "POST", "/api/v1/flows", "", `{"name": "c", "triggers": [{"cron": "@every 1m"}], "blocks": [{"ref": "a", "type": "lambda", "expr": "1"}]}`).want(t, 201)
}
