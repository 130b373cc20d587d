package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/sethvargo/go-envconfig"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"

	"github.com/tracebloc/edge/bootstrap/bootstrapper"
	"github.com/tracebloc/edge/bootstrap/config"
	"github.com/tracebloc/edge/bootstrap/deviceflow"
	"github.com/tracebloc/edge/bootstrap/enroll"
	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/version"
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "--version" || args[0] == "version") {
		fmt.Fprintln(stdout, version.UserAgent())
		return nil
	}
	if len(args) > 0 {
		return fmt.Errorf("%w: unexpected arguments %q: the bootstrap is configured through TRACEBLOC_* environment variables only", config.ErrInvalid, strings.Join(args, " "))
	}
	cfg, err := config.Load(ctx, envconfig.OsLookuper())
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	kube, err := kubeClient()
	if err != nil {
		return err
	}
	httpClient, err := api.NewHTTPClient(cfg.CAFile, cfg.HTTPTimeout)
	if err != nil {
		return fmt.Errorf("%w: TRACEBLOC_CA_FILE: %w", config.ErrInvalid, err)
	}
	client, err := api.New(cfg.BaseURL(), api.WithHTTPClient(httpClient))
	if err != nil {
		return fmt.Errorf("%w: TRACEBLOC_API_URL: %w", config.ErrInvalid, err)
	}
	log.Info().Str("step", "start").Str("version", version.Version).Str("backend", cfg.BaseURL()).
		Str("namespace", cfg.Namespace).Str("secret", cfg.CredentialSecret).Msg("tracebloc edge bootstrap")
	b := &bootstrapper.Bootstrapper{
		Config: cfg, Kube: kube, API: client, Clock: clock.RealClock{},
		Stdout: stdout, Terminal: isTerminal(stdout), Log: log, Hook: crashHook(),
	}
	_, err = b.Run(ctx)
	return err
}

func newLogger(cfg *config.Config, w io.Writer) zerolog.Logger {
	level, _ := zerolog.ParseLevel(cfg.LogLevel)
	if cfg.LogFormat == "console" {
		w = zerolog.ConsoleWriter{Out: w, NoColor: !isTerminal(w), TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// kubeClient uses the pod's service account, or KUBECONFIG outside a pod.
func kubeClient() (kubernetes.Interface, error) {
	rc, err := rest.InClusterConfig()
	if err != nil {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("no Kubernetes access: run in a pod with a service account token, or set KUBECONFIG: %w", err)
		}
	}
	rc.UserAgent = version.UserAgent()
	return kubernetes.NewForConfig(rc)
}

// exitCode reports err on stderr as the last line and returns the documented code.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	code := enroll.ExitFailure
	var stop *enroll.Error
	var up *api.UpgradeRequiredError
	switch {
	case errors.As(err, &stop):
		code = stop.Code
	case errors.Is(err, config.ErrInvalid):
		code = enroll.ExitConfig
	case errors.Is(err, deviceflow.ErrDenied):
		code = enroll.ExitDenied
	case errors.As(err, &up):
		code = enroll.ExitUpgrade
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "error: stopped before the credential was in place; the next start resumes where this one stopped")
		return enroll.ExitFailure
	}
	msg := err.Error()
	if code == enroll.ExitFailure {
		msg += " (next: check the log lines above; the pod restarts and resumes where it stopped)"
	}
	fmt.Fprintf(stderr, "error: %s\n", msg)
	return code
}
