// Package kube runs the steps of Kubernetes blocks (dispatch.kind
// "kubernetes") as batch/v1 Jobs: a dispatcher of the server's own that
// claims the tasks of "kube:" queues, creates one Job per attempt, follows
// it with informers and reports the step's outcome.
//
// One Job per attempt: its name comes from the task id and the attempt
// (JobName), so every replica computes the same one and the API server
// refuses a second. The Job carries the task's lease in an annotation; any
// replica that sees a live Weft Job (after a restart, or one another
// replica created) adopts it: it renews the lease while the Job lives and
// reports its end. Reports are fenced by the lease, so when two replicas
// report the same end the second changes nothing.
//
// What the dispatcher reports:
//   - Job complete: the step succeeds with the JSON the container wrote to
//     its termination message (/dev/termination-log, at most 4 KB), or {}
//     when it wrote none (a container may also complete through the worker
//     API with WEFT_TASK_ID and WEFT_LEASE; the dispatcher's report then
//     finds the lease consumed and changes nothing).
//   - Job failed: the step fails (retryably: the block's retry policy
//     decides) with the Job's reason (BackoffLimitExceeded,
//     DeadlineExceeded) and the container's (OOMKilled, Error, exit code).
//   - A container that cannot start (ImagePullBackOff, ErrImagePull,
//     InvalidImageName, CreateContainerConfigError): the Job is deleted and
//     the step fails with the reason and message.
//   - Unschedulable: the step stays running, and "waiting for cluster
//     capacity" with the scheduler's message goes to its log, once per
//     message.
//   - Cancel, an attempt timeout or a lost lease: the Job is deleted
//     (foreground).
//   - A Job deleted outside Weft: the step fails with that reason.
//   - The API server unreachable when creating a Job: the task is released
//     (same attempt, step scheduled) and the dispatcher backs off before it
//     claims again.
//
// Claims lost in a crash: a replica killed between claiming a task and
// creating its Job leaves the task leased with no Job. Each replica claims
// under its own worker id, stable across restarts (WorkerID: host and
// listen address), so once restarted it gives back at once every claim
// of its id made before it started that has no Job; a claim of another
// replica is given back once it is ClaimGrace old without a Job (that
// replica did not come back). Given back means the same attempt, ready
// again: no attempt is spent and the step runs once. Should a slow Create
// land after all, the next claim of the attempt finds the Job by its name
// and follows it.
package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/internal/dispatch"
)

// Tasks is the part of the engine the dispatcher uses.
type Tasks interface {
	Poll(ctx context.Context, p engine.PollParams) ([]engine.Task, error)
	Complete(ctx context.Context, taskID, lease string, output json.RawMessage) error
	Fail(ctx context.Context, taskID, lease string, e engine.TaskError) error
	Heartbeat(ctx context.Context, taskID, lease string) (engine.HeartbeatResult, error)
	Release(ctx context.Context, tasks []engine.Task) error
	ClaimsBefore(ctx context.Context, queues []string, before time.Time, afterID string, limit int) ([]engine.TaskRecord, error)
	SetTaskDetail(ctx context.Context, taskID, lease, detail string) error
}

// RunWatcher is implemented by an engine that can say when a run's status
// changes; a follower then renews its Job's lease at once, so that a
// cancelled run deletes its Jobs without waiting for the next renewal.
type RunWatcher interface {
	WatchRun(runID string) (<-chan struct{}, func())
}

// Blocks finds Kubernetes blocks and their definitions.
type Blocks interface {
	blocks.Catalog
	ListBlocks(ctx context.Context) ([]engine.BlockSummary, error)
}

// Logs appends to a step's log under its task's lease.
type Logs interface {
	AppendLogs(ctx context.Context, p engine.LogAppend) (engine.LogAppended, error)
}

