package clusterinfo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"k8s.io/client-go/rest"

	"github.com/tracebloc/edge/postrender/transform"
)

// aggregatedAccept asks for aggregated discovery (apidiscovery.k8s.io/v2, Kubernetes 1.30
// and later: every group's resources in two requests), else the plain group lists.
const aggregatedAccept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"

// The parts of the discovery documents the scopes need. Discovery is read with plain JSON
// rather than client-go's discovery package, which would link (and register at start-up)
// every built-in API type into a binary that runs once per `helm install`.
type (
	groupDiscoveryList struct {
		Kind  string `json:"kind"`
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Versions []struct {
				Resources []struct {
					Resource     string `json:"resource"`
					Scope        string `json:"scope"`
					ResponseKind struct {
						Kind string `json:"kind"`
					} `json:"responseKind"`
				} `json:"resources"`
			} `json:"versions"`
		} `json:"items"`
	}
	groupList struct {
		Groups []struct {
			Name             string `json:"name"`
			PreferredVersion struct {
				GroupVersion string `json:"groupVersion"`
			} `json:"preferredVersion"`
		} `json:"groups"`
	}
	resourceList struct {
		Resources []struct {
			Name       string `json:"name"`
			Kind       string `json:"kind"`
			Namespaced bool   `json:"namespaced"`
		} `json:"resources"`
	}
)

// Discoverer reads the scope of every kind a cluster serves.
type Discoverer struct {
	host   string
	client *http.Client
}

// NewDiscoverer returns a Discoverer for the cluster of cfg.
func NewDiscoverer(cfg *rest.Config) (*Discoverer, error) {
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("make an HTTP client for %s: %w", cfg.Host, err)
	}
	host := strings.TrimSuffix(cfg.Host, "/")
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	return &Discoverer{host: host + strings.TrimSuffix(cfg.APIPath, "/"), client: client}, nil
}

// Scopes returns the scope of every kind the cluster serves: true for cluster-scoped.
// With ErrPartialDiscovery the map holds the groups that answered.
func (d *Discoverer) Scopes(ctx context.Context) (map[transform.GroupKind]bool, error) {
	scopes := map[transform.GroupKind]bool{}
	aggregated := true
	for _, path := range []string{"/api", "/apis"} {
		var list groupDiscoveryList
		ok, err := d.get(ctx, path, aggregatedAccept, &list)
		if err != nil {
			return nil, fmt.Errorf("discover the cluster's kinds: %w", err)
		}
		if !ok || list.Kind != "APIGroupDiscoveryList" {
			aggregated = false
			break
		}
		for _, g := range list.Items {
			for _, v := range g.Versions {
				for _, r := range v.Resources {
					if r.ResponseKind.Kind != "" {
						scopes[transform.GroupKind{Group: g.Metadata.Name, Kind: r.ResponseKind.Kind}] = r.Scope == "Cluster"
					}
				}
			}
		}
	}
	if aggregated {
		return scopes, nil
	}
	return d.legacyScopes(ctx)
}

// legacyScopes reads the group lists one group at a time, as clusters before aggregated
// discovery serve them.
func (d *Discoverer) legacyScopes(ctx context.Context) (map[transform.GroupKind]bool, error) {
	scopes := map[transform.GroupKind]bool{}
	versions := []string{"v1"}
	var groups groupList
	if _, err := d.get(ctx, "/apis", "application/json", &groups); err != nil {
		return nil, fmt.Errorf("discover the cluster's kinds: %w", err)
	}
	for _, g := range groups.Groups {
		versions = append(versions, g.PreferredVersion.GroupVersion)
	}
	var failed []string
	for _, gv := range versions {
		path := "/apis/" + gv
		if gv == "v1" {
			path = "/api/v1"
		}
		var list resourceList
		if ok, err := d.get(ctx, path, "application/json", &list); err != nil || !ok {
			failed = append(failed, gv)
			continue
		}
		group, _, _ := strings.Cut(gv, "/")
		if gv == "v1" {
			group = ""
		}
		for _, r := range list.Resources {
			if r.Kind != "" && !strings.Contains(r.Name, "/") {
				scopes[transform.GroupKind{Group: group, Kind: r.Kind}] = !r.Namespaced
			}
		}
	}
	if len(failed) > 0 {
		return scopes, fmt.Errorf("%w: %s", ErrPartialDiscovery, strings.Join(failed, ", "))
	}
	return scopes, nil
}

// get decodes the JSON at path into v; false when the server answered with another type
// than JSON (an aggregated list it does not serve) or 404.
func (d *Discoverer) get(ctx context.Context, path, accept string, v any) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.host+path, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", accept)
	resp, err := d.client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusNotAcceptable {
		return false, nil
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return false, fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return false, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return false, fmt.Errorf("GET %s: %w", path, err)
	}
	return true, nil
}
