package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/weftlabs/weft/blocks/jsoncheck"
	"github.com/weftlabs/weft/engine"
)

// WaitingForCapacity starts the step log line of an unschedulable Job.
const WaitingForCapacity = "waiting for cluster capacity"

// podGrace is how long a finished Job waits for its pod's final status to
// reach the informer before it is reported without it.
const podGrace = 5 * time.Second

// cannotStart are the container waiting reasons after which a pod will
// not start without a change outside Weft.
var cannotStart = map[string]bool{
	"ImagePullBackOff": true, "ErrImagePull": true, "InvalidImageName": true,
	"CreateContainerConfigError": true, "CreateContainerError": true, "ErrImageNeverPull": true,
}

// run follows one Job until its step is reported, its lease is lost or the
// dispatcher stops: it renews the lease on a timer and looks at the Job and
// its pod whenever the informers say they changed.
func (d *Dispatcher) run(f *follow, log *slog.Logger) {
	d.mu.Lock()
	ctx := d.ctx
	d.mu.Unlock()
	defer d.end(f)
	every := time.Until(f.task.Deadline) / 3
	if f.task.Deadline.IsZero() || every < 200*time.Millisecond {
		every = 10 * time.Second
	}
	if !f.owned {
		// An adopted Job: renew its lease at once, it may be close to lapse.
		every = 0
	}
	hb := time.NewTimer(every)
	defer hb.Stop()
	// A change of the run's status (cancelled, timed out, failed) is
	// checked at once by renewing the lease, which answers whether the
	// task is wanted still.
	var runChanged <-chan struct{}
	if w, ok := d.tasks.(RunWatcher); ok && f.task.RunID != "" {
		ch, stop := w.WatchRun(f.task.RunID)
		defer stop()
		runChanged = ch
		if f.owned {
			// The run may have changed between the claim and the watch.
			hb.Reset(0)
		}
	}
	var recheck <-chan time.Time
	// A Job this replica created runs a fresh claim, without a detail; an
	// adopted one may carry one an earlier follower set.
	shown := shownDetail{known: f.owned}
	for {
		if done := d.look(ctx, f, log, &recheck, &shown); done {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-f.notify:
		case <-recheck:
			recheck = nil
		case <-runChanged:
			hb.Reset(0)
		case <-hb.C:
			res, err := d.tasks.Heartbeat(ctx, f.task.ID, f.task.Lease)
			switch {
			case errors.Is(err, engine.ErrNotFound):
				// Not a task of this database: another Weft on the same
				// cluster, or a run purged. Not ours to stop.
				return
			case errors.Is(err, engine.ErrConflict):
				job, jerr := d.jobs.Jobs(f.ns).Get(f.name)
				if jerr == nil && job.Annotations[annLease] != "" && job.Annotations[annLease] != f.task.Lease {
					if f.owned {
						// This replica's claim was given back (its Create
						// was slow) and the attempt claimed again: the new
						// claim follows the Job.
						return
					}
					// The task was claimed again for the same attempt and
					// the Job carries the new lease: follow that one.
					f.task.Lease = job.Annotations[annLease]
					shown = shownDetail{}
					hb.Reset(0)
					continue
				}
				// Reported by another replica, or the attempt timed out or
				// was given up: a Job this replica created and still
				// running is not wanted. An adopted Job may belong to
				// another Weft on the same cluster: left alone.
				if jerr == nil && jobFinished(job) == "" && f.owned {
					log.Info("lease of a running Job lost; deleting the Job", "job", f.key)
					d.deleteJob(context.WithoutCancel(ctx), f.ns, f.name, log)
				}
				return
			case err != nil:
				if ctx.Err() != nil {
					return
				}
				log.Warn("renew the lease of a Job step", "err", err)
				hb.Reset(3 * time.Second)
				continue
			case res.CancelRequested:
				log.Info("run cancelled; deleting the Job", "job", f.key)
				d.report(ctx, f.task, log, nil, &engine.TaskError{Message: "the run was cancelled; Job " + f.key + " deleted", Type: "cancelled"})
				d.deleteJob(context.WithoutCancel(ctx), f.ns, f.name, log)
				return
			}
			next := time.Until(res.LeaseExpiresAt) / 3
			if next < 200*time.Millisecond {
				next = 200 * time.Millisecond
			}
			hb.Reset(next)
		}
	}
}

