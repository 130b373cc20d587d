package devbackend

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tracebloc/edge/internal/api"
)

// userCodeAlphabet has no vowels (no words) and no ambiguous letters (RFC 8628 6.1).
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// slowDownStep is what slow_down adds to a code's interval (RFC 8628 section 3.5).
const slowDownStep = 5 * time.Second

// Decisions of Approve and Deny.
var (
	ErrUnknownCode  = errors.New("unknown user code")
	ErrExpiredCode  = errors.New("the code has expired")
	ErrDecidedCode  = errors.New("the code was already approved or denied")
	ErrUnknownEmail = errors.New("unknown development user")
)

func newUserCode() string {
	var b strings.Builder
	for i := 0; i < 8; i++ {
		if i == 4 {
			b.WriteByte('-')
		}
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(userCodeAlphabet))))
		if err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		b.WriteByte(userCodeAlphabet[n.Int64()])
	}
	return b.String()
}

// normalizeUserCode accepts what a person types: any case, spaces, with or without dash.
func normalizeUserCode(s string) string {
	s = strings.ToUpper(s)
	s = strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	if len(s) != 8 {
		return s
	}
	return s[:4] + "-" + s[4:]
}

func (s *Server) deviceCode(w http.ResponseWriter, r *http.Request) {
	var dctx *api.DeviceContext
	if !s.cfg.ContractOnly { // the pinned call has no body; a backend without the extension ignores it
		var (
			fields map[string]string
			err    error
		)
		dctx, fields, err = readDeviceContext(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, api.ErrorBody{Error: "invalid_request", Detail: err.Error()})
			return
		}
		if len(fields) > 0 {
			validationError(w, fields)
			return
		}
	}
	now := s.cfg.Now()
	if _, err := s.db.ExecContext(r.Context(), `DELETE FROM device_codes WHERE expires_at < ?`, nanos(now.Add(-time.Hour))); err != nil {
		s.internalError(w, r, err)
		return
	}
	deviceCode := randomSecret(32)
	s.issued(SecretDeviceCode, deviceCode)
	var (
		userCode string
		id       int64
	)
	for attempt := 0; ; attempt++ {
		userCode = newUserCode()
		res, err := s.db.ExecContext(r.Context(), `INSERT INTO device_codes(digest, user_code, expires_at, interval, state) VALUES (?, ?, ?, ?, 'pending')`,
			digest(deviceCode), userCode, nanos(now.Add(s.cfg.DeviceTTL)), int64(s.cfg.DeviceInterval))
		if err == nil {
			id, err = res.LastInsertId()
		}
		if err == nil {
			break
		}
		if !isUnique(err) || attempt > 5 {
			s.internalError(w, r, err)
			return
		}
	}
	if !s.cfg.ContractOnly {
		if err := s.storeRequest(r.Context(), id, r, dctx); err != nil {
			s.internalError(w, r, err)
			return
		}
	}
	uri := s.baseURL(r) + "/activate"
	writeJSON(w, http.StatusOK, api.DeviceCode{
		DeviceCode:              deviceCode,
		UserCode:                userCode,
		VerificationURI:         uri,
		VerificationURIComplete: uri + "?code=" + url.QueryEscape(userCode),
		ExpiresIn:               int(s.cfg.DeviceTTL / time.Second),
		Interval:                int(math.Max(1, math.Ceil(s.cfg.DeviceInterval.Seconds()))),
	})
}

func (s *Server) deviceToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		DeviceCode string `json:"device_code"`
	}
	if err := decodeBody(r, &req); err != nil || req.DeviceCode == "" {
		writeError(w, http.StatusBadRequest, api.ErrorBody{Error: "invalid_request", Detail: "Send {\"device_code\": \"...\"} as JSON."})
		return
	}
	status, body, err := s.poll(r.Context(), req.DeviceCode)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, status, body)
}