// Config configures a Dispatcher.
type Config struct {
	// Client talks to the API server.
	Client kubernetes.Interface
	// Namespace is where the Jobs of blocks without dispatch.namespace go
	// (default "default").
	Namespace string
	// WatchNamespace limits the informers to one namespace; empty watches
	// every namespace (which needs a ClusterRole).
	WatchNamespace string
	// ServerURL is the server's address as containers see it (WEFT_SERVER).
	ServerURL string
	// MaxJobs bounds the Jobs this replica has created and follows
	// (default 1000); adopted Jobs do not count.
	MaxJobs int
	// PollWait is how long one long-poll parks (default 30s).
	PollWait time.Duration
	// MaxInlineInput is the largest input passed in WEFT_INPUT (default 32
	// KiB); larger input is mounted from a ConfigMap owned by the Job.
	MaxInlineInput int
	// TTLAfterFinished is how long a finished Job stays for inspection
	// (default 1h).
	TTLAfterFinished time.Duration
	// PodLogs copies a finished pod's log to the step's log.
	PodLogs bool
	// MaxPodLogBytes bounds what PodLogs copies (default 256 KiB).
	MaxPodLogBytes int64
	// Backoff is the first wait after the API server could not be reached;
	// it doubles up to MaxBackoff (defaults 1s and 30s).
	Backoff, MaxBackoff time.Duration
	// WorkerID names the dispatcher in attempts; it starts with
	// WorkerPrefix and should stay the same when the replica restarts and
	// differ between replicas (weft serve uses the host and listen address).
	WorkerID string
	// ClaimGrace is how old a claim of another replica without a Job must
	// be before it is given back (default 2m). A live replica creates its
	// Job within seconds of the claim.
	ClaimGrace time.Duration
	// ClaimSweep is how often lost claims are looked for (default a
	// quarter of ClaimGrace, between 1s and 30s).
	ClaimSweep time.Duration
	Logs       Logs
	// MaxLogBytes bounds a step's log.
	MaxLogBytes int64
	Logger      *slog.Logger
	// JobCreatedFunc, when set, is called after this replica created a Job
	// (for measurements).
	JobCreatedFunc func(t engine.Task, job *batchv1.Job)
}

// WorkerPrefix starts the worker id of every Kubernetes dispatcher.
const WorkerPrefix = "kube-dispatch"

// createTimeout bounds one Job create call.
const createTimeout = 30 * time.Second

