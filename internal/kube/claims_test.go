package kube_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/internal/store"
)

// describe is a step's attempts with their errors, for failure messages.
func describe(st step) string {
	var b strings.Builder
	for _, a := range st.Attempts {
		fmt.Fprintf(&b, "[attempt %d %s", a.Number, a.Status)
		if a.Error != nil {
			fmt.Fprintf(&b, ": %s (%s)", a.Error.Message, a.Error.Type)
		}
		b.WriteString("] ")
	}
	return b.String()
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A claim made for a Kubernetes step that never got its Job (the server
// died between the two) is given back, and the step runs once, as its
// first attempt, with one Job: at once by the same server restarted (the
// claim is under its own worker id), and after --kube-claim-grace by
// another server.
func TestLostClaimGivenBack(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, worker string
		grace        time.Duration
	}{
		{"same server restarted", "", 0},
		{"another server", "kube-dispatch@gone-host:8080", 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := namespace(t, "weft-lost-"+strings.Fields(tc.name)[0])
			jl := watchJobs(t, ns)
			db := filepath.Join(t.TempDir(), "weft.db")
			// First without a cluster: nothing dispatches the step, so the
			// claim below is the only one.
			addr := freeAddr(t)
			srv := &server{t: t, addr: addr, log: filepath.Join(t.TempDir(), "server.log"),
				args: []string{"serve", "--db", db, "--addr", addr, "--log-level", "info"}}
			srv.start()
			t.Cleanup(srv.stop)
			deploy(t, srv.url(), `{"name": "k.lost", "dispatch": {"kind": "kubernetes", "image": "train:1", "namespace": "`+ns+`",
				"env": {"KWOK_TERMINATION_MESSAGE": "{\"ok\": true}"}}, "heartbeat_timeout": "10m"}`, oneStepFlow("k-lost", "k.lost"))
			id := startRun(t, srv.url(), "k-lost", map[string]any{"n": 1})
			worker := tc.worker
			if worker == "" {
				_, port, _ := strings.Cut(addr, ":")
				worker = "kube-dispatch@" + host + ":" + port
			}
			srv.stop()
			// Claim the step as that dispatcher would, then let it go
			// (workers may not poll a kube: queue through the API).
			st, err := store.Open(context.Background(), db, nil)
			if err != nil {
				t.Fatal(err)
			}
			tasks, err := engine.New(engine.Config{}, st, nil).Poll(context.Background(), engine.PollParams{WorkerID: worker, Queues: []string{"kube:k.lost"}, Max: 1})
			st.Close()
			if err != nil || len(tasks) != 1 {
				t.Fatalf("claimed %d tasks (%v), want 1", len(tasks), err)
			}
			srv.args = append(srv.args, "--kubeconfig", cluster.Kubeconfig, "--kube-pod-logs=false",
				"--kube-claim-grace", strconv.Itoa(int(tc.grace.Seconds()))+"s")
			began := time.Now()
			srv.start()
			r := waitRun(t, srv.url(), id, 180*time.Second, "succeeded", "failed")
			if r.Status != "succeeded" || r.Steps[0].Attempt != 1 || len(r.Steps[0].Attempts) != 1 {
				t.Fatalf("run %s: %s at attempt %d: %s; want succeeded at attempt 1\n%s", id, r.Status, r.Steps[0].Attempt, describe(r.Steps[0]), tail(srv.log))
			}
			if c, d := jl.count(), jl.doubled(); c != 1 || len(d) > 0 {
				t.Fatalf("%d Jobs (doubled: %v), want 1", c, d)
			}
			log := readFile(t, srv.log)
			if !strings.Contains(log, "claim without a Job given back") || !strings.Contains(log, worker) {
				t.Fatalf("the server's log does not say it gave back the claim of %s:\n%s", worker, tail(srv.log))
			}
			t.Logf("claim of %s given back; run succeeded %s after the restart", worker, time.Since(began).Round(time.Millisecond))
		})
	}
}