// shownDetail is the status detail a follower has set on its step.
type shownDetail struct {
	detail string
	known  bool // false: the task may hold any detail (an adopted Job, a new lease)
}

// look acts on what the informers hold about f's Job and pod; it answers
// true when following is over.
func (d *Dispatcher) look(ctx context.Context, f *follow, log *slog.Logger, recheck *<-chan time.Time, shown *shownDetail) bool {
	d.mu.Lock()
	deleted := f.deleted
	d.mu.Unlock()
	job, err := d.jobs.Jobs(f.ns).Get(f.name)
	if err != nil || deleted {
		if !deleted {
			return false // not in the informer's cache yet
		}
		if f.deleting {
			return true
		}
		d.report(ctx, f.task, log, nil, &engine.TaskError{
			Message: fmt.Sprintf("Job %s was deleted outside Weft before it finished", f.key), Type: "JobDeleted", Retryable: true})
		return true
	}
	pod := d.podOf(f)
	switch jobFinished(job) {
	case batchv1.JobComplete:
		if (pod == nil || pod.Status.Phase != corev1.PodSucceeded) && d.waitForPod(f, recheck) {
			return false
		}
		out, terr := output(pod)
		d.copyPodLog(ctx, f, pod, log)
		d.report(ctx, f.task, log, out, terr)
		return true
	case batchv1.JobFailed:
		if pod == nil && d.waitForPod(f, recheck) {
			return false
		}
		d.copyPodLog(ctx, f, pod, log)
		d.report(ctx, f.task, log, nil, failure(job, pod))
		return true
	}
	if pod == nil {
		return false
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && cannotStart[w.Reason] {
			msg := fmt.Sprintf("Job %s: pod %s cannot start: %s", f.key, pod.Name, w.Reason)
			if w.Message != "" {
				msg += ": " + w.Message
			}
			d.report(ctx, f.task, log, nil, &engine.TaskError{Message: msg, Type: w.Reason, Retryable: true})
			f.deleting = true
			d.deleteJob(context.WithoutCancel(ctx), f.ns, f.name, log)
			return true
		}
	}
	// The step shows why its pod waits while the scheduler finds no
	// room for it, and stops once the pod is placed.
	for _, c := range pod.Status.Conditions {
		if c.Type != corev1.PodScheduled {
			continue
		}
		if c.Status == corev1.ConditionTrue {
			d.showDetail(ctx, f, shown, "", log)
		}
		if c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			if c.Message != f.unschedMsg {
				f.unschedMsg = c.Message
				d.stepLog(ctx, f.task, engine.LogWarning, fmt.Sprintf("%s: Job %s: %s", WaitingForCapacity, f.key, c.Message), log)
			}
			detail := WaitingForCapacity
			if c.Message != "" {
				detail += ": " + c.Message
			}
			d.showDetail(ctx, f, shown, detail, log)
		}
	}
	if pod.Status.Phase == corev1.PodRunning {
		d.showDetail(ctx, f, shown, "", log)
	}
	return false
}

// showDetail sets the step's status detail ("" clears it) unless it is
// known to be that already. A stale lease is left to the lease renewal to
// find; after another error the next look tries again.
func (d *Dispatcher) showDetail(ctx context.Context, f *follow, shown *shownDetail, detail string, log *slog.Logger) {
	if shown.known && shown.detail == detail {
		return
	}
	err := d.tasks.SetTaskDetail(ctx, f.task.ID, f.task.Lease, detail)
	if err != nil && !errors.Is(err, engine.ErrConflict) && !errors.Is(err, engine.ErrNotFound) {
		log.Debug("set the step's status detail", "err", err)
		shown.known = false
		return
	}
	shown.detail, shown.known = detail, true
}

