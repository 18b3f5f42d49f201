package browser

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/internal/auth"
)

var csrfRE = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, html string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(html)
	if m == nil {
		t.Fatal("page has no _csrf field")
	}
	return m[1]
}

func withJar() *http.Client {
	c := client()
	c.Jar, _ = cookiejar.New(nil)
	return c
}

func TestPagesRenderOverHTTP(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	b.putFlow(t, pipelineFlow)
	b.putFlow(t, flakyFlow)
	run, _, err := b.eng.StartRun(context.Background(), engine.StartParams{Flow: "e2e-flaky", Input: json.RawMessage(`{"n": 1}`)})
	if err != nil {
		t.Fatal(err)
	}
	b.waitRun(t, run.ID, func(r engine.Run) bool { return r.Status == engine.RunSucceeded })
	c := withJar()
	for path, want := range map[string]string{
		"/":                   `data-testid="runs-chart"`,
		"/flows":              `data-flow="e2e-pipeline"`,
		"/flows/e2e-flaky":    `data-testid="flow-graph"`,
		"/flows/upload":       `data-testid="upload-form"`,
		"/blocks":             `data-block="e2e.work"`,
		"/blocks/e2e.work":    `e2e-flaky`,
		"/runs":               `data-run="` + run.ID + `"`,
		"/runs/" + run.ID:     `data-testid="run-graph"`,
		"/runs?status=failed": `No runs match these filters`,
	} {
		resp, body := get(t, c, b.url+path)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: got %d, want 200", path, resp.StatusCode)
			continue
		}
		if !strings.Contains(body, want) {
			t.Errorf("GET %s: page lacks %s", path, want)
		}
	}
	resp, body := get(t, c, b.url+"/runs/"+run.ID+"/live", "X-Weft-Fragment", "1")
	if resp.Header.Get("X-Weft-Live") != "false" || strings.Contains(body, "<html") || !strings.Contains(body, `data-status="succeeded"`) {
		t.Errorf("live fragment of a finished run: live=%q, body starts %.80q", resp.Header.Get("X-Weft-Live"), body)
	}
	for path, status := range map[string]int{"/runs/nope": 404, "/flows/nope": 404, "/blocks/nope": 404, "/no/such/page": 404} {
		resp, body := get(t, c, b.url+path)
		if strings.Count(body, "<html") != 1 {
			t.Errorf("GET %s: the answer holds %d documents, want one error page", path, strings.Count(body, "<html"))
		}
		if resp.StatusCode != status || !strings.Contains(body, `data-testid="error-page"`) {
			t.Errorf("GET %s: got %d (error page: %v), want %d with the error page", path, resp.StatusCode,
				strings.Contains(body, "error-page"), status)
		}
	}
}

func TestFormsNeedTheCSRFToken(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	b.putFlow(t, flakyFlow)
	c := withJar()
	// no token at all
	resp, body := postForm(t, c, b.url+"/flows/e2e-flaky/runs", "mode=raw&input={}")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "did not come from this site") {
		t.Fatalf("start without a token: got %d, want 403 with an explanation", resp.StatusCode)
	}
	// a cookie but a forged field
	_, page := get(t, c, b.url+"/flows/e2e-flaky")
	tok := csrfOf(t, page)
	resp, _ = postForm(t, c, b.url+"/flows/e2e-flaky/runs", "mode=raw&input={}&_csrf=forged"+tok[:3])
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("start with a forged token: got %d, want 403", resp.StatusCode)
	}
	// the right token and cookie, sent by a page on another origin (the
	// form check used to ignore Origin)
	for _, h := range [][]string{{"Origin", "http://evil.example"}, {"Sec-Fetch-Site", "cross-site"}, {"Origin", "null"}} {
		resp, body = postForm(t, c, b.url+"/flows/e2e-flaky/runs", "mode=raw&input={}&_csrf="+url.QueryEscape(tok), h...)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "another site") && !strings.Contains(body, "not from this server") {
			t.Fatalf("start from another origin (%s: %s): got %d, want 403 with an explanation", h[0], h[1], resp.StatusCode)
		}
	}
	runs, _ := b.eng.ListRuns(context.Background(), engine.RunFilter{})
	if len(runs.Runs) != 0 {
		t.Fatalf("a refused form started %d runs", len(runs.Runs))
	}
	resp, _ = postForm(t, c, b.url+"/flows/e2e-flaky/runs", "mode=raw&input={}&_csrf="+url.QueryEscape(tok),
		"Origin", b.url, "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/runs/") {
		t.Fatalf("start with the token: got %d to %q, want 303 to the run", resp.StatusCode, resp.Header.Get("Location"))
	}
	// the JSON API is not behind the CSRF check
	req, _ := http.NewRequest(http.MethodPost, b.url+"/api/v1/flows/e2e-flaky/runs", strings.NewReader(`{"input": {}}`))
	req.Header.Set("Content-Type", "application/json")
	api, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	api.Body.Close()
	if api.StatusCode != http.StatusCreated {
		t.Fatalf("API start: got %d, want 201", api.StatusCode)
	}
}

