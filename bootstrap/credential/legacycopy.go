package credential

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Label and annotation of the legacy copy (see LegacyCopy); neither holds a secret.
const (
	LabelLegacyCopy = "tracebloc.io/legacy-copy"
	AnnLegacySource = "tracebloc.io/legacy-source"
)

// Placeholder is the value the edge chart gives the client chart's clientId and
// clientPassword: it is not a credential, and the post-renderer strips it.
const Placeholder = "set-by-tracebloc-postrender"

// LegacyCopy saves the credential of a tracebloc/client release that is upgraded in place
// to the edge chart: the post-renderer strips CLIENT_ID and CLIENT_PASSWORD from that
// release's Secret (Source), so Helm's upgrade deletes them from the live Secret before the
// bootstrap can read them. Run, in a hook before Helm applies the manifests, copies the two
// keys into a Secret Helm does not own (Name), which the bootstrap then reads as its legacy
// Secret. The copy is type Opaque, holds those two keys alone, is labelled
// tracebloc.io/legacy-copy=true and names its source in tracebloc.io/legacy-source.
type LegacyCopy struct {
	Store  *Store // the edge credential Secret: its namespace, name, client, clock and patience
	Source string // the old release's Secret, <release>-secrets
	Name   string // the copy
}

// LegacyOutcome is what Run found or did; its String is the one line a person reads.
type LegacyOutcome int

const (
	AlreadyEnrolled LegacyOutcome = iota // the edge credential Secret holds both keys: nothing done
	CopyInPlace                          // the copy holds both keys already
	Copied                               // the copy was created from the source
	NoSource                             // the source does not exist: nothing copied
	NoCredential                         // the source holds no credential (stripped already): nothing copied
)

// ErrLegacyCopy marks a stop of Run that a person must fix (exit code 2): a source with one
// of the two keys, a copy that is not one, or RBAC the chart must grant. The text says which.
var ErrLegacyCopy = errors.New("cannot copy the legacy credential")

// Run makes sure the credential of Source survives the upgrade, doing nothing when the edge
// credential or the copy is in place already. Values are never logged or returned.
func (l *LegacyCopy) Run(ctx context.Context) (LegacyOutcome, error) {
	ns := l.Store.Namespace
	cred, err := l.get(ctx, l.Store.Name)
	if err != nil {
		return 0, err
	}
	if hasCredential(cred) {
		return AlreadyEnrolled, nil
	}
	if done, err := l.copyInPlace(ctx); done || err != nil {
		return CopyInPlace, err
	}
	src, err := l.get(ctx, l.Source)
	if err != nil || src == nil {
		return NoSource, err
	}
	id, pw := credentialKey(src, KeyClientID), credentialKey(src, KeyClientPassword)
	switch {
	case (id == "") != (pw == ""):
		missing := KeyClientPassword
		if id == "" {
			missing = KeyClientID
		}
		return 0, fmt.Errorf("%w: the Secret %s/%s holds one half of a credential (no %s): put both CLIENT_ID and CLIENT_PASSWORD back "+
			"(kubectl edit secret -n %s %s), or, to enroll a new client instead, delete that key, then upgrade again", ErrLegacyCopy, ns, l.Source, missing, ns, l.Source)
	case id == "" || !ValidClientID(id) || !ValidPassword(pw):
		return NoCredential, nil
	}
	return l.create(ctx, id, pw)
}

// copyInPlace reports whether the copy exists with both keys; a Secret of that name that
// does not hold them stops the run, since the bootstrap would read it.
func (l *LegacyCopy) copyInPlace(ctx context.Context) (bool, error) {
	cp, err := l.get(ctx, l.Name)
	switch {
	case err != nil || cp == nil:
		return false, err
	case hasCredential(cp):
		return true, nil
	}
	ns := l.Store.Namespace
	return false, fmt.Errorf("%w: the Secret %s/%s exists and does not hold a CLIENT_ID and CLIENT_PASSWORD: delete it (kubectl delete secret -n %s %s) and upgrade again",
		ErrLegacyCopy, ns, l.Name, ns, l.Name)
}

// create writes the copy; one written meanwhile by another run is as good.
func (l *LegacyCopy) create(ctx context.Context, id, pw string) (LegacyOutcome, error) {
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: l.Name, Namespace: l.Store.Namespace,
			Labels:      map[string]string{LabelLegacyCopy: "true"},
			Annotations: map[string]string{AnnLegacySource: l.Source},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{KeyClientID: []byte(id), KeyClientPassword: []byte(pw)},
	}
	err := l.Store.patiently(ctx, "create the legacy copy of", func() error {
		_, err := l.Store.secrets().Create(ctx, sec, metav1.CreateOptions{})
		return err
	})
	if apierrors.IsAlreadyExists(err) {
		if done, err := l.copyInPlace(ctx); done || err != nil {
			return CopyInPlace, err
		}
	}
	if err != nil {
		return 0, l.failed("create", l.Name, err)
	}
	return Copied, nil
}

