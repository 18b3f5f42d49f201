package kube_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

// The manifests of deploy/kubernetes are accepted by the real API server
// (server-side apply, dry run: validation, defaulting and admission, no
// change stored).
func TestDeployManifestsDryRun(t *testing.T) {
	t.Parallel()
	c := needCluster(t)
	dir := filepath.Join("..", "..", "deploy", "kubernetes")
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var kust struct {
		Namespace string   `json:"namespace"`
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(raw, &kust); err != nil {
		t.Fatal(err)
	}
	if kust.Namespace == "" || len(kust.Resources) == 0 {
		t.Fatalf("kustomization.yaml: namespace %q, resources %v", kust.Namespace, kust.Resources)
	}
	namespace(t, kust.Namespace)
	rc, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Client.Discovery()))
	kinds := map[string]int{}
	for _, file := range kust.Resources {
		text, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range strings.Split(string(text), "\n---\n") {
			var obj unstructured.Unstructured
			if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
				t.Fatalf("%s document %d: %v", file, i, err)
			}
			if len(obj.Object) == 0 {
				continue
			}
			gvk := obj.GroupVersionKind()
			m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				t.Fatalf("%s: %s: %v", file, gvk, err)
			}
			var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
			if m.Scope.Name() == "namespace" {
				obj.SetNamespace(kust.Namespace)
				ri = dyn.Resource(m.Resource).Namespace(kust.Namespace)
			}
			_, err = ri.Apply(context.Background(), obj.GetName(), &obj, metav1.ApplyOptions{FieldManager: "weft-test", DryRun: []string{metav1.DryRunAll}})
			if err != nil {
				t.Errorf("%s: %s %s refused: %v", file, gvk.Kind, obj.GetName(), err)
			}
			kinds[gvk.Kind]++
		}
	}
	for _, k := range []string{"ConfigMap", "Secret", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service"} {
		if kinds[k] == 0 {
			t.Errorf("no %s among the manifests (%v)", k, kinds)
		}
	}
	if kinds["Deployment"] != 2 {
		t.Errorf("%d Deployments, want the server's and the worker's", kinds["Deployment"])
	}
}