// poll is one POST /device/token, decided in one transaction.
func (s *Server) poll(ctx context.Context, deviceCode string) (int, any, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, nil, err
	}
	defer tx.Rollback()
	var (
		id, expires, interval int64
		lastPoll, userID      sql.NullInt64
		state                 string
	)
	err = tx.QueryRowContext(ctx, `SELECT id, expires_at, interval, last_poll, state, user_id FROM device_codes WHERE digest = ?`, digest(deviceCode)).
		Scan(&id, &expires, &interval, &lastPoll, &state, &userID)
	if errors.Is(err, sql.ErrNoRows) {
		return http.StatusBadRequest, api.ErrorBody{Error: "invalid_grant", Detail: "Unknown device code."}, nil
	}
	if err != nil {
		return 0, nil, err
	}
	now := nanos(s.cfg.Now())
	answer := func(code string) (int, any, error) {
		return http.StatusBadRequest, api.ErrorBody{Error: code}, tx.Commit()
	}
	if now >= expires {
		return answer(api.CodeExpiredToken)
	}
	if lastPoll.Valid && now-lastPoll.Int64 < interval {
		_, err := tx.ExecContext(ctx, `UPDATE device_codes SET last_poll = ?, interval = interval + ? WHERE id = ?`, now, int64(slowDownStep), id)
		if err != nil {
			return 0, nil, err
		}
		return answer(api.CodeSlowDown)
	}
	switch state {
	case "pending":
		if _, err := tx.ExecContext(ctx, `UPDATE device_codes SET last_poll = ? WHERE id = ?`, now, id); err != nil {
			return 0, nil, err
		}
		return answer(api.CodeAuthorizationPending)
	case "denied":
		if _, err := tx.ExecContext(ctx, `DELETE FROM device_codes WHERE id = ?`, id); err != nil {
			return 0, nil, err
		}
		return answer(api.CodeAccessDenied)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM device_codes WHERE id = ?`, id); err != nil {
		return 0, nil, err
	}
	uid := userID.Int64
	tok, err := s.issueToken(ctx, tx, "user", &uid, nil)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, api.Token{Token: tok}, tx.Commit()
}

// Approve approves a pending user code as the development user email ("" is the first
// configured user), as the activation page and POST /_dev/approve do.
func (s *Server) Approve(userCode, email string) error {
	if email == "" {
		email = s.cfg.Users[0].Email
	}
	u, err := userByEmail(context.Background(), s.db, email)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("approve as %q: %w", email, ErrUnknownEmail)
	}
	if err != nil {
		return fmt.Errorf("approve as %q: %w", email, err)
	}
	return s.decide(userCode, "approved", &u.UserID)
}

// Deny denies a pending user code: the next poll answers access_denied.
func (s *Server) Deny(userCode string) error {
	return s.decide(userCode, "denied", nil)
}

func (s *Server) decide(userCode, state string, userID *int64) error {
	code := normalizeUserCode(userCode)
	ctx := context.Background()
	var (
		expires int64
		current string
	)
	err := s.db.QueryRowContext(ctx, `SELECT expires_at, state FROM device_codes WHERE user_code = ?`, code).Scan(&expires, &current)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("code %s: %w", code, ErrUnknownCode)
	case err != nil:
		return fmt.Errorf("code %s: %w", code, err)
	case nanos(s.cfg.Now()) >= expires:
		return fmt.Errorf("code %s: %w", code, ErrExpiredCode)
	case current != "pending":
		return fmt.Errorf("code %s: %w", code, ErrDecidedCode)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE device_codes SET state = ?, user_id = ? WHERE user_code = ? AND state = 'pending'`, state, userID, code)
	if err != nil {
		return fmt.Errorf("code %s: %w", code, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("code %s: %w", code, ErrDecidedCode)
	}
	return nil
}

// codeState tells the activation page whether a user code can be decided.
func (s *Server) codeState(ctx context.Context, userCode string) error {
	code := normalizeUserCode(userCode)
	var (
		expires int64
		state   string
	)
	err := s.db.QueryRowContext(ctx, `SELECT expires_at, state FROM device_codes WHERE user_code = ?`, code).Scan(&expires, &state)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrUnknownCode
	case err != nil:
		return err
	case nanos(s.cfg.Now()) >= expires:
		return ErrExpiredCode
	case state != "pending":
		return ErrDecidedCode
	}
	return nil
}

// PendingCode is a user code waiting for approval (GET /_dev/pending).
type PendingCode struct {
	UserCode  string    `json:"user_code"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Server) pending(ctx context.Context) ([]PendingCode, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT user_code, expires_at FROM device_codes WHERE state = 'pending' AND expires_at > ? ORDER BY id`, nanos(s.cfg.Now()))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []PendingCode{}
	for rows.Next() {
		var (
			p   PendingCode
			exp int64
		)
		if err := rows.Scan(&p.UserCode, &exp); err != nil {
			return nil, err
		}
		p.ExpiresAt = fromNanos(exp)
		out = append(out, p)
	}
	return out, rows.Err()
}
