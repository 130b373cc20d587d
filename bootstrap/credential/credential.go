// Package credential provides the credential Secret: the one place in the cluster where
// the machine credential (CLIENT_ID, CLIENT_PASSWORD) lives, plus the state the bootstrap
// needs to survive a crash at any instant: the write-ahead password (annotation
// tracebloc.io/enrollment=pending). The device code of a pending approval is never kept
// here: whoever can read the Secret could take the approving person's token with it. A
// restart shows a new code, and the key an older version kept it under is removed at the
// next write.
//
// Every write is a read-modify-write on the resourceVersion the bootstrap last read, so a
// concurrent writer is detected, and a complete credential is never replaced by a write
// that did not first see it.
//
// The store writes only an Opaque Secret that carries the bootstrap's mark (the label
// tracebloc.io/credential=true, or app.kubernetes.io/managed-by=tracebloc-bootstrap on one
// it created). An unmarked Opaque Secret holding CLIENT_ID and CLIENT_PASSWORD is a
// credential an operator manages: it is read, never written. Any other Secret of that name
// belongs to someone else and is refused (ErrNotOurs).
//
// With a release (Store.Release) every write also labels the Secret
// app.kubernetes.io/name=client and app.kubernetes.io/instance=<release>, where the
// tracebloc CLI looks for CLIENT_ID; Label adds them to an older Secret. Copy keeps the
// credential's copy in the client chart's node-agents namespace.
package credential

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/tracebloc/edge/bootstrap/kube"
	"github.com/tracebloc/edge/internal/names"
	"github.com/tracebloc/edge/internal/retry"
	"github.com/tracebloc/edge/internal/safetext"
)

// Keys of the Secret's data. CLIENT_ID and CLIENT_PASSWORD are the names the edge
// workloads already read.
const (
	KeyClientID       = "CLIENT_ID"
	KeyClientPassword = "CLIENT_PASSWORD"
	// legacyKeyDeviceGrant held the pending device code in older versions; every write
	// removes it.
	legacyKeyDeviceGrant = "TRACEBLOC_DEVICE_GRANT"
)

// Label and annotations of the Secret; none of them ever holds a secret.
const (
	LabelCredential  = names.CredentialLabel
	AnnClusterID     = names.ClusterIDLabel
	AnnClientID      = "tracebloc.io/client-id"
	AnnClientName    = "tracebloc.io/client-name"
	AnnEnrolledAt    = "tracebloc.io/enrolled-at"
	AnnEnrollment    = "tracebloc.io/enrollment"
	LabelManagedBy   = "app.kubernetes.io/managed-by"
	managedByValue   = "tracebloc-bootstrap"
	MinPasswordBytes = 16
)

// Enrollment values of the tracebloc.io/enrollment annotation.
const (
	Pending  = "pending"
	Minted   = "minted"
	Adopted  = "adopted"
	Migrated = "migrated"
	Reset    = "reset"
	// Revoked marks a credential whose client was revoked (the offboarding hook): the next
	// start enrolls again without asking the backend whether it still works.
	Revoked = "revoked"
)

// errUnchanged tells modify that the edit found nothing to write.
var errUnchanged = errors.New("unchanged")

// ErrComplete is returned by a write that found a complete credential in place: someone
// else finished the enrollment, and nothing was overwritten.
var ErrComplete = errors.New("the credential Secret already holds a complete credential")

// ErrInPlace is returned by a write-ahead that found a credential in the Secret which the
// caller did not show the backend refused: it is kept.
var ErrInPlace = errors.New("the credential Secret holds a credential the backend has not refused, so it is kept; the next start checks it again")

// ErrNotOurs marks a Secret of the credential Secret's name that the bootstrap did not
// make and will not touch; the error's text names it and says what to do.
var ErrNotOurs = errors.New("not the bootstrap's credential Secret")

