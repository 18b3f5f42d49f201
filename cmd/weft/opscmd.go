package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// stdin is where weft approve reads which signal to send when a run waits
// for several.
var stdin io.Reader = os.Stdin

// payloadFlag reads --payload: JSON, or @file.
func payloadBytes(v string) ([]byte, error) {
	b := []byte(v)
	if strings.HasPrefix(v, "@") {
		var err error
		if b, err = os.ReadFile(v[1:]); err != nil {
			return nil, fmt.Errorf("--payload: %w", err)
		}
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("--payload is not valid JSON: write it such as '{\"ok\": true}'")
	}
	return b, nil
}

// sendSignal posts a signal and says what happened.
func sendSignal(ctx context.Context, c *client, runID, name string, payload []byte, stdout io.Writer) error {
	_, err := c.do(ctx, http.MethodPost, "/api/v1/runs/"+url.PathEscape(runID)+"/signals/"+url.PathEscape(name), payload, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "signal %s sent to run %s\n", name, runID)
	return nil
}

func cmdSignal(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlags("signal", stderr)
	srv, tok := clientFlags(fs)
	payload := fs.String("payload", "{}", "the signal's payload: JSON, or @file; it becomes the wait's output")
	fs.Usage = usage(fs, "signal RUN NAME [flags]", "Send the signal NAME to run RUN. A run refuses a signal it does not\nwait for (409, naming those it waits for) and a payload its form refuses (422).")
	if err := parse(fs, reorder(args, fs), getenv); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return errUsage
	}
	p, err := payloadBytes(*payload)
	if err != nil {
		return err
	}
	return sendSignal(ctx, newClient(*srv, *tok), fs.Arg(0), fs.Arg(1), p, stdout)
}

// apiWait is a step waiting for a signal, as a run's waiting_for lists it.
type apiWait struct {
	Path     string `json:"path"`
	Signal   string `json:"signal"`
	Assignee string `json:"assignee"`
	SLA      string `json:"sla"`
}

func cmdApprove(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlags("approve", stderr)
	srv, tok := clientFlags(fs)
	payload := fs.String("payload", `{"approved": true}`, "the signal's payload: JSON, or @file")
	signal := fs.String("signal", "", "which signal, when the run waits for several")
	fs.Usage = usage(fs, "approve RUN [flags]", "Send the signal run RUN waits for. When it waits for several, weft approve\nlists them and asks which one (or pass --signal NAME).")
	if err := parse(fs, reorder(args, fs), getenv); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	p, err := payloadBytes(*payload)
	if err != nil {
		return err
	}
	c := newClient(*srv, *tok)
	id := fs.Arg(0)
	var r apiRun
	if _, err := c.do(ctx, http.MethodGet, "/api/v1/runs/"+url.PathEscape(id), nil, &r); err != nil {
		return err
	}
	var names []string
	for _, w := range r.WaitingFor {
		if !contains(names, w.Signal) {
			names = append(names, w.Signal)
		}
	}
	name := *signal
	switch {
	case name != "":
	case len(names) == 0:
		return fmt.Errorf("run %s (%s) waits for no signal", id, r.Status)
	case len(names) == 1:
		name = names[0]
	default:
		fmt.Fprintf(stderr, "run %s waits for %d signals:\n", id, len(names))
		for i, n := range names {
			var who []string
			for _, w := range r.WaitingFor {
				if w.Signal == n {
					d := w.Path
					if w.Assignee != "" {
						d += ", for " + w.Assignee
					}
					if w.SLA != "" {
						d += ", SLA " + w.SLA
					}
					who = append(who, d)
				}
			}
			fmt.Fprintf(stderr, "  %d) %s (%s)\n", i+1, n, strings.Join(who, "; "))
		}
		fmt.Fprintf(stderr, "which one? [1-%d or a name]: ", len(names))
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		line = strings.TrimSpace(line)
		if i, err := strconv.Atoi(line); err == nil && i >= 1 && i <= len(names) {
			name = names[i-1]
		} else if contains(names, line) {
			name = line
		} else {
			fmt.Fprintln(stderr)
			return &exitError{code: 2, msg: fmt.Sprintf("no signal chosen; run weft approve %s --signal NAME with one of: %s", id, strings.Join(names, ", "))}
		}
	}
	return sendSignal(ctx, c, id, name, p, stdout)
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// cmdAct builds weft cancel, pause, resume and retry.
func cmdAct(action, about string) func(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
		fs := newFlags(action, stderr)
		srv, tok := clientFlags(fs)
		fs.Usage = usage(fs, action+" RUN [flags]", about)
		if err := parse(fs, reorder(args, fs), getenv); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			fs.Usage()
			return errUsage
		}
		var r apiRun
		if _, err := newClient(*srv, *tok).do(ctx, http.MethodPost, "/api/v1/runs/"+url.PathEscape(fs.Arg(0))+"/"+action, nil, &r); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "run %s: %s\n", r.ID, r.Status)
		return nil
	}
}

func cmdRerun(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlags("rerun", stderr)
	srv, tok := clientFlags(fs)
	from := fs.String("from", "", "the ref to run again from (required); the blocks before it keep their outputs")
	input := fs.String("input", "", "that block's edited input: JSON, or @file (default: as recorded)")
	latest := fs.Bool("latest", false, "use the flow's latest version")
	fs.Usage = usage(fs, "rerun RUN --from REF [flags]", "Start a new run of RUN's flow and input that keeps the outputs of the\nblocks before REF and runs again from REF. It prints the new run's id.")
	if err := parse(fs, reorder(args, fs), getenv); err != nil {
		return err
	}
	if fs.NArg() != 1 || *from == "" {
		fs.Usage()
		return errUsage
	}
	body := map[string]any{"from": *from, "latest": *latest}
	if *input != "" {
		in, err := payloadBytes(*input)
		if err != nil {
			return fmt.Errorf("--input: %w", err)
		}
		body["input"] = json.RawMessage(in)
	}
	b, _ := json.Marshal(body)
	var r apiRun
	if _, err := newClient(*srv, *tok).do(ctx, http.MethodPost, "/api/v1/runs/"+url.PathEscape(fs.Arg(0))+"/rerun", b, &r); err != nil {
		return err
	}
	fmt.Fprintln(stdout, r.ID)
	return nil
}
