package devbackend

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/tracebloc/edge/internal/api"
)

// devRoutes is the test-only API; the middleware serves it to loopback peers only.
func (s *Server) devRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /_dev/approve", s.devApprove)
	m.HandleFunc("POST /_dev/deny", s.devDeny)
	m.HandleFunc("GET /_dev/pending", s.devPending)
	m.HandleFunc("GET /_dev/clients", s.devClients)
	m.HandleFunc("POST /_dev/clients/{id}/heartbeat", s.devHeartbeat)
	m.HandleFunc("DELETE /_dev/clients/{id}", s.devDeleteClient)
	m.HandleFunc("GET /_dev/tokens", s.devTokens)
	m.HandleFunc("POST /_dev/faults", s.devAddFault)
	m.HandleFunc("DELETE /_dev/faults", s.devClearFaults)
	m.HandleFunc("GET /_dev/requests", s.devRequests)
	m.HandleFunc("DELETE /_dev/requests", s.devClearRequests)
}

func (s *Server) writeDecision(w http.ResponseWriter, r *http.Request, err error, ok any) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, ok)
	case errors.Is(err, ErrUnknownCode), errors.Is(err, ErrUnknownEmail):
		writeError(w, http.StatusNotFound, api.ErrorBody{Detail: err.Error()})
	case errors.Is(err, ErrExpiredCode), errors.Is(err, ErrDecidedCode):
		writeError(w, http.StatusConflict, api.ErrorBody{Detail: err.Error()})
	default:
		s.internalError(w, r, err)
	}
}

func (s *Server) devApprove(w http.ResponseWriter, r *http.Request) {
	var req struct {
		UserCode string `json:"user_code"`
		Email    string `json:"email"`
	}
	if err := decodeBody(r, &req); err != nil || req.UserCode == "" {
		writeError(w, http.StatusBadRequest, api.ErrorBody{Detail: `Send {"user_code": "...", "email": "..."}.`})
		return
	}
	if req.Email == "" {
		req.Email = s.cfg.Users[0].Email
	}
	err := s.Approve(req.UserCode, req.Email)
	s.writeDecision(w, r, err, map[string]string{"user_code": normalizeUserCode(req.UserCode), "email": req.Email, "state": "approved"})
}

func (s *Server) devDeny(w http.ResponseWriter, r *http.Request) {
	var req struct {
		UserCode string `json:"user_code"`
	}
	if err := decodeBody(r, &req); err != nil || req.UserCode == "" {
		writeError(w, http.StatusBadRequest, api.ErrorBody{Detail: `Send {"user_code": "..."}.`})
		return
	}
	err := s.Deny(req.UserCode)
	s.writeDecision(w, r, err, map[string]string{"user_code": normalizeUserCode(req.UserCode), "state": "denied"})
}

func (s *Server) devPending(w http.ResponseWriter, r *http.Request) {
	p, err := s.pending(r.Context())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) devClients(w http.ResponseWriter, r *http.Request) {
	list, err := s.allClients(r.Context())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if list == nil {
		list = []*client{}
	}
	writeJSON(w, http.StatusOK, list)
}

// devHeartbeat plays the edge workload's heartbeat: last_info_update = now.
func (s *Server) devHeartbeat(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Status                *int `json:"status"`
		NumRunningExperiments *int `json:"num_running_experiments"`
	}
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, api.ErrorBody{Detail: err.Error()})
		return
	}
	status := api.StatusOnline
	if req.Status != nil {
		status = *req.Status
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, api.ErrorBody{Detail: "Not found."})
		return
	}
	res, err := s.db.ExecContext(r.Context(), `UPDATE clients SET last_info_update = ?, status = ?,
		num_running_experiments = coalesce(?, num_running_experiments) WHERE id = ?`,
		nanos(s.cfg.Now()), status, req.NumRunningExperiments, id)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if n, _ := res.RowsAffected(); n == 0 {
		writeError(w, http.StatusNotFound, api.ErrorBody{Detail: "Not found."})
		return
	}
	c, err := clientWhere(r.Context(), s.db, `WHERE c.id = ?`, id)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// devDeleteClient plays a person deleting a client in the dashboard (or with the tracebloc
// CLI): the record and its cluster id are gone, so the cluster can be enrolled again.
func (s *Server) devDeleteClient(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, api.ErrorBody{Detail: "Not found."})
		return
	}
	switch err := s.DeleteClient(id); {
	case errors.Is(err, sql.ErrNoRows):
		writeError(w, http.StatusNotFound, api.ErrorBody{Detail: "Not found."})
	case err != nil:
		s.internalError(w, r, err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// DeleteClient deletes client id and its machine tokens, as the dashboard's delete does;
// sql.ErrNoRows when there is no such client.
func (s *Server) DeleteClient(id int64) error {
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE client_id = ?`, id); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM clients WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return sql.ErrNoRows
	}
	return tx.Commit()
}

// TokenRecord is one issued token as GET /_dev/tokens lists it: never its value.
type TokenRecord struct {
	ID        int64     `json:"id"`
	Kind      string    `json:"kind"` // "user" (device flow) or "machine" (api-token-auth)
	Email     string    `json:"email,omitempty"`
	ClientID  int64     `json:"client_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	Revoked   bool      `json:"revoked"`
}

func (s *Server) devTokens(w http.ResponseWriter, r *http.Request) {
	rows, err := s.db.QueryContext(r.Context(), `SELECT t.id, t.kind, u.email, t.client_id, t.created_at, t.revoked
		FROM tokens t LEFT JOIN users u ON u.id = t.user_id ORDER BY t.id`)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	defer rows.Close()
	out := []TokenRecord{}
	for rows.Next() {
		var (
			t        TokenRecord
			email    sql.NullString
			clientID sql.NullInt64
			created  int64
		)
		if err := rows.Scan(&t.ID, &t.Kind, &email, &clientID, &created, &t.Revoked); err != nil {
			s.internalError(w, r, err)
			return
		}
		t.Email, t.ClientID, t.CreatedAt = email.String, clientID.Int64, fromNanos(created)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// maxFaultDelayMS keeps an injected delay within the binary's write timeout.
const maxFaultDelayMS = 60_000

func (s *Server) devAddFault(w http.ResponseWriter, r *http.Request) {
	var f fault
	if err := decodeBody(r, &f); err != nil || f.Path == "" || f.Count < 1 || f.DelayMS < 0 || f.DelayMS > maxFaultDelayMS ||
		(f.Status != 0 && (f.Status < 100 || f.Status > 599)) {
		writeError(w, http.StatusBadRequest, api.ErrorBody{Detail: `Send {"path": "/device/token", "status": 503, "count": 1, "delay_ms": 0}; status 0 drops the connection, delay_ms is at most 60000.`})
		return
	}
	s.mu.Lock()
	s.faults = append(s.faults, &f)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, f)
}

func (s *Server) devClearFaults(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) devRequests(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Requests())
}

func (s *Server) devClearRequests(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests.clear()
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// Requests returns the API requests served since the start or the last DELETE
// /_dev/requests, oldest first, as GET /_dev/requests: at most the newest 10,000.
func (s *Server) Requests() []RequestRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests.list()
}
