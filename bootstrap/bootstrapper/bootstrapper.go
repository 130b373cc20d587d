// Package bootstrapper provides one run of the bootstrap init container: make sure the
// credential Secret holds a valid machine credential for this cluster's client, then
// return. Run calls the steps of the bootstrap that the README lists ("Architecture", "The
// bootstrap, step by step") in their order, one function each: fastPath, clusterIdentity,
// lock, and under the Lease approval (device flow or an enrollment token) and enroll's
// Who, Migrate or MintOrAdopt; finish then records the Event and revokes the user token,
// and nodeAgentsCopy keeps the copy of the credential in the node-agents namespace.
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
	"github.com/tracebloc/edge/bootstrap/trust"
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
	// FormerPoll is how often the client list is read while the former client of a rebuilt
	// cluster holds the namespace (default enroll.DefaultFormerPoll).
	FormerPoll time.Duration
}

// Outcome says how a run ended well.
type Outcome struct {
	FastPath   bool   // the Secret was already in place
	Enrollment string // what this run did (credential.Minted, ...), "" on the fast path
	ClientName string
}

// Run makes sure the credential is in place. It reads as the README's steps: the fast path
// and the cluster identity, the Lease (lock), the steps under it (underLease: approval,
// who, migration, mint or adopt), the finish, and the node-agents copy.
func (b *Bootstrapper) Run(ctx context.Context) (*Outcome, error) {
	r := b.newRun()
	if err := r.trustBundle(); err != nil {
		return nil, err
	}
	state, err := r.fastPath(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.clusterIdentity(); err != nil {
		return nil, err
	}
	out, err := r.inPlace(ctx, state)
	if out == nil && err == nil {
		out, state, err = r.enrollment(ctx)
	}
	if err != nil {
		return nil, err
	}
	if err := r.nodeAgentsCopy(ctx, state); err != nil {
		return out, err
	}
	r.dropLegacyCopy(ctx, out, state)
	return out, nil
}

// dropLegacyCopy ends a migration (Enrollment migrated): the legacy Secret, when it is the
// copy the upgrade hook made, holds the credential a second time and goes. It never fails
// the run: the credential is in place, and a refusal says how to delete the copy by hand.
func (r *run) dropLegacyCopy(ctx context.Context, out *Outcome, state credential.State) {
	name := r.b.Config.LegacySecret
	if out == nil || out.Enrollment != credential.Migrated || name == "" {
		return
	}
	dropped, err := r.store.DropLegacyCopy(ctx, name, state)
	if err != nil {
		r.rec.Warning(context.WithoutCancel(ctx), events.ReasonFailed, err.Error())
		r.log.Warn().Str("step", "finish").Str("legacy_secret", name).Msg(err.Error())
		return
	}
	if dropped {
		r.log.Info().Str("step", "finish").Str("legacy_secret", name).
			Msg("deleted the legacy copy of the credential that the upgrade hook made: the credential Secret holds the client now")
	}
}

// enrollment is the Lease (lock), the steps under it and the finish, and the credential
// Secret as they left it.
func (r *run) enrollment(ctx context.Context) (*Outcome, credential.State, error) {
	res, err := r.lock(ctx)
	out, err := r.finish(ctx, res, err)
	if err != nil {
		return nil, credential.State{}, err
	}
	state, err := r.store.Read(ctx)
	if err != nil {
		return nil, state, r.b.secretError(err, "read the credential Secret")
	}
	return out, state, nil
}

// trustBundle comes first in every run with an extra CA (TRACEBLOC_TRUST_FILE): it writes
// the CA bundle of the client's containers (the image's roots and the extra CA, package
// trust) into the volume the jobs-manager pod shares with them, and keeps it for the
// node-agents copy. The volume is new with every pod, so every start writes it.
func (r *run) trustBundle() error {
	cfg := r.b.Config
	if cfg.TrustFile == "" {
		return nil
	}
	bundle, err := trust.Bundle(cfg.SystemCAFile, cfg.CAFile)
	if err == nil {
		err = trust.Write(cfg.TrustFile, bundle)
	}
	if err != nil {
		return &enroll.Error{Kind: enroll.Config, Msg: "the CA bundle of the client's containers: " + err.Error(), Err: err}
	}
	r.trust = bundle
	r.log.Info().Str("step", "trust").Str("file", cfg.TrustFile).Int("bytes", len(bundle)).
		Msg("wrote the CA bundle of the client's containers (the image's roots and the chart's extra CA)")
	return nil
}

// nodeAgentsCopy ends every run that has the credential in place: the copy in the
// node-agents namespace (TRACEBLOC_NODE_AGENTS_NAMESPACE) is created or refreshed when it is
// missing or differs from state, which costs one GET when it is up to date. A failure
// leaves the credential Secret as it is and stops with the configuration exit code: the
// namespace or the Role the chart grants there is missing.
func (r *run) nodeAgentsCopy(ctx context.Context, state credential.State) error {
	ns := r.b.Config.CopyNamespace()
	if ns == "" {
		return nil
	}
	changed, err := (&credential.Copy{Store: r.store, Namespace: ns, Trust: r.trust}).Sync(ctx, state)
	if err != nil {
		r.rec.Warning(context.WithoutCancel(ctx), events.ReasonFailed, err.Error())
		return &enroll.Error{Kind: enroll.Config, Msg: err.Error(), Err: err}
	}
	if changed {
		r.log.Info().Str("step", "copy").Str("copy_namespace", ns).Str("secret", r.b.Config.CredentialSecret).
			Msg("wrote the copy of the credential that the node agents read")
	}
	return nil
}

// run is what one Run learns as it goes.
type run struct {
	b     *Bootstrapper
	store *credential.Store
	rec   *events.Recorder
	uid   string // the cluster id
	log   zerolog.Logger
	// dead is the credential the backend refused at the start of the run (nil if none):
	// no finished enrollment, for this run nor for a replica waiting on the Lease.
	dead  *credential.State
	sess  session
	trust []byte // the CA bundle of the client's containers (trustBundle), nil without one
}

func (b *Bootstrapper) newRun() *run {
	cfg := b.Config
	return &run{
		b:     b,
		store: &credential.Store{Client: b.Kube, Namespace: cfg.Namespace, Name: cfg.CredentialSecret, Release: cfg.Release, Clock: b.Clock, Log: b.Log},
		rec:   &events.Recorder{Client: b.Kube, Namespace: cfg.Namespace, PodName: cfg.PodName, PodUID: cfg.PodUID, Clock: b.Clock, Log: b.Log},
		log:   b.Log,
	}
}

// session keeps the sign-in for the whole run, across the Lease's rounds: the device flow
// (so that a round that lost the Lease before the approval polls the same code again) and
// the user token, which finish revokes.
type session struct {
	flow  *deviceflow.Flow
	token string
	own   bool // the token is the device flow's, not the operator's enrollment token
}

// fastPath is step 1's two reads, which need no backend call: the Secret and the cluster id.
func (r *run) fastPath(ctx context.Context) (credential.State, error) {
	r.b.hook("fast-path")
	state, err := r.store.Read(ctx)
	if err != nil {
		return state, r.b.secretError(err, "read the credential Secret")
	}
	uid, err := clusterid.Read(ctx, r.b.Kube)
	if err != nil {
		return state, r.b.kubeError(err, "read the cluster id")
	}
	r.uid = uid
	r.log = r.b.Log.With().Str("cluster_id", uid).Str("namespace", r.b.Config.Namespace).Logger()
	return state, nil
}

// clusterIdentity is step 2: the manifests were rendered for this cluster.
func (r *run) clusterIdentity() error {
	want := r.b.Config.ExpectedClusterID
	if want == "" || want == r.uid {
		return nil
	}
	return &enroll.Error{Kind: enroll.ClusterMismatch, Msg: fmt.Sprintf(
		"the manifests were rendered for cluster %s but this is cluster %s: render them again against this cluster (check --kube-context of the post-renderer) and reinstall",
		want, r.uid)}
}

// inPlace ends step 1: the outcome when the Secret already holds a credential to use, nil
// when this run is to enroll.
func (r *run) inPlace(ctx context.Context, state credential.State) (*Outcome, error) {
	if state.Exists && !state.Owned {
		return r.b.operatorCredential(ctx, state, r.log)
	}
	ok, refused := r.b.usable(ctx, state, r.uid, r.log)
	if ok && state.Unlabelled {
		if err := r.store.Label(ctx); err != nil {
			return nil, r.b.secretError(err, "label the credential Secret for the tracebloc CLI")
		}
		r.log.Info().Str("step", "fast-path").Str("secret", r.b.Config.CredentialSecret).Msg("labelled the credential Secret with its release")
	}
	if ok {
		r.log.Info().Str("step", "fast-path").Str("secret", r.b.Config.CredentialSecret).Msg("the credential is in place; nothing to do")
		return &Outcome{FastPath: true}, nil
	}
	if refused {
		r.dead = &state
	}
	return nil, nil
}

// lock is step 3, one at a time: the steps under the Lease <secret>-lock. Other replicas
// wait and end as soon as the Secret is finished. When the Lease is lost under the
// enrollment (an API server restart), it is taken again and the enrollment goes on with
// the same sign-in. A nil result without error is a credential finished elsewhere.
func (r *run) lock(ctx context.Context) (*enroll.Result, error) {
	cfg := r.b.Config
	l := &lock.Lock{
		Client: r.b.Kube, Namespace: cfg.Namespace, Name: cfg.CredentialSecret + "-lock", Identity: cfg.PodName,
		LeaseDuration: cfg.LeaseDuration, RetryPeriod: r.b.LeaseRetry, Clock: r.b.Clock, Log: r.log,
	}
	done := func(ctx context.Context) (bool, error) {
		s, err := r.store.Read(ctx)
		return err == nil && finished(s, r.uid, r.dead), err
	}
	var res *enroll.Result
	err := l.Run(ctx, done, func(ctx context.Context) error {
		var err error
		res, err = r.underLease(ctx)
		return err
	})
	if errors.Is(err, lock.ErrDoneElsewhere) {
		r.log.Info().Str("step", "lock").Msg("another replica enrolled this cluster; its credential is in place")
		return nil, nil
	}
	return res, err
}

// underLease is one round under the Lease: steps 4 to 7 unless someone finished the
// credential while this run waited (then nil, nil).
func (r *run) underLease(ctx context.Context) (*enroll.Result, error) {
	state, err := r.store.Read(ctx)
	if err != nil {
		return nil, r.b.secretError(err, "read the credential Secret")
	}
	if finished(state, r.uid, r.dead) {
		return nil, nil
	}
	legacy, err := r.legacy(ctx)
	if err != nil {
		return nil, err
	}
	user, err := r.approval(ctx)
	if err != nil {
		return nil, err
	}
	e := r.enroller(user, legacy)
	acct, err := e.Who(ctx)
	if err != nil {
		return nil, err
	}
	var res *enroll.Result
	if legacy != nil {
		res, err = e.Migrate(ctx, acct)
	} else {
		res, err = e.MintOrAdopt(ctx, acct, state)
	}
	if errors.Is(err, credential.ErrComplete) {
		return nil, nil
	}
	return res, err
}

// approval is step 4: the operator's enrollment token, or a person's approval through the
// device flow. A round that took the Lease back keeps the sign-in it had.
func (r *run) approval(ctx context.Context) (*api.Client, error) {
	r.b.hook("approval")
	switch {
	case r.sess.token != "":
		r.log.Info().Str("step", "approval").Msg("still signed in from before the lease was lost; no new approval needed")
	case r.b.Config.EnrollToken != "":
		r.log.Info().Str("step", "approval").Msg("using the enrollment token from the operator; no approval needed")
		r.sess.token = r.b.Config.EnrollToken
	default:
		if r.sess.flow == nil {
			r.sess.flow = r.b.deviceFlow(ctx, r.rec, r.uid, r.log)
		}
		token, err := r.sess.flow.Run(ctx)
		if err != nil {
			return nil, signInError(err)
		}
		r.sess.token, r.sess.own = token, true
	}
	return r.b.API.WithToken(r.sess.token), nil
}

// enroller does steps 5 to 7 as the person who signed in.
func (r *run) enroller(user *api.Client, legacy *enroll.Legacy) *enroll.Enroller {
	cfg := r.b.Config
	return &enroll.Enroller{
		Backend: user, Store: r.store, ClusterID: r.uid, Namespace: cfg.Namespace,
		ClientName: cfg.ClientName, Location: cfg.Location, ResetWindow: cfg.ResetWindow,
		Legacy: legacy, Clock: r.b.Clock, Log: r.log, Hook: r.b.Hook, FormerPoll: r.b.FormerPoll,
		Notice: func(ctx context.Context, msg string) { r.rec.Warning(ctx, events.ReasonWaiting, msg) },
	}
}

// finish is step 8 of every run that took the Lease: an Event on the pod says how it ended
// (Normal with the client enrolled, Warning with the stop), and the person's token is
// revoked whatever happened. A nil res without error is a credential finished elsewhere.
func (r *run) finish(ctx context.Context, res *enroll.Result, err error) (*Outcome, error) {
	defer r.revokeSignIn(ctx)
	if err != nil {
		err = r.b.secretError(err, "")
		r.rec.Warning(context.WithoutCancel(ctx), events.ReasonFailed, err.Error())
		return nil, err
	}
	if res == nil {
		return &Outcome{FastPath: true}, nil
	}
	name := safetext.Excerpt(res.Client.FirstName, 0)
	msg := fmt.Sprintf("enrolled as client %s (%s)", name, safetext.Excerpt(res.Client.Namespace, 0))
	r.log.Info().Str("step", "finish").Str("client", name).Str("enrollment", res.Enrollment).Msg(msg)
	r.rec.Normal(ctx, events.ReasonEnrolled, msg+": "+res.Enrollment)
	r.b.hook("finish")
	return &Outcome{Enrollment: res.Enrollment, ClientName: res.Client.FirstName}, nil
}

// revokeSignIn revokes the device flow's token (never the operator's), even when ctx has
// ended: a token left valid is worse than a few seconds' delay.
func (r *run) revokeSignIn(ctx context.Context) {
	if !r.sess.own {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := revokeToken(rctx, r.b.Clock, r.b.API.WithToken(r.sess.token)); err != nil {
		r.log.Warn().Str("error", safetext.Excerpt(err.Error(), 0)).Str("step", "finish").Msg("could not revoke the sign-in token; it expires on its own")
		return
	}
	r.log.Debug().Str("step", "finish").Msg("revoked the sign-in token")
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
		return nil, &enroll.Error{Kind: enroll.Config, Err: err, Msg: fmt.Sprintf(
			"the backend refuses the CLIENT_ID and CLIENT_PASSWORD in the Secret %s/%s, which the bootstrap did not make (no label %s=true) and so does not replace: "+
				"correct them, or label the Secret (kubectl label secret -n %s %s %s=true) so that the next start enrolls this cluster and replaces them",
			cfg.Namespace, cfg.CredentialSecret, credential.LabelCredential, cfg.Namespace, cfg.CredentialSecret, credential.LabelCredential)}
	case errors.As(err, &up):
		return nil, upgradeError(err, up)
	default:
		return nil, fmt.Errorf("check the credential in the Secret %s/%s with the backend (it is kept): %w", cfg.Namespace, cfg.CredentialSecret, err)
	}
}

func upgradeError(err error, up *api.UpgradeRequiredError) error {
	return &enroll.Error{Kind: enroll.Upgrade, Err: err,
		Msg: fmt.Sprintf("the tracebloc backend requires edge %s or newer: upgrade the chart (helm repo update; helm upgrade ...)", safetext.Excerpt(up.MinVersion, 64))}
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

// signInError turns the device flow's failure into the stop it is.
func signInError(err error) error {
	if errors.Is(err, deviceflow.ErrDenied) {
		return &enroll.Error{Kind: enroll.Denied, Err: err,
			Msg: "the activation was denied in the browser: restart the pod (kubectl rollout restart) to get a new code, and approve it with the right account"}
	}
	var up *api.UpgradeRequiredError
	if errors.As(err, &up) {
		return upgradeError(err, up)
	}
	if errors.Is(err, deviceflow.ErrUntrustedLink) {
		// A restart gets the same link: this is for the operator to settle.
		return &enroll.Error{Kind: enroll.Config, Err: err, Msg: err.Error()}
	}
	return fmt.Errorf("sign in with the device flow: %w", err)
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
func (r *run) legacy(ctx context.Context) (*enroll.Legacy, error) {
	name := r.b.Config.LegacySecret
	if name == "" {
		return nil, nil
	}
	id, pw, found, err := r.store.ReadLegacy(ctx, name)
	if err != nil {
		return nil, r.b.kubeError(err, "read the legacy Secret "+name)
	}
	if !found {
		r.b.Log.Info().Str("step", "migrate").Str("secret", name).Msg("no legacy Secret; nothing to migrate")
		return nil, nil
	}
	if !credential.ValidClientID(id) || !credential.ValidPassword(pw) {
		return nil, &enroll.Error{Kind: enroll.Config, Msg: fmt.Sprintf(
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
		return &enroll.Error{Kind: enroll.Config, Msg: err.Error(), Err: err}
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
