package kube_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/weftlabs/weft/internal/kube"
	"github.com/weftlabs/weft/internal/pgscratch"
)

var (
	namespacesMu sync.Mutex
	namespaces   = map[string]int{}
)

// namespace creates a namespace for one test: name, or name-N when a test
// run before in this process (-count) used name.
func namespace(t testing.TB, name string) string {
	t.Helper()
	c := needCluster(t)
	namespacesMu.Lock()
	namespaces[name]++
	if n := namespaces[name]; n > 1 {
		name = fmt.Sprintf("%s-%d", name, n)
	}
	namespacesMu.Unlock()
	_, err := c.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// Finished Jobs stay an hour and their pods with them; kwok goes over
	// every pod of its node at each pass, so pods left behind slow every
	// later test's pods down.
	t.Cleanup(func() {
		_ = c.Client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// clearNamespace deletes ns and waits until its pods are gone, so that
// the tests after a large one start on an empty node (kwok goes over
// every pod of its node at each pass).
func clearNamespace(t testing.TB, ns string) {
	c := needCluster(t)
	ctx := context.Background()
	began := time.Now()
	_ = c.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	for time.Since(began) < 5*time.Minute {
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err == nil && len(pods.Items) == 0 {
			t.Logf("namespace %s cleared in %s", ns, time.Since(began).Round(time.Millisecond))
			return
		}
		time.Sleep(time.Second)
	}
	t.Logf("namespace %s: pods still there after %s", ns, time.Since(began).Round(time.Second))
}

// jobLog records every Job the API server announces in a namespace, by
// name, with each distinct UID: a Job created twice for one attempt shows
// as two UIDs under one name, or two names for one task and attempt.
type jobLog struct {
	mu       sync.Mutex
	uids     map[string]map[string]bool // name -> uids
	created  map[string]time.Time       // name -> creation as first seen
	complete map[string]time.Time       // name -> first seen Complete
	run      map[string]string          // name -> run id
	deleted  map[string]bool
	stop     func()
}

func watchJobs(t testing.TB, ns string) *jobLog {
	t.Helper()
	c := needCluster(t)
	l := &jobLog{uids: map[string]map[string]bool{}, created: map[string]time.Time{}, complete: map[string]time.Time{},
		run: map[string]string{}, deleted: map[string]bool{}}
	// An informer, not a bare watch: it lists and watches again when the
	// API server ends a watch, so no Job goes unseen.
	factory := informers.NewSharedInformerFactoryWithOptions(c.Client, 0, informers.WithNamespace(ns))
	inf := factory.Batch().V1().Jobs().Informer()
	seen := func(o any, gone bool) {
		if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
			o = d.Obj
		}
		job, ok := o.(*batchv1.Job)
		if !ok {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.uids[job.Name] == nil {
			l.uids[job.Name] = map[string]bool{}
			l.created[job.Name] = time.Now()
		}
		l.uids[job.Name][string(job.UID)] = true
		l.run[job.Name] = job.Labels[kube.LabelRun]
		for _, c := range job.Status.Conditions {
			if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue && l.complete[job.Name].IsZero() {
				l.complete[job.Name] = time.Now()
			}
		}
		if gone {
			l.deleted[job.Name] = true
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { seen(o, false) },
		UpdateFunc: func(_, o any) { seen(o, false) },
		DeleteFunc: func(o any) { seen(o, true) },
	}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var once sync.Once
	l.stop = func() { once.Do(func() { close(stop); factory.Shutdown() }) }
	factory.Start(stop)
	for _, ok := range factory.WaitForCacheSync(stop) {
		if !ok {
			t.Fatal("the Job informer did not sync")
		}
	}
	t.Cleanup(l.stop)
	return l
}

// doubled names the Jobs created more than once.
func (l *jobLog) doubled() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for name, u := range l.uids {
		if len(u) > 1 {
			out = append(out, name)
		}
	}
	return out
}

func (l *jobLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.uids)
}

func deploy(t testing.TB, base, block, flow string) {
	t.Helper()
	call(t, "PUT", base+"/api/v1/blocks", block, nil)
	call(t, "POST", base+"/api/v1/flows", flow, nil)
}

func startRun(t *testing.T, base, flow string, input any) string {
	t.Helper()
	var r run
	call(t, "POST", base+"/api/v1/flows/"+flow+"/runs", map[string]any{"input": input}, &r)
	return r.ID
}

func jobsOf(t *testing.T, ns string) []batchv1.Job {
	t.Helper()
	l, err := cluster.Client.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func oneStepFlow(name, block string) string {
	return fmt.Sprintf(`{"name": %q, "blocks": [{"ref": "train", "block": %q, "input": {"n": "${flow.input.n}"}}],
		"output": {"train": "${train.output}"}}`, name, block)
}

// A step runs as one Job with the block's requests, and succeeds with the
// JSON its container left as termination message.
func TestJobRequestsAndOutput(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "weft-ok")
	srv := startServer(t, filepath.Join(t.TempDir(), "weft.db"))
	deploy(t, srv.url(), `{"name": "k.train", "dispatch": {"kind": "kubernetes", "image": "registry.example.com/train:1.4",
		"command": ["python3", "train.py"], "args": ["--fast"], "namespace": "`+ns+`", "node_selector": {"type": "kwok"},
		"env": {"KWOK_TERMINATION_MESSAGE": "{\"r2\": 0.85, \"model\": \"ols\"}"}},
		"resources": {"cpu": 2, "memory_gb": 4, "gpu": 1}, "output_schema": {"type": "object", "required": ["r2"]}}`, oneStepFlow("k-ok", "k.train"))
	id := startRun(t, srv.url(), "k-ok", map[string]any{"n": 3})
	r := waitRun(t, srv.url(), id, 180*time.Second, "succeeded", "failed")
	if r.Status != "succeeded" {
		t.Fatalf("run %s: %+v\n%s", r.Status, r.Error, tail(srv.log))
	}
	var out struct {
		Train struct {
			R2    float64 `json:"r2"`
			Model string  `json:"model"`
		} `json:"train"`
	}
	if err := json.Unmarshal(r.Output, &out); err != nil || out.Train.R2 != 0.85 || out.Train.Model != "ols" {
		t.Fatalf("run output %s (%v), want the termination message", r.Output, err)
	}
	jobs := jobsOf(t, ns)
	if len(jobs) != 1 {
		t.Fatalf("%d Jobs, want 1", len(jobs))
	}
	job := jobs[0]
	if job.Labels[kube.LabelRun] != id || job.Labels[kube.LabelStep] != "train" || job.Labels[kube.LabelAttempt] != "1" || job.Labels[kube.LabelTask] == "" {
		t.Errorf("labels %v", job.Labels)
	}
	if job.Name != kube.JobName(job.Labels[kube.LabelTask], 1) {
		t.Errorf("Job name %s, want %s", job.Name, kube.JobName(job.Labels[kube.LabelTask], 1))
	}
	if job.Spec.BackoffLimit == nil || *job.Spec.BackoffLimit != 0 {
		t.Errorf("backoffLimit %v, want 0", job.Spec.BackoffLimit)
	}
	c := job.Spec.Template.Spec.Containers[0]
	if c.Image != "registry.example.com/train:1.4" || strings.Join(c.Command, " ") != "python3 train.py" || strings.Join(c.Args, " ") != "--fast" {
		t.Errorf("container %s %v %v", c.Image, c.Command, c.Args)
	}
	for _, rl := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
		cpu, mem, gpu := rl[corev1.ResourceCPU], rl[corev1.ResourceMemory], rl["nvidia.com/gpu"]
		if cpu.String() != "2" || mem.String() != "4Gi" || gpu.String() != "1" {
			t.Errorf("resources cpu=%s memory=%s gpu=%s, want 2, 4Gi, 1", cpu.String(), mem.String(), gpu.String())
		}
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env["WEFT_TASK_ID"] != job.Labels[kube.LabelTask] || env["WEFT_LEASE"] == "" || env["WEFT_SERVER"] != srv.url() || env["WEFT_INPUT"] != `{"n":3}` {
		t.Errorf("container env %v", env)
	}
	if c.Resources.Requests == nil || job.Status.Succeeded != 1 {
		t.Errorf("Job status %+v", job.Status)
	}
}

// A failed pod fails the attempt with its reason; the retry is a second Job.
func TestJobFailureReasonAndRetry(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "weft-fail")
	jl := watchJobs(t, ns)
	srv := startServer(t, filepath.Join(t.TempDir(), "weft.db"))
	deploy(t, srv.url(), `{"name": "k.oom", "dispatch": {"kind": "kubernetes", "image": "train:1", "namespace": "`+ns+`",
		"annotations": {"fail": "true", "fail-reason": "OOMKilled"}}, "resources": {"memory_gb": 1},
		"retry": {"max_attempts": 2, "backoff": "fixed", "initial_interval": "1s"}}`, oneStepFlow("k-oom", "k.oom"))
	id := startRun(t, srv.url(), "k-oom", map[string]any{"n": 1})
	// Two Jobs one after the other: kwok takes 5 to 60 s to play a pod
	// through its stages on this cluster (see kubetest/cluster/README.md).
	r := waitRun(t, srv.url(), id, 240*time.Second, "failed", "succeeded")
	if r.Status != "failed" {
		t.Fatalf("run %s, want failed", r.Status)
	}
	st := r.Steps[0]
	if st.Attempt != 2 || st.Error == nil || st.Error.Type != "OOMKilled" ||
		!strings.Contains(st.Error.Message, "BackoffLimitExceeded") || !strings.Contains(st.Error.Message, "OOMKilled, exit code 137") {
		t.Fatalf("step %+v error %+v, want attempt 2 failed with OOMKilled and BackoffLimitExceeded", st, st.Error)
	}
	jobs := jobsOf(t, ns)
	attempts := map[string]bool{}
	for _, j := range jobs {
		attempts[j.Labels[kube.LabelAttempt]] = true
	}
	if len(jobs) != 2 || !attempts["1"] || !attempts["2"] {
		t.Fatalf("%d Jobs for attempts %v, want one for each of 2 attempts", len(jobs), attempts)
	}
	if d := jl.doubled(); len(d) > 0 {
		t.Fatalf("Jobs created twice: %v", d)
	}
}

// A request no node can fit waits, visibly, with the scheduler's message;
// cancelling the run deletes the Job.
func TestUnschedulableThenCancel(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "weft-wait")
	srv := startServer(t, filepath.Join(t.TempDir(), "weft.db"))
	deploy(t, srv.url(), `{"name": "k.big", "dispatch": {"kind": "kubernetes", "image": "train:1", "namespace": "`+ns+`"},
		"resources": {"gpu": 9}}`, oneStepFlow("k-big", "k.big"))
	id := startRun(t, srv.url(), "k-big", map[string]any{"n": 1})
	var logs struct {
		Lines []struct{ Message, Step string } `json:"lines"`
	}
	var schedMsg string // the scheduler's message, as the log line quotes it
	waitFor(t, 60*time.Second, "the step's log to say it waits for capacity", func() (bool, string) {
		call(t, "GET", srv.url()+"/api/v1/runs/"+id+"/logs", nil, &logs)
		for _, l := range logs.Lines {
			if strings.Contains(l.Message, kube.WaitingForCapacity) && strings.Contains(l.Message, "Insufficient nvidia.com/gpu") {
				_, rest, _ := strings.Cut(l.Message, ": Job ")
				_, schedMsg, _ = strings.Cut(rest, ": ")
				return true, ""
			}
		}
		return false, fmt.Sprint(logs.Lines)
	})
	// The step itself says so, with the scheduler's message.
	waitFor(t, 30*time.Second, "the step to show it waits for capacity", func() (bool, string) {
		r := getRun(t, srv.url(), id)
		if len(r.Steps) != 1 {
			return false, fmt.Sprint(r.Steps)
		}
		d := r.Steps[0].Detail
		return strings.HasPrefix(d, kube.WaitingForCapacity) && strings.Contains(d, "Insufficient nvidia.com/gpu") && strings.Contains(d, schedMsg), d
	})
	if r := getRun(t, srv.url(), id); r.Status != "running" || r.Steps[0].Status != "running" {
		t.Fatalf("run %s step %s, want both running while the Job waits", r.Status, r.Steps[0].Status)
	}
	jobs := jobsOf(t, ns)
	if len(jobs) != 1 {
		t.Fatalf("%d Jobs, want 1", len(jobs))
	}
	call(t, "POST", srv.url()+"/api/v1/runs/"+id+"/cancel", "{}", nil)
	waitRun(t, srv.url(), id, 30*time.Second, "cancelled")
	waitFor(t, 60*time.Second, "the Job to be deleted", func() (bool, string) {
		_, err := cluster.Client.BatchV1().Jobs(ns).Get(context.Background(), jobs[0].Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}

// A Job deleted outside Weft fails its step with that reason.
func TestJobDeletedOutsideWeft(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "weft-gone")
	srv := startServer(t, filepath.Join(t.TempDir(), "weft.db"))
	deploy(t, srv.url(), `{"name": "k.gone", "dispatch": {"kind": "kubernetes", "image": "train:1", "namespace": "`+ns+`"},
		"resources": {"gpu": 9}}`, oneStepFlow("k-gone", "k.gone"))
	id := startRun(t, srv.url(), "k-gone", map[string]any{"n": 1})
	var jobs []batchv1.Job
	waitFor(t, 60*time.Second, "the Job", func() (bool, string) {
		jobs = jobsOf(t, ns)
		return len(jobs) == 1, fmt.Sprint(len(jobs))
	})
	bg := metav1.DeletePropagationBackground
	if err := cluster.Client.BatchV1().Jobs(ns).Delete(context.Background(), jobs[0].Name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
		t.Fatal(err)
	}
	r := waitRun(t, srv.url(), id, 60*time.Second, "failed")
	if e := r.Steps[0].Error; e == nil || e.Type != "JobDeleted" || !strings.Contains(e.Message, "deleted outside Weft") {
		t.Fatalf("step error %+v", e)
	}
}

// A server killed with SIGKILL while its Jobs run: the restarted server
// adopts them; no Job is created twice and every step finishes once, at
// its first attempt. A task the killed server had claimed but not yet made
// a Job for is given back by the restarted server at once (the claim
// carries its worker id, the same after a restart), not left to its
// lease.
func TestKill9WhileJobsRun(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "weft-crash")
	jl := watchJobs(t, ns)
	db := filepath.Join(t.TempDir(), "weft.db")
	srv := startServer(t, db)
	// A lease far longer than the test: a step that waits for its lease
	// to lapse fails the test by its time limit.
	deploy(t, srv.url(), `{"name": "k.crash", "dispatch": {"kind": "kubernetes", "image": "train:1", "namespace": "`+ns+`",
		"env": {"KWOK_TERMINATION_MESSAGE": "{\"ok\": true}"}}, "resources": {"cpu": 0.5}, "heartbeat_timeout": "10m"}`, oneStepFlow("k-crash", "k.crash"))
	const n = 20
	ids := make([]string, n)
	for i := range ids {
		ids[i] = startRun(t, srv.url(), "k-crash", map[string]any{"n": i})
	}
	waitFor(t, 60*time.Second, "some Jobs to be created", func() (bool, string) {
		return jl.count() >= 5, fmt.Sprint(jl.count())
	})
	srv.kill9()
	before := jl.count()
	srv.start()
	for _, id := range ids {
		r := waitRun(t, srv.url(), id, 180*time.Second, "succeeded", "failed")
		if r.Status != "succeeded" || r.Steps[0].Attempt != 1 || len(r.Steps[0].Attempts) != 1 {
			t.Fatalf("run %s: %s, step attempt %d: %s; want succeeded at attempt 1\n%s", id, r.Status, r.Steps[0].Attempt, describe(r.Steps[0]), tail(srv.log))
		}
	}
	if d := jl.doubled(); len(d) > 0 {
		t.Fatalf("Jobs created twice: %v", d)
	}
	if c := jl.count(); c != n {
		t.Fatalf("%d Jobs for %d steps", c, n)
	}
	t.Logf("%d of %d Jobs existed when the server was killed; %d claims without a Job were given back on restart",
		before, n, strings.Count(readFile(t, srv.log), "claim without a Job given back"))
}

// Two servers on one PostgreSQL dispatch 200 Job steps; none is doubled.
func TestTwoReplicas200Jobs(t *testing.T) {
	needCluster(t)
	m := dispatchMany(t, "weft-replicas", 200, 2)
	t.Logf("%d Job steps on 2 replicas in %s: %.1f steps/s; scheduled -> Job created p50 %s p95 %s; Job complete -> step succeeded p50 %s p95 %s; Job created -> complete (the cluster) p50 %s",
		m.n, m.wall.Round(time.Millisecond), float64(m.n)/m.wall.Seconds(), m.toCreated.p(50), m.toCreated.p(95), m.toSucceeded.p(50), m.toSucceeded.p(95), m.inCluster.p(50))
}

// BenchmarkJobSteps200 measures 200 parallel Job steps on two replicas
// sharing one PostgreSQL: steps per second, the time from a step scheduled
// to its Job created, and from its Job complete to the step succeeded.
func BenchmarkJobSteps200(b *testing.B) {
	needCluster(b)
	for i := 0; i < b.N; i++ {
		m := dispatchMany(b, fmt.Sprintf("weft-bench-%d", i), 200, 2)
		b.ReportMetric(float64(m.n)/m.wall.Seconds(), "steps/s")
		b.ReportMetric(float64(m.toCreated.p(50).Milliseconds()), "created-p50-ms")
		b.ReportMetric(float64(m.toCreated.p(95).Milliseconds()), "created-p95-ms")
		b.ReportMetric(float64(m.toSucceeded.p(50).Milliseconds()), "succeeded-p50-ms")
		b.ReportMetric(float64(m.toSucceeded.p(95).Milliseconds()), "succeeded-p95-ms")
		b.ReportMetric(float64(m.inCluster.p(50).Milliseconds()), "job-run-p50-ms")
	}
}

type durations []time.Duration

func (d durations) p(q int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append(durations(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*q/100]
}

type manyResult struct {
	n                      int
	wall                   time.Duration
	toCreated, toSucceeded durations
	inCluster              durations // Job created -> Job complete: the cluster's own time
}

// dispatchMany starts n one-step runs of a Job block across replicas
// servers on one PostgreSQL and waits for all; it fails when a step did
// not succeed at its first attempt or a Job was created twice.
func dispatchMany(t testing.TB, ns string, n, replicas int) manyResult {
	ns = namespace(t, ns)
	jl := watchJobs(t, ns)
	db := pgscratch.ForTest(t, "weft_kube")
	var srvs []*server
	for range replicas {
		srvs = append(srvs, startServer(t, db))
	}
	deploy(t, srvs[0].url(), `{"name": "k.many", "dispatch": {"kind": "kubernetes", "image": "train:1", "namespace": "`+ns+`",
		"env": {"KWOK_TERMINATION_MESSAGE": "{\"ok\": true}"}}, "resources": {"cpu": 0.1}}`, oneStepFlow("k-many", "k.many"))
	began := time.Now()
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r run
			if err := try("POST", srvs[i%replicas].url()+"/api/v1/flows/k-many/runs", map[string]any{"input": map[string]any{"n": i}}, &r); err != nil {
				t.Error(err)
			}
			ids[i] = r.ID
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	runs := map[string]run{}
	for _, id := range ids {
		r := waitRun(t, srvs[0].url(), id, 600*time.Second, "succeeded", "failed")
		if r.Status != "succeeded" || len(r.Steps[0].Attempts) != 1 {
			t.Fatalf("run %s: %s with %d attempts", id, r.Status, len(r.Steps[0].Attempts))
		}
		runs[id] = r
	}
	m := manyResult{n: n, wall: time.Since(began)}
	defer clearNamespace(t, ns)
	if d := jl.doubled(); len(d) > 0 {
		t.Fatalf("Jobs created twice: %v", d)
	}
	if c := jl.count(); c != n {
		t.Fatalf("%d Jobs for %d steps", c, n)
	}
	jl.mu.Lock()
	defer jl.mu.Unlock()
	for name, runID := range jl.run {
		r := runs[runID]
		st := r.Steps[0]
		if st.CreatedAt.IsZero() || st.FinishedAt == nil || jl.complete[name].IsZero() {
			t.Fatalf("run %s: step times %v %v, Job %s complete at %v", runID, st.CreatedAt, st.FinishedAt, name, jl.complete[name])
		}
		m.toCreated = append(m.toCreated, jl.created[name].Sub(st.CreatedAt))
		m.toSucceeded = append(m.toSucceeded, st.FinishedAt.Sub(jl.complete[name]))
		m.inCluster = append(m.inCluster, jl.complete[name].Sub(jl.created[name]))
	}
	return m
}
