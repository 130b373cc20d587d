package devbackend

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/tracebloc/edge/internal/api"
)

// minPasswordLen is the shortest machine password accepted.
const minPasswordLen = 16

// isDNSLabel reports whether s is a DNS-1123 label, as Kubernetes namespaces are.
func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// validationError answers 400 with DRF-style field errors plus "error" and "detail".
func validationError(w http.ResponseWriter, fields map[string]string) {
	body := map[string]any{"error": "invalid_request"}
	var details []string
	for _, k := range []string{"first_name", "namespace", "location", "password", "cluster_id",
		"client_name", "kubernetes_version", "chart_version", "status"} {
		if msg, ok := fields[k]; ok {
			body[k] = []string{msg}
			details = append(details, k+": "+msg)
		}
	}
	body["detail"] = strings.Join(details, "; ")
	writeJSON(w, http.StatusBadRequest, body)
}

func validateCreate(req api.CreateRequest) map[string]string {
	errs := map[string]string{}
	switch {
	case strings.TrimSpace(req.FirstName) == "":
		errs["first_name"] = "This field is required."
	case len(req.FirstName) > 150:
		errs["first_name"] = "Ensure this field has no more than 150 characters."
	}
	switch {
	case req.Namespace == "":
		errs["namespace"] = "This field is required."
	case !isDNSLabel(req.Namespace):
		errs["namespace"] = "Must be a DNS-1123 label: at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit."
	}
	switch {
	case req.Password == "":
		errs["password"] = "This field is required."
	case len(req.Password) < minPasswordLen:
		errs["password"] = fmt.Sprintf("Ensure this field has at least %d characters.", minPasswordLen)
	}
	if len(req.ClusterID) > 253 {
		errs["cluster_id"] = "Ensure this field has no more than 253 characters."
	}
	if len(req.Location) > 64 {
		errs["location"] = "Ensure this field has no more than 64 characters."
	}
	return errs
}

// createClient is the account-scoped get-or-create of POST /edge-device/. It inserts
// first and lets the UNIQUE constraints decide; a violation is then explained by re-reading
// the holder of the cluster_id, else of the namespace. A revoked client anchored to a
// cluster does not hold its namespace (an extension); without it (ContractOnly) every
// client of the account in the namespace does, which the insert's NOT EXISTS keeps.
func (s *Server) createClient(w http.ResponseWriter, r *http.Request) {
	var req api.CreateRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, api.ErrorBody{Error: "invalid_request", Detail: err.Error()})
		return
	}
	if req.Password != "" {
		s.issued(SecretPassword, req.Password)
	}
	if errs := validateCreate(req); len(errs) > 0 {
		validationError(w, errs)
		return
	}
	a := signedIn(r)
	ctx := r.Context()
	hash, err := hashPassword(req.Password)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	var clusterID *string
	if req.ClusterID != "" {
		clusterID = &req.ClusterID
	}
	insert := `INSERT INTO clients(account_id, username, password_hash, first_name, namespace, location, status, cluster_id, date_joined, created_by)
		SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?`
	args := []any{a.AccountID, uuid.NewString(), hash, req.FirstName, req.Namespace, req.Location, api.StatusPending, clusterID, nanos(s.cfg.Now()), a.UserID}
	if s.cfg.ContractOnly {
		insert += ` WHERE NOT EXISTS (SELECT 1 FROM clients WHERE account_id = ? AND namespace = ?)`
		args = append(args, a.AccountID, req.Namespace)
	}
	res, err := s.db.ExecContext(ctx, insert, args...)
	if err != nil && isUnique(err) {
		s.explainDuplicate(w, r, a, req)
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		s.explainDuplicate(w, r, a, req)
		return
	}
	id, err := res.LastInsertId()
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	c, err := clientWhere(ctx, s.db, `WHERE c.id = ?`, id)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, s.device(c))
}

