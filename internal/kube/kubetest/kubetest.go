// Package kubetest starts the real Kubernetes control plane of cluster/ (an
// API server, scheduler and controller-manager built from source, etcd, and
// kwok with one fake node) for tests, and stops it.
package kubetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Cluster is a running test control plane.
type Cluster struct {
	Dir        string
	Kubeconfig string
	Client     kubernetes.Interface
	script     string
}

// ScriptDir is the folder of build.sh, up.sh and down.sh.
func ScriptDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "cluster")
}

// BinDir is where build.sh puts the binaries.
func BinDir() string {
	if d := os.Getenv("K8S_TEST_BIN"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "weft-k8s", "bin")
}

// Missing names the first binary up.sh needs that is not built, or "".
func Missing() string {
	for _, b := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		if st, err := os.Stat(filepath.Join(BinDir(), b)); err != nil || st.Mode()&0o111 == 0 {
			return filepath.Join(BinDir(), b)
		}
	}
	return ""
}

// Start runs up.sh in a new folder with the API server on port and etcd on
// etcdPort (each test package picks its own, so packages may run at once).
func Start(port, etcdPort int) (*Cluster, error) {
	if m := Missing(); m != "" {
		return nil, fmt.Errorf("%s is missing: run %s/build.sh", m, ScriptDir())
	}
	dir, err := os.MkdirTemp("", "weft-kube-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig"), script: ScriptDir()}
	cmd := exec.Command("bash", filepath.Join(c.script, "up.sh"), dir)
	cmd.Env = append(os.Environ(), "K8S_PORT="+strconv.Itoa(port), "K8S_ETCD_PORT="+strconv.Itoa(etcdPort))
	if out, err := cmd.CombinedOutput(); err != nil {
		c.Stop()
		return nil, fmt.Errorf("up.sh: %v\n%s", err, out)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		c.Stop()
		return nil, err
	}
	rc.QPS, rc.Burst = 200, 400
	if c.Client, err = kubernetes.NewForConfig(rc); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// Stop runs down.sh and removes the folder.
func (c *Cluster) Stop() {
	_ = exec.Command("bash", filepath.Join(c.script, "down.sh"), c.Dir).Run()
	_ = os.RemoveAll(c.Dir)
}
