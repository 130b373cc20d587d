package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/sethvargo/go-envconfig"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/tracebloc/edge/bootstrap/bootstrapper"
	"github.com/tracebloc/edge/bootstrap/config"
	"github.com/tracebloc/edge/bootstrap/credential"
	"github.com/tracebloc/edge/bootstrap/deviceflow"
	"github.com/tracebloc/edge/bootstrap/enroll"
	"github.com/tracebloc/edge/bootstrap/kube"
	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/safetext"
	"github.com/tracebloc/edge/internal/version"
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	command := ""
	if len(args) > 0 {
		command = args[0]
	}
	switch {
	case command == "--version" || command == "version":
		fmt.Fprintln(stdout, version.UserAgent())
		return nil
	case command == "hold" && len(args) == 1:
		return hold(ctx, stdout)
	case command == "copy-legacy" && len(args) == 1:
		return copyLegacy(ctx, stdout, stderr)
	case len(args) > 1 || (command != "" && command != "check" && command != "revoke"):
		return fmt.Errorf("%w: unexpected arguments %q: run with no arguments to enroll, or with check, revoke, hold or copy-legacy; settings come from TRACEBLOC_* environment variables", config.ErrInvalid, strings.Join(args, " "))
	}
	cfg, err := config.Load(ctx, envconfig.OsLookuper())
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	// client-go's leader election talks through klog; the bootstrap's own lines say what
	// a person needs, so klog stays quiet.
	klog.SetLogger(logr.Discard())
	kc, err := kubeClient()
	if err != nil {
		return err
	}
	httpClient, err := api.NewHTTPClient(cfg.CAFile, cfg.HTTPTimeout)
	if err != nil {
		return fmt.Errorf("%w: TRACEBLOC_CA_FILE: %w", config.ErrInvalid, err)
	}
	// One clock for every wait of the run: the backend client's 429 waits included.
	clk := clock.RealClock{}
	client, err := api.New(cfg.BaseURL(), api.WithHTTPClient(httpClient), api.WithClock(clk))
	if err != nil {
		return fmt.Errorf("%w: TRACEBLOC_API_URL: %w", config.ErrInvalid, err)
	}
	switch command {
	case "check":
		return check(ctx, cfg, kc, stdout)
	case "revoke":
		return revoke(ctx, cfg, kc, client, log)
	}
	log.Info().Str("step", "start").Str("version", version.Version).Str("backend", cfg.BaseURL()).
		Str("namespace", cfg.Namespace).Str("secret", cfg.CredentialSecret).Msg("tracebloc edge bootstrap")
	b := &bootstrapper.Bootstrapper{
		Config: cfg, Kube: kc, API: client, Clock: clk,
		Stdout: stdout, Terminal: isTerminal(stdout), Log: log, Hook: crashHook(),
	}
	_, err = b.Run(ctx)
	return err
}

func newLogger(cfg *config.Config, w io.Writer) zerolog.Logger {
	return logger(cfg.LogFormat, cfg.LogLevel, w)
}

func logger(format, levelName string, w io.Writer) zerolog.Logger {
	level, _ := zerolog.ParseLevel(levelName)
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, NoColor: !isTerminal(w), TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// kubeRequestTimeout bounds one Kubernetes request: an API server that accepts a
// connection and never answers fails the request, which is then tried again like a
// refused one (credential.Store's patience), instead of hanging a run that has no deadline.
var kubeRequestTimeout = 30 * time.Second

// kubeClient uses the pod's service account, or KUBECONFIG outside a pod.
func kubeClient() (kube.Interface, error) {
	rc, err := kubeConfig()
	if err != nil {
		return nil, err
	}
	return kube.NewForConfig(rc)
}

func kubeConfig() (*rest.Config, error) {
	rc, err := rest.InClusterConfig()
	if err != nil {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("no Kubernetes access: run in a pod with a service account token, or set KUBECONFIG: %w", err)
		}
	}
	rc.UserAgent = version.UserAgent()
	rc.Timeout = kubeRequestTimeout
	// HTTPS_PROXY is for the backend (a corporate proxy); client-go would send the API
	// server's calls through it too, and a proxy cannot reach the in-cluster address.
	rc.Proxy = func(*http.Request) (*url.URL, error) { return nil, nil }
	return rc, nil
}

