// Package bootstrapper provides one run of the bootstrap init container: make sure the
// credential Secret holds a valid machine credential for this cluster's client, then
// return. It strings together the steps of the bootstrap that the README lists
// ("Architecture", "The bootstrap, step by step"): the fast path, the cluster identity,
// the Lease, the human approval (device flow or an enrollment token), the enrollment, and
// the finish (revoke the user token, record an Event).
package bootstrapper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/rs/zerolog"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/tracebloc/edge/bootstrap/banner"
	"github.com/tracebloc/edge/bootstrap/clusterid"
	"github.com/tracebloc/edge/bootstrap/config"
	"github.com/tracebloc/edge/bootstrap/credential"
	"github.com/tracebloc/edge/bootstrap/deviceflow"
	"github.com/tracebloc/edge/bootstrap/enroll"
	"github.com/tracebloc/edge/bootstrap/events"
	"github.com/tracebloc/edge/bootstrap/kube"
	"github.com/tracebloc/edge/bootstrap/lock"
	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/retry"
	"github.com/tracebloc/edge/internal/safetext"
)

// Bootstrapper holds what one run needs; everything is injected.
type Bootstrapper struct {
	Config   *config.Config
	Kube     kube.Interface
	API      *api.Client // unauthenticated; the run signs it in
	Clock    clock.WithTicker
	Stdout   io.Writer // the banner
	Terminal bool      // stdout is a terminal: framed, coloured banner
	Log      zerolog.Logger
	// Hook, when set, is called at each named step boundary (tests crash the run there).
	Hook func(step string)
	// LeaseRetry is how often a waiting replica tries the Lease (default 2s).
	LeaseRetry time.Duration
}

// Outcome says how a run ended well.
type Outcome struct {
	FastPath   bool   // the Secret was already in place
	Enrollment string // what this run did (credential.Minted, ...), "" on the fast path
	ClientName string
}

// Run makes sure the credential is in place.
func (b *Bootstrapper) Run(ctx context.Context) (*Outcome, error) {
	cfg := b.Config
	store := &credential.Store{Client: b.Kube, Namespace: cfg.Namespace, Name: cfg.CredentialSecret, Clock: b.Clock, Log: b.Log}
	rec := &events.Recorder{Client: b.Kube, Namespace: cfg.Namespace, PodName: cfg.PodName, PodUID: cfg.PodUID, Clock: b.Clock, Log: b.Log}

	// 1. Fast path: two reads, no backend call.
	b.hook("fast-path")
	state, err := store.Read(ctx)
	if err != nil {
		return nil, b.secretError(err, "read the credential Secret")
	}
	uid, err := clusterid.Read(ctx, b.Kube)
	if err != nil {
		return nil, b.kubeError(err, "read the cluster id")
	}
	// 2. Cluster identity.
	if cfg.ExpectedClusterID != "" && cfg.ExpectedClusterID != uid {
		return nil, &enroll.Error{Code: enroll.ExitClusterMismatch, Msg: fmt.Sprintf(
			"the manifests were rendered for cluster %s but this is cluster %s: render them again against this cluster (check --kube-context of the post-renderer) and reinstall",
			cfg.ExpectedClusterID, uid)}
	}
	log := b.Log.With().Str("cluster_id", uid).Str("namespace", cfg.Namespace).Logger()
	if state.Exists && !state.Owned {
		return b.operatorCredential(ctx, state, log)
	}
	ok, refused := b.usable(ctx, state, uid, log)
	if ok {
		log.Info().Str("step", "fast-path").Str("secret", cfg.CredentialSecret).Msg("the credential is in place; nothing to do")
		return &Outcome{FastPath: true}, nil
	}
	// The credential the backend refused is no finished enrollment, for this run nor for a
	// replica waiting on the Lease.
	var dead *credential.State
	if refused {
		dead = &state
	}

	// 3. One at a time. When the Lease is lost under the enrollment (an API server
	// restart), the Lease is taken again and the enrollment goes on with the same sign-in.
	var out *Outcome
	sess := &session{}
	defer sess.end()
	l := &lock.Lock{
		Client: b.Kube, Namespace: cfg.Namespace, Name: cfg.CredentialSecret + "-lock", Identity: cfg.PodName,
		LeaseDuration: cfg.LeaseDuration, RetryPeriod: b.LeaseRetry, Clock: b.Clock, Log: log,
	}
	done := func(ctx context.Context) (bool, error) {
		s, err := store.Read(ctx)
		return err == nil && finished(s, uid, dead), err
	}
	err = l.Run(ctx, done, func(ctx context.Context) error {
		var err error
		out, err = b.enroll(ctx, store, rec, sess, uid, dead, log)
		return err
	})
	if errors.Is(err, lock.ErrDoneElsewhere) {
		log.Info().Str("step", "lock").Msg("another replica enrolled this cluster; its credential is in place")
		return &Outcome{FastPath: true}, nil
	}
	if err != nil {
		err = b.secretError(err, "")
		rec.Warning(context.WithoutCancel(ctx), events.ReasonFailed, err.Error())
		return nil, err
	}
	return out, nil
}