func (c Config) withDefaults() Config {
	if c.Namespace == "" {
		c.Namespace = "default"
	}
	if c.MaxJobs <= 0 {
		c.MaxJobs = 1000
	}
	if c.PollWait <= 0 {
		c.PollWait = 30 * time.Second
	}
	if c.MaxInlineInput <= 0 {
		c.MaxInlineInput = 32 << 10
	}
	if c.TTLAfterFinished <= 0 {
		c.TTLAfterFinished = time.Hour
	}
	if c.MaxPodLogBytes <= 0 {
		c.MaxPodLogBytes = 256 << 10
	}
	if c.Backoff <= 0 {
		c.Backoff = time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.WorkerID == "" {
		c.WorkerID = WorkerPrefix
	}
	if c.ClaimGrace <= 0 {
		c.ClaimGrace = 2 * time.Minute
	}
	if c.ClaimSweep <= 0 {
		c.ClaimSweep = min(max(c.ClaimGrace/4, time.Second), 30*time.Second)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Dispatcher runs Kubernetes block tasks as Jobs. Create it with New, start
// it with Run.
type Dispatcher struct {
	cfg    Config
	tasks  Tasks
	blocks Blocks
	log    *slog.Logger
	sem    chan struct{}
	wake   chan struct{}

	jobs batchlisters.JobLister
	pods corelisters.PodLister

	mu      sync.Mutex
	tracked map[string]*follow // by namespace/name
	ended   map[string]bool    // Jobs this replica has reported or let go
	ctx     context.Context    // the followers' context, set by Run
	wg      sync.WaitGroup

	backoffMu sync.Mutex
	backoff   time.Duration

	started time.Time // when Run began: this replica's earlier claims are lost
}

// New builds a Dispatcher.
func New(cfg Config, tasks Tasks, cat Blocks) *Dispatcher {
	cfg = cfg.withDefaults()
	return &Dispatcher{
		cfg: cfg, tasks: tasks, blocks: cat, log: cfg.Logger,
		sem:     make(chan struct{}, cfg.MaxJobs),
		wake:    make(chan struct{}, 1),
		tracked: map[string]*follow{},
		ended:   map[string]bool{},
	}
}

// BlockStored tells the dispatcher a block definition was stored, so a new
// Kubernetes block's queue is polled at once.
func (d *Dispatcher) BlockStored(def *blocks.Definition) {
	if def == nil || def.Dispatch.Kind != blocks.DispatchKubernetes {
		return
	}
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run starts the informers, then claims and follows tasks until ctx ends.
// Jobs keep running when it returns: a replica that starts later adopts
// them.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.started = time.Now()
	opts := []informers.SharedInformerOption{informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = LabelManagedBy + "=" + managedBy
	})}
	if d.cfg.WatchNamespace != "" {
		opts = append(opts, informers.WithNamespace(d.cfg.WatchNamespace))
	}
	factory := informers.NewSharedInformerFactoryWithOptions(d.cfg.Client, 0, opts...)
	jobInf := factory.Batch().V1().Jobs()
	podInf := factory.Core().V1().Pods()
	d.jobs, d.pods = jobInf.Lister(), podInf.Lister()
	d.mu.Lock()
	d.ctx = ctx
	d.mu.Unlock()
	if _, err := jobInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { d.jobSeen(o, false) },
		UpdateFunc: func(_, o any) { d.jobSeen(o, false) },
		DeleteFunc: func(o any) { d.jobSeen(o, true) },
	}); err != nil {
		return err
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    d.podSeen,
		UpdateFunc: func(_, o any) { d.podSeen(o) },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	for ctx.Err() == nil {
		synced := factory.WaitForCacheSync(ctx.Done())
		ok := len(synced) > 0
		for _, s := range synced {
			ok = ok && s
		}
		if ok {
			break
		}
	}
	if ctx.Err() == nil {
		d.log.Info("kubernetes informers synced", "jobs", len(d.listJobs()), "worker_id", d.cfg.WorkerID)
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.sweepClaims(ctx)
		}()
		d.loop(ctx)
	}
	d.wg.Wait()
	return nil
}

func (d *Dispatcher) listJobs() []*batchv1.Job {
	js, _ := d.jobs.List(labels.Everything())
	return js
}

func (d *Dispatcher) loop(ctx context.Context) {
	for ctx.Err() == nil {
		if b := d.currentBackoff(); b > 0 {
			d.sleep(ctx, b)
			if ctx.Err() != nil {
				return
			}
		}
		queues, err := d.queues(ctx)
		if err != nil {
			d.log.Error("list kubernetes blocks", "err", err)
			d.sleep(ctx, time.Second)
			continue
		}
		if len(queues) == 0 {
			d.sleep(ctx, d.cfg.PollWait)
			continue
		}
		free := d.acquire(ctx)
		if free == 0 {
			return
		}
		pollCtx, cancel := context.WithCancel(ctx)
		stopWatch := make(chan struct{})
		go func() {
			select {
			case <-d.wake:
				cancel()
			case <-stopWatch:
			}
		}()
		tasks, err := d.tasks.Poll(pollCtx, engine.PollParams{
			WorkerID: d.cfg.WorkerID, Queues: queues, Max: free, Wait: d.cfg.PollWait,
			// The cluster's scheduler decides what fits: offer everything.
			Resources: map[string]float64{"cpu": 1e15, "memory_gb": 1e15, "gpu": 1e15},
		})
		close(stopWatch)
		refreshed := pollCtx.Err() != nil && ctx.Err() == nil
		cancel()
		for i := len(tasks); i < free; i++ {
			<-d.sem
		}
		for _, t := range tasks {
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				d.start(ctx, t)
			}()
		}
		if err != nil && ctx.Err() == nil && !refreshed {
			d.log.Error("poll kubernetes queues", "err", err)
			d.sleep(ctx, time.Second)
		}
	}
}

