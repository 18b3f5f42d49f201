package kube

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/engine"
)

// Labels and annotations Weft puts on its Jobs (and their pods).
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	managedBy      = "weft"
	LabelTask      = blocks.KubeLabelPrefix + "task"
	LabelRun       = blocks.KubeLabelPrefix + "run"
	LabelStep      = blocks.KubeLabelPrefix + "step"
	LabelAttempt   = blocks.KubeLabelPrefix + "attempt"
	LabelJob       = blocks.KubeLabelPrefix + "job"

	annLease   = blocks.KubeLabelPrefix + "lease"
	annStep    = blocks.KubeLabelPrefix + "step-path"
	annBlock   = blocks.KubeLabelPrefix + "block"
	annLeaseUS = blocks.KubeLabelPrefix + "lease-us"

	// containerName is the name of the one container of a Job's pod.
	containerName = "main"
	// inputPath is where a large input is mounted in the container.
	inputDir  = "/var/run/weft"
	inputFile = "input.json"
)

// JobName is the name of the Job of one attempt: the task id (which is
// already unique per attempt) and the attempt number, so that every replica
// computes the same name and the API server refuses a second Job.
func JobName(taskID string, attempt int) string {
	return "weft-" + strings.ToLower(taskID) + "-a" + strconv.Itoa(attempt)
}

var notLabel = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// labelValue turns s into a valid label value (63 characters of
// [A-Za-z0-9_.-], starting and ending alphanumeric).
func labelValue(s string) string {
	v := notLabel.ReplaceAllString(s, "-")
	if len(v) > 63 {
		v = v[:63]
	}
	return strings.Trim(v, "-_.")
}

// jobSpec is what buildJob needs beyond the block definition.
type jobSpec struct {
	task      engine.Task
	def       *blocks.Definition
	namespace string
	serverURL string
	inline    bool // input in WEFT_INPUT, else mounted from a ConfigMap named like the Job
	ttl       int32
	lease     int64 // µs, for adopters to pace their heartbeats
}

// resources turns a block's resources into Kubernetes requests and limits
// (the same for both, so a GPU request is valid and the pod is
// Guaranteed when all are set).
func resources(def *blocks.Definition) (corev1.ResourceList, error) {
	rl := corev1.ResourceList{}
	for k, v := range def.Resources {
		if v <= 0 {
			continue
		}
		switch k {
		case "cpu":
			rl[corev1.ResourceCPU] = *resource.NewMilliQuantity(int64(math.Ceil(v*1000)), resource.DecimalSI)
		case "memory_gb":
			if v == math.Trunc(v) {
				q := resource.MustParse(strconv.FormatInt(int64(v), 10) + "Gi")
				rl[corev1.ResourceMemory] = q
			} else {
				rl[corev1.ResourceMemory] = *resource.NewQuantity(int64(math.Ceil(v*(1<<30))), resource.BinarySI)
			}
		case "gpu":
			rl[blocks.KubeGPUResource] = *resource.NewQuantity(int64(v), resource.DecimalSI)
		default:
			return nil, fmt.Errorf("resource %q has no Kubernetes equivalent", k)
		}
	}
	for k, v := range def.Dispatch.ExtraResources {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("dispatch.extra_resources.%s: %w", k, err)
		}
		rl[corev1.ResourceName(k)] = q
	}
	return rl, nil
}

// buildJob builds the Job of one attempt.
func buildJob(s jobSpec) (*batchv1.Job, error) {
	t, def := s.task, s.def
	name := JobName(t.ID, t.Attempt)
	rl, err := resources(def)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{
		LabelManagedBy: managedBy,
		LabelTask:      t.ID,
		LabelRun:       labelValue(t.RunID),
		LabelStep:      labelValue(t.Path),
		LabelAttempt:   strconv.Itoa(t.Attempt),
		LabelJob:       name,
	}
	podLabels := map[string]string{}
	for k, v := range def.Dispatch.Labels {
		podLabels[k] = v
	}
	for k, v := range labels {
		podLabels[k] = v
	}
	env := []corev1.EnvVar{
		{Name: "WEFT_SERVER", Value: s.serverURL},
		{Name: "WEFT_TASK_ID", Value: t.ID},
		{Name: "WEFT_LEASE", Value: t.Lease},
		{Name: "WEFT_RUN_ID", Value: t.RunID},
		{Name: "WEFT_STEP", Value: t.Path},
		{Name: "WEFT_ATTEMPT", Value: strconv.Itoa(t.Attempt)},
	}
	input := t.Input
	if len(input) == 0 {
		input = json.RawMessage("{}")
	}
	var volumes []corev1.Volume
	var mounts []corev1.VolumeMount
	if s.inline {
		env = append(env, corev1.EnvVar{Name: "WEFT_INPUT", Value: string(input)})
	} else {
		env = append(env, corev1.EnvVar{Name: "WEFT_INPUT_FILE", Value: inputDir + "/" + inputFile})
		volumes = []corev1.Volume{{Name: "weft-input", VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}}}}
		mounts = []corev1.VolumeMount{{Name: "weft-input", MountPath: inputDir, ReadOnly: true}}
	}
	keys := make([]string, 0, len(def.Dispatch.Env))
	for k := range def.Dispatch.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, corev1.EnvVar{Name: k, Value: def.Dispatch.Env[k]})
	}
	var tols []corev1.Toleration
	for _, tl := range def.Dispatch.Tolerations {
		tols = append(tols, corev1.Toleration{Key: tl.Key, Operator: corev1.TolerationOperator(tl.Operator),
			Value: tl.Value, Effect: corev1.TaintEffect(tl.Effect), TolerationSeconds: tl.TolerationSeconds})
	}
	backoff := int32(0)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: s.namespace, Labels: labels,
			Annotations: map[string]string{
				annLease: t.Lease, annStep: t.Path, annBlock: fmt.Sprintf("%s@%d", t.Block, t.Version),
				annLeaseUS: strconv.FormatInt(s.lease, 10),
			},
		},
		Spec: batchv1.JobSpec{
			BackoffLimit: &backoff,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: def.Dispatch.Annotations},
				Spec: corev1.PodSpec{
					RestartPolicy:      corev1.RestartPolicyNever,
					ServiceAccountName: def.Dispatch.ServiceAccount,
					NodeSelector:       def.Dispatch.NodeSelector,
					Tolerations:        tols,
					Volumes:            volumes,
					Containers: []corev1.Container{{
						Name: containerName, Image: def.Dispatch.Image, Command: def.Dispatch.Command, Args: def.Dispatch.Args,
						Env: env, VolumeMounts: mounts,
						Resources:                corev1.ResourceRequirements{Requests: rl, Limits: rl.DeepCopy()},
						TerminationMessagePath:   corev1.TerminationMessagePathDefault,
						TerminationMessagePolicy: corev1.TerminationMessageReadFile,
					}},
				},
			},
		},
	}
	if len(rl) == 0 {
		job.Spec.Template.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
	}
	if s.ttl > 0 {
		ttl := s.ttl
		job.Spec.TTLSecondsAfterFinished = &ttl
	}
	if def.Timeout > 0 {
		secs := int64(math.Ceil(time.Duration(def.Timeout).Seconds()))
		job.Spec.ActiveDeadlineSeconds = &secs
	}
	return job, nil
}