// Exit codes of the bootstrap, documented in the README.
const (
	exitFailure         = 1
	exitConfig          = 2
	exitDenied          = 3
	exitConflict        = 4
	exitForbidden       = 5
	exitUpgrade         = 6
	exitClusterMismatch = 7
)

// exitCodes maps each kind of stop to its exit code.
var exitCodes = map[enroll.Kind]int{
	enroll.Failure:         exitFailure,
	enroll.Config:          exitConfig,
	enroll.Denied:          exitDenied,
	enroll.Conflict:        exitConflict,
	enroll.Forbidden:       exitForbidden,
	enroll.Upgrade:         exitUpgrade,
	enroll.ClusterMismatch: exitClusterMismatch,
}

// exitCode reports err on stderr as the last line and returns the documented code.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	code := exitFailure
	var stop *enroll.Error
	var up *api.UpgradeRequiredError
	switch {
	case errors.As(err, &stop):
		code = exitCodes[stop.Kind]
	case errors.Is(err, config.ErrInvalid):
		code = exitConfig
	case errors.Is(err, deviceflow.ErrDenied):
		code = exitDenied
	case errors.As(err, &up):
		code = exitUpgrade
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "error: stopped before the credential was in place; the next start resumes where this one stopped")
		return exitFailure
	}
	msg := err.Error()
	if code == exitFailure && stop == nil { // a stop's message names its own next step
		msg += " (next: check the log lines above; the pod restarts and resumes where it stopped)"
	}
	fmt.Fprintf(stderr, "error: %s\n", msg)
	return code
}

// holdLine is what hold prints: the one line a person reads in the main container's log.
const holdLine = "tracebloc edge: the credential is in place; the workload runs elsewhere (client.enabled=false), so this container only keeps the pod running until it is stopped"

// hold is the main container of the chart's enrollment Deployment when the client chart is
// not installed (client.enabled=false): the bootstrap init container has put the credential
// in place, and the pod only stays up, so that the Deployment does not restart it and the
// init container does not run again. It needs no configuration and no Kubernetes access,
// and ends well (exit 0) when it is stopped (SIGTERM or SIGINT end ctx).
func hold(ctx context.Context, stdout io.Writer) error {
	fmt.Fprintln(stdout, holdLine)
	<-ctx.Done()
	return nil
}

// check is the chart's `helm test`: the credential Secret holds both keys. It prints the
// key names, never the values.
func check(ctx context.Context, cfg *config.Config, kc kube.Interface, stdout io.Writer) error {
	store := &credential.Store{Client: kc, Namespace: cfg.Namespace, Name: cfg.CredentialSecret}
	s, err := store.Read(ctx)
	if err != nil {
		return err
	}
	if s.Exists && !s.Owned {
		fmt.Fprintf(stdout, "ok: the credential Secret %s/%s holds CLIENT_ID and CLIENT_PASSWORD (an operator's, not the bootstrap's)\n", cfg.Namespace, cfg.CredentialSecret)
		return nil
	}
	if !s.Complete() {
		return fmt.Errorf("the credential Secret %s/%s does not hold a complete CLIENT_ID and CLIENT_PASSWORD (enrollment %q): follow the bootstrap's logs (kubectl logs -n %s deploy/<release> -c bootstrap) and approve the code", cfg.Namespace, cfg.CredentialSecret, safetext.Excerpt(s.Enrollment, 64), cfg.Namespace)
	}
	fmt.Fprintf(stdout, "ok: the credential Secret %s/%s holds CLIENT_ID and CLIENT_PASSWORD (enrollment %s)\n", cfg.Namespace, cfg.CredentialSecret, s.Enrollment)
	return nil
}