// finished reports whether s is a finished enrollment of this cluster, other than dead
// (the credential the backend refused at the start of this run, nil if none).
func finished(s credential.State, uid string, dead *credential.State) bool {
	if dead != nil && s.ClientID == dead.ClientID && s.Password == dead.Password {
		return false
	}
	return s.Complete() && s.ClusterID == uid
}

// usable reports whether the Secret already holds this cluster's credential, and whether
// the backend refused it (then it is to be replaced by a new enrollment).
func (b *Bootstrapper) usable(ctx context.Context, s credential.State, uid string, log zerolog.Logger) (ok, refused bool) {
	if !s.Complete() || s.ClusterID != uid {
		return false, false
	}
	if !b.Config.VerifyCredential {
		return true, false
	}
	err := b.API.VerifyCredential(ctx, s.ClientID, s.Password)
	switch {
	case err == nil:
		return true, false
	case errors.Is(err, api.ErrInvalidCredential):
		log.Warn().Str("step", "fast-path").Msg("the backend rejects the credential in the Secret; enrolling this cluster again")
		return false, true
	default:
		log.Warn().Str("error", safetext.Excerpt(err.Error(), 0)).Str("step", "fast-path").Msg("could not verify the credential; keeping it")
		return true, false
	}
}

// operatorCredential checks, with the backend, a credential Secret the bootstrap did not
// make (an operator's, see credential.Store): it is used as it is and never written.
func (b *Bootstrapper) operatorCredential(ctx context.Context, s credential.State, log zerolog.Logger) (*Outcome, error) {
	cfg := b.Config
	err := b.API.VerifyCredential(ctx, s.ClientID, s.Password)
	var up *api.UpgradeRequiredError
	switch {
	case err == nil:
		log.Info().Str("step", "fast-path").Str("secret", cfg.CredentialSecret).
			Msgf("the credential Secret has no label %s=true, so the bootstrap leaves it as it is; the backend accepts its credential", credential.LabelCredential)
		return &Outcome{FastPath: true}, nil
	case errors.Is(err, api.ErrInvalidCredential):
		return nil, &enroll.Error{Code: enroll.ExitConfig, Err: err, Msg: fmt.Sprintf(
			"the backend refuses the CLIENT_ID and CLIENT_PASSWORD in the Secret %s/%s, which the bootstrap did not make (no label %s=true) and so does not replace: "+
				"correct them, or label the Secret (kubectl label secret -n %s %s %s=true) so that the next start enrolls this cluster and replaces them",
			cfg.Namespace, cfg.CredentialSecret, credential.LabelCredential, cfg.Namespace, cfg.CredentialSecret, credential.LabelCredential)}
	case errors.As(err, &up):
		return nil, &enroll.Error{Code: enroll.ExitUpgrade, Err: err,
			Msg: fmt.Sprintf("the tracebloc backend requires edge %s or newer: upgrade the chart (helm repo update; helm upgrade ...)", safetext.Excerpt(up.MinVersion, 64))}
	default:
		return nil, fmt.Errorf("check the credential in the Secret %s/%s with the backend (it is kept): %w", cfg.Namespace, cfg.CredentialSecret, err)
	}
}

