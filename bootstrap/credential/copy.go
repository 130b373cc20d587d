package credential

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/internal/names"
)

// Copy is the copy of the credential that the bootstrap keeps in the client chart's
// node-agents namespace, where the resource-monitor DaemonSet reads CLIENT_ID and
// CLIENT_PASSWORD (a pod reads Secrets of its own namespace only). It is a Secret of the
// credential Secret's name, type Opaque, holding those two keys (and the CA bundle of the
// client's containers, when the chart has an extra CA) alone, labelled
// tracebloc.io/credential-copy=true and app.kubernetes.io/instance=<release>: not the
// credential label (the guard counts credentials, and a copy is not a second client) and
// not app.kubernetes.io/name=client (the tracebloc CLI must find one credential). Helm never
// renders it, so an uninstall keeps it, as it keeps the credential Secret.
type Copy struct {
	Store     *Store // the credential Secret: its name, release, client, clock and patience
	Namespace string // the node-agents namespace
	// Trust, when set, is the CA bundle of the client's containers (package trust): the
	// copy carries it under names.TrustBundleKey, for the node agents to mount.
	Trust []byte
}

// ErrCopy marks a failure to keep the node-agents copy; its text names the namespace and
// what the chart or the operator must do. The credential Secret itself is not touched.
var ErrCopy = errors.New("cannot keep the node-agents copy of the credential")

// Sync makes the copy hold the credential of st (CLIENT_ID and CLIENT_PASSWORD): it reads
// the copy (one GET, all it costs when the copy is up to date) and creates or updates it
// when it is missing or different. changed says whether it wrote. Values are never logged.
func (c *Copy) Sync(ctx context.Context, st State) (changed bool, err error) {
	if !ValidClientID(st.ClientID) || st.Password == "" {
		return false, errors.New("refusing to copy a malformed credential")
	}
	s := c.Store
	secrets := s.Client.CoreV1().Secrets(c.Namespace)
	for conflicts := 0; ; conflicts++ {
		var cur *corev1.Secret
		err := s.patiently(ctx, "read the node-agents copy of", func() (err error) {
			cur, err = secrets.Get(ctx, s.Name, metav1.GetOptions{})
			return err
		})
		if apierrors.IsNotFound(err) {
			cur, err = nil, nil
		}
		if err != nil {
			return false, c.failed("get", err)
		}
		want, write := c.desired(cur, st)
		if !write {
			return false, nil
		}
		if cur != nil && !isCopy(cur) {
			return false, c.notACopy(cur)
		}
		verb := "update"
		if cur == nil {
			verb = "create"
		}
		err = s.patiently(ctx, "write the node-agents copy of", func() error {
			if cur == nil {
				_, err := secrets.Create(ctx, want, metav1.CreateOptions{})
				return err
			}
			_, err := secrets.Update(ctx, want, metav1.UpdateOptions{})
			return err
		})
		if (apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)) && conflicts < 5 {
			continue // someone wrote meanwhile: start again from a fresh read
		}
		if err != nil {
			return false, c.failed(verb, err)
		}
		return true, nil
	}
}

// desired is the copy as it should be, built on cur (nil when there is none) so that an
// update carries cur's resourceVersion; write is false when cur already is that.
func (c *Copy) desired(cur *corev1.Secret, st State) (want *corev1.Secret, write bool) {
	labels := map[string]string{names.CredentialCopyLabel: "true"}
	if c.Store.Release != "" {
		labels[names.AppInstanceLabel] = c.Store.Release
	}
	data := map[string][]byte{KeyClientID: []byte(st.ClientID), KeyClientPassword: []byte(st.Password)}
	if len(c.Trust) > 0 {
		data[names.TrustBundleKey] = c.Trust
	}
	if cur == nil {
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: c.Store.Name, Namespace: c.Namespace, Labels: labels},
			Type:       corev1.SecretTypeOpaque, Data: data,
		}, true
	}
	same := isOpaque(cur) && len(cur.Data) == len(data)
	for k, v := range data {
		same = same && string(cur.Data[k]) == string(v)
	}
	for k, v := range labels {
		same = same && cur.Labels[k] == v
	}
	if same {
		return cur, false
	}
	want = cur.DeepCopy()
	want.Data = data
	if want.Labels == nil {
		want.Labels = map[string]string{}
	}
	for k, v := range labels {
		want.Labels[k] = v
	}
	return want, true
}

// isCopy reports whether sec is a copy the bootstrap keeps: Opaque and carrying the copy
// label. Any other Secret of that name belongs to someone else and is never written.
func isCopy(sec *corev1.Secret) bool {
	return isOpaque(sec) && sec.Labels[names.CredentialCopyLabel] == "true"
}

func (c *Copy) notACopy(sec *corev1.Secret) error {
	ns, name := c.Namespace, c.Store.Name
	return fmt.Errorf("%w: the Secret %s/%s exists and is not the bootstrap's copy (no label %s=true, or not Opaque), so it is left as it is: "+
		"delete it (kubectl delete secret -n %s %s) if nothing else needs it, and the next start writes the copy; the credential Secret %s/%s is in place",
		ErrCopy, ns, name, names.CredentialCopyLabel, ns, name, c.Store.Namespace, name)
}

// failed explains a refused read or write of the copy: a missing namespace, or RBAC the
// chart must grant there.
func (c *Copy) failed(verb string, err error) error {
	ns, name := c.Namespace, c.Store.Name
	in := fmt.Sprintf("the credential Secret %s/%s is in place, the copy the node-agents (resource-monitor) read in namespace %s is not", c.Store.Namespace, name, ns)
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%w: %s: the bootstrap's ServiceAccount may not %s Secret %s in namespace %s: the chart must grant it a Role there "+
			"(get and update on secrets named %s, create on secrets) bound to the bootstrap's ServiceAccount; check the chart's node-agents Role and RoleBinding: %w",
			ErrCopy, in, verb, name, ns, name, err)
	case verb == "create" && apierrors.IsNotFound(err):
		return fmt.Errorf("%w: %s: namespace %s does not exist: install the chart with the client chart's resource monitor (it creates that namespace), "+
			"create it (kubectl create namespace %s), or set TRACEBLOC_NODE_AGENTS_NAMESPACE to the namespace the node agents run in: %w",
			ErrCopy, in, ns, ns, err)
	}
	return fmt.Errorf("%w: %s %s/%s: %w", ErrCopy, verb, ns, name, err)
}