// explainDuplicate answers a create that broke a uniqueness rule: the cluster id is
// another client's, or the account already has a client in the namespace.
func (s *Server) explainDuplicate(w http.ResponseWriter, r *http.Request, a *account, req api.CreateRequest) {
	ctx := r.Context()
	if req.ClusterID != "" {
		holder, err := clientWhere(ctx, s.db, `WHERE c.cluster_id = ?`, req.ClusterID)
		if err == nil {
			s.clusterHeld(w, a, req, holder)
			return
		}
		if !errors.Is(err, sql.ErrNoRows) {
			s.internalError(w, r, err)
			return
		}
	}
	holder, err := namespaceHolder(ctx, s.db, a.AccountID, req.Namespace)
	if err != nil {
		s.internalError(w, r, fmt.Errorf("explain unique violation: %w", err))
		return
	}
	if s.cfg.ContractOnly {
		// Without the extension the uniqueness is a plain validation error (as a
		// serializer's unique-together check answers), with no code and no holder.
		validationError(w, map[string]string{"namespace": "A client of this account already uses this namespace."})
		return
	}
	writeJSON(w, http.StatusConflict, api.ErrorBody{
		Error: api.CodeNamespaceConflict, Namespace: req.Namespace, HolderName: holder.FirstName,
	})
}

// clusterHeld answers a create whose cluster_id already has a client.
func (s *Server) clusterHeld(w http.ResponseWriter, a *account, req api.CreateRequest, holder *client) {
	switch {
	case holder.Account != a.AccountID:
		writeJSON(w, http.StatusConflict, api.ErrorBody{
			Error: api.CodeClusterConflict, ClusterID: req.ClusterID, OwnerEmail: holder.CreatedByEmail,
		})
	case holder.IsDecommissioned || (holder.Namespace != req.Namespace && s.live(holder)):
		writeJSON(w, http.StatusConflict, api.ErrorBody{
			Error: api.CodeClusterInUse, ClusterID: req.ClusterID, HolderClientID: holder.ID, HolderName: holder.FirstName,
		})
	default:
		writeJSON(w, http.StatusOK, s.device(holder))
	}
}

// namespaceHolder is the client of account that holds namespace: one whose credential
// is not revoked, or that has no cluster id; failing that (ContractOnly), any other.
func namespaceHolder(ctx context.Context, q querier, accountID int64, namespace string) (*client, error) {
	return clientWhere(ctx, q, `WHERE c.account_id = ? AND c.namespace = ?
		ORDER BY (c.credential_revoked = 0 OR c.cluster_id IS NULL) DESC, c.id LIMIT 1`, accountID, namespace)
}

// device is c as the answers show it. credential_revoked is an extension: without it
// (ContractOnly) the field is left out, as a backend without it would.
func (s *Server) device(c *client) any {
	if s.cfg.ContractOnly {
		return contractDevice{EdgeDevice: c.EdgeDevice}
	}
	return c.EdgeDevice
}

// contractDevice is a client without credential_revoked: the outer field hides the
// embedded one, and omitempty leaves it out.
type contractDevice struct {
	api.EdgeDevice
	CredentialRevoked *struct{} `json:"credential_revoked,omitempty"`
}

// live is the contract's rule for a client that may not have its credential reset.
func (s *Server) live(c *client) bool {
	if c.Status == api.StatusOnline || c.NumRunningExperiments > 0 {
		return true
	}
	return c.LastInfoUpdate != nil && s.cfg.Now().Sub(*c.LastInfoUpdate) < s.cfg.ResetWindow
}

func (s *Server) listClients(w http.ResponseWriter, r *http.Request) {
	a := signedIn(r)
	page := 1
	if p := r.URL.Query().Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			writeError(w, http.StatusNotFound, api.ErrorBody{Detail: "Invalid page."})
			return
		}
		page = n
	}
	var count int
	if err := s.db.QueryRowContext(r.Context(), `SELECT count(*) FROM clients WHERE account_id = ?`, a.AccountID).Scan(&count); err != nil {
		s.internalError(w, r, err)
		return
	}
	size := s.cfg.PageSize
	pages := max(1, (count+size-1)/size)
	if page > pages {
		writeError(w, http.StatusNotFound, api.ErrorBody{Detail: "Invalid page."})
		return
	}
	list, err := clientsWhere(r.Context(), s.db, `WHERE c.account_id = ? ORDER BY c.id DESC LIMIT ? OFFSET ?`, a.AccountID, size, (page-1)*size)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	out := devicePage{Count: count, Results: []any{}}
	for _, c := range list {
		out.Results = append(out.Results, s.device(c))
	}
	base := s.baseURL(r) + "/edge-device/"
	if page < pages {
		next := base + "?page=" + strconv.Itoa(page+1)
		out.Next = &next
	}
	if page > 1 {
		prev := base
		if page > 2 {
			prev += "?page=" + strconv.Itoa(page-1)
		}
		out.Previous = &prev
	}
	writeJSON(w, http.StatusOK, out)
}

