// Package enroll provides the decisions of an enrollment once a person (or an enrollment
// token) has signed in: migrate a legacy credential, adopt this cluster's client, or mint
// one, and write the credential Secret. Its Who, Migrate and MintOrAdopt are steps 5 to 7
// of the bootstrap (the README's "The bootstrap, step by step"), over the backend client of
// internal/api; its Error says what kind of stop ended a run.
//
// The invariants it keeps: one client per cluster (it sends cluster_id with every create
// and never creates without it); a generated password is in the Secret (write-ahead,
// tracebloc.io/enrollment=pending) before the create call that carries it; an adopt is
// trusted only after /api-token-auth/ accepts the password; a lost credential is reset only
// when the client is not live.
package enroll

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"k8s.io/utils/clock"

	"github.com/tracebloc/edge/bootstrap/credential"
	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/safetext"
)

// Backend is the part of *api.Client an enrollment uses, signed in as the person.
type Backend interface {
	UserInfo(ctx context.Context) (*api.UserInfo, error)
	ListEdgeDevices(ctx context.Context) ([]api.EdgeDevice, error)
	CreateEdgeDevice(ctx context.Context, req api.CreateRequest) (*api.EdgeDevice, bool, error)
	PatchEdgeDevice(ctx context.Context, id int64, req api.PatchRequest) (*api.EdgeDevice, error)
	Admins(ctx context.Context) ([]api.Admin, error)
	VerifyCredential(ctx context.Context, username, password string) error
}

// Legacy is a previous install's credential, to migrate.
type Legacy struct {
	Secret   string // its name, for messages
	ClientID string
	Password string
}

// Enroller runs one enrollment.
type Enroller struct {
	Backend     Backend
	Store       *credential.Store
	ClusterID   string
	Namespace   string
	ClientName  string                 // "" derives <slug(first name)>-NN
	Location    string                 // "" omits it
	ResetWindow time.Duration          // a client silent for longer is not live
	Legacy      *Legacy                // nil when there is nothing to migrate
	Clock       clock.Clock            // the time, and every wait; default the real clock
	NewPassword func() (string, error) // default: 32 random bytes, base64url
	Log         zerolog.Logger
	Hook        func(step string) // test hook, called at each step boundary
	// FormerPoll is how often the client list is read again while the former client of a
	// rebuilt cluster holds the namespace (default DefaultFormerPoll); FormerWait bounds
	// that wait (default DefaultFormerWait).
	FormerPoll time.Duration
	FormerWait time.Duration
	// Notice, when set, shows a person what the run waits for (the bootstrapper logs it
	// and records it as an Event on the pod); it is called with a message that holds no
	// secret.
	Notice func(ctx context.Context, msg string)
}

// Result is a finished enrollment.
type Result struct {
	User       *api.UserInfo
	Client     api.EdgeDevice
	Enrollment string // credential.Minted, Adopted, Migrated or Reset
}

// Kind says what sort of stop an Error is; the binary maps each kind to its documented
// exit code, so that the numbers live in one place.
type Kind int

// The kinds of stop, one for each exit code of the README's table.
const (
	Failure         Kind = iota // no kind of its own; the message names the next step
	Config                      // a setting or a Secret the operator must correct
	Denied                      // the person denied the activation
	Conflict                    // the cluster, its client or the namespace is another's
	Forbidden                   // the account lacks a permission
	Upgrade                     // the backend requires a newer edge
	ClusterMismatch             // the manifests were rendered for another cluster
)

// Error is a stop: its message says what happened and what to do next, and its Kind which
// exit code the binary ends with.
type Error struct {
	Kind Kind
	Msg  string
	Err  error // the cause, if any
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

func stop(kind Kind, cause error, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...), Err: cause}
}

// Account is who signed in (step 5, "who") and the account's clients, which the later
// steps decide on.
type Account struct {
	User    *api.UserInfo
	Clients []api.EdgeDevice
}

// Who reads who signed in and lists the account's clients.
func (e *Enroller) Who(ctx context.Context) (*Account, error) {
	e.hook("userinfo")
	user, err := e.Backend.UserInfo(ctx)
	if err != nil {
		return nil, e.backendError("read who signed in", err)
	}
	email, account := clean(user.Email), clean(user.Account)
	e.Log.Info().Str("step", "who").Str("email", email).Str("account", account).
		Msgf("signed in as %s (account %s)", email, account)
	e.hook("list")
	clients, err := e.Backend.ListEdgeDevices(ctx)
	if err != nil {
		return nil, e.backendError("list the account's clients", err)
	}
	return &Account{User: user, Clients: clients}, nil
}

