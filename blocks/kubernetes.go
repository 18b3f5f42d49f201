package blocks

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/weftlabs/weft/blocks/jsoncheck"
)

// KubeGPUResource is the Kubernetes resource a block's "gpu" asks for.
const KubeGPUResource = "nvidia.com/gpu"

// KubeReservedEnv are the variables Weft gives a Kubernetes block's
// container; dispatch.env may not set them.
var KubeReservedEnv = []string{"WEFT_SERVER", "WEFT_TASK_ID", "WEFT_LEASE", "WEFT_INPUT", "WEFT_INPUT_FILE",
	"WEFT_RUN_ID", "WEFT_STEP", "WEFT_ATTEMPT"}

// kubeOnly are the dispatch fields that only a kubernetes block uses.
func (p *Dispatch) kubeOnly() map[string]bool {
	return map[string]bool{
		"image": p.Image != "", "args": p.Args != nil, "namespace": p.Namespace != "",
		"service_account": p.ServiceAccount != "", "node_selector": p.NodeSelector != nil,
		"tolerations": p.Tolerations != nil, "annotations": p.Annotations != nil, "labels": p.Labels != nil,
		"extra_resources": p.ExtraResources != nil,
	}
}

// checkKubernetes checks what the Kubernetes API server would refuse in a
// kubernetes block, so that it is refused at upload rather than when a
// step runs. What depends on the cluster (a namespace that does not exist,
// a service account Weft may not use) is reported when the Job is created.
func (d *Definition) checkKubernetes(fail func(ptr, format string, args ...any)) {
	p := &d.Dispatch
	if strings.TrimSpace(p.Image) == "" {
		fail("/dispatch", "a kubernetes block needs \"image\", such as \"registry.example.com/train:1.4\"")
	} else if strings.TrimSpace(p.Image) != p.Image || strings.ContainsAny(p.Image, " \t\n") {
		fail("/dispatch/image", "image %q must not contain spaces", p.Image)
	}
	for k, set := range map[string]bool{"queue": p.Queue != "", "url": p.URL != "", "method": p.Method != "",
		"headers": p.Headers != nil, "body": p.Body != "", "timeout": p.Timeout != 0} {
		if set {
			fail("/dispatch/"+k, "%q does not apply to kubernetes blocks; remove it (the block's own timeout bounds the Job)", k)
		}
	}
	if p.Namespace != "" {
		for _, m := range validation.IsDNS1123Label(p.Namespace) {
			fail("/dispatch/namespace", "namespace %q: %s", p.Namespace, m)
		}
	}
	if p.ServiceAccount != "" {
		for _, m := range validation.IsDNS1123Subdomain(p.ServiceAccount) {
			fail("/dispatch/service_account", "service account %q: %s", p.ServiceAccount, m)
		}
	}
	labelMap := func(field string, m map[string]string, checkValues bool) {
		for _, k := range sortedKeys(m) {
			ptr := "/dispatch/" + field + "/" + jsoncheck.Escape(k)
			for _, msg := range validation.IsQualifiedName(k) {
				fail(ptr, "key %q: %s", k, msg)
			}
			if checkValues {
				for _, msg := range validation.IsValidLabelValue(m[k]) {
					fail(ptr, "value %q: %s", m[k], msg)
				}
			}
		}
	}
	labelMap("node_selector", p.NodeSelector, true)
	labelMap("labels", p.Labels, true)
	labelMap("annotations", p.Annotations, false)
	for _, k := range sortedKeys(p.Labels) {
		if strings.HasPrefix(k, KubeLabelPrefix) {
			fail("/dispatch/labels/"+jsoncheck.Escape(k), "label %q is set by Weft; choose another name", k)
		}
	}
	for _, k := range sortedKeys(p.Env) {
		ptr := "/dispatch/env/" + jsoncheck.Escape(k)
		for _, msg := range validation.IsEnvVarName(k) {
			fail(ptr, "environment variable %q: %s", k, msg)
		}
		for _, r := range KubeReservedEnv {
			if k == r {
				fail(ptr, "environment variable %q is set by Weft; choose another name", k)
			}
		}
	}
	for i, t := range p.Tolerations {
		ptr := fmt.Sprintf("/dispatch/tolerations/%d", i)
		if t.Key != "" {
			for _, msg := range validation.IsQualifiedName(t.Key) {
				fail(ptr+"/key", "key %q: %s", t.Key, msg)
			}
		}
		switch {
		case t.Operator == "Exists" && t.Value != "":
			fail(ptr+"/value", "a toleration with operator \"Exists\" has no value; remove it")
		case t.Key == "" && t.Operator != "Exists":
			fail(ptr+"/operator", "a toleration without key must have operator \"Exists\" (it then tolerates every taint)")
		}
		if t.TolerationSeconds != nil && t.Effect != "NoExecute" {
			fail(ptr+"/toleration_seconds", "toleration_seconds applies to effect \"NoExecute\" only")
		}
	}
	for _, k := range sortedFloatKeys(d.Resources) {
		v := d.Resources[k]
		ptr := "/resources/" + jsoncheck.Escape(k)
		switch k {
		case "cpu", "memory_gb":
		case "gpu":
			if v != math.Trunc(v) {
				fail(ptr, "gpu %v: Kubernetes allocates whole GPUs; use a whole number", v)
			}
		default:
			fail(ptr, "resource %q has no Kubernetes equivalent: use cpu, memory_gb and gpu, and dispatch.extra_resources for other Kubernetes resource names", k)
		}
	}
	for _, k := range sortedKeys(p.ExtraResources) {
		ptr := "/dispatch/extra_resources/" + jsoncheck.Escape(k)
		if msg := checkKubeResourceName(k); msg != "" {
			fail(ptr, "resource name %q: %s", k, msg)
			continue
		}
		q, err := resource.ParseQuantity(p.ExtraResources[k])
		if err != nil {
			fail(ptr, "%q is not a Kubernetes quantity such as \"500m\", \"2\" or \"20Gi\"", p.ExtraResources[k])
			continue
		}
		if q.Sign() < 0 {
			fail(ptr, "%q must not be negative", p.ExtraResources[k])
		}
		if strings.Contains(k, "/") && q.MilliValue()%1000 != 0 {
			fail(ptr, "%s is an extended resource: Kubernetes allocates whole units; use a whole number", k)
		}
	}
}

