// Command tracebloc-devbackend serves the development backend (package devbackend): the
// tracebloc API that internal/api speaks, the /activate page and the loopback-only /_dev/ API.
//
//	tracebloc-devbackend [--listen 127.0.0.1:8787] [--db FILE] [--public-url URL]
//	    [--device-interval 5s] [--device-ttl 15m] [--min-version X.Y.Z] [--rate R]
//	    [--user email:account[:first_name[:admin|viewer]]]... [--log-format console|json]
//	    [--contract-only] [--admin-token-file FILE] [--allow-non-loopback]
//
// The /_dev/ API needs the admin token the backend generates at each start; it writes the
// token to FILE (mode 0600; default: a new file in the temporary directory) and removes it
// at exit. It prints "listening on http://ADDR" and then "admin token in FILE" to stderr,
// never the token, and serves until SIGINT or SIGTERM.
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
	"path/filepath"
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
		tokenFile  = fs.String("admin-token-file", "", "file to write the /_dev/ API's admin token to, mode 0600 (default: a new temporary file)")
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
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s (is another backend running?): %w", *listen, err)
	}
	path, err := writeAdminToken(*tokenFile, srv.AdminToken())
	if err != nil {
		ln.Close()
		return err
	}
	defer os.Remove(path)
	fmt.Fprintf(stderr, "listening on http://%s\n", ln.Addr())
	fmt.Fprintf(stderr, "admin token in %s (send it as \"Authorization: Bearer <token>\" to /_dev/)\n", path)
	return serve(ctx, ln, srv.Handler(), defaultTimeouts())
}

// writeAdminToken writes the token to path, or to a new temporary file when path is
// empty, readable by this user only; it returns the file's path. The file is replaced
// whole (a rename), so a reader never sees half a token.
func writeAdminToken(path, token string) (string, error) {
	dir, pattern := os.TempDir(), "tracebloc-devbackend-token-*"
	if path != "" {
		dir, pattern = filepath.Dir(path), "."+filepath.Base(path)+".*"
	}
	f, err := os.CreateTemp(dir, pattern) // mode 0600
	if err != nil {
		return "", fmt.Errorf("write the admin token (--admin-token-file %q): %w", path, err)
	}
	_, werr := f.WriteString(token + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil && path != "" {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("write the admin token to %s: %w", dir, werr)
	}
	if path == "" {
		path = f.Name()
	}
	return path, nil
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

// timeouts bound how long one client may hold a connection, so that a slow or idle one
// cannot pin the backend's goroutines and file descriptors.
type timeouts struct {
	readHeader, read, write, idle time.Duration
}

// defaultTimeouts leave room for the longest answer: a /_dev/faults delay, which tests
// keep within a minute.
func defaultTimeouts() timeouts {
	return timeouts{readHeader: 10 * time.Second, read: 30 * time.Second, write: 2 * time.Minute, idle: 2 * time.Minute}
}

func serve(ctx context.Context, ln net.Listener, h http.Handler, t timeouts) error {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: t.readHeader, ReadTimeout: t.read, WriteTimeout: t.write, IdleTimeout: t.idle}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}