// ownClient reads the client of the path's id when it belongs to the signed-in account;
// otherwise it answers 404 itself and returns nil.
func (s *Server) ownClient(w http.ResponseWriter, r *http.Request) *client {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, api.ErrorBody{Detail: "Not found."})
		return nil
	}
	c, err := clientWhere(r.Context(), s.db, `WHERE c.id = ? AND c.account_id = ?`, id, signedIn(r).AccountID)
	if errors.Is(err, sql.ErrNoRows) {
		writeError(w, http.StatusNotFound, api.ErrorBody{Detail: "Not found."})
		return nil
	}
	if err != nil {
		s.internalError(w, r, err)
		return nil
	}
	return c
}

func (s *Server) getClient(w http.ResponseWriter, r *http.Request) {
	if c := s.ownClient(w, r); c != nil {
		writeJSON(w, http.StatusOK, s.device(c))
	}
}

// devicePage is api.EdgeDevicePage with the clients as device shows them.
type devicePage struct {
	Count    int     `json:"count"`
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Results  []any   `json:"results"`
}

// patchClient backfills cluster_id and/or resets the machine password.
func (s *Server) patchClient(w http.ResponseWriter, r *http.Request) {
	var req patchRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, api.ErrorBody{Error: "invalid_request", Detail: err.Error()})
		return
	}
	if req.Password != nil && *req.Password != "" {
		s.issued(SecretPassword, *req.Password)
	}
	if fields := req.invalid(s.cfg.ContractOnly); len(fields) > 0 {
		validationError(w, fields)
		return
	}
	c := s.ownClient(w, r)
	if c == nil {
		return
	}
	ctx := r.Context()
	if req.ClusterID != nil && !s.backfill(w, r, c, *req.ClusterID) {
		return
	}
	if req.Password != nil {
		hash, err := hashPassword(*req.Password)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		_, err = s.db.ExecContext(ctx, `UPDATE clients SET password_hash = ?, credential_revoked = 0 WHERE id = ?`, hash, c.ID)
		if err != nil && isUnique(err) {
			// c was revoked, and another cluster's client has taken its namespace since.
			s.resetConflict(w, r, c)
			return
		}
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		if _, err := s.db.ExecContext(ctx, `UPDATE tokens SET revoked = 1 WHERE client_id = ?`, c.ID); err != nil {
			s.internalError(w, r, err)
			return
		}
	}
	c, err := clientWhere(ctx, s.db, `WHERE c.id = ?`, c.ID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.device(c))
}

// resetConflict answers a password reset that would give a revoked client its namespace
// back while another client holds it: 409 namespace_conflict naming that holder.
func (s *Server) resetConflict(w http.ResponseWriter, r *http.Request, c *client) {
	holder, err := namespaceHolder(r.Context(), s.db, c.Account, c.Namespace)
	if err != nil {
		s.internalError(w, r, fmt.Errorf("explain unique violation: %w", err))
		return
	}
	s.patchConflict(w, api.ErrorBody{
		Error: api.CodeNamespaceConflict, Namespace: c.Namespace, HolderName: holder.FirstName,
		Detail: fmt.Sprintf("Client %q was revoked and another client of this account now uses namespace %q.", c.FirstName, c.Namespace),
	})
}

// patchRequest is the body of PATCH /edge-device/<id>/: either field may be left out.
type patchRequest struct {
	ClusterID *string `json:"cluster_id"`
	Password  *string `json:"password"`
}

// invalid names each field of req that is not valid, as a serializer's errors do; without
// the extension (contractOnly) the password cannot be changed.
func (req patchRequest) invalid(contractOnly bool) map[string]string {
	fields := map[string]string{}
	switch {
	case req.ClusterID == nil && req.Password == nil:
		fields["cluster_id"] = "Send cluster_id or password."
		if contractOnly {
			fields["cluster_id"] = "This field is required."
		}
	case req.ClusterID != nil && (*req.ClusterID == "" || len(*req.ClusterID) > 253):
		fields["cluster_id"] = "Must be 1 to 253 characters."
	}
	if req.Password != nil && contractOnly {
		fields["password"] = "This field cannot be changed."
	} else if req.Password != nil && len(*req.Password) < minPasswordLen {
		fields["password"] = fmt.Sprintf("Ensure this field has at least %d characters.", minPasswordLen)
	}
	return fields
}

