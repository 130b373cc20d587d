package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"
	"k8s.io/utils/clock"

	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/retry"
	"github.com/tracebloc/edge/internal/safetext"
)

// config is the environment of the reporting roles (the package comment lists it).
type config struct {
	ClientID  string        `env:"CLIENT_ID"`
	Password  string        `env:"CLIENT_PASSWORD"`
	APIURL    string        `env:"TRACEBLOC_API_URL"`
	ClientEnv string        `env:"CLIENT_ENV,default=prod"`
	Interval  time.Duration `env:"TRACEBLOC_HEARTBEAT_INTERVAL,default=10s"`
}

// clientEnvs maps the chart's CLIENT_ENV spellings (its tracebloc.clientEnv helper) to
// the environment whose backend the workloads use.
var clientEnvs = map[string]string{
	"dev": "dev", "stg": "stg", "prod": "prod",
	"development": "dev", "staging": "stg", "production": "prod",
}

// loadConfig reads and checks the environment; errors name the variable.
func loadConfig(ctx context.Context, env func(string) string) (config, string, error) {
	var c config
	lookup := envconfig.LookuperFunc(func(key string) (string, bool) {
		v := env(key)
		return v, v != ""
	})
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &c, Lookuper: lookup}); err != nil {
		return c, "", usagef("%s", nameVariable(err))
	}
	switch {
	case c.ClientID == "" || c.Password == "":
		return c, "", usagef("CLIENT_ID or CLIENT_PASSWORD is empty: the pod reads them from the credential Secret, which the edge's bootstrap writes (see its log)")
	case c.Interval <= 0 || c.Interval > time.Hour:
		return c, "", usagef("TRACEBLOC_HEARTBEAT_INTERVAL=%s: want a positive duration of at most 1h, e.g. 10s", c.Interval)
	}
	if c.APIURL != "" {
		return c, c.APIURL, nil
	}
	e, ok := clientEnvs[c.ClientEnv]
	if !ok {
		return c, "", usagef("CLIENT_ENV=%q: want dev, stg or prod (or development, staging, production), or set TRACEBLOC_API_URL", c.ClientEnv)
	}
	return c, api.BaseURL(e), nil
}

// nameVariable rewrites envconfig's errors, which name the Go field, to name the
// environment variable a person sets.
func nameVariable(err error) string {
	msg := err.Error()
	t := reflect.TypeOf(config{})
	for i := range t.NumField() {
		f := t.Field(i)
		env, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if rest, ok := strings.CutPrefix(msg, f.Name+":"); ok {
			return env + ":" + rest
		}
	}
	return msg
}

// reportingRole is a workload that logs in with the machine credential and reports the
// client live every interval; listen, when set, is the address of the chart's TCP probe.
func reportingRole(name, listen string) role {
	return func(ctx context.Context, args []string, env func(string) string, out *lines, clk clock.Clock) error {
		addr, err := listenFlag(name, args, listen)
		if err != nil {
			return err
		}
		cfg, url, err := loadConfig(ctx, env)
		if err != nil {
			return err
		}
		hc, err := api.NewHTTPClient("", 0)
		if err != nil {
			return err
		}
		backend, err := api.New(url, api.WithHTTPClient(hc), api.WithClock(clk))
		if err != nil {
			return usagef("TRACEBLOC_API_URL: %v", err)
		}
		out.printf("stand-in of the %s workload: reporting the client to %s every %s", name, url, cfg.Interval)
		if addr != "" {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			go func() {
				probe := out.fork()
				if err := serveProbe(ctx, addr, probe, clk); err != nil {
					probe.printf("the TCP probe will fail: %v", err)
				}
			}()
		}
		r := &reporter{backend: backend, cfg: cfg, url: url, out: out, clk: clk}
		return r.run(ctx)
	}
}

// reporter logs in and reports the client live until ctx ends.
type reporter struct {
	backend *api.Client
	cfg     config
	url     string
	out     *lines
	clk     clock.Clock
}

// loginPolicy is how a login that cannot reach the backend is tried again: the real
// workloads also wait for the backend rather than give up.
var loginPolicy = retry.Policy{
	Backoff: retry.Backoff{Base: time.Second, Cap: 30 * time.Second, Jitter: rand.Float64},
	After:   api.RetryAfter,
}

// run logs in, then reports every interval; a refused token is followed by a new login,
// and a refused login ends the run with the error a person reads in kubectl logs.
func (r *reporter) run(ctx context.Context) error {
	for {
		machine, err := r.login(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := r.report(ctx, machine); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// login is POST /api-token-auth/ with the machine credential, tried again while the
// backend cannot be reached.
func (r *reporter) login(ctx context.Context) (*api.Client, error) {
	var machine *api.Client
	err := retry.Do(ctx, r.clk, loginPolicy, func() error {
		var err error
		machine, err = r.backend.MachineLogin(ctx, r.cfg.ClientID, r.cfg.Password)
		return err
	}, api.Transient, func(err error, wait time.Duration) {
		r.out.printf("cannot log in yet (%v); trying again", err)
	})
	switch {
	case errors.Is(err, api.ErrInvalidCredential):
		return nil, fmt.Errorf("the backend at %s refused the machine credential (CLIENT_ID and CLIENT_PASSWORD are wrong or revoked): "+
			"check the credential Secret this pod reads and the log of the edge's bootstrap, which writes it", r.url)
	case err != nil:
		return nil, fmt.Errorf("log in to %s with the machine credential: %w", r.url, err)
	}
	r.out.printf("logged in with the machine credential")
	return machine, nil
}

// report sends a heartbeat every interval until ctx ends (nil) or the backend refuses the
// token (nil: log in again). A backend without the heartbeat leaves the client as it is.
func (r *reporter) report(ctx context.Context, machine *api.Client) error {
	for {
		d, err := machine.Heartbeat(ctx, api.StatusOnline)
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil:
			r.out.printf("client %d (%s) reported online; again every %s", d.ID, safetext.Excerpt(d.FirstName, 64), r.cfg.Interval)
		case errors.Is(err, api.ErrUnauthorized):
			r.out.printf("the backend refused the login's token (%v); logging in again", err)
			return nil
		case errors.Is(err, api.ErrMissingExtension):
			r.out.printf("the backend has no heartbeat call (%v): the client's status is not reported; waiting until stopped", err)
			<-ctx.Done()
			return nil
		default:
			r.out.printf("cannot report the client (%v); trying again every %s", err, r.cfg.Interval)
		}
		if retry.Wait(ctx, r.clk, r.cfg.Interval) != nil {
			return nil
		}
	}
}