// Migrate is step 6: it takes over the Legacy credential.
func (e *Enroller) Migrate(ctx context.Context, acct *Account) (*Result, error) {
	e.hook("migrate")
	dev, err := e.migrate(ctx, acct.Clients)
	if err != nil {
		return nil, err
	}
	return &Result{User: acct.User, Client: *dev, Enrollment: credential.Migrated}, nil
}

// MintOrAdopt is step 7: it keeps the credential in the Secret when it works, or else
// creates this cluster's client (or finds it), and commits the credential. prior is the
// credential Secret as the caller last read it.
func (e *Enroller) MintOrAdopt(ctx context.Context, acct *Account, prior credential.State) (*Result, error) {
	res := &Result{User: acct.User}
	kept, dead, err := e.replaceable(ctx, acct.Clients, prior)
	if err != nil {
		return nil, err
	}
	if kept != nil {
		res.Client, res.Enrollment = *kept, credential.Adopted
		return res, nil
	}
	dev, created, password, err := e.create(ctx, acct, prior, dead)
	if err != nil {
		return nil, err
	}
	e.hook("created")
	res.Client = *dev
	if res.Enrollment, err = e.claim(ctx, dev, created, password); err != nil {
		return nil, err
	}
	e.hook("commit")
	if err := e.commit(ctx, dev, password, res.Enrollment); err != nil {
		return nil, err
	}
	return res, nil
}

// replaceable decides on the credential already in the Secret: it is replaced only once
// the backend refused it (or the offboarding hook marked it revoked); any doubt keeps it
// and stops the run. kept is the client whose credential was kept; dead is the credential
// a new one may replace.
func (e *Enroller) replaceable(ctx context.Context, clients []api.EdgeDevice, prior credential.State) (kept *api.EdgeDevice, dead *credential.State, err error) {
	switch {
	case prior.ClientID == "":
		return nil, nil, nil
	case prior.Enrollment == credential.Revoked:
		e.Log.Info().Str("step", "enroll").Msg("the credential in the Secret was revoked; enrolling this cluster again")
		return nil, &prior, nil
	}
	kept, err = e.keepPrior(ctx, clients, prior)
	if err != nil || kept != nil {
		return kept, nil, err
	}
	return nil, &prior, nil
}

// create stores the write-ahead password and sends it with the create call; created is
// false when the cluster had a client already.
// A namespace held by the client of the cluster this one replaces (see formerClient) is
// waited for: once that client is revoked or deleted, the create goes on, with the same
// sign-in.
func (e *Enroller) create(ctx context.Context, acct *Account, prior credential.State, dead *credential.State) (dev *api.EdgeDevice, created bool, password string, err error) {
	clients := acct.Clients
	for round := 0; ; round++ {
		err := e.checkNamespace(clients)
		var former *heldByFormer
		if errors.As(err, &former) {
			if round >= maxFormerRounds {
				return nil, false, "", e.namespaceTaken(former.holder.FirstName, clients)
			}
			if clients, err = e.awaitFormer(ctx, former); err != nil {
				return nil, false, "", err
			}
			continue
		}
		if err != nil {
			return nil, false, "", err
		}
		dev, created, password, err = e.createIn(ctx, acct.User, clients, prior, dead)
		if !errors.As(err, &former) {
			return dev, created, password, err
		}
		clients = former.clients // the create found it: the next round waits for it
	}
}

// maxFormerRounds bounds how often a create waits for a former client: each wait ends only
// once that client is gone, so more rounds mean clients that keep coming back.
const maxFormerRounds = 3

