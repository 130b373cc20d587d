package guard

import (
	"context"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/metadata"

	"github.com/tracebloc/edge/internal/names"
)

// ClientSelector selects the Secrets of tracebloc/client releases that are not the edge
// credential.
const ClientSelector = names.AppNameLabel + "=" + names.ClientChartName + ",!" + names.CredentialLabel

// ExistingRelease is a tracebloc/client release found on the cluster by its Secrets.
type ExistingRelease struct {
	Namespace, Release string
	Secrets            []string // names, sorted
}

// ReleaseError is one or more tracebloc/client releases that this install would run a
// second client beside.
type ReleaseError struct {
	Target      string
	MigrateFrom string
	Releases    []ExistingRelease // sorted by namespace, then release
}

func (e *ReleaseError) Error() string {
	var parts []string
	for _, r := range e.Releases {
		what := fmt.Sprintf("namespace %q runs the tracebloc/client release %q (Secret %s, labelled %s=%s)",
			r.Namespace, r.Release, strings.Join(r.Secrets, ", "), names.AppNameLabel, names.ClientChartName)
		if r.Namespace == e.Target {
			what += fmt.Sprintf(": to take it over, install with --set migrateFrom.release=%s (the edge then uses its credential)", r.Release)
		} else {
			what += fmt.Sprintf(": install the edge into that namespace to take it over (helm install ... -n %s --set migrateFrom.release=%s), or uninstall that release first (helm uninstall %s -n %s)", r.Namespace, r.Release, r.Release, r.Namespace)
			if r.Release == e.MigrateFrom {
				what += "; migrateFrom takes over a release of the install's own namespace only"
			}
		}
		parts = append(parts, what)
	}
	return "this cluster already has a tracebloc client, and this install would add a second one: " + strings.Join(parts, "; ")
}

// releaseNamespaceAnnotation is where Helm records the namespace of the release that owns
// an object.
const releaseNamespaceAnnotation = "meta.helm.sh/release-namespace"

// checkReleases finds the tracebloc/client releases other than the one this render is or
// takes over.
func checkReleases(ctx context.Context, client metadata.Interface, r Render) error {
	own := map[Object]bool{}
	for _, s := range r.Secrets {
		if s.Namespace == "" {
			s.Namespace = r.Namespace
		}
		own[s] = true
	}
	found := map[[2]string][]string{}
	err := list(ctx, client, ClientSelector, func(s metav1.PartialObjectMetadata) {
		release := s.Labels[names.AppInstanceLabel]
		// A release keeps Secrets outside its namespace too (the client chart's copy in
		// the node-agents namespace); Helm's annotation names the release's own.
		releaseNS := s.Namespace
		if ns := s.Annotations[releaseNamespaceAnnotation]; ns != "" {
			releaseNS = ns
		}
		switch {
		case own[Object{s.Namespace, s.Name}]:
		case releaseNS == r.Namespace && release != "" && (release == r.Release || release == r.MigrateFrom):
		default:
			key := [2]string{sanitize(releaseNS, 63), sanitize(release, 63)}
			found[key] = append(found[key], sanitize(s.Name, 253))
		}
	})
	if err != nil {
		return fmt.Errorf("list the Secrets of tracebloc/client releases: %w", err)
	}
	if len(found) == 0 {
		return nil
	}
	e := &ReleaseError{Target: r.Namespace, MigrateFrom: r.MigrateFrom}
	for k, secrets := range found {
		slices.Sort(secrets)
		e.Releases = append(e.Releases, ExistingRelease{Namespace: k[0], Release: k[1], Secrets: secrets})
	}
	slices.SortFunc(e.Releases, func(a, b ExistingRelease) int {
		return strings.Compare(a.Namespace+"/"+a.Release, b.Namespace+"/"+b.Release)
	})
	return e
}

// sanitize makes a name or label value from the cluster safe to print: at most max
// characters, anything but letters, digits, '-', '_' and '.' as '?', and "" as "(none)".
// The API server checks these already; the guard does not rely on it.
func sanitize(v string, max int) string {
	if v == "" {
		return "(none)"
	}
	if len(v) > max {
		v = v[:max] + "..."
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '?'
	}, v)
}