func (d *Dispatcher) acquire(ctx context.Context) int { return dispatch.Acquire(ctx, d.sem) }

func (d *Dispatcher) sleep(ctx context.Context, dur time.Duration) { dispatch.Sleep(ctx, dur, d.wake) }

func (d *Dispatcher) queues(ctx context.Context) ([]string, error) {
	bs, err := d.blocks.ListBlocks(ctx)
	if err != nil {
		return nil, err
	}
	var qs []string
	for _, b := range bs {
		if b.Kind == blocks.DispatchKubernetes {
			qs = append(qs, blocks.KubernetesQueue(b.Name))
		}
	}
	sort.Strings(qs)
	return qs, nil
}

func (d *Dispatcher) currentBackoff() time.Duration {
	d.backoffMu.Lock()
	defer d.backoffMu.Unlock()
	return d.backoff
}

// unreachable doubles the back-off; reached resets it.
func (d *Dispatcher) unreachable() {
	d.backoffMu.Lock()
	defer d.backoffMu.Unlock()
	d.backoff = min(max(d.backoff*2, d.cfg.Backoff), d.cfg.MaxBackoff)
}

func (d *Dispatcher) reached() {
	d.backoffMu.Lock()
	defer d.backoffMu.Unlock()
	d.backoff = 0
}

// start creates the Job of a claimed task (or adopts the one that exists)
// and follows it. It holds one of the replica's slots until the Job ends.
func (d *Dispatcher) start(ctx context.Context, t engine.Task) {
	owned := true
	defer func() {
		if owned {
			<-d.sem
		}
	}()
	log := d.log.With("task_id", t.ID, "run_id", t.RunID, "step_ref", t.Path, "block", t.Block, "attempt", t.Attempt)
	def, err := d.blocks.Block(t.Block, t.Version)
	switch {
	case err != nil && !errors.Is(err, engine.ErrNotFound):
		// The database could not answer (busy, restarting): not the
		// step's fault. Give the claim back and try again after a pause.
		log.Warn("read the block of a claimed task; task released", "err", err)
		if rerr := d.tasks.Release(context.WithoutCancel(ctx), []engine.Task{t}); rerr != nil {
			log.Warn("release task", "err", rerr)
		}
		d.sleep(ctx, time.Second)
		return
	case err != nil || def == nil || def.Dispatch.Kind != blocks.DispatchKubernetes:
		d.report(ctx, t, log, nil, &engine.TaskError{Message: fmt.Sprintf("block %s@%d is not a stored kubernetes block", t.Block, t.Version), Type: "dispatch"})
		return
	}
	ns := def.Dispatch.Namespace
	if ns == "" {
		ns = d.cfg.Namespace
	}
	input := t.Input
	if len(input) == 0 {
		input = json.RawMessage("{}")
	}
	inline := len(input) <= d.cfg.MaxInlineInput
	leaseUS := int64(0)
	if !t.Deadline.IsZero() {
		leaseUS = time.Until(t.Deadline).Microseconds()
	}
	job, err := buildJob(jobSpec{task: t, def: def, namespace: ns, serverURL: d.cfg.ServerURL, inline: inline,
		ttl: int32(d.cfg.TTLAfterFinished / time.Second), lease: leaseUS})
	if err != nil {
		d.report(ctx, t, log, nil, &engine.TaskError{Message: err.Error(), Type: "dispatch"})
		return
	}
	key := ns + "/" + job.Name
	f := d.track(key, t, ns, job.Name, true)
	if f == nil {
		// Another goroutine of this replica follows it already (adopted
		// from the informer between claim and here).
		return
	}
	if !inline {
		// The input goes first: a Job whose pod waits for a ConfigMap that
		// a crash kept from being made would wait for ever.
		if err := d.createInput(ctx, job, input); err != nil {
			d.untrack(key)
			if isUnreachable(err) {
				d.releaseUnreachable(ctx, t, err, log)
				return
			}
			d.report(ctx, t, log, nil, &engine.TaskError{Message: fmt.Sprintf("the Kubernetes API server refused the input ConfigMap of Job %s: %s", key, apiMessage(err)), Type: "kubernetes"})
			return
		}
	}
	cctx, cancel := context.WithTimeout(ctx, createTimeout)
	created, err := d.cfg.Client.BatchV1().Jobs(ns).Create(cctx, job, metav1.CreateOptions{})
	cancel()
	switch {
	case err == nil:
		d.reached()
		log.Debug("job created", "job", key)
		if d.cfg.JobCreatedFunc != nil {
			d.cfg.JobCreatedFunc(t, created)
		}
		if !inline {
			d.ownInput(ctx, created, log)
		}
	case apierrors.IsAlreadyExists(err):
		d.reached()
		log.Info("job exists already; following it", "job", key)
		d.relabelLease(ctx, ns, job.Name, t.Lease, log)
		if !inline {
			if cur, gerr := d.cfg.Client.BatchV1().Jobs(ns).Get(ctx, job.Name, metav1.GetOptions{}); gerr == nil {
				d.ownInput(ctx, cur, log)
			}
		}
	case isUnreachable(err):
		d.untrack(key)
		d.releaseUnreachable(ctx, t, err, log)
		return
	default:
		d.untrack(key)
		d.reached()
		d.report(ctx, t, log, nil, &engine.TaskError{Message: fmt.Sprintf("the Kubernetes API server refused Job %s: %s", key, apiMessage(err)), Type: "kubernetes"})
		return
	}
	d.run(f, log)
}