// waitForPod answers true (and arms recheck) while a finished Job's pod
// status may still be on its way to the informer.
func (d *Dispatcher) waitForPod(f *follow, recheck *<-chan time.Time) bool {
	if f.finishedSeen.IsZero() {
		f.finishedSeen = time.Now()
	}
	left := podGrace - time.Since(f.finishedSeen)
	if left <= 0 {
		return false
	}
	*recheck = time.After(left)
	return true
}

// podOf is the newest pod of f's Job in the informer's cache.
func (d *Dispatcher) podOf(f *follow) *corev1.Pod {
	pods, err := d.pods.Pods(f.ns).List(labels.SelectorFromSet(labels.Set{LabelJob: f.name}))
	if err != nil || len(pods) == 0 {
		return nil
	}
	best := pods[0]
	for _, p := range pods[1:] {
		if p.CreationTimestamp.After(best.CreationTimestamp.Time) {
			best = p
		}
	}
	return best
}

func mainStatus(pod *corev1.Pod) *corev1.ContainerStatus {
	if pod == nil {
		return nil
	}
	for i := range pod.Status.ContainerStatuses {
		if pod.Status.ContainerStatuses[i].Name == containerName {
			return &pod.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// output is the step's output from the container's termination message.
func output(pod *corev1.Pod) (json.RawMessage, *engine.TaskError) {
	cs := mainStatus(pod)
	if cs == nil || cs.State.Terminated == nil {
		return json.RawMessage("{}"), nil
	}
	msg := bytes.TrimSpace([]byte(cs.State.Terminated.Message))
	if len(msg) == 0 {
		return json.RawMessage("{}"), nil
	}
	if !json.Valid(msg) {
		return nil, &engine.TaskError{Message: fmt.Sprintf("the container's termination message is not JSON (write the output as JSON to /dev/termination-log): %s", snippet(string(msg))), Type: "output"}
	}
	if p := jsoncheck.CheckText(msg); p != nil {
		return nil, &engine.TaskError{Message: fmt.Sprintf("the container's termination message is JSON that Weft does not store (at byte %d: %s)", p.Offset, p.Msg), Type: "output"}
	}
	return json.RawMessage(msg), nil
}

// failure describes a failed Job with its own reason and its container's.
func failure(job *batchv1.Job, pod *corev1.Pod) *engine.TaskError {
	var reason, msg string
	for _, c := range job.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			reason, msg = c.Reason, c.Message
		}
	}
	typ := reason
	text := fmt.Sprintf("Job %s/%s failed: %s", job.Namespace, job.Name, reason)
	if msg != "" {
		text += " (" + msg + ")"
	}
	if cs := mainStatus(pod); cs != nil && cs.State.Terminated != nil {
		tm := cs.State.Terminated
		text += fmt.Sprintf("; pod %s: container %s terminated: %s, exit code %d", pod.Name, cs.Name, tm.Reason, tm.ExitCode)
		if m := strings.TrimSpace(tm.Message); m != "" {
			text += ": " + snippet(m)
		}
		if tm.Reason != "" && tm.Reason != "Error" && tm.Reason != "Completed" {
			typ = tm.Reason // OOMKilled says more than BackoffLimitExceeded
		}
	} else if pod != nil && pod.Status.Reason != "" {
		text += fmt.Sprintf("; pod %s: %s", pod.Name, pod.Status.Reason)
		if pod.Status.Message != "" {
			text += ": " + pod.Status.Message
		}
		typ = pod.Status.Reason
	}
	if typ == "" {
		typ = "JobFailed"
	}
	return &engine.TaskError{Message: text, Type: typ, Retryable: true}
}

// report completes (err nil) or fails the step; a consumed lease means
// another replica or the container reported first.
func (d *Dispatcher) report(ctx context.Context, t engine.Task, log *slog.Logger, out json.RawMessage, te *engine.TaskError) {
	if te != nil {
		log.Info("kubernetes step failed", "err", te.Message, "type", te.Type)
	}
	// The database may be briefly unable to answer (busy, failing over):
	// try for a while before leaving the step to its lease.
	wait := 100 * time.Millisecond
	for try := 1; ; try++ {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		var err error
		if te != nil {
			err = d.tasks.Fail(rctx, t.ID, t.Lease, *te)
		} else {
			err = d.tasks.Complete(rctx, t.ID, t.Lease, out)
		}
		cancel()
		switch {
		case err == nil:
			return
		case errors.Is(err, engine.ErrConflict) || errors.Is(err, engine.ErrNotFound):
			log.Debug("job outcome already reported")
			return
		case errors.Is(err, engine.ErrInvalidInput) || try == 6 || ctx.Err() != nil:
			log.Error("report kubernetes step; its lease will lapse", "err", err, "tries", try)
			return
		}
		log.Warn("report kubernetes step; trying again", "err", err, "wait", wait)
		time.Sleep(wait)
		wait *= 3
	}
}

// deleteJob deletes a Job and its pods (foreground).
func (d *Dispatcher) deleteJob(ctx context.Context, ns, name string, log *slog.Logger) {
	d.mu.Lock()
	if f := d.tracked[ns+"/"+name]; f != nil {
		f.deleting = true
	}
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	fg := metav1.DeletePropagationForeground
	err := d.cfg.Client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &fg})
	if err != nil && !apierrors.IsNotFound(err) {
		log.Warn("delete job", "job", ns+"/"+name, "err", err)
	}
}