// createIn is one write-ahead and create call, with clients the account's clients as last
// listed.
func (e *Enroller) createIn(ctx context.Context, user *api.UserInfo, clients []api.EdgeDevice, prior credential.State, dead *credential.State) (dev *api.EdgeDevice, created bool, password string, err error) {
	name := e.ClientName
	if name == "" {
		name = NextName(user.FirstName, clients)
	}
	password = prior.WriteAheadPassword()
	if password == "" {
		if password, err = e.newPassword(); err != nil {
			return nil, false, "", fmt.Errorf("generate the machine credential: %w", err)
		}
	}
	e.hook("write-ahead")
	if err := e.Store.WriteAhead(ctx, e.ClusterID, password, dead); err != nil {
		return nil, false, "", err
	}
	e.hook("create")
	dev, created, err = e.Backend.CreateEdgeDevice(ctx, api.CreateRequest{
		FirstName: name, Namespace: e.Namespace, Location: e.Location, Password: password, ClusterID: e.ClusterID,
	})
	if err != nil {
		if refused(err) {
			if aerr := e.Store.AbortWriteAhead(ctx, password); aerr != nil {
				e.Log.Warn().Err(aerr).Str("step", "enroll").Msg("could not take back the write-ahead credential; the next attempt reuses it")
			}
		}
		return nil, false, "", e.createError(ctx, err)
	}
	return dev, created, password, nil
}

// claim names the enrollment of the client the create call returned: a new one is minted;
// an existing one was ours when it accepts the password, and is otherwise reset.
func (e *Enroller) claim(ctx context.Context, dev *api.EdgeDevice, created bool, password string) (string, error) {
	if created {
		e.Log.Info().Str("step", "enroll").Str("client", clean(dev.FirstName)).Int64("client_id", dev.ID).Msg("minted a new client for this cluster")
		return credential.Minted, nil
	}
	switch err := e.Backend.VerifyCredential(ctx, dev.Username, password); {
	case err == nil:
		// Our own earlier create reached the backend before a crash.
		e.Log.Info().Str("step", "enroll").Str("client", clean(dev.FirstName)).Msg("this cluster's client was created by an earlier attempt; its credential is the one in the Secret")
		return credential.Minted, nil
	case errors.Is(err, api.ErrInvalidCredential):
		if err := e.reset(ctx, dev, password); err != nil {
			return "", err
		}
		return credential.Reset, nil
	default:
		return "", e.backendError("check whether this cluster's client "+clean(dev.FirstName)+" holds the credential in the Secret", err)
	}
}

// keepPrior reuses the credential already in the Secret when it still works for a client
// of this account anchored to this cluster (or not anchored yet). It returns nil, nil only
// when the backend refused the credential (or decommissioned its client), so that it may
// be replaced; a working credential it cannot keep, and every failure to find out, stop
// the run with the credential left in place.
func (e *Enroller) keepPrior(ctx context.Context, clients []api.EdgeDevice, prior credential.State) (*api.EdgeDevice, error) {
	dev := findUsername(clients, prior.ClientID)
	if dev != nil && dev.IsDecommissioned {
		e.Log.Info().Str("step", "enroll").Str("client", clean(dev.FirstName)).Msg("the Secret's client is decommissioned; enrolling this cluster again")
		return nil, nil
	}
	err := e.Backend.VerifyCredential(ctx, prior.ClientID, prior.Password)
	if errors.Is(err, api.ErrInvalidCredential) {
		e.Log.Info().Str("step", "enroll").Msg("the backend refuses the credential in the Secret; enrolling this cluster again")
		return nil, nil
	}
	if err != nil {
		return nil, e.backendError("check the credential already in the Secret (it is kept; the next start checks it again)", err)
	}
	switch {
	case dev == nil:
		return nil, stop(Conflict, nil,
			"the credential Secret holds a working credential of client %s, which is not a client of the account you signed in with: sign in with the account that owns it, or delete the Secret (kubectl delete secret -n %s %s) to enroll this cluster anew",
			clean(prior.ClientID), e.Namespace, e.Store.Name)
	case dev.ClusterID != nil && *dev.ClusterID != e.ClusterID:
		return nil, stop(Conflict, nil,
			"the credential Secret holds the credential of client %q, which belongs to another cluster (%s): it was copied from there; delete the Secret (kubectl delete secret -n %s %s) to enroll this cluster, or install into that cluster",
			clean(dev.FirstName), clean(*dev.ClusterID), e.Namespace, e.Store.Name)
	case dev.ClusterID == nil:
		patched, err := e.Backend.PatchEdgeDevice(ctx, dev.ID, api.PatchRequest{ClusterID: e.ClusterID})
		if errors.Is(err, api.ErrConflict) {
			return nil, stop(Conflict, err,
				"client %q of the credential Secret cannot be anchored to this cluster: this cluster has another client, or that client another cluster; delete the Secret (kubectl delete secret -n %s %s) to adopt this cluster's client, or install into the other cluster",
				clean(dev.FirstName), e.Namespace, e.Store.Name)
		}
		if err != nil {
			return nil, e.backendError("anchor the Secret's client "+clean(dev.FirstName)+" to this cluster (its credential is kept)", err)
		}
		dev = patched
	}
	if err := e.commit(ctx, dev, prior.Password, credential.Adopted); err != nil {
		return nil, err
	}
	e.Log.Info().Str("step", "enroll").Str("client", clean(dev.FirstName)).Msg("the credential in the Secret works; kept it")
	return dev, nil
}

