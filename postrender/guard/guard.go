// Package guard provides the post-renderer's one-client-per-cluster check: a cluster that
// already holds a tracebloc credential Secret (label tracebloc.io/credential=true) in
// another namespace must not get a second client, and neither must a cluster that runs a
// tracebloc/client release (a Secret labelled app.kubernetes.io/name=client without the
// credential label), unless the install takes that release over (migrateFrom). The
// bootstrap's copy of the credential (tracebloc.io/credential-copy) is not a client.
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

// Render is what the guard knows of the render it checks.
type Render struct {
	// Namespace is the release namespace.
	Namespace string
	// Release is the release's name as the wiring object says it ("" without one): the
	// release's own Secrets of the client chart are not another release's.
	Release string
	// Secrets are the render's own Secrets; a namespace of "" is the release namespace.
	Secrets []Object
	// MigrateFrom is the tracebloc/client release in the release namespace that this
	// install takes over (the wiring object's spec.migrateFrom).
	MigrateFrom string
}

// Object names a namespaced object.
type Object struct{ Namespace, Name string }

// Check lists the credential Secrets and the tracebloc/client releases' Secrets of every
// namespace. It returns a *ConflictError when a credential lies outside the release
// namespace, a *ReleaseError when a tracebloc/client release that this install does not
// take over exists (both, joined, when both hold), and an error wrapping ErrForbidden when
// a list is not allowed.
func Check(ctx context.Context, client metadata.Interface, r Render) error {
	var foreign []string
	err := list(ctx, client, CredentialSelector, func(s metav1.PartialObjectMetadata) {
		if s.Namespace != r.Namespace && s.Labels[names.CredentialCopyLabel] != "true" {
			foreign = append(foreign, s.Namespace+"/"+s.Name)
		}
	})
	if err != nil {
		return fmt.Errorf("list the tracebloc credential Secrets: %w", err)
	}
	var conflict error
	if len(foreign) > 0 {
		slices.Sort(foreign)
		conflict = &ConflictError{Target: r.Namespace, Secrets: foreign}
	}
	// Both checks run, so that a person sees every reason at once.
	releases := checkReleases(ctx, client, r)
	if conflict != nil && releases != nil && !errors.Is(releases, ErrForbidden) {
		return errors.Join(conflict, releases)
	}
	if conflict != nil {
		return conflict
	}
	return releases
}

// list pages through the metadata of the Secrets of all namespaces that selector selects.
func list(ctx context.Context, client metadata.Interface, selector string, each func(metav1.PartialObjectMetadata)) error {
	opts := metav1.ListOptions{LabelSelector: selector, Limit: 500}
	for {
		l, err := client.Resource(secretsGVR).Namespace(metav1.NamespaceAll).List(ctx, opts)
		if apierrors.IsForbidden(err) {
			return fmt.Errorf("%w: %v", ErrForbidden, err)
		}
		if err != nil {
			return err
		}
		for _, s := range l.Items {
			each(s)
		}
		if l.Continue == "" {
			return nil
		}
		opts.Continue = l.Continue
	}
}
