// Package config provides the bootstrap's configuration, read from the environment with
// go-envconfig and validated in one place. Every variable, with its default:
//
//	TRACEBLOC_ENV                  dev | stg | prod (default prod): which tracebloc backend
//	TRACEBLOC_API_URL              backend URL; overrides TRACEBLOC_ENV (development backend, tests)
//	TRACEBLOC_NAMESPACE            namespace of the credential Secret and the Lease (default: the
//	                               pod's namespace, read from the service account mount)
//	TRACEBLOC_POD_NAME             this pod's name: Events are recorded on it, and it names the
//	                               Lease holder (default: the hostname)
//	TRACEBLOC_POD_UID              this pod's UID, so Events show in `kubectl describe pod`
//	TRACEBLOC_CREDENTIAL_SECRET    name of the credential Secret (required)
//	TRACEBLOC_LEGACY_SECRET        a previous install's Secret with CLIENT_ID/CLIENT_PASSWORD to migrate
//	TRACEBLOC_CLIENT_NAME          display name of a new client (default <first name>-NN)
//	TRACEBLOC_LOCATION             location of a new client (e.g. DE); omitted when empty
//	TRACEBLOC_ENROLL_TOKEN         a pre-issued enrollment token: skips the device flow; the
//	                               operator manages it, the bootstrap never revokes it
//	TRACEBLOC_EXPECTED_CLUSTER_ID  the cluster id the manifests were rendered for (the pod's
//	                               tracebloc.io/cluster-id label through the downward API)
//	TRACEBLOC_VERIFY_CREDENTIAL    true: check an existing credential with /api-token-auth/ on
//	                               every start (default false)
//	TRACEBLOC_RESET_WINDOW         a client whose last heartbeat is older than this is not live
//	                               and its lost credential may be reset (default 10m)
//	TRACEBLOC_CA_FILE              extra PEM CA bundle for the backend's TLS
//	TRACEBLOC_TRUST_FILE           where to write the CA bundle of the client's containers: the
//	                               image's roots (SSL_CERT_FILE) and TRACEBLOC_CA_FILE
//	TRACEBLOC_LEASE_DURATION       how long the enrollment Lease of a replica that died blocks
//	                               the others (default 15s)
//	TRACEBLOC_HTTP_TIMEOUT         timeout of one backend request (default 30s)
//	TRACEBLOC_LOG_FORMAT           console | json (default console)
//	TRACEBLOC_LOG_LEVEL            debug | info | warn | error (default info)
//	TRACEBLOC_QR                   true: print a QR code of the activation URL in the banner
//	TRACEBLOC_CHART_VERSION        the chart's version, shown on the approval page (the chart
//	                               sets it); omitted when empty
//	TRACEBLOC_VERIFICATION_HOSTS   comma-separated host names an activation URL may point at,
//	                               besides the backend's own host (default: none)
//	TRACEBLOC_RELEASE              the Helm release: the credential Secret is labelled
//	                               app.kubernetes.io/name=client and app.kubernetes.io/instance=<it>,
//	                               as the tracebloc CLI looks for it; no such labels when empty
//	TRACEBLOC_NODE_AGENTS_NAMESPACE
//	                               the client chart's node-agents namespace: the bootstrap keeps a
//	                               copy of CLIENT_ID and CLIENT_PASSWORD there, in a Secret of the
//	                               credential Secret's name (none when empty or the release namespace)
//
// Proxies come from HTTPS_PROXY, HTTP_PROXY and NO_PROXY.
//
// `tracebloc-bootstrap copy-legacy` (LegacyCopy) reads only TRACEBLOC_NAMESPACE,
// TRACEBLOC_CREDENTIAL_SECRET, TRACEBLOC_LEGACY_SECRET (the copy it writes) and the one
// below, all four required, and the logging variables:
//
//	TRACEBLOC_LEGACY_SOURCE        the upgraded tracebloc/client release's Secret
//	                               (<release>-secrets) whose CLIENT_ID and CLIENT_PASSWORD it copies
package config

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/tracebloc/edge/internal/api"
)

