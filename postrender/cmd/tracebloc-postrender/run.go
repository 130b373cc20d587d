package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"
	"github.com/sethvargo/go-envconfig"

	"github.com/tracebloc/edge/images"
	"github.com/tracebloc/edge/internal/version"
	"github.com/tracebloc/edge/postrender/pins"
	"github.com/tracebloc/edge/postrender/renderer"
)

// errUsage marks a mistake in the flags or settings (exit status 2).
var errUsage = errors.New("usage")

// Config is the post-renderer's settings; flags override the environment.
type Config struct {
	Namespace     string `env:"TRACEBLOC_POSTRENDER_NAMESPACE"`
	ClusterID     string `env:"TRACEBLOC_POSTRENDER_CLUSTER_ID"`
	Kubeconfig    string `env:"TRACEBLOC_POSTRENDER_KUBECONFIG"`
	KubeContext   string `env:"TRACEBLOC_POSTRENDER_KUBE_CONTEXT"`
	Images        string `env:"TRACEBLOC_POSTRENDER_IMAGES"`
	Offline       bool   `env:"TRACEBLOC_POSTRENDER_OFFLINE"`
	LogFile       string `env:"TRACEBLOC_POSTRENDER_LOG_FILE"`
	HelmNamespace string `env:"HELM_NAMESPACE"`
	HelmContext   string `env:"HELM_KUBECONTEXT"`
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "gitops" {
		return runGitops(ctx, args[1:], stdin, stdout, stderr)
	}
	cfg, showVersion, err := loadConfig(ctx, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if showVersion {
		_, err := fmt.Fprintf(stdout, "tracebloc-postrender %s\n", version.Version)
		return err
	}
	log, fileLog, closeLog, err := newLogger(cfg.LogFile, stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	set, err := loadPins(cfg.Images)
	if err != nil {
		return err
	}
	ctx, stop := interruptible(ctx, cfg.Offline)
	defer stop()
	out, err := newRenderer(cfg, set, &log).Render(ctx, stdin)
	if err = interrupted(ctx, err); err != nil {
		// main reports it on stderr; the log file gets it too, since Helm may hide stderr.
		fileLog.Error().Err(err).Msg("render failed")
		return err
	}
	if f, ok := stdout.(*os.File); ok {
		growPipe(f, len(out))
	}
	if _, err := stdout.Write(out); err != nil {
		return fmt.Errorf("write the manifests: %w", err)
	}
	return nil
}

func newRenderer(cfg Config, set pins.Set, log *zerolog.Logger) *renderer.Renderer {
	kubeContext := cfg.KubeContext
	if kubeContext == "" {
		kubeContext = cfg.HelmContext
	}
	return renderer.New(renderer.Config{
		Namespace:     cfg.Namespace,
		HelmNamespace: cfg.HelmNamespace,
		ClusterID:     cfg.ClusterID,
		Kubeconfig:    cfg.Kubeconfig,
		KubeContext:   kubeContext,
		Offline:       cfg.Offline,
		Pins:          set,
		Log:           log,
	})
}

// interruptible returns ctx, cancelled by SIGINT or SIGTERM when the render talks to the
// cluster: a request in flight then ends, and the post-renderer says it was interrupted and
// wrote nothing. An offline render has nothing to wait for: Ctrl-C's default action ends
// it at once, and it does not pay for setting signal delivery up, which Helm would wait
// for (the Go runtime starts a thread for it and waits on that thread for each signal:
// about 0.4 ms of an offline render of the edge chart; BENCHMARKS.md).
func interruptible(ctx context.Context, offline bool) (context.Context, context.CancelFunc) {
	if offline {
		return ctx, func() {}
	}
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// interrupted replaces the error of a render that a signal stopped (whatever the request in
// flight made of it) with one that says so.
func interrupted(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return errors.New("interrupted: the render stopped before it finished, and nothing was written; run the helm command again")
	}
	return err
}

// loadConfig reads the environment, then the flags over it.
func loadConfig(ctx context.Context, args []string, stderr io.Writer) (Config, bool, error) {
	return loadConfigWith(ctx, "tracebloc-postrender", args, stderr, nil)
}

// loadConfigWith is loadConfig for a command that adds flags of its own.
func loadConfigWith(ctx context.Context, name string, args []string, stderr io.Writer, more func(*flag.FlagSet)) (Config, bool, error) {
	var cfg Config
	if err := envconfig.Process(ctx, &cfg); err != nil {
		return Config{}, false, fmt.Errorf("%w: %w", errUsage, err)
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if more != nil {
		more(fs)
	}
	fs.StringVar(&cfg.Namespace, "namespace", cfg.Namespace, "release `namespace` (default: the one the edge chart writes on its objects, then $HELM_NAMESPACE; with neither, objects without a namespace are left to Helm)")
	fs.StringVar(&cfg.ClusterID, "cluster-id", cfg.ClusterID, "cluster `id` for the tracebloc.io/cluster-id label; skips reading the kube-system UID")
	fs.StringVar(&cfg.Kubeconfig, "kubeconfig", cfg.Kubeconfig, "kubeconfig `file` (default $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&cfg.KubeContext, "kube-context", cfg.KubeContext, "kubeconfig `context` (default $HELM_KUBECONTEXT, then the current one)")
	fs.StringVar(&cfg.Images, "images", cfg.Images, "image digest pin list `file` (default: the built-in images/images.yaml)")
	fs.BoolVar(&cfg.Offline, "offline", cfg.Offline, "no cluster access: no guard, and no cluster-id label unless --cluster-id")
	fs.StringVar(&cfg.LogFile, "log-file", cfg.LogFile, "also append diagnostics to `file`")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, false, err
		}
		return Config{}, false, fmt.Errorf("%w: %w (see --help)", errUsage, err)
	}
	if fs.NArg() > 0 {
		return Config{}, false, fmt.Errorf("%w: unexpected argument %q: every setting is a flag (see --help)", errUsage, fs.Arg(0))
	}
	return cfg, *showVersion, nil
}

// newLogger returns a logger that writes human-readable lines to stderr and, on request,
// to a log file, and one that writes to the log file alone (a no-op without one).
func newLogger(logFile string, stderr io.Writer) (log, fileLog zerolog.Logger, closeLog func(), err error) {
	console := func(w io.Writer) io.Writer {
		return zerolog.ConsoleWriter{Out: w, NoColor: true, TimeFormat: "15:04:05"}
	}
	newLog := func(w io.Writer) zerolog.Logger {
		return zerolog.New(w).Level(zerolog.InfoLevel).With().Timestamp().Logger()
	}
	if logFile == "" {
		return newLog(console(stderr)), zerolog.Nop(), func() {}, nil
	}
	f, err := os.OpenFile(logFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return zerolog.Logger{}, zerolog.Logger{}, nil, fmt.Errorf("%w: open --log-file: %w", errUsage, err)
	}
	// Each line is formatted once and written to both.
	both := console(zerolog.MultiLevelWriter(stderr, f))
	return newLog(both), newLog(console(f)), func() { _ = f.Close() }, nil
}

// loadPins reads the pin list file, or the built-in one.
func loadPins(file string) (pins.Set, error) {
	data := images.PinList()
	if file != "" {
		var err error
		if data, err = os.ReadFile(file); err != nil {
			return pins.Set{}, fmt.Errorf("%w: read --images: %w", errUsage, err)
		}
	}
	set, err := pins.Parse(data)
	if err != nil {
		return pins.Set{}, fmt.Errorf("%w: %w", errUsage, err)
	}
	return set, nil
}