// KubeLabelPrefix starts the labels Weft puts on its Jobs and pods.
const KubeLabelPrefix = "weft.dev/"

// checkKubeResourceName applies Kubernetes' rules for a container's
// resource name: a standard name, or an extended resource with a domain
// outside kubernetes.io. cpu, memory and nvidia.com/gpu come from the
// block's resources instead.
func checkKubeResourceName(name string) string {
	switch name {
	case "cpu", "memory", KubeGPUResource:
		return "set it through the block's resources (cpu, memory_gb, gpu)"
	case "ephemeral-storage":
		return ""
	}
	if strings.HasPrefix(name, "hugepages-") {
		if _, err := resource.ParseQuantity(strings.TrimPrefix(name, "hugepages-")); err != nil {
			return "a hugepages resource is named by its page size, such as \"hugepages-2Mi\""
		}
		return ""
	}
	if msgs := validation.IsQualifiedName(name); len(msgs) > 0 {
		return msgs[0]
	}
	domain, _, ok := strings.Cut(name, "/")
	if !ok {
		return "not a standard resource name (ephemeral-storage, hugepages-<size>); an extended resource needs a domain, such as \"example.com/fpga\""
	}
	if domain == "kubernetes.io" || strings.HasSuffix(domain, ".kubernetes.io") {
		return "names under kubernetes.io are reserved for Kubernetes' own resources"
	}
	if strings.HasPrefix(name, "requests.") {
		return "must not start with \"requests.\""
	}
	return ""
}

func sortedFloatKeys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