// Config is the whole configuration of one bootstrap run.
type Config struct {
	Env               string        `env:"TRACEBLOC_ENV,default=prod"`
	APIURL            string        `env:"TRACEBLOC_API_URL"`
	Namespace         string        `env:"TRACEBLOC_NAMESPACE"`
	PodName           string        `env:"TRACEBLOC_POD_NAME"`
	PodUID            string        `env:"TRACEBLOC_POD_UID"`
	CredentialSecret  string        `env:"TRACEBLOC_CREDENTIAL_SECRET,required"`
	LegacySecret      string        `env:"TRACEBLOC_LEGACY_SECRET"`
	ClientName        string        `env:"TRACEBLOC_CLIENT_NAME"`
	Location          string        `env:"TRACEBLOC_LOCATION"`
	EnrollToken       string        `env:"TRACEBLOC_ENROLL_TOKEN"`
	ExpectedClusterID string        `env:"TRACEBLOC_EXPECTED_CLUSTER_ID"`
	VerifyCredential  bool          `env:"TRACEBLOC_VERIFY_CREDENTIAL,default=false"`
	ResetWindow       time.Duration `env:"TRACEBLOC_RESET_WINDOW,default=10m"`
	CAFile            string        `env:"TRACEBLOC_CA_FILE"`
	TrustFile         string        `env:"TRACEBLOC_TRUST_FILE"`
	SystemCAFile      string        `env:"SSL_CERT_FILE,default=/etc/ssl/certs/ca-certificates.crt"`
	HTTPTimeout       time.Duration `env:"TRACEBLOC_HTTP_TIMEOUT,default=30s"`
	LeaseDuration     time.Duration `env:"TRACEBLOC_LEASE_DURATION,default=15s"`
	LogFormat         string        `env:"TRACEBLOC_LOG_FORMAT,default=console"`
	LogLevel          string        `env:"TRACEBLOC_LOG_LEVEL,default=info"`
	QR                bool          `env:"TRACEBLOC_QR,default=false"`
	ChartVersion      string        `env:"TRACEBLOC_CHART_VERSION"`
	VerificationHosts []string      `env:"TRACEBLOC_VERIFICATION_HOSTS"`
	Release           string        `env:"TRACEBLOC_RELEASE"`
	NodeAgents        string        `env:"TRACEBLOC_NODE_AGENTS_NAMESPACE"`
}

// CopyNamespace is the namespace of the node-agents copy of the credential, "" when none is
// kept (no node-agents namespace, or it is the release namespace, where the credential
// Secret itself serves).
func (c *Config) CopyNamespace() string {
	if c.NodeAgents == c.Namespace {
		return ""
	}
	return c.NodeAgents
}

// ErrInvalid marks every configuration error (exit code 2).
var ErrInvalid = errors.New("invalid configuration")

// serviceAccountNamespace is where Kubernetes mounts the pod's namespace.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// Load reads the configuration through lookup (envconfig.OsLookuper() in production),
// fills in the defaults that need the environment, and validates it.
func Load(ctx context.Context, lookup envconfig.Lookuper) (*Config, error) {
	var c Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &c, Lookuper: lookup}); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, nameVariable(err))
	}
	if c.Namespace == "" {
		if b, err := os.ReadFile(serviceAccountNamespace); err == nil {
			c.Namespace = strings.TrimSpace(string(b))
		}
	}
	if c.PodName == "" {
		c.PodName, _ = os.Hostname()
	}
	var hosts []string
	for _, h := range c.VerificationHosts {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			hosts = append(hosts, h)
		}
	}
	c.VerificationHosts = hosts
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks every value; the error names the variable and what it accepts.
func (c *Config) Validate() error {
	var p problems
	c.checkBackend(&p)
	c.checkNames(&p)
	c.checkDurations(&p)
	c.checkLogging(&p)
	c.checkApproval(&p)
	if len(p) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(p...))
	}
	return nil
}

// problems collects what Validate finds, each naming its variable.
type problems []error

func (p *problems) bad(name, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
}

func (c *Config) checkBackend(p *problems) {
	switch c.Env {
	case "dev", "stg", "prod":
	default:
		p.bad("TRACEBLOC_ENV", "%q is not one of dev, stg, prod", c.Env)
	}
	if c.APIURL != "" {
		u, err := url.Parse(c.APIURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.bad("TRACEBLOC_API_URL", "%q is not an http(s) URL such as https://api.tracebloc.io", c.APIURL)
		}
	}
}

// checkNames checks the names of the namespace, the Secrets and the client.
func (c *Config) checkNames(p *problems) {
	if c.Namespace == "" {
		p.bad("TRACEBLOC_NAMESPACE", "not set and not running in a pod: set it to the release namespace")
	} else if msgs := validation.IsDNS1123Label(c.Namespace); len(msgs) > 0 {
		p.bad("TRACEBLOC_NAMESPACE", "%q is not a namespace name: %s", c.Namespace, strings.Join(msgs, "; "))
	}
	if c.CredentialSecret == "" {
		p.bad("TRACEBLOC_CREDENTIAL_SECRET", "is empty: set it to the credential Secret's name (the chart sets <release>-credentials)")
	}
	for _, v := range []struct{ name, value string }{{"TRACEBLOC_CREDENTIAL_SECRET", c.CredentialSecret}, {"TRACEBLOC_LEGACY_SECRET", c.LegacySecret}} {
		if v.value == "" {
			continue
		}
		if msgs := validation.IsDNS1123Subdomain(v.value); len(msgs) > 0 {
			p.bad(v.name, "%q is not a Secret name: %s", v.value, strings.Join(msgs, "; "))
		}
	}
	if c.LegacySecret != "" && c.LegacySecret == c.CredentialSecret {
		p.bad("TRACEBLOC_LEGACY_SECRET", "is the credential Secret itself (%q): name the previous install's Secret, or leave it empty", c.LegacySecret)
	}
	if len(c.ClientName) > 150 {
		p.bad("TRACEBLOC_CLIENT_NAME", "is %d characters long; at most 150", len(c.ClientName))
	}
	c.checkRelease(p)
}

