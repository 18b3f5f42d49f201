package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// settings fills a command's flags from, in order of precedence, the
// command line, WEFT_* environment variables (WEFT_PUBLIC_URL for
// --public-url) and a config file (--config or WEFT_CONFIG), then the
// flag's default. The config file is either a JSON object or lines of
// key = value (# starts a comment); keys are flag names.
func settings(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	var cfgPath string
	if fs.Lookup("config") == nil {
		fs.StringVar(&cfgPath, "config", "", "config file: JSON object or key = value lines (env WEFT_CONFIG)")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage // the flag package printed the problem
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if f := fs.Lookup("config"); f != nil {
		cfgPath = f.Value.String()
	}
	if cfgPath == "" {
		cfgPath = getenv("WEFT_CONFIG")
	}
	file := map[string]string{}
	if cfgPath != "" {
		b, err := os.ReadFile(cfgPath)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		if file, err = parseConfig(b); err != nil {
			return fmt.Errorf("config file %s: %w", cfgPath, err)
		}
		for k := range file {
			if fs.Lookup(k) == nil && !globalKey(k) {
				return fmt.Errorf("config file %s: unknown setting %q for weft %s", cfgPath, k, fs.Name())
			}
		}
	}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] || f.Name == "config" {
			return
		}
		src, v, ok := "", "", false
		if v = getenv(envName(f.Name)); v != "" {
			src, ok = "environment variable "+envName(f.Name), true
		} else if v, ok = file[f.Name]; ok {
			src = "config file " + cfgPath
		}
		if !ok {
			return
		}
		if e := setValue(f, v); e != nil {
			err = fmt.Errorf("%s: %s: %w", src, f.Name, e)
		}
	})
	return err
}

// globalKey names settings that some commands do not take but a shared
// config file may hold.
func globalKey(k string) bool {
	switch k {
	case "db", "addr", "server", "token", "auth", "public-url", "load", "retention", "max-body", "max-log",
		"dispatch-concurrency", "log-level", "log-format":
		return true
	}
	return false
}

// setValue sets f from a text; list flags take comma-separated values.
func setValue(f *flag.Flag, v string) error {
	if _, ok := f.Value.(*listFlag); ok {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				if err := f.Value.Set(part); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return f.Value.Set(v)
}

// envName is the environment variable of a flag: WEFT_ + upper snake case.
func envName(flagName string) string {
	return "WEFT_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseConfig reads a JSON object or key = value lines.
func parseConfig(b []byte) (map[string]string, error) {
	out := map[string]string{}
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		var m map[string]any
		if err := json.Unmarshal(t, &m); err != nil {
			return nil, fmt.Errorf("not valid JSON: %w", err)
		}
		for k, v := range m {
			switch x := v.(type) {
			case string:
				out[k] = x
			case float64:
				out[k] = strconv.FormatFloat(x, 'f', -1, 64)
			case bool:
				out[k] = strconv.FormatBool(x)
			case []any:
				var parts []string
				for _, e := range x {
					parts = append(parts, fmt.Sprint(e))
				}
				out[k] = strings.Join(parts, ",")
			default:
				return nil, fmt.Errorf("setting %q must be a string, number, boolean or list", k)
			}
		}
		return out, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: write key = value", n)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		v = strings.Trim(v, `"`)
		if k == "" {
			return nil, fmt.Errorf("line %d: the key is empty", n)
		}
		out[k] = v
	}
	return out, sc.Err()
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

// Set appends one value.
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// usage prints a command's synopsis and flags, sorted.
func usage(fs *flag.FlagSet, synopsis, about string) func() {
	return func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: weft %s\n\n%s\n\nflags (also WEFT_<FLAG> environment variables and --config file keys):\n", synopsis, about)
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		sort.Strings(names)
		for _, n := range names {
			f := fs.Lookup(n)
			def := ""
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" {
				def = " (default " + f.DefValue + ")"
			}
			fmt.Fprintf(w, "  --%s\n        %s%s\n", n, f.Usage, def)
		}
	}
}
