package devbackend

import (
	"bytes"
	"context"
	"crypto/subtle"
	_ "embed"
	"errors"
	"html/template"
	"net/http"
)

//go:embed activate.html
var activateHTML string

// parseActivate parses the activation page; once per Server.
func parseActivate() *template.Template {
	return template.Must(template.New("activate").Parse(activateHTML))
}

// csrfCookie is a double-submit token: the form's hidden field must equal the cookie.
const csrfCookie = "tb_activate_csrf"

type activateView struct {
	Title, Result, Detail, Problem string
	CSRF, Code, Email              string
	Users                          []User
	Pending                        bool         // Code can be decided: show the Approve form
	Request                        *requestView // what asked for Code; nil with ContractOnly
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, v activateView) {
	v.Users = s.cfg.Users
	if v.Email == "" {
		v.Email = s.cfg.Users[0].Email
	}
	if v.Title == "" {
		v.Title = "Activate"
	}
	var buf bytes.Buffer
	if err := s.activate.Execute(&buf, v); err != nil {
		s.internalError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func problemText(err error) string {
	switch {
	case errors.Is(err, ErrUnknownCode):
		return "That code is not valid. Check it against the one the installation shows, or start the installation again for a new code."
	case errors.Is(err, ErrExpiredCode):
		return "That code has expired. The installation shows a new code by itself: use that one."
	case errors.Is(err, ErrDecidedCode):
		return "That code was already approved or denied. Start the installation again for a new code."
	case errors.Is(err, ErrUnknownEmail):
		return "Choose one of the development users."
	}
	return "Something went wrong: " + err.Error()
}

// activatePage is GET /activate[?code=...].
func (s *Server) activatePage(w http.ResponseWriter, r *http.Request) {
	csrf := randomSecret(16)
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 16 {
		csrf = c.Value
	}
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: csrf, Path: "/activate", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	v := activateView{CSRF: csrf}
	if code := r.URL.Query().Get("code"); code != "" {
		var err error
		if v, err = s.codeView(r.Context(), v, code); err != nil {
			s.internalError(w, r, err)
			return
		}
	}
	s.render(w, r, http.StatusOK, v)
}

// codeView fills v for userCode: the Approve form and the request that asked for the
// code while it can be decided, else the problem. A person sees what asks before approving,
// also when they typed the code.
func (s *Server) codeView(ctx context.Context, v activateView, userCode string) (activateView, error) {
	v.Code = normalizeUserCode(userCode)
	if err := s.codeState(ctx, v.Code); err != nil {
		v.Problem = problemText(err)
		return v, nil
	}
	v.Pending = true
	cr, err := s.requestOf(ctx, v.Code)
	if err != nil || cr == nil {
		return v, err
	}
	v.Request = s.viewRequest(cr)
	return v, nil
}

// activateSubmit is POST /activate: approve or deny the code as the chosen user.
func (s *Server) activateSubmit(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.render(w, r, http.StatusBadRequest, activateView{Title: "Error", Result: "The form could not be read", Detail: "Reload the page and try again."})
		return
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		s.render(w, r, http.StatusForbidden, activateView{Title: "Error", Result: "The form expired", Detail: "Reload the activation page and try again."})
		return
	}
	code, email := normalizeUserCode(r.PostForm.Get("code")), r.PostForm.Get("email")
	switch r.PostForm.Get("action") {
	case "approve":
		err = s.Approve(code, email)
		if err == nil {
			s.render(w, r, http.StatusOK, activateView{Title: "Approved", Result: "Approved — you can close this window",
				Detail: "The installation continues by itself as " + email + "."})
			return
		}
	case "deny":
		err = s.Deny(code)
		if err == nil {
			s.render(w, r, http.StatusOK, activateView{Title: "Denied", Result: "Denied",
				Detail: "The installation was refused and stops. Nothing was connected."})
			return
		}
	default:
		err = errors.New("press Approve or Deny")
	}
	view, verr := s.codeView(r.Context(), activateView{CSRF: c.Value, Email: email}, code)
	if verr != nil {
		s.internalError(w, r, verr)
		return
	}
	view.Problem = problemText(err)
	status := http.StatusBadRequest
	if errors.Is(err, ErrUnknownCode) {
		status = http.StatusNotFound
	}
	s.render(w, r, status, view)
}
