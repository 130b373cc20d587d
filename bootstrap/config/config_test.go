package config

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sethvargo/go-envconfig"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestLoadDefaults(t *testing.T) {
	c, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{
		"TRACEBLOC_CREDENTIAL_SECRET": "edge-credentials", "TRACEBLOC_NAMESPACE": "edge",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Env != "prod" || c.BaseURL() != "https://api.tracebloc.io" || c.ResetWindow.String() != "10m0s" || c.LeaseDuration.String() != "15s" || c.LogFormat != "console" {
		t.Errorf("Load() defaults = %+v", c)
	}
}

// FuzzConfig feeds arbitrary values to every variable: Load never panics, every refusal
// is ErrInvalid and names a TRACEBLOC_ variable, and what it accepts is valid.
func FuzzConfig(f *testing.F) {
	f.Add("prod", "", "edge", "edge-credentials", "", "10m", "15s", "30s", "console", "info", "false", "false", "edge", "tracebloc-agents")
	f.Add("stg", "http://127.0.0.1:8787/", "Not_A_Namespace", "", "edge-credentials", "-1s", "1s", "0", "xml", "trace", "maybe", "yes", "Edge", "agents_1")
	f.Add("prod", "", "Bad_Namespace", "edge-credentials", "", "10m", "15s", "30s", "console", "info", "false", "false", "a.b-c", "")
	f.Add("dev", "ftp://x", "a", "b", "c", "1h", "1m", "1ms", "json", "debug", "true", "1", "-edge", "edge")
	f.Fuzz(func(t *testing.T, env, url, ns, secret, legacy, reset, lease, timeout, format, level, qr, verify, release, agents string) {
		m := map[string]string{
			"TRACEBLOC_ENV": env, "TRACEBLOC_API_URL": url, "TRACEBLOC_NAMESPACE": ns,
			"TRACEBLOC_CREDENTIAL_SECRET": secret, "TRACEBLOC_LEGACY_SECRET": legacy,
			"TRACEBLOC_RESET_WINDOW": reset, "TRACEBLOC_LEASE_DURATION": lease, "TRACEBLOC_HTTP_TIMEOUT": timeout,
			"TRACEBLOC_LOG_FORMAT": format, "TRACEBLOC_LOG_LEVEL": level, "TRACEBLOC_QR": qr,
			"TRACEBLOC_VERIFY_CREDENTIAL": verify, "TRACEBLOC_RELEASE": release, "TRACEBLOC_NODE_AGENTS_NAMESPACE": agents,
		}
		c, err := Load(context.Background(), envconfig.MapLookuper(m))
		if err != nil {
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "TRACEBLOC_") {
				t.Fatalf("Load() error %q is not ErrInvalid naming a variable", err)
			}
			return
		}
		if len(validation.IsDNS1123Label(c.Namespace)) > 0 || c.CredentialSecret == "" || c.ResetWindow <= 0 || c.HTTPTimeout <= 0 {
			t.Fatalf("Load() accepted an invalid configuration: namespace %q, secret %q, reset %v, timeout %v", c.Namespace, c.CredentialSecret, c.ResetWindow, c.HTTPTimeout)
		}
		switch c.Env {
		case "dev", "stg", "prod":
		default:
			t.Fatalf("Load() accepted TRACEBLOC_ENV=%q", c.Env)
		}
		if len(c.Release) > 53 || len(validation.IsDNS1123Subdomain(c.Release)) > 0 && c.Release != "" {
			t.Fatalf("Load() accepted TRACEBLOC_RELEASE=%q, not a Helm release name", c.Release)
		}
		if c.NodeAgents != "" && len(validation.IsDNS1123Label(c.NodeAgents)) > 0 {
			t.Fatalf("Load() accepted TRACEBLOC_NODE_AGENTS_NAMESPACE=%q", c.NodeAgents)
		}
	})
}