// enroll runs under the Lease.
func (b *Bootstrapper) enroll(ctx context.Context, store *credential.Store, rec *events.Recorder, sess *session, uid string, dead *credential.State, log zerolog.Logger) (*Outcome, error) {
	cfg := b.Config
	state, err := store.Read(ctx) // someone may have finished while we waited
	if err != nil {
		return nil, b.secretError(err, "read the credential Secret")
	}
	if finished(state, uid, dead) {
		return &Outcome{FastPath: true}, nil
	}
	legacy, err := b.legacy(ctx)
	if err != nil {
		return nil, err
	}

	// 4. Human approval.
	b.hook("approval")
	if sess.token == "" {
		token, revoke, err := b.signIn(ctx, sess, rec, uid, log)
		if err != nil {
			return nil, err
		}
		sess.token, sess.revoke = token, revoke
	} else {
		log.Info().Str("step", "approval").Msg("still signed in from before the lease was lost; no new approval needed")
	}
	user := b.API.WithToken(sess.token)

	// 5-7. Who, migration, mint or adopt.
	e := &enroll.Enroller{
		Backend: user, Store: store, ClusterID: uid, Namespace: cfg.Namespace,
		ClientName: cfg.ClientName, Location: cfg.Location, ResetWindow: cfg.ResetWindow,
		Legacy: legacy, Clock: b.Clock, Log: log, Hook: b.Hook,
	}
	res, err := e.Run(ctx, state)
	if err != nil {
		if errors.Is(err, credential.ErrComplete) {
			return &Outcome{FastPath: true}, nil
		}
		return nil, err
	}
	// 8. Finish.
	name := safetext.Excerpt(res.Client.FirstName, 0)
	msg := fmt.Sprintf("enrolled as client %s (%s)", name, safetext.Excerpt(res.Client.Namespace, 0))
	log.Info().Str("step", "finish").Str("client", name).Str("enrollment", res.Enrollment).Msg(msg)
	rec.Normal(ctx, events.ReasonEnrolled, msg+": "+res.Enrollment)
	b.hook("finish")
	return &Outcome{Enrollment: res.Enrollment, ClientName: res.Client.FirstName}, nil
}

// session keeps the sign-in for the whole run, across the Lease's rounds: the device flow
// (so that a round that lost the Lease before the approval polls the same code again) and
// the user token, which it revokes when the run ends.
type session struct {
	flow   *deviceflow.Flow
	token  string
	revoke func()
}

func (s *session) end() {
	if s.revoke != nil {
		s.revoke()
	}
}

// signIn returns the user token: the operator's enrollment token, or one from the device
// flow. revoke revokes a device-flow token (never the operator's) and is safe to call
// whatever happens next.
func (b *Bootstrapper) signIn(ctx context.Context, sess *session, rec *events.Recorder, uid string, log zerolog.Logger) (string, func(), error) {
	cfg := b.Config
	if cfg.EnrollToken != "" {
		log.Info().Str("step", "approval").Msg("using the enrollment token from the operator; no approval needed")
		return cfg.EnrollToken, func() {}, nil
	}
	if sess.flow == nil {
		sess.flow = b.deviceFlow(ctx, rec, uid, log)
	}
	token, err := sess.flow.Run(ctx)
	return b.finishSignIn(ctx, token, err, log)
}

// deviceFlow is the run's device flow: the approval context it sends, the links it
// accepts, and the banner and Event it shows for each code.
func (b *Bootstrapper) deviceFlow(ctx context.Context, rec *events.Recorder, uid string, log zerolog.Logger) *deviceflow.Flow {
	cfg := b.Config
	return &deviceflow.Flow{
		Backend: b.API,
		Context: &api.DeviceContext{
			ClusterID: uid, Namespace: cfg.Namespace, ClientName: cfg.ClientName,
			KubernetesVersion: b.kubernetesVersion(ctx, log), ChartVersion: cfg.ChartVersion,
		},
		AllowedHosts: cfg.VerificationHosts,
		Clock:        b.Clock,
		Log:          log,
		Show: func(ctx context.Context, p deviceflow.Pending) {
			info := banner.Info{
				URL: p.Code.VerificationURI, URLComplete: p.Code.VerificationURIComplete, UserCode: p.Code.UserCode,
				ExpiresAt: p.ExpiresAt(), ClusterID: uid, Namespace: cfg.Namespace, QR: cfg.QR,
			}
			now := b.Clock.Now()
			if err := banner.Write(b.Stdout, info, now, b.Terminal); err != nil {
				log.Warn().Err(err).Msg("could not print the activation banner")
			}
			rec.Normal(ctx, events.ReasonActivation, banner.Event(info, now))
		},
	}
}

// finishSignIn turns the device flow's result into the user token and its revocation.
func (b *Bootstrapper) finishSignIn(ctx context.Context, token string, err error, log zerolog.Logger) (string, func(), error) {
	if err != nil {
		if errors.Is(err, deviceflow.ErrDenied) {
			return "", nil, &enroll.Error{Code: enroll.ExitDenied, Err: err,
				Msg: "the activation was denied in the browser: restart the pod (kubectl rollout restart) to get a new code, and approve it with the right account"}
		}
		var up *api.UpgradeRequiredError
		if errors.As(err, &up) {
			return "", nil, &enroll.Error{Code: enroll.ExitUpgrade, Err: err,
				Msg: fmt.Sprintf("the tracebloc backend requires edge %s or newer: upgrade the chart (helm repo update; helm upgrade ...)", safetext.Excerpt(up.MinVersion, 64))}
		}
		if errors.Is(err, deviceflow.ErrUntrustedLink) {
			// A restart gets the same link: this is for the operator to settle.
			return "", nil, &enroll.Error{Code: enroll.ExitConfig, Err: err, Msg: err.Error()}
		}
		return "", nil, fmt.Errorf("sign in with the device flow: %w", err)
	}
	revoke := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := revokeToken(rctx, b.Clock, b.API.WithToken(token)); err != nil {
			log.Warn().Str("error", safetext.Excerpt(err.Error(), 0)).Str("step", "finish").Msg("could not revoke the sign-in token; it expires on its own")
			return
		}
		log.Debug().Str("step", "finish").Msg("revoked the sign-in token")
	}
	return token, revoke, nil
}

