package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"
)

type apiArtifact struct {
	ID        string    `json:"id"`
	Step      string    `json:"step"`
	Name      string    `json:"name"`
	Size      int64     `json:"size"`
	SHA256    string    `json:"sha256"`
	MediaType string    `json:"media_type"`
	CreatedAt time.Time `json:"created_at"`
}

// cmdArtifacts lists a run's artifacts, or downloads one (docs/operations.md).
func cmdArtifacts(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlags("artifacts", stderr)
	srv, tok := clientFlags(fs)
	get := fs.String("get", "", "download the artifact of this name (STEP/NAME when several steps stored one by that name)")
	out := fs.String("o", "", "with --get: the file to write (default: the artifact's name in the current folder; - for stdout)")
	asJSON := fs.Bool("json", false, "print the list as JSON")
	fs.Usage = usage(fs, "artifacts RUN [--get NAME [-o FILE]]", "List a run's artifacts, or download one, checked against its sha256.")
	if err := parse(fs, reorder(args, fs), getenv); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	c := newClient(*srv, *tok)
	var list struct {
		Artifacts []apiArtifact `json:"artifacts"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/api/v1/runs/"+url.PathEscape(fs.Arg(0))+"/artifacts", nil, &list); err != nil {
		return err
	}
	if *get == "" {
		if *asJSON {
			return json.NewEncoder(stdout).Encode(list)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "STEP\tNAME\tSIZE\tSHA256\tID")
		for _, a := range list.Artifacts {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", a.Step, a.Name, a.Size, a.SHA256[:12], a.ID)
		}
		return tw.Flush()
	}
	var found []apiArtifact
	for _, a := range list.Artifacts {
		if a.Name == *get || a.Step+"/"+a.Name == *get {
			found = append(found, a)
		}
	}
	switch {
	case len(found) == 0:
		return fmt.Errorf("run %s has no artifact %q: `weft artifacts %s` lists them", fs.Arg(0), *get, fs.Arg(0))
	case len(found) > 1:
		return fmt.Errorf("%d steps of run %s stored an artifact %q: name one as STEP/NAME (e.g. %s/%s)", len(found), fs.Arg(0), *get, found[0].Step, found[0].Name)
	}
	a := found[0]
	dest := *out
	if dest == "" {
		dest = filepath.Base(a.Name)
	}
	return download(ctx, c, a, dest, stdout, stderr)
}

// download streams an artifact to dest (a file written whole or not at
// all, or - for w) and checks its sha256.
func download(ctx context.Context, c *client, a apiArtifact, dest string, w, stderr io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/v1/artifacts/"+url.PathEscape(a.ID), nil)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the server at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("download artifact %s: %d %s", a.ID, resp.StatusCode, b)
	}
	h := sha256.New()
	if dest == "-" {
		if _, err := io.Copy(io.MultiWriter(w, h), resp.Body); err != nil {
			return err
		}
	} else {
		f, err := os.CreateTemp(filepath.Dir(dest), ".weft-artifact-*")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		if _, err := io.Copy(io.MultiWriter(f, h), resp.Body); err != nil {
			f.Close()
			return fmt.Errorf("download artifact %s: %w", a.ID, err)
		}
		if err := f.Close(); err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != a.SHA256 {
			return fmt.Errorf("artifact %s: the downloaded bytes have sha256 %s, not %s; try again", a.ID, got, a.SHA256)
		}
		if err := os.Rename(f.Name(), dest); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s (%d bytes, sha256 %s)\n", dest, a.Size, a.SHA256)
		return nil
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != a.SHA256 {
		return fmt.Errorf("artifact %s: the downloaded bytes have sha256 %s, not %s", a.ID, got, a.SHA256)
	}
	return nil
}