func TestLoginWhenAuthIsOn(t *testing.T) {
	t.Parallel()
	b := setup(t, options{auth: true})
	b.putFlow(t, flakyFlow)
	c := withJar()
	resp, _ := get(t, c, b.url+"/runs?flow=e2e-flaky")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fruns%3Fflow%3De2e-flaky" {
		t.Fatalf("signed out: got %d to %q, want 303 to the login page", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page := get(t, c, b.url+"/login?next=%2Fruns")
	tok := csrfOf(t, page)
	resp, body := postForm(t, c, b.url+"/login", "token=wrong&next=%2Fruns&_csrf="+url.QueryEscape(tok))
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `data-testid="login-error"`) {
		t.Fatalf("bad token: got %d, want 401 with the error", resp.StatusCode)
	}
	resp, _ = postForm(t, c, b.url+"/login", "token="+url.QueryEscape(b.tokens[auth.Viewer])+"&next=%2Fruns&_csrf="+url.QueryEscape(tok))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/runs" {
		t.Fatalf("good token: got %d to %q, want 303 to /runs", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body = get(t, c, b.url+"/flows/e2e-flaky")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `data-testid="role">viewer`) {
		t.Fatalf("signed in as viewer: got %d (role shown: %v)", resp.StatusCode, strings.Contains(body, "viewer"))
	}
	if strings.Contains(body, `data-testid="start-submit"`) {
		t.Error("a viewer is offered the start form")
	}
	resp, _ = postForm(t, c, b.url+"/flows/e2e-flaky/runs", "mode=raw&input={}&_csrf="+url.QueryEscape(csrfOf(t, page)))
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer starts a run: got %d, want 403", resp.StatusCode)
	}
	// the open redirect is refused
	resp, _ = postForm(t, c, b.url+"/login", "token="+url.QueryEscape(b.tokens[auth.Viewer])+"&next=%2F%2Fevil.example&_csrf="+url.QueryEscape(tok))
	if loc := resp.Header.Get("Location"); loc != "/" {
		t.Fatalf("login with next=//evil.example redirects to %q, want /", loc)
	}
}

func TestRunActionsOverHTTP(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	b.putFlow(t, pipelineFlow)
	r, _, err := b.eng.StartRun(context.Background(), engine.StartParams{Flow: "e2e-pipeline",
		Input: json.RawMessage(`{"dataset": "x"}`), IdempotencyKey: "nightly-7"})
	if err != nil {
		t.Fatal(err)
	}
	b.waitRun(t, r.ID, func(r engine.Run) bool {
		for _, s := range r.Steps {
			if s.Ref == "approve" && s.Status == engine.StepWaiting {
				return true
			}
		}
		return false
	})
	c := withJar()
	// search by idempotency key finds exactly this run
	_, list := get(t, c, b.url+"/runs?q=nightly-7")
	if n := strings.Count(list, `data-testid="run-row"`); n != 1 || !strings.Contains(list, `data-run="`+r.ID+`"`) {
		t.Fatalf("search by key: got %d rows, want the one run", n)
	}
	_, page := get(t, c, b.url+"/runs/"+r.ID)
	if !strings.Contains(page, `data-testid="wait-banner" data-signal="approval"`) || !strings.Contains(page, `data-testid="action-pause"`) {
		t.Fatal("a waiting run's page lacks the approval banner or the pause button")
	}
	tok := "_csrf=" + url.QueryEscape(csrfOf(t, page))
	for _, step := range []struct {
		action string
		want   engine.RunStatus
	}{{"pause", engine.RunPaused}, {"resume", engine.RunWaiting}} {
		resp, _ := postForm(t, c, b.url+"/runs/"+r.ID+"/"+step.action, tok)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/runs/"+r.ID+"?done="+step.action {
			t.Fatalf("%s: got %d to %q", step.action, resp.StatusCode, resp.Header.Get("Location"))
		}
		got, err := b.eng.GetRun(context.Background(), r.ID, false)
		if err != nil || got.Status != step.want {
			t.Fatalf("after %s: run is %s (%v), want %s", step.action, got.Status, err, step.want)
		}
	}
	// resuming a running run is refused with an explanation, not a 500
	resp, body := postForm(t, c, b.url+"/runs/"+r.ID+"/resume", tok)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, `data-testid="error-page"`) {
		t.Fatalf("resume a running run: got %d, want 409 with the error page", resp.StatusCode)
	}
	// a reject signal takes the "no" case
	resp, _ = postForm(t, c, b.url+"/runs/"+r.ID+"/signal", tok+"&name=approval&payload="+url.QueryEscape(`{"approved":false}`))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("signal: got %d, want 303", resp.StatusCode)
	}
	done := b.waitRun(t, r.ID, func(r engine.Run) bool { return r.Status == engine.RunSucceeded })
	var ran []string
	for _, s := range done.Steps {
		if s.Status == engine.StepSucceeded {
			ran = append(ran, s.Ref)
		}
	}
	if got := strings.Join(ran, " "); !strings.Contains(got, "drop") || strings.Contains(got, "publish") {
		t.Fatalf("rejected run: succeeded steps %q, want drop and not publish", got)
	}
	// invalid JSON in a signal is explained
	resp, body = postForm(t, c, b.url+"/runs/"+r.ID+"/signal", tok+"&name=approval&payload=%7Bnope")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "not valid JSON") {
		t.Fatalf("bad payload: got %d, want 400 naming the JSON problem", resp.StatusCode)
	}
}