// get reads one Secret of the namespace, nil when it does not exist.
func (l *LegacyCopy) get(ctx context.Context, name string) (*corev1.Secret, error) {
	var sec *corev1.Secret
	of := *l.Store // the waits' log lines name the Secret read
	of.Name = name
	err := of.patiently(ctx, "read", func() (err error) {
		sec, err = of.secrets().Get(ctx, name, metav1.GetOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, l.failed("get", name, err)
	}
	return sec, nil
}

// failed explains a refused call: RBAC names the Role the hook needs.
func (l *LegacyCopy) failed(verb, name string, err error) error {
	ns := l.Store.Namespace
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("%w: the hook's ServiceAccount may not %s Secret %s/%s: the chart must grant it a Role in %s with get on secrets named %s, %s and %s, "+
			"and create on secrets: %w", ErrLegacyCopy, verb, ns, name, ns, l.Store.Name, l.Source, l.Name, err)
	}
	return fmt.Errorf("%s secret %s/%s: %w", verb, ns, name, err)
}

// hasCredential: both keys hold a well-formed credential.
func hasCredential(sec *corev1.Secret) bool {
	return sec != nil && ValidClientID(string(sec.Data[KeyClientID])) && ValidPassword(string(sec.Data[KeyClientPassword]))
}

// credentialKey is the value of key in sec, "" when absent or the chart's placeholder.
func credentialKey(sec *corev1.Secret, key string) string {
	v := string(sec.Data[key])
	if v == Placeholder {
		return ""
	}
	return v
}

// Line is the one line Run's outcome prints; it names Secrets, never values.
func (l *LegacyCopy) Line(o LegacyOutcome) string {
	ns := l.Store.Namespace
	switch o {
	case AlreadyEnrolled:
		return fmt.Sprintf("already enrolled: the credential Secret %s/%s holds CLIENT_ID and CLIENT_PASSWORD; nothing copied", ns, l.Store.Name)
	case CopyInPlace:
		return fmt.Sprintf("copy in place: %s/%s holds CLIENT_ID and CLIENT_PASSWORD already", ns, l.Name)
	case Copied:
		return fmt.Sprintf("copied CLIENT_ID and CLIENT_PASSWORD from %s/%s to %s/%s, which the bootstrap adopts", ns, l.Source, ns, l.Name)
	case NoSource:
		return fmt.Sprintf("nothing copied: the Secret %s/%s does not exist (no tracebloc/client release of that name here, or removed already)", ns, l.Source)
	default:
		return fmt.Sprintf("nothing copied: the Secret %s/%s holds no usable CLIENT_ID and CLIENT_PASSWORD (none, the chart's placeholder, or malformed; none is normal after an earlier upgrade removed them)", ns, l.Source)
	}
}

// DropLegacyCopy deletes the legacy copy name once the credential Secret holds the client
// it carried (st, after a migration): a second place holding the machine credential is one
// too many. It deletes only a copy the hook made (Opaque, labelled tracebloc.io/legacy-copy)
// whose CLIENT_ID is st's, with the read's UID and resourceVersion as preconditions, so a
// Secret written meanwhile is never lost. dropped says whether it deleted; a refusal
// (RBAC) returns an error whose text says how to delete it by hand.
func (s *Store) DropLegacyCopy(ctx context.Context, name string, st State) (dropped bool, err error) {
	var sec *corev1.Secret
	err = s.patiently(ctx, "read the legacy copy", func() (err error) {
		sec, err = s.secrets().Get(ctx, name, metav1.GetOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, s.dropFailed(name, "read", err)
	}
	if !isOpaque(sec) || sec.Labels[LabelLegacyCopy] != "true" || string(sec.Data[KeyClientID]) != st.ClientID {
		return false, nil // not the hook's copy of this client: someone else's, kept
	}
	uid, rv := sec.UID, sec.ResourceVersion
	err = s.patiently(ctx, "delete the legacy copy", func() error {
		return s.secrets().Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}})
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return false, nil // gone already, or changed meanwhile: left to whoever changed it
	}
	if err != nil {
		return false, s.dropFailed(name, "delete", err)
	}
	return true, nil
}

func (s *Store) dropFailed(name, verb string, err error) error {
	ns := s.Namespace
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("the bootstrap may not %s the legacy copy %s/%s (the chart grants it delete on that Secret from this version on): the credential Secret %s/%s holds the client, so delete the copy by hand: kubectl delete secret -n %s %s: %w",
			verb, ns, name, ns, s.Name, ns, name, err)
	}
	return fmt.Errorf("%s the legacy copy %s/%s: %w; the credential Secret %s/%s holds the client, so the copy may be deleted by hand: kubectl delete secret -n %s %s",
		verb, ns, name, err, ns, s.Name, ns, name)
}