// revoke is the chart's opt-in offboarding hook: the machine credential revokes its own
// client, so that it can no longer log in, and the Secret is marked revoked, so that a
// later install enrolls again without asking the backend. A missing Secret, or one the
// bootstrap did not make, leaves nothing to revoke.
func revoke(ctx context.Context, cfg *config.Config, kc kube.Interface, client *api.Client, log zerolog.Logger) error {
	log = log.With().Str("step", "revoke").Logger()
	store := &credential.Store{Client: kc, Namespace: cfg.Namespace, Name: cfg.CredentialSecret, Log: log}
	s, err := store.Read(ctx)
	switch {
	case err != nil:
		return err
	case !s.Exists:
		log.Info().Msg("no credential Secret; nothing to revoke")
		return nil
	case !s.Owned:
		log.Info().Msg("the credential Secret is an operator's, not the bootstrap's; it is left as it is")
		return nil
	case s.Enrollment == credential.Revoked:
		log.Info().Msg("the credential in the Secret is revoked already")
		return nil
	case !s.Complete() || s.DashboardID == 0:
		log.Info().Msg("the credential Secret holds no finished enrollment; nothing to revoke")
		return nil
	}
	id, name := s.DashboardID, safetext.Excerpt(s.ClientName, 0)
	machine, err := client.MachineLogin(ctx, s.ClientID, s.Password)
	if errors.Is(err, api.ErrInvalidCredential) {
		log.Info().Msg("the machine credential is already refused by the backend; marking the Secret revoked")
		return markRevoked(ctx, store, s, id)
	}
	if err != nil {
		return fmt.Errorf("log in to revoke client %d: %w", id, err)
	}
	if _, err := machine.RevokeEdgeDevice(ctx, id); err != nil {
		var apiErr *api.APIError
		if errors.As(err, &apiErr) && (apiErr.Status == 401 || apiErr.Status == 403 || apiErr.Status == 404 || apiErr.Status == 405) {
			return &enroll.Error{Kind: enroll.Failure, Err: err, Msg: fmt.Sprintf(
				"the tracebloc backend does not let a client revoke itself (%s): revoke or delete client %q (id %d) in the tracebloc dashboard, or with tracebloc client delete %s; the Secret %s/%s is left as it is",
				safetext.Excerpt(err.Error(), 0), name, id, name, cfg.Namespace, cfg.CredentialSecret)}
		}
		return fmt.Errorf("revoke client %d: %w", id, err)
	}
	if err := markRevoked(ctx, store, s, id); err != nil {
		return err
	}
	log.Info().Int64("client_id", id).Str("client", name).
		Msg("revoked the machine credential and marked the Secret revoked; the client record stays in tracebloc")
	return nil
}

func markRevoked(ctx context.Context, store *credential.Store, s credential.State, id int64) error {
	if err := store.MarkRevoked(ctx, s.ClientID); err != nil {
		return fmt.Errorf("client %d is revoked, but the Secret could not be marked so (a later start finds out from the backend when TRACEBLOC_VERIFY_CREDENTIAL is true; otherwise delete the Secret): %w", id, err)
	}
	return nil
}

// copyLegacy is the edge chart's pre-install/pre-upgrade hook when it upgrades a
// tracebloc/client release in place: it copies that release's CLIENT_ID and CLIENT_PASSWORD
// to a Secret Helm does not own before the upgrade strips them (credential.LegacyCopy), and
// prints one line saying what it found or did, never a value.
func copyLegacy(ctx context.Context, stdout, stderr io.Writer) error {
	cfg, err := config.LoadLegacyCopy(ctx, envconfig.OsLookuper())
	if err != nil {
		return err
	}
	log := logger(cfg.LogFormat, cfg.LogLevel, stderr).With().Str("step", "copy-legacy").Logger()
	kc, err := kubeClient()
	if err != nil {
		return err
	}
	l := &credential.LegacyCopy{
		Store:  &credential.Store{Client: kc, Namespace: cfg.Namespace, Name: cfg.CredentialSecret, Log: log},
		Source: cfg.Source, Name: cfg.LegacySecret,
	}
	outcome, err := l.Run(ctx)
	if errors.Is(err, credential.ErrLegacyCopy) {
		return &enroll.Error{Kind: enroll.Config, Msg: err.Error(), Err: err}
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, l.Line(outcome))
	return nil
}