// revokePolicy spaces the tries of a revocation 250ms doubling to 2s (or as a Retry-After
// asks); the caller's context bounds them.
var revokePolicy = retry.Policy{Backoff: retry.Backoff{Base: 250 * time.Millisecond, Cap: 2 * time.Second}, After: api.RetryAfter}

// revokeToken revokes the user token, retrying what api.Transient calls worth it (no
// answer, 5xx, 408, 429) on clk until ctx ends: a token left valid is worse than a few
// seconds' delay. user is used WithoutRetries, so that a 429 is retried by one layer.
func revokeToken(ctx context.Context, clk clock.Clock, user *api.Client) error {
	user = user.WithoutRetries()
	return retry.Do(ctx, clk, revokePolicy, func() error { return user.RevokeToken(ctx) }, api.Transient, nil)
}

// legacy reads the previous install's Secret when the chart names one.
func (b *Bootstrapper) legacy(ctx context.Context) (*enroll.Legacy, error) {
	name := b.Config.LegacySecret
	if name == "" {
		return nil, nil
	}
	sec, err := b.Kube.CoreV1().Secrets(b.Config.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		b.Log.Info().Str("step", "migrate").Str("secret", name).Msg("no legacy Secret; nothing to migrate")
		return nil, nil
	}
	if err != nil {
		return nil, b.kubeError(err, "read the legacy Secret "+name)
	}
	id, pw := string(sec.Data[credential.KeyClientID]), string(sec.Data[credential.KeyClientPassword])
	if !credential.ValidClientID(id) || !credential.ValidPassword(pw) {
		return nil, &enroll.Error{Code: enroll.ExitConfig, Msg: fmt.Sprintf(
			"the legacy Secret %s does not hold a usable CLIENT_ID and CLIENT_PASSWORD: fix it, or remove legacySecret from the values", name)}
	}
	return &enroll.Legacy{Secret: name, ClientID: id, Password: pw}, nil
}

// kubernetesVersion is the API server's version for the approval page, from GET /version
// (which needs no RBAC); it is "" when the API server does not say, which never stops a run.
func (b *Bootstrapper) kubernetesVersion(ctx context.Context, log zerolog.Logger) string {
	rc := b.Kube.CoreV1().RESTClient()
	if c, ok := rc.(*rest.RESTClient); rc == nil || (ok && c == nil) { // the fake clientset has none
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	body, err := rc.Get().AbsPath("/version").Stream(ctx)
	if err != nil {
		log.Debug().Str("error", safetext.Excerpt(err.Error(), 0)).Msg("could not read the Kubernetes version; the approval page goes without it")
		return ""
	}
	defer body.Close()
	var info struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := json.NewDecoder(io.LimitReader(body, 64<<10)).Decode(&info); err != nil || !kubeVersion.MatchString(info.GitVersion) {
		log.Debug().Msg("the API server's /version holds no usable version; the approval page goes without it")
		return ""
	}
	return info.GitVersion
}

// kubeVersion is a Kubernetes gitVersion such as v1.34.2 or v1.34.2+k3s1.
var kubeVersion = regexp.MustCompile(`^v[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,4}([-+][0-9A-Za-z.+-]{1,40})?$`)

// secretError is kubeError, except that a Secret the bootstrap will not touch stops the run
// with its own message and the configuration exit code.
func (b *Bootstrapper) secretError(err error, what string) error {
	var stop *enroll.Error
	if errors.Is(err, credential.ErrNotOurs) && !errors.As(err, &stop) {
		return &enroll.Error{Code: enroll.ExitConfig, Msg: err.Error(), Err: err}
	}
	if what == "" {
		return err
	}
	return b.kubeError(err, what)
}

// kubeError names what failed and, for a refusal, the RBAC to check.
func (b *Bootstrapper) kubeError(err error, what string) error {
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("%s: the bootstrap's ServiceAccount may not do this (check the chart's Role and ClusterRole): %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (b *Bootstrapper) hook(step string) {
	if b.Hook != nil {
		b.Hook(step)
	}
}