// State is what the Secret says, after validation: a hand-edited or half-written Secret
// never reads as complete.
type State struct {
	Exists bool
	// Owned: the Secret carries the bootstrap's mark, so the bootstrap may write it. An
	// existing Secret that is not owned holds an operator's credential (see the package
	// comment).
	Owned       bool
	ClientID    string // the client's username (UUID)
	Password    string
	Enrollment  string
	ClusterID   string // the tracebloc.io/cluster-id annotation
	DashboardID int64  // the tracebloc.io/client-id annotation; 0 when absent or malformed
	ClientName  string // the tracebloc.io/client-name annotation
	// Unlabelled: the Secret lacks a label of the store's release (see Store.Release); Label
	// adds them. Set by Read, for an owned Secret only.
	Unlabelled bool
}

// Complete reports whether the Secret holds a usable credential: both keys well formed and
// an enrollment that finished.
func (s State) Complete() bool {
	switch s.Enrollment {
	case Minted, Adopted, Migrated, Reset:
	default:
		return false
	}
	return ValidClientID(s.ClientID) && ValidPassword(s.Password)
}

// WriteAheadPassword returns the password stored before a create that may have reached
// the backend, or "" when there is none.
func (s State) WriteAheadPassword() string {
	if s.Enrollment == Pending && ValidPassword(s.Password) {
		return s.Password
	}
	return ""
}

// ValidClientID accepts a plausible username: printable, no spaces, at most 150 bytes.
func ValidClientID(v string) bool { return printable(v, 1, 150) }

// ValidPassword accepts a machine credential of MinPasswordBytes to 512 printable
// characters without spaces.
func ValidPassword(v string) bool { return printable(v, MinPasswordBytes, 512) }

func printable(v string, minLen, maxLen int) bool {
	// Invalid UTF-8 decodes as U+FFFD, which IsPrint accepts: check it first.
	if len(v) < minLen || len(v) > maxLen || !utf8.ValidString(v) {
		return false
	}
	return !strings.ContainsFunc(v, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) })
}

// Record is a finished enrollment, written by Commit.
type Record struct {
	ClientID    string // username
	Password    string
	ClusterID   string
	DashboardID int64
	Name        string
	Enrollment  string // Minted, Adopted, Migrated or Reset
}

// Store reads and writes one credential Secret.
type Store struct {
	Client    kube.Interface
	Namespace string
	Name      string
	Clock     clock.Clock       // the time of Commit and of every wait; default the real clock
	Labels    map[string]string // extra labels on a Secret the store creates (e.g. the cluster id)
	// Release is the Helm release: every Secret the store writes is labelled
	// app.kubernetes.io/name=client and app.kubernetes.io/instance=Release, which is how the
	// tracebloc CLI finds the credential; "" writes neither label.
	Release string
	// Patience is how long a read or write waits for an API server that does not answer
	// (refused or dropped connections, timeouts, 429, 5xx) before it fails; 0 means
	// DefaultPatience. The wait also ends with ctx.
	Patience time.Duration
	Log      zerolog.Logger // the waits, one line each
}

// DefaultPatience rides out an API server restart, which takes seconds to a minute.
const DefaultPatience = 2 * time.Minute

func (s *Store) secrets() typedSecrets { return s.Client.CoreV1().Secrets(s.Namespace) }

