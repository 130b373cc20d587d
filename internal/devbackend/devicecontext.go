package devbackend

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tracebloc/edge/internal/api"
)

// maxContextBody bounds the body of POST /device/code: five short strings fit many times.
const maxContextBody = 4 << 10

// staleCodeAge is the age past which the activation page warns that a code is old: a
// person approves a code within a minute or two of the installation showing it.
const staleCodeAge = 5 * time.Minute

// contextFields are the fields of the approval context with their longest accepted value,
// in the order the page and the errors list them.
var contextFields = []struct {
	name  string
	max   int
	value func(*api.DeviceContext) string
}{
	{"cluster_id", 253, func(c *api.DeviceContext) string { return c.ClusterID }},
	{"namespace", 63, func(c *api.DeviceContext) string { return c.Namespace }},
	{"client_name", 150, func(c *api.DeviceContext) string { return c.ClientName }},
	{"kubernetes_version", 64, func(c *api.DeviceContext) string { return c.KubernetesVersion }},
	{"chart_version", 64, func(c *api.DeviceContext) string { return c.ChartVersion }},
}

// errBadContext is a body of POST /device/code that is not a JSON object.
var errBadContext = errors.New(`the body must be empty or a JSON object such as {"cluster_id": "...", "namespace": "..."}`)

// readDeviceContext reads the optional approval context of POST /device/code: an empty
// body or null is none (nil); otherwise it is a JSON object of bounded, printable strings
// (unknown fields are ignored). fields names each field that is not.
func readDeviceContext(r *http.Request) (dc *api.DeviceContext, fields map[string]string, err error) {
	raw, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxContextBody))
	if err != nil {
		return nil, nil, fmt.Errorf("the body is longer than %d bytes", maxContextBody)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil, nil
	}
	if raw[0] != '{' {
		return nil, nil, errBadContext
	}
	dc = &api.DeviceContext{}
	if err := json.Unmarshal(raw, dc); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return nil, map[string]string{typeErr.Field: "Must be a string."}, nil
		}
		return nil, nil, errBadContext
	}
	fields = map[string]string{}
	for _, f := range contextFields {
		v := f.value(dc)
		switch {
		case len(v) > f.max:
			fields[f.name] = fmt.Sprintf("Ensure this field has no more than %d characters.", f.max)
		case !printable(v):
			fields[f.name] = "Must be printable text: no control or format characters, valid UTF-8."
		}
	}
	return dc, fields, nil
}

// printable reports whether s is valid UTF-8 of printable characters and plain spaces:
// no controls, no bidi overrides or zero-width characters that would make the page lie.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// storeRequest keeps what the activation page shows about the request of code id: when
// and from where it came, and its context.
func (s *Server) storeRequest(ctx context.Context, id int64, r *http.Request, dc *api.DeviceContext) error {
	if dc == nil {
		dc = &api.DeviceContext{}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO device_requests(device_code_id, requested_at, source,
		cluster_id, namespace, client_name, kubernetes_version, chart_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		id, nanos(s.cfg.Now()), host, dc.ClusterID, dc.Namespace, dc.ClientName, dc.KubernetesVersion, dc.ChartVersion)
	return err
}

// codeRequest is what the activation page shows about the request of a code.
type codeRequest struct {
	api.DeviceContext
	At     time.Time
	Source string // the peer's address (never a forwarded-for header, which anyone can send)
}

// requestOf returns the stored request of userCode, or nil when there is none (with
// ContractOnly nothing is stored).
func (s *Server) requestOf(ctx context.Context, userCode string) (*codeRequest, error) {
	var (
		cr codeRequest
		at int64
	)
	err := s.db.QueryRowContext(ctx, `SELECT r.requested_at, r.source, r.cluster_id, r.namespace, r.client_name,
		r.kubernetes_version, r.chart_version FROM device_requests r JOIN device_codes d ON d.id = r.device_code_id
		WHERE d.user_code = ?`, normalizeUserCode(userCode)).
		Scan(&at, &cr.Source, &cr.ClusterID, &cr.Namespace, &cr.ClientName, &cr.KubernetesVersion, &cr.ChartVersion)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the request of code %s: %w", normalizeUserCode(userCode), err)
	}
	cr.At = fromNanos(at)
	return &cr, nil
}

// requestView is the request of a code as the page shows it.
type requestView struct {
	Details []detail
	Source  string
	At      string // UTC, to the second
	Age     string // "3 minutes ago"
	Stale   bool
}

type detail struct{ ID, Label, Value string }

func (s *Server) viewRequest(cr *codeRequest) *requestView {
	labels := map[string]string{
		"cluster_id": "Cluster ID", "namespace": "Namespace", "client_name": "Client name",
		"kubernetes_version": "Kubernetes version", "chart_version": "Chart version",
	}
	v := &requestView{Source: cr.Source, At: cr.At.UTC().Format("2006-01-02 15:04:05 UTC")}
	for _, f := range contextFields {
		if val := f.value(&cr.DeviceContext); val != "" {
			v.Details = append(v.Details, detail{ID: "req-" + f.name, Label: labels[f.name], Value: val})
		}
	}
	age := s.cfg.Now().Sub(cr.At)
	v.Age, v.Stale = ago(age), age > staleCodeAge
	return v
}

// ago says how long ago something happened, in whole minutes.
func ago(d time.Duration) string {
	switch m := int(d / time.Minute); {
	case m < 1:
		return "less than a minute ago"
	case m == 1:
		return "1 minute ago"
	default:
		return fmt.Sprintf("%d minutes ago", m)
	}
}
