package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/weftlabs/weft/internal/kube"
)

// kubeOptions are weft serve's settings for Kubernetes blocks.
type kubeOptions struct {
	kubeconfig     string
	inCluster      bool
	namespace      string
	watchNamespace string
	serverURL      string
	podLogs        bool
	maxJobs        int
	claimGrace     time.Duration
}

func kubeFlags(fs *flag.FlagSet) *kubeOptions {
	o := &kubeOptions{}
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "run kubernetes blocks as Jobs on the cluster of this kubeconfig file (default $KUBECONFIG)")
	fs.BoolVar(&o.inCluster, "kube-in-cluster", false, "run kubernetes blocks as Jobs on the cluster this server runs in (its pod's service account)")
	fs.StringVar(&o.namespace, "kube-namespace", "", "namespace of the Jobs of blocks without dispatch.namespace (default: the pod's namespace in a cluster, else \"default\")")
	fs.StringVar(&o.watchNamespace, "kube-watch-namespace", "", "follow Jobs in this namespace only (default: every namespace, which needs a ClusterRole)")
	fs.StringVar(&o.serverURL, "kube-server-url", "", "the server's address as Job containers see it, given as WEFT_SERVER (default --public-url)")
	fs.BoolVar(&o.podLogs, "kube-pod-logs", true, "copy a finished Job's pod log to the step's log")
	fs.IntVar(&o.maxJobs, "kube-max-jobs", 1000, "Jobs one server creates and follows at most")
	fs.DurationVar(&o.claimGrace, "kube-claim-grace", 2*time.Minute, "how old another server's claim of a kubernetes step must be, with no Job made for it, before this server gives it back (that server died between the claim and the Job)")
	return o
}

// kubeConfig answers the dispatcher's settings, or nil when no cluster is
// configured (kubernetes blocks then wait for a server that has one).
func (o *kubeOptions) kubeConfig(getenv func(string) string, publicURL string) (*kube.Config, error) {
	var rc *rest.Config
	var err error
	path := o.kubeconfig
	if path == "" {
		path = getenv("KUBECONFIG")
	}
	ns := o.namespace
	switch {
	case o.inCluster:
		rc, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("--kube-in-cluster: %w", err)
		}
		if ns == "" {
			if b, rerr := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); rerr == nil {
				ns = string(b)
			}
		}
	case path != "":
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: path}, &clientcmd.ConfigOverrides{}).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("--kubeconfig %s: %w", path, err)
		}
	default:
		return nil, nil
	}
	rc.QPS, rc.Burst = 100, 200
	rc.UserAgent = "weft"
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	server := o.serverURL
	if server == "" {
		server = publicURL
	}
	return &kube.Config{Client: cs, Namespace: ns, WatchNamespace: o.watchNamespace, ServerURL: server,
		PodLogs: o.podLogs, MaxJobs: o.maxJobs, ClaimGrace: o.claimGrace}, nil
}

// kubeWorkerID names this server's Kubernetes dispatcher in attempts: the
// host and the listen port, so that a server restarted on the same host
// and address knows the claims it made before (and gives back those it
// had not made a Job for yet), and two servers on one host differ.
func kubeWorkerID(addr net.Addr) string {
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	port := addr.String()
	if ta, ok := addr.(*net.TCPAddr); ok {
		port = strconv.Itoa(ta.Port)
	}
	return kube.WorkerPrefix + "@" + host + ":" + port
}
