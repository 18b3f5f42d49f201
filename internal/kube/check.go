package kube

import (
	"context"
	"fmt"
	"time"

	authv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weftlabs/weft/blocks"
	"github.com/weftlabs/weft/blocks/jsoncheck"
)

// CheckBlock says what in a kubernetes block this server could not run,
// so that the upload is refused rather than its steps failing later: a
// namespace the dispatcher does not follow (WatchNamespace), one the
// cluster does not have, or one where the server's identity may not
// create or delete Jobs. What the API server cannot be asked now is left
// to dispatch, where the step fails with the API server's message.
func (d *Dispatcher) CheckBlock(ctx context.Context, def *blocks.Definition) []*jsoncheck.ValidationError {
	if def == nil || def.Dispatch.Kind != blocks.DispatchKubernetes {
		return nil
	}
	ns, ptr, whose := def.Dispatch.Namespace, "/dispatch/namespace", "namespace "
	if ns == "" {
		ns, ptr, whose = d.cfg.Namespace, "/dispatch", "this server's default namespace (--kube-namespace) "
	}
	if d.cfg.WatchNamespace != "" && ns != d.cfg.WatchNamespace {
		return []*jsoncheck.ValidationError{{Pointer: ptr, Msg: fmt.Sprintf(
			"%s%q is not followed by this server, which watches Jobs in namespace %q only (--kube-watch-namespace): its Jobs would never be reported; use namespace %q",
			whose, ns, d.cfg.WatchNamespace, d.cfg.WatchNamespace)}}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := d.cfg.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		return []*jsoncheck.ValidationError{{Pointer: ptr, Msg: fmt.Sprintf(
			"%s%q does not exist on the cluster: create it (kubectl create namespace %s) or name another", whose, ns, ns)}}
	}
	var problems []*jsoncheck.ValidationError
	for _, verb := range []string{"create", "delete"} {
		r, err := d.cfg.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authv1.SelfSubjectAccessReview{
			Spec: authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authv1.ResourceAttributes{
				Namespace: ns, Verb: verb, Group: "batch", Resource: "jobs"}}}, metav1.CreateOptions{})
		if err != nil {
			d.log.Warn("ask the API server what this server may do; the block is stored unchecked", "namespace", ns, "err", err)
			return nil
		}
		if !r.Status.Allowed {
			msg := fmt.Sprintf("Weft's identity on the cluster may not %s Jobs in %s%q", verb, whose, ns)
			if r.Status.Reason != "" {
				msg += " (the API server says: " + r.Status.Reason + ")"
			}
			msg += ": grant it the rules of deploy/kubernetes/rbac.yaml there (a RoleBinding of the weft-job-dispatch ClusterRole in that namespace will do), or name a namespace where it has them"
			problems = append(problems, &jsoncheck.ValidationError{Pointer: ptr, Msg: msg})
		}
	}
	return problems
}