// migrate takes over a previous install's credential: same client, same password, once
// the backend accepted that password and the client is not decommissioned.
func (e *Enroller) migrate(ctx context.Context, clients []api.EdgeDevice) (*api.EdgeDevice, error) {
	l := e.Legacy
	dev := findUsername(clients, l.ClientID)
	if dev == nil {
		return nil, stop(Conflict, nil,
			"the legacy Secret %s names client %s, which is not a client of the account you signed in with: sign in with the account that owns it, or remove legacySecret from the values to enroll a new client",
			l.Secret, clean(l.ClientID))
	}
	name := clean(dev.FirstName)
	if dev.IsDecommissioned {
		return nil, stop(Config, nil,
			"client %q of the legacy Secret %s is decommissioned in tracebloc: remove legacySecret from the values to enroll a new client", name, l.Secret)
	}
	if err := e.Backend.VerifyCredential(ctx, l.ClientID, l.Password); errors.Is(err, api.ErrInvalidCredential) {
		return nil, stop(Config, err,
			"the backend refuses the CLIENT_PASSWORD of client %q in the legacy Secret %s: put that client's current password there, or remove legacySecret from the values to enroll a new client", name, l.Secret)
	} else if err != nil {
		return nil, e.backendError("check the legacy Secret's credential", err)
	}
	if dev.ClusterID == nil {
		patched, err := e.Backend.PatchEdgeDevice(ctx, dev.ID, api.PatchRequest{ClusterID: e.ClusterID})
		if err != nil {
			if errors.Is(err, api.ErrConflict) {
				return nil, stop(Conflict, err, "client %q of the legacy Secret %s is already anchored to another cluster: install into that cluster, or remove legacySecret from the values to enroll a new client", name, l.Secret)
			}
			return nil, e.backendError("anchor the legacy client to this cluster", err)
		}
		dev = patched
	} else if *dev.ClusterID != e.ClusterID {
		return nil, stop(Conflict, nil, "client %q of the legacy Secret %s is anchored to another cluster (%s): install into that cluster, or remove legacySecret from the values to enroll a new client", name, l.Secret, clean(*dev.ClusterID))
	}
	if err := e.commit(ctx, dev, l.Password, credential.Migrated); err != nil {
		return nil, err
	}
	e.Log.Info().Str("step", "migrate").Str("client", name).Str("secret", l.Secret).Msg("migrated the previous install's client to this cluster")
	return dev, nil
}

// checkNamespace stops when another client of the account (not this cluster's) already
// uses the namespace; the backend would refuse it too, but here we can name a free one.
// A holder that is the former client of a rebuilt cluster is a *heldByFormer, to wait for.
func (e *Enroller) checkNamespace(clients []api.EdgeDevice) error {
	h := e.namespaceHolder(clients)
	switch {
	case h == nil:
		return nil
	case e.formerClient(h):
		return &heldByFormer{holder: *h, clients: clients}
	}
	return e.namespaceTaken(h.FirstName, clients)
}

// namespaceHolder is the client of the account, other than this cluster's, that uses the
// namespace; nil when there is none. A revoked client of another cluster does not hold it
// (releasedBy), so a pod started after the revoke does not wait.
func (e *Enroller) namespaceHolder(clients []api.EdgeDevice) *api.EdgeDevice {
	for i := range clients {
		c := &clients[i]
		if c.Namespace != e.Namespace || c.IsDecommissioned || (c.ClusterID != nil && *c.ClusterID == e.ClusterID) || releasedBy(c) {
			continue
		}
		return c
	}
	return nil
}

func (e *Enroller) namespaceTaken(holder string, clients []api.EdgeDevice) error {
	return stop(Conflict, nil,
		"namespace %q is already used by client %q of your account (on another cluster, or installed before cluster ids): install into a free namespace, e.g. helm install ... -n %s, or migrate that client with legacySecret",
		e.Namespace, clean(holder), FreeNamespace(e.Namespace, clients))
}