// backfill sets the cluster_id of c when it has none; false when it answered a conflict.
func (s *Server) backfill(w http.ResponseWriter, r *http.Request, c *client, clusterID string) bool {
	if c.ClusterID != nil {
		if *c.ClusterID == clusterID {
			return true
		}
		s.patchConflict(w, api.ErrorBody{
			Error: "cluster_id_set", ClusterID: *c.ClusterID,
			Detail: fmt.Sprintf("Client %q is already anchored to another cluster.", c.FirstName),
		})
		return false
	}
	_, err := s.db.ExecContext(r.Context(), `UPDATE clients SET cluster_id = ? WHERE id = ? AND cluster_id IS NULL`, clusterID, c.ID)
	if err == nil {
		return true
	}
	if !isUnique(err) {
		s.internalError(w, r, err)
		return false
	}
	holder, err := clientWhere(r.Context(), s.db, `WHERE c.cluster_id = ?`, clusterID)
	if err != nil {
		s.internalError(w, r, err)
		return false
	}
	if holder.Account != c.Account {
		s.patchConflict(w, api.ErrorBody{
			Error: api.CodeClusterConflict, ClusterID: clusterID, OwnerEmail: holder.CreatedByEmail,
			Detail: "Another account's client holds this cluster.",
		})
		return false
	}
	s.patchConflict(w, api.ErrorBody{
		Error: api.CodeClusterInUse, ClusterID: clusterID, HolderClientID: holder.ID, HolderName: holder.FirstName,
		Detail: "Another client of this account holds this cluster.",
	})
	return false
}

// patchConflict answers a 409 of PATCH; the contract gives that 409 no body, so with
// ContractOnly it carries only the detail.
func (s *Server) patchConflict(w http.ResponseWriter, body api.ErrorBody) {
	if s.cfg.ContractOnly {
		body = api.ErrorBody{Detail: body.Detail}
	}
	writeJSON(w, http.StatusConflict, body)
}

// revokeClient kills the machine credential and keeps the record.
func (s *Server) revokeClient(w http.ResponseWriter, r *http.Request) {
	if c := s.ownClient(w, r); c != nil {
		s.revoke(w, r, c)
	}
}

// revokeSelf lets a machine credential revoke its own client: the chart's opt-in
// offboarding hook runs at `helm uninstall`, where no person signs in. (A project
// decision: the contract names the call, not who may make it.) Every other bearer goes
// through the account's rules.
func (s *Server) revokeSelf(w http.ResponseWriter, r *http.Request) {
	if s.cfg.ContractOnly {
		s.authed(s.writer(s.revokeClient))(w, r)
		return
	}
	row, err := s.lookupToken(r.Context(), bearer(r))
	if err == nil && row.kind == "machine" && row.clientID.Valid && r.PathValue("id") == strconv.FormatInt(row.clientID.Int64, 10) {
		c, err := clientWhere(r.Context(), s.db, `WHERE c.id = ?`, row.clientID.Int64)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		s.revoke(w, r, c)
		return
	}
	s.authed(s.writer(s.revokeClient))(w, r)
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request, c *client) {
	ctx := r.Context()
	if _, err := s.db.ExecContext(ctx, `UPDATE clients SET credential_revoked = 1, status = ? WHERE id = ?`, api.StatusOffline, c.ID); err != nil {
		s.internalError(w, r, err)
		return
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE tokens SET revoked = 1 WHERE client_id = ?`, c.ID); err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.RevokeResult{
		ClientID: c.ID, Decommissioned: false, Status: "revoked",
		Detail: "Machine credential revoked; the client can re-enroll via the normal provisioning path.",
	})
}

// Clients returns every client of every account, oldest first (as GET /_dev/clients).
func (s *Server) Clients() ([]api.EdgeDevice, error) {
	list, err := s.allClients(context.Background())
	if err != nil {
		return nil, err
	}
	out := make([]api.EdgeDevice, 0, len(list))
	for _, c := range list {
		out = append(out, c.EdgeDevice)
	}
	return out, nil
}

func (s *Server) allClients(ctx context.Context) ([]*client, error) {
	list, err := clientsWhere(ctx, s.db, `ORDER BY c.id`)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	return list, nil
}