// releaseUnreachable gives t back (same attempt) after the API server
// could not be reached, and backs off before the next claim.
func (d *Dispatcher) releaseUnreachable(ctx context.Context, t engine.Task, err error, log *slog.Logger) {
	d.unreachable()
	log.Warn("kubernetes API server unreachable; task released, retrying after back-off", "err", err, "backoff", d.currentBackoff())
	if rerr := d.tasks.Release(context.WithoutCancel(ctx), []engine.Task{t}); rerr != nil {
		log.Warn("release task", "err", rerr)
	}
}

// relabelLease records the lease of a task claimed again (after a release)
// on the Job an earlier claim created, so that adopters renew the current
// one.
func (d *Dispatcher) relabelLease(ctx context.Context, ns, name, lease string, log *slog.Logger) {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{annLease: lease}}})
	if _, err := d.cfg.Client.BatchV1().Jobs(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		log.Warn("record the lease on an existing Job", "job", ns+"/"+name, "err", err)
	}
}

// createInput stores a large input in a ConfigMap named like the Job,
// before the Job exists (an attempt's input never changes, so one made by
// an earlier claim of the attempt is kept).
func (d *Dispatcher) createInput(ctx context.Context, job *batchv1.Job, input []byte) error {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: job.Name, Namespace: job.Namespace, Labels: job.Labels},
		Data:       map[string]string{inputFile: string(input)},
	}
	cctx, cancel := context.WithTimeout(ctx, createTimeout)
	defer cancel()
	_, err := d.cfg.Client.CoreV1().ConfigMaps(job.Namespace).Create(cctx, cm, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// ownInput makes the Job the owner of its input ConfigMap, so the
// ConfigMap goes when the Job goes. Should this fail (or the server die
// first), the ConfigMap stays behind: its labels name the run and task.
func (d *Dispatcher) ownInput(ctx context.Context, job *batchv1.Job, log *slog.Logger) {
	ctrl := false
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"ownerReferences": []metav1.OwnerReference{
		{APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID, Controller: &ctrl}}}})
	if _, err := d.cfg.Client.CoreV1().ConfigMaps(job.Namespace).Patch(ctx, job.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		log.Warn("make the Job the owner of its input ConfigMap; it will outlive the Job", "job", job.Namespace+"/"+job.Name, "err", err)
	}
}