// reset gives the adopted client the write-ahead password, but only when it belongs to
// this namespace's install and is not live: otherwise another install, or a running edge,
// would lose its login.
func (e *Enroller) reset(ctx context.Context, dev *api.EdgeDevice, password string) error {
	name, ns := clean(dev.FirstName), clean(dev.Namespace)
	if dev.Namespace != e.Namespace {
		return stop(Conflict, nil,
			"this cluster's client %q belongs to the install in namespace %s, and this install is in namespace %s: taking over its credential would lock that install out. "+
				"Install into namespace %s instead (helm uninstall here, then helm install -n %s), or, if nothing runs in %s any more, delete client %q (the tracebloc dashboard, or tracebloc client delete %s); this pod then enrolls by itself",
			name, ns, e.Namespace, ns, ns, ns, name, name)
	}
	if live, why := e.live(dev); live {
		return stop(Conflict, nil,
			"this cluster's client %q (namespace %s) is live (%s) and its credential is not in this Secret: stop the edge that runs with it and retry after %s, or put its credential back into the Secret",
			name, ns, why, e.ResetWindow)
	}
	e.hook("reset")
	if _, err := e.Backend.PatchEdgeDevice(ctx, dev.ID, api.PatchRequest{Password: password}); err != nil {
		if unsupported(err) {
			return stop(Conflict, err,
				"this cluster's client %q lost its credential, and the tracebloc backend cannot reset a client's credential (%s): "+
					"delete client %q (the tracebloc dashboard, or tracebloc client delete %s); this pod then enrolls by itself. Revoking it is not enough: a revoked client keeps this cluster's id",
				name, clean(err.Error()), name, name)
		}
		return e.backendError("reset the lost credential of client "+name, err)
	}
	e.Log.Info().Str("step", "enroll").Str("client", name).Msg("this cluster's client had lost its credential and is not live; reset it")
	return nil
}

// unsupported reports whether the backend answered as one without the call's extension:
// 400 (the field is not accepted), 404, 405 or 501.
func unsupported(err error) bool {
	var apiErr *api.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.Status {
	case 400, 404, 405, 501:
		return true
	}
	return false
}

func (e *Enroller) live(dev *api.EdgeDevice) (bool, string) {
	switch {
	case dev.Status == api.StatusOnline:
		return true, "status online"
	case dev.NumRunningExperiments > 0:
		return true, fmt.Sprintf("%d experiments running", dev.NumRunningExperiments)
	case dev.LastInfoUpdate != nil && e.now().Sub(*dev.LastInfoUpdate) < e.ResetWindow:
		return true, "last heartbeat " + dev.LastInfoUpdate.UTC().Format(time.RFC3339)
	}
	return false, ""
}

func (e *Enroller) commit(ctx context.Context, dev *api.EdgeDevice, password, enrollment string) error {
	return e.Store.Commit(ctx, credential.Record{
		ClientID: dev.Username, Password: password, ClusterID: e.ClusterID,
		DashboardID: dev.ID, Name: dev.FirstName, Enrollment: enrollment,
	})
}

// createError turns the create call's refusals into stops that say what to do.
func (e *Enroller) createError(ctx context.Context, err error) error {
	var apiErr *api.APIError
	if errors.As(err, &apiErr) && apiErr.Status == 409 {
		b := apiErr.Body
		switch apiErr.Code {
		case api.CodeClusterConflict:
			return stop(Conflict, err, "this cluster (%s) is connected to another tracebloc account, owned by %s: ask them to release it, or sign in with that account", e.ClusterID, clean(b.OwnerEmail))
		case api.CodeClusterInUse:
			return stop(Conflict, err, "this cluster (%s) is in use by client %q of your account: uninstall that client first, or install into its namespace to adopt it", e.ClusterID, clean(b.HolderName))
		case api.CodeNamespaceConflict:
			clients, _ := e.Backend.ListEdgeDevices(ctx)
			if nerr := e.checkNamespace(clients); nerr != nil {
				return nerr // the holder as listed: a former client is waited for
			}
			return e.namespaceTaken(b.HolderName, clients)
		}
	}
	if errors.As(err, &apiErr) && apiErr.Status == 400 {
		// A backend without the namespace_conflict code refuses a taken namespace as a
		// plain validation error: the client list says whether that is what happened.
		if clients, lerr := e.Backend.ListEdgeDevices(ctx); lerr == nil {
			if nerr := e.checkNamespace(clients); nerr != nil {
				return nerr
			}
		}
	}
	if errors.Is(err, api.ErrForbidden) {
		return e.forbidden(ctx, err)
	}
	return e.backendError("create this cluster's client", err)
}

