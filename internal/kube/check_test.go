package kube_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/weftlabs/weft/internal/kube"
	weftserver "github.com/weftlabs/weft/server"
)

// limitedKubeconfig writes a kubeconfig for a service account that may
// follow Jobs everywhere but create and delete them in ns only, as an
// operator confining Weft to one namespace would set it up.
func limitedKubeconfig(t *testing.T, ns string) string {
	t.Helper()
	c := needCluster(t)
	ctx := context.Background()
	cs := c.Client
	sa, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "weft"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	subject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.Name, Namespace: ns}}
	follow := "weft-follow-" + ns
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: follow}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.RbacV1().ClusterRoles().Delete(context.Background(), follow, metav1.DeleteOptions{}) })
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: follow},
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: follow}, Subjects: subject}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.RbacV1().ClusterRoleBindings().Delete(context.Background(), follow, metav1.DeleteOptions{}) })
	if _, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "weft-jobs"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"create", "patch", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create", "patch"}},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "weft-jobs"},
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "weft-jobs"}, Subjects: subject}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa.Name, &authnv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range cfg.AuthInfos {
		u.Token = tok.Status.Token
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

type apiProblem struct {
	Error struct {
		Code    string `json:"code"`
		Details []struct {
			Path    string `json:"path"`
			Message string `json:"message"`
			Line    int    `json:"line"`
		} `json:"details"`
	} `json:"error"`
}

// putBlock uploads a block and answers the refusal, or nil when stored.
func putBlock(t *testing.T, base, body string) *apiProblem {
	t.Helper()
	err := try("PUT", base+"/api/v1/blocks", body, nil)
	if err == nil {
		return nil
	}
	msg := err.Error()
	i := strings.Index(msg, "{")
	if !strings.Contains(msg, ": 422 ") || i < 0 {
		t.Fatalf("upload: %v, want stored or refused with 422", err)
	}
	var p apiProblem
	if err := json.Unmarshal([]byte(msg[i:]), &p); err != nil {
		t.Fatalf("422 body: %v: %s", err, msg)
	}
	return &p
}

// A kubernetes block naming a namespace the server cannot use is refused
// at upload, at /dispatch/namespace with its line, saying why and what to
// do: a namespace that does not exist, one where Weft's identity may not
// create Jobs, and one outside --kube-watch-namespace. One it may use is
// stored.
func TestUploadRefusesNamespacesItCannotUse(t *testing.T) {
	t.Parallel()
	mine := namespace(t, "weft-rbac-mine")
	other := namespace(t, "weft-rbac-other")
	block := func(name, ns string) string {
		return fmt.Sprintf(`{"name": %q,
  "dispatch": {"kind": "kubernetes", "image": "train:1",
    "namespace": %q}}`, name, ns)
	}
	limited := startServer(t, filepath.Join(t.TempDir(), "weft.db"), "--kubeconfig", limitedKubeconfig(t, mine))
	admin := startServer(t, filepath.Join(t.TempDir(), "weft.db"), "--kube-watch-namespace", mine)
	for _, tc := range []struct {
		name, base, ns, want string
	}{
		{"missing namespace", limited.url(), "weft-no-such-namespace", `namespace "weft-no-such-namespace" does not exist on the cluster`},
		{"forbidden namespace", limited.url(), other, `may not create Jobs in namespace "` + other + `"`},
		{"unwatched namespace", admin.url(), other, `watches Jobs in namespace "` + mine + `" only`},
	} {
		p := putBlock(t, tc.base, block("k.refused", tc.ns))
		if p == nil {
			t.Fatalf("%s: stored, want refused", tc.name)
		}
		if len(p.Error.Details) == 0 || p.Error.Details[0].Path != "/dispatch/namespace" || p.Error.Details[0].Line != 3 ||
			!strings.Contains(p.Error.Details[0].Message, tc.want) {
			t.Fatalf("%s: refused with %+v; want /dispatch/namespace at line 3 saying %q", tc.name, p.Error, tc.want)
		}
		t.Logf("%s: %s", tc.name, p.Error.Details[0].Message)
	}
	for _, base := range []string{limited.url(), admin.url()} {
		if p := putBlock(t, base, block("k.allowed", mine)); p != nil {
			t.Fatalf("a namespace the server may use: refused with %+v", p.Error)
		}
	}
	// The server started with the limited identity still dispatches there.
	call(t, "POST", limited.url()+"/api/v1/flows", oneStepFlow("k-allowed", "k.allowed"), nil)
	id := startRun(t, limited.url(), "k-allowed", map[string]any{"n": 1})
	if r := waitRun(t, limited.url(), id, 3*time.Minute, "succeeded", "failed"); r.Status != "succeeded" {
		t.Fatalf("run in the allowed namespace: %s: %s\n%s", r.Status, describe(r.Steps[0]), tail(limited.log))
	}
}

// An API server that cannot say what the server may do does not refuse
// the upload (the step fails at dispatch with its message if need be);
// blocks of other kinds are not asked about.
func TestCheckBlockUnreachableStoresUnchecked(t *testing.T) {
	cs := fake.NewClientset()
	asked := 0
	cs.PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		asked++
		return true, nil, errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")
	})
	d := kube.New(kube.Config{Client: cs}, nil, nil)
	def, err := weftserver.ParseBlock([]byte(`{"name": "k.x", "dispatch": {"kind": "kubernetes", "image": "train:1", "namespace": "ml"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if ps := d.CheckBlock(context.Background(), def); len(ps) != 0 || asked == 0 {
		t.Fatalf("unreachable API server: problems %v after %d calls; want none, after asking", ps, asked)
	}
	asked = 0
	worker, err := weftserver.ParseBlock([]byte(`{"name": "w.x", "dispatch": {"kind": "worker"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if ps := d.CheckBlock(context.Background(), worker); len(ps) != 0 || asked != 0 {
		t.Fatalf("worker block: problems %v, %d calls; want none", ps, asked)
	}
}
