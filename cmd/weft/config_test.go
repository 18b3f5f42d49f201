package main

import (
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSettingsPrecedence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kv := filepath.Join(dir, "weft.conf")
	os.WriteFile(kv, []byte("# comment\naddr = 0.0.0.0:9000\ndb = file.db\nauth=on\nload = a, b\n"), 0o600)
	js := filepath.Join(dir, "weft.json")
	os.WriteFile(js, []byte(`{"addr": "127.0.0.1:7000", "max-body": 1024, "load": ["x", "y"]}`), 0o600)

	parseWith := func(args []string, env map[string]string) (*serveOptions, error) {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		o := serveFlags(fs)
		return o, settings(fs, args, func(k string) string { return env[k] })
	}
	o, err := parseWith([]string{"--config", kv, "--addr", "127.0.0.1:1"}, map[string]string{"WEFT_DB": "env.db"})
	if err != nil {
		t.Fatal(err)
	}
	if o.addr != "127.0.0.1:1" || o.db != "env.db" || o.auth != "on" || !reflect.DeepEqual([]string(o.load), []string{"a", "b"}) {
		t.Fatalf("flag > env > file: got addr=%s db=%s auth=%s load=%v", o.addr, o.db, o.auth, o.load)
	}
	o, err = parseWith(nil, map[string]string{"WEFT_CONFIG": js, "WEFT_PUBLIC_URL": "http://me"})
	if err != nil {
		t.Fatal(err)
	}
	if o.addr != "127.0.0.1:7000" || o.maxBody != 1024 || o.publicURL != "http://me" || o.db != "weft.db" || len(o.load) != 2 {
		t.Fatalf("json file + env: got %+v", o)
	}
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte("adrr = x\n"), 0o600)
	if _, err := parseWith([]string{"--config", bad}, nil); err == nil || !strings.Contains(err.Error(), `"adrr"`) {
		t.Fatalf("unknown key error = %v", err)
	}
	if _, err := parseWith(nil, map[string]string{"WEFT_MAX_BODY": "lots"}); err == nil || !strings.Contains(err.Error(), "WEFT_MAX_BODY") {
		t.Fatalf("bad env error = %v, want it to name WEFT_MAX_BODY", err)
	}
}

func TestAuthMode(t *testing.T) {
	t.Parallel()
	lo := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 8080}
	any := &net.TCPAddr{IP: net.ParseIP("0.0.0.0"), Port: 8080}
	tests := []struct {
		mode   string
		addr   net.Addr
		tokens int
		want   bool
	}{
		{"auto", lo, 0, false}, {"auto", lo, 1, true}, {"auto", any, 0, true},
		{"on", lo, 0, true}, {"off", any, 3, false}, {"", lo, 0, false},
	}
	for _, tt := range tests {
		got, reason, err := authMode(tt.mode, tt.addr, tt.tokens)
		if err != nil || got != tt.want || reason == "" {
			t.Errorf("authMode(%q, %s, %d) = %v, %q, %v; want %v", tt.mode, tt.addr, tt.tokens, got, reason, err, tt.want)
		}
	}
	if _, _, err := authMode("maybe", lo, 0); err == nil {
		t.Error("authMode accepted mode maybe")
	}
}

func TestReorderAndHelpers(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.String("input", "", "")
	fs.Bool("wait", false, "")
	got := reorder([]string{"flow1", "--input", `{"a":1}`, "--wait", "--x=1"}, fs)
	want := []string{"--input", `{"a":1}`, "--wait", "--x=1", "flow1"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("reorder = %q, want %q", got, want)
	}
	if u := publicURLFor(&net.TCPAddr{IP: net.ParseIP("0.0.0.0"), Port: 81}); u != "http://127.0.0.1:81" {
		t.Fatalf("publicURLFor = %s", u)
	}
	if r := redactDSN("postgres://u:secret@h:5432/db"); strings.Contains(r, "secret") {
		t.Fatalf("redactDSN = %s", r)
	}
}