// checkRelease checks the Helm release and the node-agents namespace, which become label
// values and a namespace the bootstrap writes into.
func (c *Config) checkRelease(p *problems) {
	if c.Release != "" && (len(c.Release) > 53 || !releaseName.MatchString(c.Release)) {
		p.bad("TRACEBLOC_RELEASE", "%q is not a Helm release name (at most 53 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit): the chart sets it to .Release.Name", c.Release)
	}
	if c.NodeAgents == "" {
		return
	}
	if msgs := validation.IsDNS1123Label(c.NodeAgents); len(msgs) > 0 {
		p.bad("TRACEBLOC_NODE_AGENTS_NAMESPACE", "%q is not a namespace name: %s", c.NodeAgents, strings.Join(msgs, "; "))
	}
}

// releaseName is Helm's rule for a release name.
var releaseName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func (c *Config) checkDurations(p *problems) {
	if c.ResetWindow <= 0 {
		p.bad("TRACEBLOC_RESET_WINDOW", "must be positive, e.g. 10m")
	}
	if c.LeaseDuration < 3*time.Second {
		p.bad("TRACEBLOC_LEASE_DURATION", "must be at least 3s, e.g. 15s")
	}
	if c.HTTPTimeout <= 0 {
		p.bad("TRACEBLOC_HTTP_TIMEOUT", "must be positive, e.g. 30s")
	}
}

func (c *Config) checkLogging(p *problems) {
	switch c.LogFormat {
	case "console", "json":
	default:
		p.bad("TRACEBLOC_LOG_FORMAT", "%q is not console or json", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		p.bad("TRACEBLOC_LOG_LEVEL", "%q is not debug, info, warn or error", c.LogLevel)
	}
}

// checkApproval checks what the approval page is sent and the links and CA it trusts.
func (c *Config) checkApproval(p *problems) {
	if c.ChartVersion != "" && !chartVersion.MatchString(c.ChartVersion) {
		p.bad("TRACEBLOC_CHART_VERSION", "%q is not a version such as 0.4.0", c.ChartVersion)
	}
	for _, h := range c.VerificationHosts {
		if msgs := validation.IsDNS1123Subdomain(h); len(msgs) > 0 && net.ParseIP(h) == nil {
			p.bad("TRACEBLOC_VERIFICATION_HOSTS", "%q is not a host name such as app.tracebloc.io (no scheme, port or path)", h)
		}
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			p.bad("TRACEBLOC_CA_FILE", "cannot read %s: mount the CA bundle there or unset it", c.CAFile)
		}
	}
	switch {
	case c.TrustFile == "":
	case c.CAFile == "":
		p.bad("TRACEBLOC_TRUST_FILE", "is set without TRACEBLOC_CA_FILE: the bundle it writes for the client's containers is the image's roots and that extra CA; set both or neither")
	case !filepath.IsAbs(c.TrustFile):
		p.bad("TRACEBLOC_TRUST_FILE", "%q is not an absolute path, e.g. /etc/tracebloc/trust/ca-certificates.crt", c.TrustFile)
	}
}

// chartVersion is a semantic version as Helm writes a chart's (at most 64 characters).
var chartVersion = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]{1,40})?$`)

// BaseURL is the backend the bootstrap talks to.
func (c *Config) BaseURL() string {
	if c.APIURL != "" {
		return strings.TrimRight(c.APIURL, "/")
	}
	return api.BaseURL(c.Env)
}

// nameVariable rewrites envconfig's errors, which name the Go field, to name the
// environment variable a person sets.
func nameVariable(err error) string { return nameVariableOf(reflect.TypeOf(Config{}), err) }

// nameVariableOf is nameVariable for the configuration struct t.
func nameVariableOf(t reflect.Type, err error) string {
	msg := err.Error()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		env, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if strings.HasPrefix(msg, f.Name+":") {
			return env + strings.TrimPrefix(msg, f.Name)
		}
	}
	return msg
}