// stepLog appends one line to the step's log under its lease.
func (d *Dispatcher) stepLog(ctx context.Context, t engine.Task, level, msg string, log *slog.Logger) {
	if d.cfg.Logs == nil {
		return
	}
	now := time.Now().UTC()
	_, err := d.cfg.Logs.AppendLogs(ctx, engine.LogAppend{TaskID: t.ID, Lease: t.Lease, MaxBytes: d.cfg.MaxLogBytes, Now: now,
		Lines: []engine.LogLine{{Time: now, Level: level, Message: msg}}})
	if err != nil {
		log.Debug("write step log", "err", err)
	}
}

// copyPodLog copies the pod's log to the step's log when the cluster
// keeps one (clusters without kubelets, such as kwok, have none).
func (d *Dispatcher) copyPodLog(ctx context.Context, f *follow, pod *corev1.Pod, log *slog.Logger) {
	if !d.cfg.PodLogs || pod == nil || d.cfg.Logs == nil {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	limit := d.cfg.MaxPodLogBytes
	rc, err := d.cfg.Client.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: containerName, LimitBytes: &limit, Timestamps: true}).Stream(lctx)
	if err != nil {
		log.Debug("pod log unavailable", "pod", pod.Name, "err", err)
		return
	}
	defer rc.Close()
	raw, _ := io.ReadAll(io.LimitReader(rc, limit))
	var lines []engine.LogLine
	for _, l := range strings.Split(strings.TrimRight(string(raw), "\n"), "\n") {
		if l == "" {
			continue
		}
		at := time.Now().UTC()
		if ts, rest, ok := strings.Cut(l, " "); ok {
			if tt, err := time.Parse(time.RFC3339Nano, ts); err == nil {
				at, l = tt.UTC(), rest
			}
		}
		lines = append(lines, engine.LogLine{Time: at, Level: engine.LogInfo, Message: l})
	}
	if len(lines) == 0 {
		return
	}
	if _, err := d.cfg.Logs.AppendLogs(ctx, engine.LogAppend{TaskID: f.task.ID, Lease: f.task.Lease, MaxBytes: d.cfg.MaxLogBytes, Now: time.Now().UTC(), Lines: lines}); err != nil {
		log.Debug("copy pod log", "err", err)
	}
}

func snippet(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 512 {
		return s[:512] + "…"
	}
	return s
}
