package devbackend

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/tracebloc/edge/internal/api"
)

// bcryptCost is bcrypt.MinCost on purpose: this is a development backend, and the fleet
// load test mints many clients on a 2-core machine. A production backend uses more.
const bcryptCost = bcrypt.MinCost

// hashPassword stores a machine password. It is pre-hashed with SHA-256 so that passwords
// longer than bcrypt's 72 bytes are accepted whole rather than refused or truncated.
func hashPassword(password string) ([]byte, error) {
	return bcrypt.GenerateFromPassword(prehash(password), bcryptCost)
}

func passwordMatches(hash []byte, password string) bool {
	return bcrypt.CompareHashAndPassword(hash, prehash(password)) == nil
}

func prehash(password string) []byte {
	d := sha256.Sum256([]byte(password))
	return []byte(base64.RawStdEncoding.EncodeToString(d[:]))
}

// issueToken stores a new bearer token and returns its value (which is never stored).
func (s *Server) issueToken(ctx context.Context, q querier, kind string, userID, clientID *int64) (string, error) {
	tok := randomSecret(32)
	_, err := q.ExecContext(ctx, `INSERT INTO tokens(digest, kind, user_id, client_id, created_at) VALUES (?, ?, ?, ?, ?)`,
		digest(tok), kind, userID, clientID, nanos(s.cfg.Now()))
	if err != nil {
		return "", err
	}
	s.issued(SecretToken, tok)
	return tok, nil
}

// bearer returns the token of "Authorization: Bearer <t>", or "" when there is none.
func bearer(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

type ctxKey struct{}

// authed serves h only for a valid, unrevoked user token; the signed-in user is in the
// request context. Everything else is 401 with a DRF-style detail.
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := bearer(r)
		if tok == "" {
			detail := "Authentication credentials were not provided."
			if r.Header.Get("Authorization") != "" {
				detail = "Invalid authorization header: use \"Bearer <token>\"."
			}
			writeError(w, http.StatusUnauthorized, api.ErrorBody{Detail: detail})
			return
		}
		row, err := s.lookupToken(r.Context(), tok)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			writeError(w, http.StatusUnauthorized, api.ErrorBody{Detail: "Invalid token."})
			return
		case err != nil:
			s.internalError(w, r, err)
			return
		case row.kind != "user" || !row.userID.Valid:
			writeError(w, http.StatusUnauthorized, api.ErrorBody{Detail: "A machine credential cannot use this endpoint."})
			return
		}
		acct, err := userByID(r.Context(), s.db, row.userID.Int64)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, acct)))
	}
}

// storedToken is a bearer token's row in tokens: a user's (device flow) or a machine's
// (api-token-auth).
type storedToken struct {
	kind             string
	userID, clientID sql.NullInt64
}

// lookupToken reads tok's row, the one lookup every bearer check shares; a revoked token
// is not found (sql.ErrNoRows), as an unknown one.
func (s *Server) lookupToken(ctx context.Context, tok string) (storedToken, error) {
	var (
		row     storedToken
		revoked bool
	)
	err := s.db.QueryRowContext(ctx, `SELECT kind, user_id, client_id, revoked FROM tokens WHERE digest = ?`, digest(tok)).
		Scan(&row.kind, &row.userID, &row.clientID, &revoked)
	if err == nil && revoked {
		err = sql.ErrNoRows
	}
	return row, err
}

func signedIn(r *http.Request) *account { return r.Context().Value(ctxKey{}).(*account) }

// writer refuses users that may not write clients (403, error_403_client_write.json).
func (s *Server) writer(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !signedIn(r).Admin {
			writeError(w, http.StatusForbidden, api.ErrorBody{Detail: "You do not have permission to perform this action."})
			return
		}
		h(w, r)
	}
}

func (s *Server) userInfo(w http.ResponseWriter, r *http.Request) {
	a := signedIn(r)
	writeJSON(w, http.StatusOK, api.UserInfo{
		Email: a.Email, FirstName: a.FirstName, Account: a.AccountName, AccountID: a.AccountID,
		UserID: a.UserID, Type: "DS", IsAccountAdmin: a.Admin, IsPasswordChange: true,
	})
}

// revokeToken is POST /auth/revoke: 204 for any known token (again for a revoked one).
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	tok := bearer(r)
	if tok == "" {
		writeError(w, http.StatusUnauthorized, api.ErrorBody{Detail: "Authentication credentials were not provided."})
		return
	}
	res, err := s.db.ExecContext(r.Context(), `UPDATE tokens SET revoked = 1 WHERE digest = ?`, digest(tok))
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if n, _ := res.RowsAffected(); n == 0 {
		writeError(w, http.StatusUnauthorized, api.ErrorBody{Detail: "Invalid token."})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiTokenAuth is POST /api-token-auth/: the machine login of the edge workloads.
func (s *Server) apiTokenAuth(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := decodeBody(r, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"detail": err.Error()})
		return
	}
	missing := map[string]any{}
	if req.Username == "" {
		missing["username"] = []string{"This field is required."}
	}
	if req.Password == "" {
		missing["password"] = []string{"This field is required."}
	}
	if len(missing) > 0 {
		writeJSON(w, http.StatusBadRequest, missing)
		return
	}
	c, err := clientWhere(r.Context(), s.db, `WHERE c.username = ?`, req.Username)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		s.internalError(w, r, err)
		return
	}
	if err != nil || c.CredentialRevoked || c.IsDecommissioned || !passwordMatches(c.passwordHash, req.Password) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"non_field_errors": []string{"Unable to log in with provided credentials."}})
		return
	}
	tok, err := s.issueToken(r.Context(), s.db, "machine", nil, &c.ID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.Token{Token: tok})
}

func (s *Server) admins(w http.ResponseWriter, r *http.Request) {
	rows, err := s.db.QueryContext(r.Context(), `SELECT first_name, email FROM users WHERE account_id = ? AND admin ORDER BY id`, signedIn(r).AccountID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	defer rows.Close()
	out := []api.Admin{}
	for rows.Next() {
		var a api.Admin
		if err := rows.Scan(&a.Name, &a.Email); err != nil {
			s.internalError(w, r, err)
			return
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
