package wiring

import (
	"errors"
	"fmt"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/tracebloc/edge/internal/names"
	"github.com/tracebloc/edge/internal/yamlnode"
)

// Spec is the wiring object's spec, checked.
type Spec struct {
	Namespace           string // the wiring object's namespace: the release namespace
	Release             string
	ClientChart         string
	CredentialSecret    string
	NodeAgentsNamespace string
	MigrateFrom         string
	InitContainer       *yaml.Node   // a mapping with name and image
	Volumes             []*yaml.Node // mappings with a name
	Trust               *Trust       // nil without an extra CA
}

// The name rules, as Kubernetes and Helm check them (k8s.io/apimachinery's validation, whose
// patterns are compiled once for the whole binary, instead of regexps of our own compiled
// at every start of the post-renderer).
var (
	// releaseName is Helm's rule for release names: a DNS label of at most 53 characters.
	releaseName = func(s string) bool { return len(s) <= 53 && dnsLabel(s) }
	// dnsLabel is a namespace's or a container's name.
	dnsLabel = func(s string) bool { return len(validation.IsDNS1123Label(s)) == 0 }
	// dnsSubdomain is a Secret's or a volume's name (volumes are labels, which fit).
	dnsSubdomain = func(s string) bool { return len(validation.IsDNS1123Subdomain(s)) == 0 }
)

// errMalformed marks a wiring object that does not say what the wiring needs.
var errMalformed = errors.New("malformed wiring object")

// WantClientChart is the spec.clientChart this package wires.
const WantClientChart = names.ClientChartName + "-" + names.ClientChartVersion

// parseSpec checks the wiring object o field by field.
func parseSpec(o object) (Spec, error) {
	spec := yamlnode.Field(o.node, "spec")
	if spec == nil || spec.Kind != yaml.MappingNode {
		return Spec{}, malformed("spec", "is missing or not a map")
	}
	s := Spec{
		Namespace:           o.namespace,
		Release:             scalar(yamlnode.Field(spec, "release")),
		ClientChart:         scalar(yamlnode.Field(spec, "clientChart")),
		CredentialSecret:    scalar(yamlnode.Field(spec, "credentialSecret")),
		NodeAgentsNamespace: scalar(yamlnode.Field(spec, "nodeAgentsNamespace")),
		MigrateFrom:         scalar(yamlnode.Field(spec, "migrateFrom")),
		InitContainer:       yamlnode.Field(spec, "initContainer"),
	}
	for _, c := range []struct {
		field, value string
		rule         func(string) bool
		optional     bool
		what         string
	}{
		{"metadata.namespace", s.Namespace, dnsLabel, false, "a namespace name"},
		{"spec.release", s.Release, releaseName, false, "a Helm release name"},
		{"spec.credentialSecret", s.CredentialSecret, dnsSubdomain, false, "a Secret name"},
		{"spec.nodeAgentsNamespace", s.NodeAgentsNamespace, dnsLabel, true, `a namespace name or ""`},
		{"spec.migrateFrom", s.MigrateFrom, releaseName, true, `a Helm release name or ""`},
	} {
		if (c.value != "" || !c.optional) && !c.rule(c.value) {
			return Spec{}, malformed(c.field, fmt.Sprintf("is %s, not %s", show(c.value), c.what))
		}
	}
	if s.ClientChart == "" {
		return Spec{}, malformed("spec.clientChart", "is missing")
	}
	if err := s.checkInitContainer(); err != nil {
		return Spec{}, err
	}
	vols := yamlnode.Field(spec, "volumes")
	if vols != nil && scalar(vols) == "" && vols.Kind == yaml.ScalarNode {
		vols = nil // null: none
	}
	if vols != nil && vols.Kind != yaml.SequenceNode {
		return Spec{}, malformed("spec.volumes", "is not a list")
	}
	for i, v := range items(vols) {
		if name := scalar(yamlnode.Field(v, "name")); v.Kind != yaml.MappingNode || !dnsSubdomain(name) {
			return Spec{}, malformed(fmt.Sprintf("spec.volumes[%d]", i), "is not a volume with a name")
		}
		s.Volumes = append(s.Volumes, v)
	}
	trust, err := parseTrust(spec, s.Volumes)
	if err != nil {
		return Spec{}, err
	}
	s.Trust = trust
	return s, nil
}

func (s Spec) checkInitContainer() error {
	c := s.InitContainer
	if c == nil || c.Kind != yaml.MappingNode {
		return malformed("spec.initContainer", "is missing or not a map")
	}
	if name := scalar(yamlnode.Field(c, "name")); !dnsLabel(name) {
		return malformed("spec.initContainer.name", fmt.Sprintf("is %s, not a container name", show(name)))
	}
	image := yamlnode.Field(c, "image")
	if v := scalar(image); v == "" || image.Kind != yaml.ScalarNode || len(v) > 512 {
		return malformed("spec.initContainer.image", "is missing, not a string or longer than 512 characters")
	}
	return nil
}

func malformed(field, problem string) error {
	return fmt.Errorf("%w: %s %s", errMalformed, field, problem)
}
