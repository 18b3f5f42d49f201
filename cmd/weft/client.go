package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// client talks to a Weft server's API.
type client struct {
	base  string
	token string
	http  *http.Client
}

// clientFlags adds --server and --token to fs.
func clientFlags(fs *flag.FlagSet) (*string, *string) {
	srv := fs.String("server", "http://127.0.0.1:8080", "the Weft server's address")
	tok := fs.String("token", "", "API token sent as Authorization: Bearer (env WEFT_TOKEN)")
	return srv, tok
}

func newClient(server, token string) *client {
	return &client{base: strings.TrimRight(server, "/"), token: token, http: &http.Client{}}
}

// apiError is the server's error answer.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Path    string `json:"path"`
		Message string `json:"message"`
		Line    int    `json:"line"`
		Column  int    `json:"column"`
	} `json:"details"`
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%d %s)", e.Message, e.Status, e.Code)
	for _, d := range e.Details {
		b.WriteString("\n  ")
		if d.Line > 0 {
			fmt.Fprintf(&b, "%d:%d ", d.Line, d.Column)
		}
		if d.Path != "" {
			b.WriteString(d.Path + ": ")
		}
		b.WriteString(d.Message)
	}
	return b.String()
}

// do sends a request and decodes a JSON answer into out (when not nil).
func (c *client) do(ctx context.Context, method, path string, body []byte, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("cannot reach the server at %s: %w (is weft serve running? set --server)", c.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 400 {
		var eb struct {
			Error apiError `json:"error"`
		}
		if json.Unmarshal(raw, &eb) != nil || eb.Error.Message == "" {
			return resp.StatusCode, fmt.Errorf("%s %s answered %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(raw)))
		}
		eb.Error.Status = resp.StatusCode
		return resp.StatusCode, &eb.Error
	}
	if out != nil && len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: unexpected answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// apiRun is a run as the API answers it.
type apiRun struct {
	ID      string          `json:"id"`
	Flow    string          `json:"flow"`
	Version int             `json:"version"`
	Status  string          `json:"status"`
	Output  json.RawMessage `json:"output"`
	Error   *struct {
		Message string `json:"message"`
		Step    string `json:"step"`
	} `json:"error"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at"`
	WaitingFor []apiWait  `json:"waiting_for"`
	Steps      []struct {
		Path   string `json:"path"`
		Type   string `json:"type"`
		Status string `json:"status"`
		Error  *struct {
			Message string `json:"message"`
		} `json:"error"`
	} `json:"steps"`
}

func finished(status string) bool {
	switch status {
	case "succeeded", "failed", "cancelled", "timed_out":
		return true
	}
	return false
}
