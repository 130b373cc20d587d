// Command tracebloc-devbackend serves the development backend (package devbackend): the
// tracebloc API of shared/contract, the /activate page and the loopback-only /_dev/ API.
//
//	tracebloc-devbackend [--listen 127.0.0.1:8787] [--db FILE] [--public-url URL]
//	    [--device-interval 5s] [--device-ttl 15m] [--min-version X.Y.Z] [--rate R]
//	    [--user email:account[:first_name[:admin|viewer]]]... [--log-format console|json]
//	    [--contract-only] [--allow-non-loopback]
//
// It prints "listening on http://ADDR" to stderr and serves until SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/tracebloc/edge/internal/devbackend"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracebloc-devbackend:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, _ io.Reader, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("tracebloc-devbackend", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg        devbackend.Config
		listen     = fs.String("listen", "127.0.0.1:8787", "address to serve on (loopback only unless --allow-non-loopback)")
		allowAny   = fs.Bool("allow-non-loopback", false, "allow a non-loopback --listen address (the activation page has no sign-in)")
		logFormat  = fs.String("log-format", "console", "log format: console or json")
		deviceTick = fs.Duration("device-interval", 5*time.Second, "polling interval of device codes")
		deviceTTL  = fs.Duration("device-ttl", 15*time.Minute, "lifetime of device codes")
	)
	fs.StringVar(&cfg.DBPath, "db", "", "SQLite database file (default: in memory)")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "public base URL for verification_uri (default: from the request's Host)")
	fs.StringVar(&cfg.MinVersion, "min-version", "", "answer 426 to clients older than this version (default: off)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "requests per second per client IP on /device/code and /device/token (default: off)")
	fs.BoolVar(&cfg.ContractOnly, "contract-only", false, "answer as a backend with only the pinned contract: every extension off (internal/api/EXTENSIONS.md)")
	fs.Func("user", "development user email:account[:first_name[:admin|viewer]] (repeatable; default dev@example.com:dev:Dev:admin)", func(v string) error {
		u, err := devbackend.ParseUser(v)
		if err != nil {
			return err
		}
		cfg.Users = append(cfg.Users, u)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: every setting is a flag (see --help)", fs.Args())
	}
	if err := checkListen(*listen, *allowAny); err != nil {
		return err
	}
	logger, err := newLogger(*logFormat, stderr)
	if err != nil {
		return err
	}
	cfg.DeviceInterval, cfg.DeviceTTL, cfg.Logger = *deviceTick, *deviceTTL, logger

	srv, err := devbackend.New(cfg)
	if err != nil {
		return fmt.Errorf("start the development backend: %w", err)
	}
	defer srv.Close()
	return serve(ctx, *listen, srv.Handler(), stderr)
}

// checkListen refuses an address that is reachable from other machines, unless allowed:
// the activation page approves codes without a sign-in, and /_dev/ must stay local.
func checkListen(addr string, allowAny bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %q: want host:port, e.g. 127.0.0.1:8787: %w", addr, err)
	}
	if allowAny {
		return nil
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("--listen %q is not a loopback address: use 127.0.0.1, or add --allow-non-loopback if you mean to expose the development backend", addr)
}

func newLogger(format string, stderr io.Writer) (zerolog.Logger, error) {
	switch format {
	case "json":
		return zerolog.New(stderr).With().Timestamp().Logger(), nil
	case "console":
		return zerolog.New(zerolog.ConsoleWriter{Out: stderr, NoColor: !isTerminal(stderr), TimeFormat: time.TimeOnly}).
			With().Timestamp().Logger(), nil
	}
	return zerolog.Logger{}, fmt.Errorf("--log-format %q: want console or json", format)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func serve(ctx context.Context, addr string, h http.Handler, stderr io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s (is another backend running?): %w", addr, err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stderr, "listening on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve on %s: %w", addr, err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}
