// Package guard provides the post-renderer's one-client-per-cluster check: a cluster that
// already holds a tracebloc credential Secret (label tracebloc.io/credential=true) in
// another namespace must not get a second client.
//
// It lists metadata only (client-go's metadata client, PartialObjectMetadataList), so the
// operator's machine never receives a Secret's data.
package guard

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"

	"github.com/tracebloc/edge/internal/names"
)

// CredentialSelector selects the credential Secrets the bootstrap writes.
const CredentialSelector = names.CredentialLabel + "=true"

// ErrForbidden says that the operator may not list Secrets across namespaces: the check
// could not run, which is a warning and not a stop.
var ErrForbidden = errors.New("not allowed to list Secrets across namespaces")

// ConflictError is a credential Secret in a namespace other than the target.
type ConflictError struct {
	Target  string
	Secrets []string // namespace/name, sorted
}

func (e *ConflictError) Error() string {
	ns := e.namespaces()
	deletes := make([]string, len(e.Secrets))
	for i, s := range e.Secrets {
		deletes[i] = "kubectl delete secret -n " + strings.Replace(s, "/", " ", 1)
	}
	return fmt.Sprintf("this cluster already has a tracebloc client: its credential Secret %s is in namespace %s, not %q, and a cluster holds one client. "+
		"Either install into that namespace (helm install ... -n %s), "+
		"or move the client: uninstall the release there and delete that Secret (%s), then install into %q again",
		strings.Join(e.Secrets, ", "), strings.Join(quote(ns), ", "), e.Target,
		ns[0], strings.Join(deletes, "; "), e.Target)
}

func (e *ConflictError) namespaces() []string {
	var ns []string
	for _, s := range e.Secrets {
		n, _, _ := strings.Cut(s, "/")
		if !slices.Contains(ns, n) {
			ns = append(ns, n)
		}
	}
	return ns
}

func quote(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

var secretsGVR = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}

// Check lists the credential Secrets of every namespace and returns a *ConflictError when
// one lies outside target, or an error wrapping ErrForbidden when the list is not allowed.
func Check(ctx context.Context, client metadata.Interface, target string) error {
	var foreign []string
	opts := metav1.ListOptions{LabelSelector: CredentialSelector, Limit: 500}
	for {
		list, err := client.Resource(secretsGVR).Namespace(metav1.NamespaceAll).List(ctx, opts)
		if apierrors.IsForbidden(err) {
			return fmt.Errorf("%w: %v", ErrForbidden, err)
		}
		if err != nil {
			return fmt.Errorf("list the tracebloc credential Secrets: %w", err)
		}
		for _, s := range list.Items {
			if s.Namespace != target {
				foreign = append(foreign, s.Namespace+"/"+s.Name)
			}
		}
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	if len(foreign) == 0 {
		return nil
	}
	slices.Sort(foreign)
	return &ConflictError{Target: target, Secrets: foreign}
}