func (e *Enroller) forbidden(ctx context.Context, err error) error {
	admins, aerr := e.Backend.Admins(ctx)
	if aerr != nil || len(admins) == 0 {
		return stop(Forbidden, err, "your tracebloc account may not create clients: ask an admin of your account to connect this cluster, or to give you that right")
	}
	names := make([]string, 0, len(admins))
	for _, a := range admins {
		names = append(names, fmt.Sprintf("%s <%s>", clean(a.Name), clean(a.Email)))
	}
	return stop(Forbidden, err, "your tracebloc account may not create clients: ask one of its admins (%s) to connect this cluster, or to give you that right", strings.Join(names, ", "))
}

// backendError classifies a failed call: 426 and 403 are stops with their own codes.
func (e *Enroller) backendError(what string, err error) error {
	var up *api.UpgradeRequiredError
	if errors.As(err, &up) {
		return stop(Upgrade, err, "the tracebloc backend requires edge %s or newer: upgrade the chart (helm repo update; helm upgrade ...)", clean(up.MinVersion))
	}
	if errors.Is(err, api.ErrForbidden) {
		return stop(Forbidden, err, "%s: your tracebloc account lacks the permission: ask an admin of your account", what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (e *Enroller) hook(step string) {
	if e.Hook != nil {
		e.Hook(step)
	}
}

func (e *Enroller) now() time.Time { return e.clock().Now() }

func (e *Enroller) clock() clock.Clock {
	if e.Clock == nil {
		return clock.RealClock{}
	}
	return e.Clock
}

func (e *Enroller) newPassword() (string, error) {
	if e.NewPassword != nil {
		return e.NewPassword()
	}
	return NewPassword()
}

// NewPassword returns a machine credential: 32 bytes from crypto/rand, base64url.
func NewPassword() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// refused reports whether the backend definitely did not create anything: a 4xx answer
// other than a rate limit, or 426.
func refused(err error) bool {
	var apiErr *api.APIError
	var up *api.UpgradeRequiredError
	if errors.As(err, &up) {
		return true
	}
	return errors.As(err, &apiErr) && apiErr.Status >= 400 && apiErr.Status < 500 && apiErr.Status != 429
}

// clean makes a string the backend sent safe to show in a log line or an error.
func clean(s string) string { return safetext.Excerpt(s, 0) }

func findUsername(clients []api.EdgeDevice, username string) *api.EdgeDevice {
	for i := range clients {
		if clients[i].Username == username {
			return &clients[i]
		}
	}
	return nil
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

// Slug turns a display name into a DNS-label-like stem: "Contract Admin" -> "contract-admin".
func Slug(s string) string {
	s = strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(s) > 40 {
		s = strings.TrimRight(s[:40], "-")
	}
	if s == "" {
		return "edge"
	}
	return s
}

// NextName returns <slug(firstName)>-NN with the lowest two-digit number not used by the
// account's clients.
func NextName(firstName string, clients []api.EdgeDevice) string {
	stem := Slug(firstName)
	used := map[int]bool{}
	for _, c := range clients {
		if rest, ok := strings.CutPrefix(c.FirstName, stem+"-"); ok && len(rest) == 2 {
			if n, err := strconv.Atoi(rest); err == nil {
				used[n] = true
			}
		}
	}
	for n := 1; n < 100; n++ {
		if !used[n] {
			return fmt.Sprintf("%s-%02d", stem, n)
		}
	}
	return fmt.Sprintf("%s-%d", stem, len(clients)+1)
}

// FreeNamespace suggests ns-2, ns-3, ... the first not used by the account's clients.
func FreeNamespace(ns string, clients []api.EdgeDevice) string {
	used := map[string]bool{}
	for _, c := range clients {
		used[c.Namespace] = true
	}
	stem := ns
	if len(stem) > 58 {
		stem = strings.TrimRight(stem[:58], "-")
	}
	for n := 2; ; n++ {
		cand := fmt.Sprintf("%s-%d", stem, n)
		if !used[cand] {
			return cand
		}
	}
}
