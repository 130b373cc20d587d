package devbackend

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/tracebloc/edge/internal/api"
)

// maxHeartbeatBody bounds the body of POST /edge-device/heartbeat/: a status, not a payload.
const maxHeartbeatBody = 1024

// heartbeat is POST /edge-device/heartbeat/ (an extension, internal/api/EXTENSIONS.md): a
// machine token reports its own client live, which sets the status it sends (1 when it
// sends none) and last_info_update to the backend's now. It is the only way the edge
// workloads move a client to online, which is what the liveness rule of a create and of
// a password reset reads.
func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request) {
	c := s.machineClient(w, r)
	if c == nil {
		return
	}
	status, fields := readHeartbeat(r)
	if len(fields) > 0 {
		validationError(w, fields)
		return
	}
	ctx := r.Context()
	if _, err := s.db.ExecContext(ctx, `UPDATE clients SET status = ?, last_info_update = ? WHERE id = ?`,
		status, nanos(s.cfg.Now()), c.ID); err != nil {
		s.internalError(w, r, err)
		return
	}
	c, err := clientWhere(ctx, s.db, `WHERE c.id = ?`, c.ID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c.EdgeDevice)
}

// readHeartbeat reads the optional body {"status": 0|1}; unknown fields are ignored, as a
// serializer ignores them. It returns the status to store, or the invalid fields.
func readHeartbeat(r *http.Request) (int, map[string]string) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxHeartbeatBody+1))
	switch {
	case err != nil:
		return 0, map[string]string{"status": "The body could not be read."}
	case len(data) > maxHeartbeatBody:
		return 0, map[string]string{"status": fmt.Sprintf("The body is longer than %d bytes.", maxHeartbeatBody)}
	case len(bytes.TrimSpace(data)) == 0:
		return api.StatusOnline, nil
	}
	var body struct {
		Status *json.RawMessage `json:"status"`
	}
	if err := json.Unmarshal(data, &body); err != nil || bytes.TrimSpace(data)[0] != '{' {
		return 0, map[string]string{"status": `Send a JSON object, e.g. {"status": 1}.`}
	}
	if body.Status == nil {
		return api.StatusOnline, nil
	}
	var status int
	if err := json.Unmarshal(*body.Status, &status); err != nil || (status != api.StatusOnline && status != api.StatusOffline) {
		return 0, map[string]string{"status": "Must be 1 (online) or 0 (offline)."}
	}
	return status, nil
}

// machineClient reads the client whose machine token r carries; otherwise it answers 401
// itself and returns nil. A user token, a revoked token and the token of a revoked or
// decommissioned client are all refused: only a working machine login reports a client.
func (s *Server) machineClient(w http.ResponseWriter, r *http.Request) *client {
	tok := bearer(r)
	if tok == "" {
		writeError(w, http.StatusUnauthorized, api.ErrorBody{Detail: "Authentication credentials were not provided."})
		return nil
	}
	row, err := s.lookupToken(r.Context(), tok)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		writeError(w, http.StatusUnauthorized, api.ErrorBody{Detail: "Invalid token."})
		return nil
	case err != nil:
		s.internalError(w, r, err)
		return nil
	case row.kind != "machine" || !row.clientID.Valid:
		writeError(w, http.StatusUnauthorized, api.ErrorBody{Detail: "Only a machine credential reports a client: log in at /api-token-auth/."})
		return nil
	}
	c, err := clientWhere(r.Context(), s.db, `WHERE c.id = ?`, row.clientID.Int64)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		s.internalError(w, r, err)
		return nil
	}
	if err != nil || c.CredentialRevoked || c.IsDecommissioned {
		writeError(w, http.StatusUnauthorized, api.ErrorBody{Detail: "Invalid token."})
		return nil
	}
	return c
}
