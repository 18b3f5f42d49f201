package kube_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weftlabs/weft/internal/kube/kubetest"
)

// The package's tests share one control plane, on ports of their own
// (WEFT_TEST_K8S_PORT moves the API server's, and etcd's with it, for a
// second checkout testing on the same machine).
var apiPort, etcdPort = 16443, 26790

func init() {
	if p, err := strconv.Atoi(os.Getenv("WEFT_TEST_K8S_PORT")); err == nil && p > 0 && p < 55000 {
		apiPort, etcdPort = p, p+10000
	}
}

var (
	cluster    *kubetest.Cluster
	clusterErr error
	weftBin    string
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := func() int {
		if testing.Short() {
			return m.Run()
		}
		cluster, clusterErr = kubetest.Start(apiPort, etcdPort)
		if clusterErr == nil {
			defer cluster.Stop()
			dir, err := os.MkdirTemp("", "weft-kube-bin-")
			if err != nil {
				clusterErr = err
			} else {
				defer os.RemoveAll(dir)
				weftBin = filepath.Join(dir, "weft")
				cmd := exec.Command("go", "build", "-o", weftBin, "./cmd/weft")
				cmd.Dir = filepath.Join("..", "..")
				cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
				if out, err := cmd.CombinedOutput(); err != nil {
					clusterErr = fmt.Errorf("go build ./cmd/weft: %v\n%s", err, out)
				}
			}
		} else {
			fmt.Fprintf(os.Stderr, "\n*** Kubernetes test cluster unavailable: %v\n*** the tests that need it will skip (fail under CI=true)\n\n", clusterErr)
		}
		return m.Run()
	}()
	os.Exit(code)
}

// needCluster fails under CI=true and skips otherwise when the control
// plane could not start.
func needCluster(t testing.TB) *kubetest.Cluster {
	t.Helper()
	if cluster != nil && clusterErr == nil {
		return cluster
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("the Kubernetes test cluster is required under CI=true: %v", clusterErr)
	}
	t.Skipf("SKIP: no Kubernetes test cluster: %v", clusterErr)
	return nil
}

// server is one `weft serve` process dispatching to the test cluster.
type server struct {
	t    testing.TB
	args []string
	addr string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startServer(t testing.TB, db string, extra ...string) *server {
	t.Helper()
	addr := freeAddr(t)
	s := &server{t: t, addr: addr, log: filepath.Join(t.TempDir(), "server.log"),
		args: append([]string{"serve", "--db", db, "--addr", addr, "--kubeconfig", cluster.Kubeconfig,
			"--kube-pod-logs=false", "--log-level", "info"}, extra...)}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) url() string { return "http://" + s.addr }

func (s *server) start() {
	s.t.Helper()
	f, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(weftBin, s.args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); f.Close(); close(s.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.url() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-s.done:
			s.t.Fatalf("weft serve exited:\n%s", tail(s.log))
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("weft serve not ready:\n%s", tail(s.log))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) kill9() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.cmd = nil
}

func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// call sends a JSON request and decodes the answer into out.
func call(t testing.TB, method, url string, body any, out any) {
	t.Helper()
	if err := try(method, url, body, out); err != nil {
		t.Fatal(err)
	}
}

func try(method, url string, body any, out any) error {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequestWithContext(context.Background(), method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

type run struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Output json.RawMessage
	Error  *struct{ Message, Type string }
	Steps  []step `json:"steps"`
}

type step struct {
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Path       string     `json:"path"`
	Status     string     `json:"status"`
	Detail     string     `json:"status_detail"`
	Attempt    int        `json:"attempt"`
	Output     json.RawMessage
	Error      *struct{ Message, Type string }
	Attempts   []struct {
		Number int    `json:"number"`
		Status string `json:"status"`
		Error  *struct{ Message, Type string }
	} `json:"attempts"`
}

func getRun(t testing.TB, base, id string) run {
	t.Helper()
	var r run
	call(t, "GET", base+"/api/v1/runs/"+id, nil, &r)
	return r
}

func waitFor(t testing.TB, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s; last state: %s", within, what, last)
}

func waitRun(t testing.TB, base, id string, within time.Duration, statuses ...string) run {
	t.Helper()
	var r run
	waitFor(t, within, "run "+id+" to be "+strings.Join(statuses, " or "), func() (bool, string) {
		r = getRun(t, base, id)
		for _, s := range statuses {
			if r.Status == s {
				return true, ""
			}
		}
		b, _ := json.Marshal(r)
		return false, string(b)
	})
	return r
}