// isUnreachable reports whether err means the API server could not be
// reached or could not answer now (retry later with the same attempt).
func isUnreachable(err error) bool {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		return apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
			apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) || apierrors.IsUnexpectedServerError(err)
	}
	return true // connection refused, DNS, TLS, context deadline: no answer from the API server
}

func apiMessage(err error) string {
	var st apierrors.APIStatus
	if errors.As(err, &st) && st.Status().Message != "" {
		return st.Status().Message
	}
	return err.Error()
}

// follow is one Job this replica follows.
type follow struct {
	key, ns, name string
	task          engine.Task
	owned         bool
	notify        chan struct{}
	deleted       bool // the informer saw it go
	deleting      bool // this replica deletes it
	finishedSeen  time.Time
	unschedMsg    string
}

func (d *Dispatcher) track(key string, t engine.Task, ns, name string, owned bool) *follow {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.tracked[key]; ok {
		return nil
	}
	if !owned && d.ended[key] {
		return nil
	}
	delete(d.ended, key)
	f := &follow{key: key, ns: ns, name: name, task: t, owned: owned, notify: make(chan struct{}, 1)}
	d.tracked[key] = f
	return f
}

func (d *Dispatcher) untrack(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.tracked, key)
}

func (d *Dispatcher) end(f *follow) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.tracked, f.key)
	d.ended[f.key] = true
}

func (f *follow) poke() {
	select {
	case f.notify <- struct{}{}:
	default:
	}
}

// jobSeen adopts a Weft Job this replica does not follow yet, or wakes the
// follower of one it does.
func (d *Dispatcher) jobSeen(o any, deleted bool) {
	if tomb, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = tomb.Obj
	}
	job, ok := o.(*batchv1.Job)
	if !ok {
		return
	}
	key := job.Namespace + "/" + job.Name
	d.mu.Lock()
	f := d.tracked[key]
	if f != nil && deleted {
		f.deleted = true
	}
	if deleted && f == nil {
		delete(d.ended, key)
	}
	d.mu.Unlock()
	if f != nil {
		f.poke()
		return
	}
	if deleted {
		return
	}
	t, ok := taskOf(job)
	if !ok {
		return
	}
	nf := d.track(key, t, job.Namespace, job.Name, false)
	if nf == nil {
		return
	}
	log := d.log.With("task_id", t.ID, "run_id", t.RunID, "step_ref", t.Path, "attempt", t.Attempt)
	log.Debug("adopting job", "job", key)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.run(nf, log)
	}()
}

// taskOf reads the task a Job runs from its labels and annotations.
func taskOf(job *batchv1.Job) (engine.Task, bool) {
	id, lease := job.Labels[LabelTask], job.Annotations[annLease]
	attempt, _ := strconv.Atoi(job.Labels[LabelAttempt])
	if id == "" || lease == "" {
		return engine.Task{}, false
	}
	t := engine.Task{ID: id, Lease: lease, Attempt: attempt, Path: job.Annotations[annStep], RunID: job.Labels[LabelRun]}
	if us, err := strconv.ParseInt(job.Annotations[annLeaseUS], 10, 64); err == nil && us > 0 {
		t.Deadline = time.Now().Add(time.Duration(us) * time.Microsecond / 3)
	}
	t.Block, _, _ = strings.Cut(job.Annotations[annBlock], "@")
	return t, true
}

func (d *Dispatcher) podSeen(o any) {
	pod, ok := o.(*corev1.Pod)
	if !ok {
		return
	}
	key := pod.Namespace + "/" + pod.Labels[LabelJob]
	d.mu.Lock()
	f := d.tracked[key]
	d.mu.Unlock()
	if f != nil {
		f.poke()
	}
}

// jobFinished answers "Complete" or "Failed" once the Job controller has
// said so, else "".
func jobFinished(job *batchv1.Job) batchv1.JobConditionType {
	for _, c := range job.Status.Conditions {
		if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
			return c.Type
		}
	}
	return ""
}
