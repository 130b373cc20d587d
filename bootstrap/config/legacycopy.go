package config

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/sethvargo/go-envconfig"
	"k8s.io/apimachinery/pkg/util/validation"
)

// LegacyCopy is the configuration of `tracebloc-bootstrap copy-legacy`, the edge chart's
// hook that saves an upgraded tracebloc/client release's credential (see the package
// comment for the variables). It needs none of the enrollment's settings.
type LegacyCopy struct {
	Namespace        string `env:"TRACEBLOC_NAMESPACE,required"`
	Source           string `env:"TRACEBLOC_LEGACY_SOURCE,required"`
	LegacySecret     string `env:"TRACEBLOC_LEGACY_SECRET,required"`
	CredentialSecret string `env:"TRACEBLOC_CREDENTIAL_SECRET,required"`
	LogFormat        string `env:"TRACEBLOC_LOG_FORMAT,default=console"`
	LogLevel         string `env:"TRACEBLOC_LOG_LEVEL,default=info"`
}

// LoadLegacyCopy reads and validates copy-legacy's configuration through lookup.
func LoadLegacyCopy(ctx context.Context, lookup envconfig.Lookuper) (*LegacyCopy, error) {
	var c LegacyCopy
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &c, Lookuper: lookup}); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, nameVariableOf(reflect.TypeOf(c), err))
	}
	var p problems
	if msgs := validation.IsDNS1123Label(c.Namespace); len(msgs) > 0 {
		p.bad("TRACEBLOC_NAMESPACE", "%q is not a namespace name: %s", c.Namespace, strings.Join(msgs, "; "))
	}
	seen := map[string]string{}
	for _, v := range []struct{ name, value string }{
		{"TRACEBLOC_LEGACY_SOURCE", c.Source}, {"TRACEBLOC_LEGACY_SECRET", c.LegacySecret}, {"TRACEBLOC_CREDENTIAL_SECRET", c.CredentialSecret},
	} {
		if msgs := validation.IsDNS1123Subdomain(v.value); len(msgs) > 0 {
			p.bad(v.name, "%q is not a Secret name: %s", v.value, strings.Join(msgs, "; "))
		} else if other, dup := seen[v.value]; dup {
			p.bad(v.name, "names the same Secret as %s (%q): the old release's Secret, its copy and the credential Secret are three Secrets", other, v.value)
		}
		seen[v.value] = v.name
	}
	logging := Config{LogFormat: c.LogFormat, LogLevel: c.LogLevel}
	logging.checkLogging(&p)
	if len(p) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, errors.Join(p...))
	}
	return &c, nil
}
