package blocks_test

import (
	"strings"
	"testing"

	"github.com/weftlabs/weft/blocks"
)

func TestParseKubernetes(t *testing.T) {
	t.Parallel()
	type want struct {
		ptr, msg string
		line     int
	}
	def := func(lines ...string) string {
		return "{\n\"name\": \"model.train\",\n" + strings.Join(lines, ",\n") + "\n}"
	}
	kube := func(extra string) string {
		return `"dispatch": {"kind": "kubernetes", "image": "registry.example.com/train:1.4"` + extra + `}`
	}
	tests := []struct {
		name string
		doc  string
		want []want
	}{
		{"minimal", def(kube("")), nil},
		{"full", def(kube(`, "command": ["python3", "train.py"], "args": ["--fast"], "namespace": "ml", "service_account": "trainer",
			"node_selector": {"cloud.google.com/gke-accelerator": "nvidia-l4"}, "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
			{"key": "spot", "value": "true", "effect": "NoExecute", "toleration_seconds": 60}], "env": {"HF_HOME": "/cache"},
			"annotations": {"sidecar.istio.io/inject": "false"}, "labels": {"team": "ml"}, "extra_resources": {"ephemeral-storage": "20Gi", "example.com/fpga": "1", "hugepages-2Mi": "64Mi"}`),
			`"resources": {"cpu": 4, "memory_gb": 16, "gpu": 1}`, `"timeout": "2h"`), nil},
		{"no image", def(`"dispatch": {"kind": "kubernetes"}`), []want{{"/dispatch", `a kubernetes block needs "image"`, 3}}},
		{"image with space", def(`"dispatch": {"kind": "kubernetes", "image": "train 1.4"}`), []want{{"/dispatch/image", "must not contain spaces", 3}}},
		{"bad namespace", def(kube(`, "namespace": "ML_team"`)), []want{{"/dispatch/namespace", `namespace "ML_team": a lowercase RFC 1123 label`, 3}}},
		{"bad service account", def(kube(`, "service_account": "Trainer!"`)), []want{{"/dispatch/service_account", `service account "Trainer!"`, 3}}},
		{"bad node selector", def(kube(`, "node_selector": {"gpu type": "a100", "zone": "eu west"}`)), []want{
			{"/dispatch/node_selector/gpu type", `key "gpu type"`, 3}, {"/dispatch/node_selector/zone", `value "eu west"`, 3}}},
		{"reserved env", def(kube(`, "env": {"WEFT_LEASE": "x", "1BAD": "y"}`)), []want{
			{"/dispatch/env/WEFT_LEASE", "is set by Weft", 3}, {"/dispatch/env/1BAD", `environment variable "1BAD"`, 3}}},
		{"weft label", def(kube(`, "labels": {"weft.dev/task": "x"}`)), []want{{"/dispatch/labels/weft.dev~1task", "is set by Weft", 3}}},
		{"toleration", def(kube(`, "tolerations": [{"operator": "Exists", "value": "x"}, {"effect": "NoSchedule"}, {"key": "a", "toleration_seconds": 5}]`)), []want{
			{"/dispatch/tolerations/0/value", `operator "Exists" has no value`, 3}, {"/dispatch/tolerations/1/operator", "without key", 3},
			{"/dispatch/tolerations/2/toleration_seconds", `"NoExecute" only`, 3}}},
		{"toleration operator", def(kube(`, "tolerations": [{"key": "a", "operator": "In"}]`)), []want{{"/dispatch/tolerations/0/operator", `must be one of "Equal", "Exists"`, 3}}},
		{"fractional gpu", def(kube(""), `"resources": {"gpu": 0.5}`), []want{{"/resources/gpu", "whole GPUs", 4}}},
		{"unknown resource", def(kube(""), `"resources": {"tpu": 1}`), []want{{"/resources/tpu", `resource "tpu" has no Kubernetes equivalent`, 4}}},
		{"extra resources", def(kube(`, "extra_resources": {"fpga": "1", "cpu": "2", "example.com/fpga": "0.5", "kubernetes.io/x": "1", "ephemeral-storage": "lots", "a b/c": "1"}`)), []want{
			{"/dispatch/extra_resources/fpga", "an extended resource needs a domain", 3},
			{"/dispatch/extra_resources/cpu", "through the block's resources", 3},
			{"/dispatch/extra_resources/example.com~1fpga", "whole units", 3},
			{"/dispatch/extra_resources/kubernetes.io~1x", "reserved", 3},
			{"/dispatch/extra_resources/ephemeral-storage", `"lots" is not a Kubernetes quantity`, 3},
			{"/dispatch/extra_resources/a b~1c", `resource name "a b/c"`, 3}}},
		{"http fields on kubernetes", def(kube(`, "url": "http://x", "queue": "gpu"`)), []want{
			{"/dispatch/url", "does not apply to kubernetes blocks", 3}, {"/dispatch/queue", "does not apply to kubernetes blocks", 3}}},
		{"kubernetes fields on worker", def(`"dispatch": {"kind": "worker", "image": "x", "namespace": "ml"}`), []want{
			{"/dispatch/image", `"image" applies to kubernetes blocks only`, 3}, {"/dispatch/namespace", `"namespace" applies to kubernetes blocks only`, 3}}},
		{"worker on a kubernetes queue", def(`"dispatch": {"kind": "worker", "queue": "kube:train"}`), []want{{"/dispatch/queue", `queue "kube:train" is reserved`, 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := blocks.Parse([]byte(tt.doc))
			if tt.want == nil {
				if err != nil || d == nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			probs := blocks.Problems(err)
			if len(probs) != len(tt.want) {
				t.Errorf("got %d problems, want %d:\n%v", len(probs), len(tt.want), err)
			}
			for _, w := range tt.want {
				found := false
				for _, p := range probs {
					if p.Pointer == w.ptr && strings.Contains(p.Msg, w.msg) && p.Line == w.line {
						found = true
					}
				}
				if !found {
					t.Errorf("missing %s line %d %q; got:\n%v", w.ptr, w.line, w.msg, err)
				}
			}
		})
	}
}

func TestKubernetesQueue(t *testing.T) {
	t.Parallel()
	d, err := blocks.Parse([]byte(`{"name": "model.train", "dispatch": {"kind": "kubernetes", "image": "train:1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if q := d.TaskQueue(); q != "kube:model.train" || !blocks.IsKubernetesQueue(q) || !blocks.IsServerQueue(q) || blocks.IsServerQueue("gpu") {
		t.Errorf("TaskQueue = %q", q)
	}
}
