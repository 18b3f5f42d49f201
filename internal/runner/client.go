package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// client speaks the worker side of the task API.
type client struct {
	base  string
	token string
	hc    *http.Client
}

// apiError is an answer of the server other than 2xx.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("server answered %d", e.Status)
	}
	return fmt.Sprintf("server answered %d: %s", e.Status, e.Message)
}

// isStatus reports whether err is an answer of the server with status.
func isStatus(err error, status int) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == status
}

// isRefused reports whether err is a 4xx answer: the server heard the
// request and will not change its mind, so it is not sent again.
func isRefused(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500
}

func (c *client) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// call sends body as JSON and decodes a 2xx answer into out (when not nil).
func (c *client) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := c.newRequest(ctx, method, path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decodeAnswer(resp, out)
}

func decodeAnswer(resp *http.Response, out any) error {
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		_ = json.Unmarshal(b, &e)
		msg := e.Error.Message
		if msg == "" {
			msg = strings.TrimSpace(string(b))
		}
		return &apiError{Status: resp.StatusCode, Code: e.Error.Code, Message: msg}
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// task is one leased task as the poll answers it.
type task struct {
	ID       string          `json:"id"`
	Lease    string          `json:"lease"`
	RunID    string          `json:"run_id"`
	Ref      string          `json:"ref"`
	Path     string          `json:"path"`
	Block    string          `json:"block"`
	Version  int             `json:"version"`
	Attempt  int             `json:"attempt"`
	Input    json.RawMessage `json:"input"`
	Deadline time.Time       `json:"deadline"`
}

type pollBody struct {
	WorkerID  string             `json:"worker_id"`
	Queues    []string           `json:"queues"`
	Max       int                `json:"max"`
	Wait      string             `json:"wait,omitempty"`
	Resources map[string]float64 `json:"resources,omitempty"`
}

func (c *client) poll(ctx context.Context, b pollBody) ([]task, error) {
	var out struct {
		Tasks []task `json:"tasks"`
	}
	if err := c.call(ctx, http.MethodPost, "/api/v1/tasks/poll", b, &out); err != nil {
		return nil, err
	}
	return out.Tasks, nil
}

type heartbeatAnswer struct {
	CancelRequested bool      `json:"cancel_requested"`
	LeaseExpiresAt  time.Time `json:"lease_expires_at"`
}

func (c *client) heartbeat(ctx context.Context, t *task) (heartbeatAnswer, error) {
	var out heartbeatAnswer
	err := c.call(ctx, http.MethodPost, "/api/v1/tasks/"+url.PathEscape(t.ID)+"/heartbeat", map[string]string{"lease": t.Lease}, &out)
	return out, err
}

type logLine struct {
	TS      string `json:"ts"`
	Level   string `json:"level"`
	Message string `json:"message"`
}

func (c *client) appendLogs(ctx context.Context, t *task, lines []logLine) error {
	return c.call(ctx, http.MethodPost, "/api/v1/tasks/"+url.PathEscape(t.ID)+"/logs", map[string]any{"lease": t.Lease, "lines": lines}, nil)
}

// report sends complete (failure nil) or fail; with next, the answer
// carries the worker's next tasks.
func (c *client) report(ctx context.Context, t *task, output json.RawMessage, failure *failure, next *pollBody) ([]task, error) {
	body := map[string]any{"lease": t.Lease}
	path := "/api/v1/tasks/" + url.PathEscape(t.ID)
	if failure != nil {
		path += "/fail"
		e := map[string]string{"message": failure.Message}
		if failure.Type != "" {
			e["type"] = failure.Type
		}
		body["error"] = e
		body["retryable"] = failure.Retryable
	} else {
		path += "/complete"
		body["output"] = output
	}
	if next != nil {
		body["next"] = next
	}
	var out struct {
		Tasks []task `json:"tasks"`
	}
	if err := c.call(ctx, http.MethodPost, path, body, &out); err != nil {
		return nil, err
	}
	return out.Tasks, nil
}

// download writes artifact id to file.
func (c *client) download(ctx context.Context, id, file string) error {
	req, err := c.newRequest(ctx, http.MethodGet, "/api/v1/artifacts/"+url.PathEscape(id), nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return decodeAnswer(resp, nil)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// upload streams file to the task's artifact name.
func (c *client) upload(ctx context.Context, t *task, name, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	req, err := c.newRequest(ctx, http.MethodPut, "/api/v1/tasks/"+url.PathEscape(t.ID)+"/artifacts/"+url.PathEscape(name), f)
	if err != nil {
		return err
	}
	req.ContentLength = st.Size()
	req.Header.Set("X-Weft-Lease", t.Lease)
	req.Header.Set("Content-Length", strconv.FormatInt(st.Size(), 10))
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decodeAnswer(resp, nil)
}