func TestLoadApprovalContext(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		wantHosts []string
		wantChart string
		wantErr   string // "" = accepted
	}{
		{name: "unset", wantHosts: nil},
		{name: "hosts trimmed and lowered", env: map[string]string{"TRACEBLOC_VERIFICATION_HOSTS": " App.Tracebloc.io ,,127.0.0.1"},
			wantHosts: []string{"app.tracebloc.io", "127.0.0.1"}},
		{name: "host with a scheme", env: map[string]string{"TRACEBLOC_VERIFICATION_HOSTS": "https://app.tracebloc.io"}, wantErr: "TRACEBLOC_VERIFICATION_HOSTS"},
		{name: "host with a port", env: map[string]string{"TRACEBLOC_VERIFICATION_HOSTS": "app.tracebloc.io:443"}, wantErr: "TRACEBLOC_VERIFICATION_HOSTS"},
		{name: "chart version", env: map[string]string{"TRACEBLOC_CHART_VERSION": "0.4.1-rc.1"}, wantChart: "0.4.1-rc.1"},
		{name: "chart version with text", env: map[string]string{"TRACEBLOC_CHART_VERSION": "0.4.1 <b>"}, wantErr: "TRACEBLOC_CHART_VERSION"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := map[string]string{"TRACEBLOC_CREDENTIAL_SECRET": "edge-credentials", "TRACEBLOC_NAMESPACE": "edge"}
			for k, v := range tt.env {
				m[k] = v
			}
			c, err := Load(context.Background(), envconfig.MapLookuper(m))
			if tt.wantErr != "" {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(fmt.Sprint(err), tt.wantErr) {
					t.Fatalf("Load() = %v, want ErrInvalid naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantHosts, c.VerificationHosts); diff != "" {
				t.Errorf("VerificationHosts (-want +got):\n%s", diff)
			}
			if c.ChartVersion != tt.wantChart {
				t.Errorf("ChartVersion = %q, want %q", c.ChartVersion, tt.wantChart)
			}
		})
	}
}

func TestLoadReleaseAndNodeAgents(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		wantCopy string
		wantErr  string // "" = accepted
	}{
		{name: "unset"},
		{name: "release", env: map[string]string{"TRACEBLOC_RELEASE": "edge.v2-a"}},
		{name: "release too long", env: map[string]string{"TRACEBLOC_RELEASE": strings.Repeat("a", 54)}, wantErr: "TRACEBLOC_RELEASE"},
		{name: "release with capitals", env: map[string]string{"TRACEBLOC_RELEASE": "Edge"}, wantErr: "TRACEBLOC_RELEASE"},
		{name: "release with a newline", env: map[string]string{"TRACEBLOC_RELEASE": "edge\nx"}, wantErr: "TRACEBLOC_RELEASE"},
		{name: "node agents", env: map[string]string{"TRACEBLOC_NODE_AGENTS_NAMESPACE": "tracebloc-agents"}, wantCopy: "tracebloc-agents"},
		{name: "node agents is the release namespace", env: map[string]string{"TRACEBLOC_NODE_AGENTS_NAMESPACE": "edge"}},
		{name: "node agents not a namespace", env: map[string]string{"TRACEBLOC_NODE_AGENTS_NAMESPACE": "Agents_1"}, wantErr: "TRACEBLOC_NODE_AGENTS_NAMESPACE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := map[string]string{"TRACEBLOC_CREDENTIAL_SECRET": "edge-credentials", "TRACEBLOC_NAMESPACE": "edge"}
			for k, v := range tt.env {
				m[k] = v
			}
			c, err := Load(context.Background(), envconfig.MapLookuper(m))
			if tt.wantErr != "" {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(fmt.Sprint(err), tt.wantErr) {
					t.Fatalf("Load() = %v, want ErrInvalid naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.CopyNamespace(); got != tt.wantCopy {
				t.Errorf("CopyNamespace() = %q, want %q", got, tt.wantCopy)
			}
		})
	}
}
