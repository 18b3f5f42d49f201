package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlags("run", stderr)
	srv, tok := clientFlags(fs)
	input := fs.String("input", "{}", "the run's input: JSON, or @file to read it from a file")
	wait := fs.Bool("wait", false, "follow the run: print each step's status change, then the output JSON")
	version := fs.Int("version", 0, "flow version (default latest)")
	key := fs.String("idempotency-key", "", "the same key returns the same run")
	fs.Usage = usage(fs, "run FLOW [flags]", "Start a run of FLOW. Without --wait it prints the run's id.\nWith --wait it exits 0 when the run succeeded, 1 when it failed, was cancelled\nor timed out, and 3 when it waits for a signal (printing how to send it).")
	if err := parse(fs, reorder(args, fs), getenv); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	flow := fs.Arg(0)
	in := []byte(*input)
	if strings.HasPrefix(*input, "@") {
		b, err := os.ReadFile((*input)[1:])
		if err != nil {
			return fmt.Errorf("--input: %w", err)
		}
		in = b
	}
	if !json.Valid(in) {
		return fmt.Errorf("--input is not valid JSON")
	}
	body, _ := json.Marshal(map[string]any{"input": json.RawMessage(in), "version": *version, "idempotency_key": *key})
	c := newClient(*srv, *tok)
	var r apiRun
	if _, err := c.do(ctx, http.MethodPost, "/api/v1/flows/"+url.PathEscape(flow)+"/runs", body, &r); err != nil {
		return err
	}
	if !*wait {
		fmt.Fprintln(stdout, r.ID)
		return nil
	}
	fmt.Fprintf(stderr, "run %s of %s@%d: %s\n", r.ID, r.Flow, r.Version, r.Status)
	return follow(ctx, c, r, stdout, stderr)
}

// follow parks on /wait until the run finishes, printing step changes.
func follow(ctx context.Context, c *client, r apiRun, stdout, stderr io.Writer) error {
	seen := map[string]string{}
	show := func(r apiRun) {
		for _, st := range r.Steps {
			if seen[st.Path] == st.Status {
				continue
			}
			seen[st.Path] = st.Status
			line := fmt.Sprintf("  %-24s %s", st.Path, st.Status)
			if st.Error != nil && st.Error.Message != "" {
				line += ": " + st.Error.Message
			}
			fmt.Fprintln(stderr, line)

		}
	}
	show(r)
	lastStatus := r.Status
	for !finished(r.Status) {
		var next apiRun
		status, err := c.do(ctx, http.MethodGet, "/api/v1/runs/"+url.PathEscape(r.ID)+"/wait?timeout=1s", nil, &next)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("stopped following run %s (it goes on)", r.ID)
			}
			if status >= 400 {
				return err
			}
			fmt.Fprintf(stderr, "  (connection lost: %s; retrying)\n", err)
			if !pause(ctx, 2*time.Second) {
				return fmt.Errorf("stopped following run %s (it goes on)", r.ID)
			}
			continue
		}
		r = next
		show(r)
		if r.Status != lastStatus {
			fmt.Fprintf(stderr, "run %s: %s\n", r.ID, r.Status)
			lastStatus = r.Status
		}
		if r.Status == "waiting" {
			// Only people move it on now: say how, and stop following.
			for _, w := range r.WaitingFor {
				who := ""
				if w.Assignee != "" {
					who = " (for " + w.Assignee + ")"
				}
				fmt.Fprintf(stderr, "run %s waits for the signal %q at %s%s; send it with:\n  weft signal %s %s --payload '{...}' --server %s\n",
					r.ID, w.Signal, w.Path, who, r.ID, w.Signal, c.base)
			}
			fmt.Fprintf(stderr, "or open %s/runs/%s\n", c.base, r.ID)
			return &exitError{code: 3, msg: "stopped following run " + r.ID + ": it waits for a signal (it goes on once it gets it)"}
		}
		if !finished(r.Status) && (r.Status == "paused" || waitingStep(r)) {
			// The server answers at once while a run waits for a person.
			if !pause(ctx, time.Second) {
				return fmt.Errorf("stopped following run %s (it goes on)", r.ID)
			}
		}
	}
	out := r.Output
	if len(out) == 0 {
		out = json.RawMessage("null")
	}
	var buf bytes.Buffer
	if json.Indent(&buf, out, "", "  ") != nil {
		buf.Reset()
		buf.Write(out)
	}
	fmt.Fprintln(stdout, buf.String())
	if r.Status != "succeeded" {
		msg := "run " + r.ID + " " + r.Status
		if r.Error != nil {
			msg += ": " + r.Error.Message
		}
		return &exitError{code: 1, msg: msg}
	}
	return nil
}

func waitingStep(r apiRun) bool {
	for _, st := range r.Steps {
		if st.Status == "waiting" {
			return true
		}
	}
	return false
}

func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// reorder moves flags after positional arguments to the front, so
// "weft run FLOW --wait" works like "weft run --wait FLOW".
func reorder(args []string, fs *flag.FlagSet) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	return append(flags, pos...)
}

func cmdRuns(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlags("runs", stderr)
	srv, tok := clientFlags(fs)
	flow := fs.String("flow", "", "only runs of this flow")
	status := fs.String("status", "", "only runs with these statuses, comma-separated")
	limit := fs.Int("limit", 20, "how many runs (at most 500)")
	asJSON := fs.Bool("json", false, "print the answer as JSON")
	fs.Usage = usage(fs, "runs [flags]", "List runs, newest first.")
	if err := parse(fs, args, getenv); err != nil {
		return err
	}
	q := url.Values{}
	if *flow != "" {
		q.Set("flow", *flow)
	}
	if *status != "" {
		q.Set("status", *status)
	}
	q.Set("limit", strconv.Itoa(*limit))
	c := newClient(*srv, *tok)
	var page struct {
		Runs       []apiRun `json:"runs"`
		NextCursor string   `json:"next_cursor"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/api/v1/runs?"+q.Encode(), nil, &page); err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(page)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFLOW\tVERSION\tSTATUS\tCREATED")
	for _, r := range page.Runs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", r.ID, r.Flow, r.Version, r.Status, r.CreatedAt.Local().Format(time.DateTime))
	}
	return tw.Flush()
}
