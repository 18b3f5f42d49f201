package kube_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/flows"
	"github.com/weftlabs/weft/internal/kube"
	"github.com/weftlabs/weft/internal/store"
	weftserver "github.com/weftlabs/weft/server"
)

// With client-go's fake clientset standing in for the API server (these
// cases need states the test control plane cannot produce: a failing
// image pull, an API server that refuses connections), and the real
// engine on a SQLite file.
type fakeBundle struct {
	st  *store.Store
	eng *engine.Engine
	cs  *fake.Clientset
	d   *kube.Dispatcher
}

func setupFake(t *testing.T, cs *fake.Clientset, cfg kube.Config) *fakeBundle {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "weft.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Config{}, st, nil)
	engDone := make(chan struct{})
	go func() { defer close(engDone); eng.Run(ctx) }()
	cfg.Client, cfg.Logs, cfg.PollWait = cs, st, 2*time.Second
	cfg.Backoff, cfg.MaxBackoff = 50*time.Millisecond, 200*time.Millisecond
	d := kube.New(cfg, eng, st)
	dDone := make(chan struct{})
	go func() { defer close(dDone); d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-dDone
		<-engDone
		st.Close()
	})
	return &fakeBundle{st: st, eng: eng, cs: cs, d: d}
}

func (b *fakeBundle) deploy(t *testing.T, name, dispatchExtra, blockExtra string) {
	t.Helper()
	ctx := context.Background()
	raw := fmt.Sprintf(`{"name": %q, "dispatch": {"kind": "kubernetes", "image": "train:1", "namespace": "ml"%s}%s}`, name, dispatchExtra, blockExtra)
	def, err := weftserver.ParseBlock([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.st.PutBlock(ctx, def, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	b.d.BlockStored(def)
	bp, err := flows.Parse([]byte(fmt.Sprintf(`{"name": "f-%s", "blocks": [{"ref": "s", "block": %q, "input": {"x": "${flow.input.x}"}}],
		"output": {"got": "${s.output}"}}`, name, name)), b.st)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.st.PutFlow(ctx, bp); err != nil {
		t.Fatal(err)
	}
}

func (b *fakeBundle) start(t *testing.T, flow string, input string) string {
	t.Helper()
	run, _, err := b.eng.StartRun(context.Background(), engine.StartParams{Flow: flow, Input: json.RawMessage(input), Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return run.ID
}

func (b *fakeBundle) waitJob(t *testing.T) *batchv1.Job {
	t.Helper()
	var job *batchv1.Job
	waitFor(t, 20*time.Second, "a Job", func() (bool, string) {
		l, err := b.cs.BatchV1().Jobs("ml").List(context.Background(), metav1.ListOptions{})
		if err != nil || len(l.Items) == 0 {
			return false, fmt.Sprint(err)
		}
		job = &l.Items[0]
		return true, ""
	})
	return job
}

func (b *fakeBundle) waitRun(t *testing.T, id string) engine.Run {
	t.Helper()
	var r engine.Run
	waitFor(t, 20*time.Second, "run "+id+" to finish", func() (bool, string) {
		var err error
		r, err = b.eng.GetRun(context.Background(), id, true)
		return err == nil && r.Status.Finished(), fmt.Sprint(r.Status, err)
	})
	return r
}

// podFor creates the pod the Job controller would, with status st.
func (b *fakeBundle) podFor(t *testing.T, job *batchv1.Job, st corev1.PodStatus) {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-x1", Namespace: job.Namespace, Labels: job.Spec.Template.Labels},
		Spec: job.Spec.Template.Spec, Status: st}
	if _, err := b.cs.CoreV1().Pods(job.Namespace).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// A container that cannot pull its image fails the step with the reason,
// and the Job is deleted.
func TestFakeImagePullBackOff(t *testing.T) {
	t.Parallel()
	b := setupFake(t, fake.NewClientset(), kube.Config{})
	b.deploy(t, "k.pull", "", "")
	id := b.start(t, "f-k.pull", `{"x": 1}`)
	job := b.waitJob(t)
	b.podFor(t, job, corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "main",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "train:1"`}}}}})
	r := b.waitRun(t, id)
	if r.Status != engine.RunFailed || r.Steps[0].Error == nil || r.Steps[0].Error.Type != "ImagePullBackOff" ||
		!strings.Contains(r.Steps[0].Error.Message, `Back-off pulling image "train:1"`) {
		t.Fatalf("run %s, step error %+v", r.Status, r.Steps[0].Error)
	}
	waitFor(t, 10*time.Second, "the Job to be deleted", func() (bool, string) {
		_, err := b.cs.BatchV1().Jobs("ml").Get(context.Background(), job.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}

// While the API server cannot be reached the task goes back (same
// attempt) and is claimed again after a back-off; once it answers, one
// Job is created and its completion is the step's output.
func TestFakeUnreachableThenComplete(t *testing.T) {
	t.Parallel()
	cs := fake.NewClientset()
	var refused, created atomic.Int32
	cs.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if refused.Load() < 3 {
			refused.Add(1)
			return true, nil, errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")
		}
		created.Add(1)
		return false, nil, nil
	})
	b := setupFake(t, cs, kube.Config{})
	b.deploy(t, "k.net", "", "")
	id := b.start(t, "f-k.net", `{"x": 2}`)
	job := b.waitJob(t)
	if refused.Load() != 3 || created.Load() != 1 {
		t.Fatalf("refused %d, created %d", refused.Load(), created.Load())
	}
	r, _ := b.eng.GetRun(context.Background(), id, true)
	if r.Steps[0].Attempt != 1 {
		t.Fatalf("attempt %d after the API server came back, want 1 (a release is not a retry)", r.Steps[0].Attempt)
	}
	b.podFor(t, job, corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{{Name: "main",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed", Message: `{"y": 4}`}}}}})
	job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	if _, err := cs.BatchV1().Jobs("ml").UpdateStatus(context.Background(), job, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	r = b.waitRun(t, id)
	if r.Status != engine.RunSucceeded || string(r.Output) != `{"got":{"y":4}}` {
		t.Fatalf("run %s output %s", r.Status, r.Output)
	}
	if created.Load() != 1 {
		t.Fatalf("%d Jobs created", created.Load())
	}
}

// An input above MaxInlineInput is mounted from a ConfigMap made before
// the Job (so a crash between the two cannot leave a pod waiting for it),
// then owned by the Job.
func TestFakeLargeInputConfigMap(t *testing.T) {
	t.Parallel()
	b := setupFake(t, fake.NewClientset(), kube.Config{MaxInlineInput: 64})
	b.deploy(t, "k.big", "", "")
	big := strings.Repeat("a", 200)
	b.start(t, "f-k.big", `{"x": "`+big+`"}`)
	job := b.waitJob(t)
	env := map[string]string{}
	for _, e := range job.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	if _, inline := env["WEFT_INPUT"]; inline || env["WEFT_INPUT_FILE"] != "/var/run/weft/input.json" {
		t.Fatalf("env %v, want WEFT_INPUT_FILE only", env)
	}
	var cm *corev1.ConfigMap
	waitFor(t, 10*time.Second, "the input ConfigMap", func() (bool, string) {
		var err error
		cm, err = b.cs.CoreV1().ConfigMaps("ml").Get(context.Background(), job.Name, metav1.GetOptions{})
		return err == nil && len(cm.OwnerReferences) > 0, fmt.Sprint(err)
	})
	var order []string
	for _, a := range b.cs.Actions() {
		if a.GetVerb() == "create" && (a.GetResource().Resource == "jobs" || a.GetResource().Resource == "configmaps") {
			order = append(order, a.GetResource().Resource)
		}
	}
	if strings.Join(order, ",") != "configmaps,jobs" {
		t.Fatalf("created %v, want the ConfigMap before the Job", order)
	}
	if cm.Data["input.json"] != `{"x":"`+big+`"}` || len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].Name != job.Name || cm.OwnerReferences[0].Kind != "Job" {
		t.Fatalf("ConfigMap %+v", cm)
	}
}

// A pod the scheduler cannot place shows on its running step as
// "waiting for cluster capacity" with the scheduler's message, until the
// pod is scheduled.
func TestFakeUnschedulableDetail(t *testing.T) {
	t.Parallel()
	b := setupFake(t, fake.NewClientset(), kube.Config{})
	b.deploy(t, "k.gpu", "", "")
	id := b.start(t, "f-k.gpu", `{"x": 1}`)
	job := b.waitJob(t)
	const msg = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
	b.podFor(t, job, corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled,
		Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: msg}}})
	detail := func() (engine.Step, error) {
		r, err := b.eng.GetRun(context.Background(), id, true)
		if err != nil || len(r.Steps) != 1 {
			return engine.Step{}, fmt.Errorf("run %+v: %v", r, err)
		}
		return r.Steps[0], nil
	}
	waitFor(t, 10*time.Second, "the step to show it waits for capacity", func() (bool, string) {
		st, err := detail()
		return err == nil && st.Status == engine.StepRunning && st.StatusDetail == kube.WaitingForCapacity+": "+msg,
			fmt.Sprintf("%s %q %v", st.Status, st.StatusDetail, err)
	})

	pod, err := b.cs.CoreV1().Pods("ml").Get(context.Background(), job.Name+"-x1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}
	if _, err := b.cs.CoreV1().Pods("ml").UpdateStatus(context.Background(), pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the detail to go once the pod is scheduled", func() (bool, string) {
		st, err := detail()
		return err == nil && st.Status == engine.StepRunning && st.StatusDetail == "", fmt.Sprintf("%s %q %v", st.Status, st.StatusDetail, err)
	})
}
