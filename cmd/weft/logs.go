package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// apiLogLine is a step log line as the API answers it.
type apiLogLine struct {
	Step    string    `json:"step"`
	Attempt int       `json:"attempt"`
	TS      time.Time `json:"ts"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
}

func cmdLogs(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlags("logs", stderr)
	srv, tok := clientFlags(fs)
	step := fs.String("step", "", "only this step's log (its path, e.g. train or each[2].score)")
	follow := fs.Bool("follow", false, "keep printing new lines until the step (or, without --step, the run) ends")
	fs.BoolVar(follow, "f", false, "short for --follow")
	asJSON := fs.Bool("json", false, "print each line as JSON")
	fs.Usage = usage(fs, "logs RUN [flags]", "Print what a run's steps logged, oldest first: time, level, step#attempt, message.")
	if err := parse(fs, reorder(args, fs), getenv); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	c := newClient(*srv, *tok)
	runID := fs.Arg(0)
	print := func(l apiLogLine) error {
		if *asJSON {
			return json.NewEncoder(stdout).Encode(l)
		}
		_, err := fmt.Fprintf(stdout, "%s %-8s %s#%d %s\n", l.TS.Local().Format("2006-01-02 15:04:05.000"), l.Level, l.Step, l.Attempt, l.Message)
		return err
	}
	q := url.Values{}
	if *step != "" {
		q.Set("step", *step)
	}
	if *follow {
		return followLogs(ctx, c, runID, q, print, stderr)
	}
	q.Set("limit", "5000")
	for {
		var page struct {
			Lines      []apiLogLine `json:"lines"`
			NextCursor string       `json:"next_cursor"`
		}
		if _, err := c.do(ctx, http.MethodGet, "/api/v1/runs/"+url.PathEscape(runID)+"/logs?"+q.Encode(), nil, &page); err != nil {
			return err
		}
		for _, l := range page.Lines {
			if err := print(l); err != nil {
				return err
			}
		}
		if len(page.Lines) < 5000 {
			return nil
		}
		q.Set("after", page.NextCursor)
	}
}

// followLogs reads the log's event stream, reconnecting from the last
// line seen when the connection drops, until the end event.
func followLogs(ctx context.Context, c *client, runID string, q url.Values, print func(apiLogLine) error, stderr io.Writer) error {
	q.Set("follow", "true")
	for attempt := 0; ; attempt++ {
		ended, err := followOnce(ctx, c, runID, q, print)
		if ended || ctx.Err() != nil {
			return nil
		}
		var ae *apiError
		if errors.As(err, &ae) || attempt >= 5 {
			return err
		}
		fmt.Fprintf(stderr, "log stream interrupted (%v); reconnecting\n", err)
		if !pause(ctx, time.Second) {
			return nil
		}
	}
}

func followOnce(ctx context.Context, c *client, runID string, q url.Values, print func(apiLogLine) error) (bool, error) {
	path := "/api/v1/runs/" + url.PathEscape(runID) + "/logs?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return false, fmt.Errorf("cannot reach the server at %s: %w (is weft serve running? set --server)", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		var eb struct {
			Error apiError `json:"error"`
		}
		if json.Unmarshal(raw, &eb) != nil || eb.Error.Message == "" {
			return false, fmt.Errorf("GET %s answered %d: %s", path, resp.StatusCode, strings.TrimSpace(string(raw)))
		}
		eb.Error.Status = resp.StatusCode
		return false, &eb.Error
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 32<<20)
	var id, event, data string
	for sc.Scan() {
		l := sc.Text()
		switch {
		case l == "":
			if event == "end" {
				return true, nil
			}
			if data != "" {
				var line apiLogLine
				if err := json.Unmarshal([]byte(data), &line); err != nil {
					return false, fmt.Errorf("log stream: unexpected event %q: %w", data, err)
				}
				if err := print(line); err != nil {
					return true, err
				}
				q.Set("after", id)
			}
			id, event, data = "", "", ""
		case strings.HasPrefix(l, "id: "):
			id = l[4:]
		case strings.HasPrefix(l, "event: "):
			event = l[7:]
		case strings.HasPrefix(l, "data: "):
			data = l[6:]
		}
	}
	if err := sc.Err(); err != nil {
		return false, err
	}
	return false, io.ErrUnexpectedEOF
}