type typedSecrets = interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.Secret, error)
	Create(ctx context.Context, secret *corev1.Secret, opts metav1.CreateOptions) (*corev1.Secret, error)
	Update(ctx context.Context, secret *corev1.Secret, opts metav1.UpdateOptions) (*corev1.Secret, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// Read returns the Secret's state; a missing Secret is a zero State without error.
// It is one GET.
// A Secret that is not the bootstrap's (ErrNotOurs) is an error, except an operator's
// credential, which reads with Owned false.
func (s *Store) Read(ctx context.Context) (State, error) {
	sec, err := s.get(ctx)
	if err != nil || sec == nil {
		return State{}, err
	}
	st := stateOf(sec)
	if !st.Owned && (!isOpaque(sec) || !ValidClientID(st.ClientID) || st.Password == "") {
		return State{}, s.notOurs(sec)
	}
	if st.Owned {
		for k, v := range s.releaseLabels() {
			st.Unlabelled = st.Unlabelled || sec.Labels[k] != v
		}
	}
	return st, nil
}

// releaseLabels are the labels of the release on every Secret the store writes.
func (s *Store) releaseLabels() map[string]string {
	if s.Release == "" {
		return nil
	}
	return map[string]string{names.AppNameLabel: names.ClientChartName, names.AppInstanceLabel: s.Release}
}

// Label adds the release's labels to a Secret that lacks them (State.Unlabelled): a Secret
// written before the store had a release. It is a read-modify-write like every write (get
// and update, the rights the chart grants), which adds the labels and changes nothing else,
// and only of a Secret that is still the store's.
func (s *Store) Label(ctx context.Context) error {
	if s.Release == "" {
		return nil
	}
	err := s.modify(ctx, func(sec *corev1.Secret) error { // load puts the labels on
		if sec.ResourceVersion == "" {
			return errUnchanged // deleted meanwhile: nothing to label, nothing to create
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("label the credential Secret with %s=%s and %s=%s: %w",
			names.AppNameLabel, names.ClientChartName, names.AppInstanceLabel, s.Release, err)
	}
	return nil
}

func stateOf(sec *corev1.Secret) State {
	id, err := strconv.ParseInt(sec.Annotations[AnnClientID], 10, 64)
	if err != nil || id < 0 {
		id = 0
	}
	return State{
		Exists:      true,
		Owned:       owned(sec),
		ClientID:    string(sec.Data[KeyClientID]),
		Password:    string(sec.Data[KeyClientPassword]),
		Enrollment:  sec.Annotations[AnnEnrollment],
		ClusterID:   sec.Annotations[AnnClusterID],
		DashboardID: id,
		ClientName:  sec.Annotations[AnnClientName],
	}
}

// owned reports whether the bootstrap may write sec: Opaque and marked as its own.
func owned(sec *corev1.Secret) bool {
	return isOpaque(sec) && (sec.Labels[LabelCredential] == "true" || sec.Labels[LabelManagedBy] == managedByValue)
}

// isOpaque: the API server stores an empty type as Opaque.
func isOpaque(sec *corev1.Secret) bool {
	return sec.Type == corev1.SecretTypeOpaque || sec.Type == ""
}

// notOurs explains why sec is refused and what fixes it.
func (s *Store) notOurs(sec *corev1.Secret) error {
	what := fmt.Sprintf("it is of type %s, not Opaque", safetext.Excerpt(string(sec.Type), 64))
	if isOpaque(sec) {
		what = "it has no label " + LabelCredential + "=true and holds no CLIENT_ID and CLIENT_PASSWORD"
	}
	if isOpaque(sec) && ValidClientID(string(sec.Data[KeyClientID])) && len(sec.Data[KeyClientPassword]) > 0 {
		// An operator's credential: readable, but written only once the operator says so.
		return fmt.Errorf("the Secret %s/%s is %w: it holds a credential the bootstrap did not make (no label %s=true), so the bootstrap does not change it; "+
			"to let the bootstrap check and replace it, label it (kubectl label secret -n %s %s %s=true), or delete it, or set credentialSecret to another name",
			s.Namespace, s.Name, ErrNotOurs, LabelCredential, s.Namespace, s.Name, LabelCredential)
	}
	return fmt.Errorf("the Secret %s/%s is %w: %s, so it belongs to something else; set credentialSecret to a free name, "+
		"or delete it (kubectl delete secret -n %s %s) if nothing needs it",
		s.Namespace, s.Name, ErrNotOurs, what, s.Namespace, s.Name)
}

func (s *Store) get(ctx context.Context) (*corev1.Secret, error) {
	var sec *corev1.Secret
	err := s.patiently(ctx, "read", func() (err error) {
		sec, err = s.secrets().Get(ctx, s.Name, metav1.GetOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	return sec, nil
}

// modify reads the Secret (or starts a new one), lets edit change it, and writes it with
// the resourceVersion it read; on a conflict it starts again from a fresh read. A write
// that got no answer may or may not have happened: it starts again from a fresh read too
// (the edits are idempotent), once the API server answers, within Patience.
func (s *Store) modify(ctx context.Context, edit func(sec *corev1.Secret) error) error {
	conflicts := 0
	writing := false // the last error is the write's, not the read's or the edit's
	err := retry.Do(ctx, s.clock(), s.policy(), func() error {
		for {
			writing = false
			sec, create, err := s.load(ctx)
			if err != nil {
				return err
			}
			if err := edit(sec); err != nil {
				return err
			}
			writing = true
			err = s.write(ctx, sec, create)
			if (apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)) && conflicts < 5 {
				conflicts++
				continue
			}
			return err
		}
	}, func(err error) bool { return writing && kube.Transient(err) }, s.warn("write"))
	var exhausted *retry.ExhaustedError
	switch {
	case errors.Is(err, errUnchanged):
		return nil
	case errors.As(err, &exhausted):
		err = exhausted.Err
	}
	if writing && err != nil {
		return fmt.Errorf("write secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	return err
}

// load reads the Secret for an edit, or starts a new one (create), with the bootstrap's
// mark on it and its maps made; a Secret that is not the bootstrap's is refused.
func (s *Store) load(ctx context.Context) (sec *corev1.Secret, create bool, err error) {
	if sec, err = s.get(ctx); err != nil {
		return nil, false, err
	}
	create = sec == nil
	if create {
		sec = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace},
			Type:       corev1.SecretTypeOpaque,
		}
	} else if !owned(sec) {
		return nil, false, s.notOurs(sec)
	}
	if sec.Labels == nil {
		sec.Labels = map[string]string{}
	}
	if sec.Annotations == nil {
		sec.Annotations = map[string]string{}
	}
	if sec.Data == nil {
		sec.Data = map[string][]byte{}
	}
	sec.Labels[LabelCredential] = "true"
	for k, v := range s.releaseLabels() {
		sec.Labels[k] = v
	}
	if create {
		sec.Labels[LabelManagedBy] = managedByValue
		for k, v := range s.Labels {
			sec.Labels[k] = v
		}
	}
	return sec, create, nil
}

// write creates or updates sec, without the key older versions kept the device code under.
func (s *Store) write(ctx context.Context, sec *corev1.Secret, create bool) error {
	delete(sec.Data, legacyKeyDeviceGrant)
	var err error
	if create {
		_, err = s.secrets().Create(ctx, sec, metav1.CreateOptions{})
	} else {
		_, err = s.secrets().Update(ctx, sec, metav1.UpdateOptions{})
	}
	return err
}

// WriteAhead stores password as the pending credential for clusterID before the create
// call that sends it. It refuses (ErrComplete) when the Secret meanwhile became complete,
// and (ErrInPlace) to replace a credential that is neither refused (the one the backend
// refused; nil when none was) nor marked Revoked: a working credential is never lost.
func (s *Store) WriteAhead(ctx context.Context, clusterID, password string, refused *State) error {
	if !ValidPassword(password) {
		return errors.New("write-ahead password is not a valid machine credential")
	}
	return s.modify(ctx, func(sec *corev1.Secret) error {
		cur := stateOf(sec)
		dead := cur.Enrollment == Revoked || (refused != nil && cur.ClientID == refused.ClientID && cur.Password == refused.Password)
		switch {
		case dead:
		case cur.Complete() && cur.ClusterID == clusterID:
			return ErrComplete
		case cur.ClientID != "":
			return ErrInPlace
		}
		delete(sec.Data, KeyClientID)
		sec.Data[KeyClientPassword] = []byte(password)
		sec.Annotations[AnnEnrollment] = Pending
		sec.Annotations[AnnClusterID] = clusterID
		delete(sec.Annotations, AnnClientID)
		delete(sec.Annotations, AnnClientName)
		delete(sec.Annotations, AnnEnrolledAt)
		return nil
	})
}

// AbortWriteAhead takes back a write-ahead password after the backend refused the create
// that carried it (a 4xx: nothing was created), so that a refused install leaves no
// credential behind. Anything else in the Secret stays.
func (s *Store) AbortWriteAhead(ctx context.Context, password string) error {
	return s.modify(ctx, func(sec *corev1.Secret) error {
		cur := stateOf(sec)
		if cur.Enrollment != Pending || cur.Password != password {
			return errUnchanged
		}
		delete(sec.Data, KeyClientPassword)
		delete(sec.Annotations, AnnEnrollment)
		delete(sec.Annotations, AnnClusterID)
		return nil
	})
}

// Commit writes the finished credential. It refuses (ErrComplete) to replace a different
// complete credential for the same cluster.
func (s *Store) Commit(ctx context.Context, r Record) error {
	if !ValidClientID(r.ClientID) || !ValidPassword(r.Password) {
		return errors.New("refusing to write a malformed credential")
	}
	return s.modify(ctx, func(sec *corev1.Secret) error {
		cur := stateOf(sec)
		if cur.Complete() && cur.ClusterID == r.ClusterID && (cur.ClientID != r.ClientID || cur.Password != r.Password) {
			return ErrComplete
		}
		sec.Data[KeyClientID] = []byte(r.ClientID)
		sec.Data[KeyClientPassword] = []byte(r.Password)
		sec.Annotations[AnnEnrollment] = r.Enrollment
		sec.Annotations[AnnClusterID] = r.ClusterID
		sec.Annotations[AnnClientID] = fmt.Sprint(r.DashboardID)
		sec.Annotations[AnnClientName] = r.Name
		sec.Annotations[AnnEnrolledAt] = s.now().UTC().Format(time.RFC3339)
		return nil
	})
}

// MarkRevoked marks the credential of clientID as revoked (the offboarding hook revoked its
// client), so that the next start enrolls again without asking. Another credential in the
// Secret is left alone.
func (s *Store) MarkRevoked(ctx context.Context, clientID string) error {
	return s.modify(ctx, func(sec *corev1.Secret) error {
		if string(sec.Data[KeyClientID]) != clientID || sec.Annotations[AnnEnrollment] == Revoked {
			return errUnchanged
		}
		sec.Annotations[AnnEnrollment] = Revoked
		return nil
	})
}

// patiently calls call until it returns nil or an error that is not kube.Transient,
// waiting between calls while the API server does not answer (see Patience).
func (s *Store) patiently(ctx context.Context, what string, call func() error) error {
	err := retry.Do(ctx, s.clock(), s.policy(), call, kube.Transient, s.warn(what))
	var exhausted *retry.ExhaustedError
	if errors.As(err, &exhausted) {
		return fmt.Errorf("the Kubernetes API server has not answered for %s (check the API server and the pod's network): %w",
			exhausted.Waited.Round(time.Second), exhausted.Err)
	}
	return err
}

// policy is how the store waits for the API server: 250ms doubling to 4s, for Patience.
func (s *Store) policy() retry.Policy {
	patience := s.Patience
	if patience <= 0 {
		patience = DefaultPatience
	}
	return retry.Policy{Backoff: retry.Backoff{Base: 250 * time.Millisecond, Cap: 4 * time.Second}, Budget: patience}
}

// warn logs each wait for the API server, one line each.
func (s *Store) warn(what string) func(err error, wait time.Duration) {
	return func(err error, wait time.Duration) {
		s.Log.Warn().Str("step", "secret").Str("secret", s.Name).Str("error", err.Error()).Dur("retry_in", wait).
			Msgf("could not %s the credential Secret: the Kubernetes API server is not answering; trying again", what)
	}
}

func (s *Store) clock() clock.Clock {
	if s.Clock == nil {
		return clock.RealClock{}
	}
	return s.Clock
}

func (s *Store) now() time.Time { return s.clock().Now() }

// ReadLegacy reads CLIENT_ID and CLIENT_PASSWORD from a previous install's Secret name in
// the Store's namespace, which the bootstrap only reads; found is false when it does not
// exist. It is one GET, and the values are not checked.
func (s *Store) ReadLegacy(ctx context.Context, name string) (clientID, password string, found bool, err error) {
	sec, err := s.secrets().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, err
	}
	return string(sec.Data[KeyClientID]), string(sec.Data[KeyClientPassword]), true, nil
}
