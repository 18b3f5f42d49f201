// Package weedtest starts a real S3-compatible server, SeaweedFS, for the
// tests of the artifact store's S3 implementation. The binary is built by
// scripts/seaweedfs.sh into ~/.cache/weft/weed (or $WEFT_WEED). Without it
// a test fails under CI=true and is skipped loudly otherwise.
package weedtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weftlabs/weft/internal/artifact"
)

// Credentials the server is started with.
const (
	AccessKey = "weft-test"
	SecretKey = "weft-test-secret"
)

// Binary is where the weed binary is looked for.
func Binary() string {
	if p := os.Getenv("WEFT_WEED"); p != "" {
		return p
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "weft", "weed")
}

var (
	once     sync.Once
	endpoint string
	startErr error
)

// Endpoint starts SeaweedFS once per test process (it dies with the
// process) and answers its S3 address, http://127.0.0.1:PORT.
func Endpoint(tb testing.TB) string {
	tb.Helper()
	bin := Binary()
	if _, err := os.Stat(bin); err != nil {
		msg := fmt.Sprintf("SeaweedFS is not built at %s: run scripts/seaweedfs.sh (or set WEFT_WEED)", bin)
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip("SKIPPING S3 TESTS: " + msg)
	}
	once.Do(func() { endpoint, startErr = start(bin) })
	if startErr != nil {
		tb.Fatalf("start SeaweedFS: %v", startErr)
	}
	return endpoint
}

// Config is an S3Config for the test server's one bucket under prefix (a
// bucket is a SeaweedFS collection with volumes of its own, so tests share
// one bucket and keep apart by prefix).
func Config(tb testing.TB, prefix string) artifact.S3Config {
	tb.Helper()
	return artifact.S3Config{Endpoint: Endpoint(tb), Region: "us-east-1", Bucket: "weft-test", Prefix: prefix,
		AccessKey: AccessKey, SecretKey: SecretKey}
}

// freePort finds a loopback port p with p+10000 free too (SeaweedFS puts
// its gRPC ports there).
func freePort(taken map[int]bool) (int, error) {
	for try := 0; try < 200; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if p+10000 > 65535 || taken[p] || taken[p+10000] {
			continue
		}
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000))
		if err != nil {
			continue
		}
		l2.Close()
		taken[p], taken[p+10000] = true, true
		return p, nil
	}
	return 0, fmt.Errorf("no free loopback port pair")
}

// start runs SeaweedFS on free loopback ports, trying again on others
// when it exits early (a port taken between the choice and the bind).
func start(bin string) (string, error) {
	var err error
	for try := 0; try < 3; try++ {
		var ep string
		if ep, err = startOnce(bin); err == nil {
			return ep, nil
		}
	}
	return "", err
}

func startOnce(bin string) (string, error) {
	removeStale()
	dir, err := os.MkdirTemp("", "weft-weed-")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return "", err
	}
	taken := map[int]bool{}
	ports := make([]int, 4)
	for i := range ports {
		if ports[i], err = freePort(taken); err != nil {
			return "", err
		}
	}
	cfg := filepath.Join(dir, "s3.json")
	ident := fmt.Sprintf(`{"identities": [{"name": "weft", "credentials": [{"accessKey": %q, "secretKey": %q}],
"actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}`, AccessKey, SecretKey)
	if err := os.WriteFile(cfg, []byte(ident), 0o600); err != nil {
		return "", err
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "server", "-dir="+data, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-master.port="+strconv.Itoa(ports[0]), "-volume.port="+strconv.Itoa(ports[1]),
		"-filer", "-filer.port="+strconv.Itoa(ports[2]),
		"-s3", "-s3.port="+strconv.Itoa(ports[3]), "-s3.config="+cfg,
		"-master.volumeSizeLimitMB=512", "-volume.max=100")
	logf, err := os.Create(filepath.Join(dir, "weed.log"))
	if err != nil {
		return "", err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("%s: %w", bin, err)
	}
	ep := "http://127.0.0.1:" + strconv.Itoa(ports[3])
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case err := <-exited:
			return "", fmt.Errorf("SeaweedFS exited before answering (%v); log: %s", err, logf.Name())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := artifact.OpenS3(ctx, artifact.S3Config{Endpoint: ep, Region: "us-east-1", Bucket: "weft-test",
			AccessKey: AccessKey, SecretKey: SecretKey})
		cancel()
		if err == nil {
			return ep, nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return "", fmt.Errorf("SeaweedFS not answering on %s after 90s (log: %s): %v", ep, logf.Name(), err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// removeStale deletes the folders of servers whose test process is gone
// (the server dies with it, its data stays behind).
func removeStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "weft-weed-*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(string(b))
		if err != nil || syscall.Kill(pid, 0) == nil {
			continue
		}
		os.RemoveAll(d)
	}
}
