package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Secrets of TestBackendTextIsSafe; each one is sent or received by the client.
const (
	secretUserToken    = "user-token-secret-0001"
	secretDeviceCode   = "device-code-secret-0002"
	secretPassword     = "machine-password-secret-0003"
	secretNewPassword  = "patched-password-secret-0004"
	secretAnswerToken  = "answer-token-secret-0005"
	secretMachineToken = "machine-token-secret-0006"
)

var allSecrets = []string{secretUserToken, secretDeviceCode, secretPassword, secretNewPassword, secretAnswerToken, secretMachineToken}

// echoServer answers every call with an error whose text echoes the request (headers and
// body) and what the backend issued, wrapped in terminal escapes, bidi overrides and
// padding; POST /device/token and /api-token-auth/ first issue a token.
func echoServer(t *testing.T) http.Handler {
	issued := map[string]bool{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		key := r.Method + " " + r.URL.Path
		switch {
		case key == "POST /device/token" && !issued[key]:
			issued[key] = true
			_, _ = io.WriteString(w, `{"token":"`+secretAnswerToken+`"}`)
			return
		case key == "POST /api-token-auth/" && !issued[key]:
			issued[key] = true
			_, _ = io.WriteString(w, `{"token":"`+secretMachineToken+`"}`)
			return
		case key == "GET /edge-device/7/":
			// A date the parser quotes in its error.
			_, _ = io.WriteString(w, `{"id":7,"date_joined":"`+secretUserToken+`\u001b[31m`+r.Header.Get("Authorization")+`"}`)
			return
		case key == "GET /userinfo/":
			w.WriteHeader(http.StatusUpgradeRequired)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "upgrade_required", "min_version": "\x1b[2J9.9.9 " + secretAnswerToken + strings.Repeat("9", 500)})
			return
		}
		echo := r.Header.Get("Authorization") + " " + string(body) + " " + secretAnswerToken + " " + secretMachineToken
		noise := "\x1b]0;owned\x07\x1b[2J\u202e\u200b\r\nforged log line"
		w.WriteHeader(http.StatusConflict)
		_ = json.NewEncoder(w).Encode(map[string]string{
			"error":       "namespace_conflict" + noise,
			"detail":      "you sent " + echo + noise + strings.Repeat("A", 10_000),
			"holder_name": echo + noise + strings.Repeat("B", 10_000),
			"owner_email": echo + "@example.com",
			"namespace":   echo,
			"cluster_id":  echo,
		})
	})
}

// TestBackendTextIsSafe: whatever the backend echoes, an error holds a short, printable
// excerpt with every secret the client sent or received replaced, in every copy of the
// client.
func TestBackendTextIsSafe(t *testing.T) {
	c, _, _ := newTestClient(t, echoServer(t))
	user := c.WithToken(secretUserToken)
	ctx := context.Background()
	if tok, err := c.PollDeviceToken(ctx, secretDeviceCode); err != nil || tok.Token != secretAnswerToken {
		t.Fatalf("PollDeviceToken() = %v, %v; want the token", tok, err)
	}
	machine, err := c.MachineLogin(ctx, "client-id", secretPassword)
	if err != nil {
		t.Fatalf("MachineLogin() = %v", err)
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"PollDeviceToken", func() error { _, err := c.PollDeviceToken(ctx, secretDeviceCode); return err }},
		{"VerifyCredential", func() error { return c.VerifyCredential(ctx, "client-id", secretPassword) }},
		{"CreateEdgeDevice", func() error {
			_, _, err := user.CreateEdgeDevice(ctx, CreateRequest{FirstName: "n", Namespace: "ns", Password: secretPassword})
			return err
		}},
		{"PatchEdgeDevice", func() error {
			_, err := user.PatchEdgeDevice(ctx, 7, PatchRequest{Password: secretNewPassword})
			return err
		}},
		{"RevokeEdgeDevice as the machine", func() error { _, err := machine.RevokeEdgeDevice(ctx, 7); return err }},
		{"ListEdgeDevices", func() error { _, err := user.ListEdgeDevices(ctx); return err }},
		{"GetEdgeDevice (a date that is not one)", func() error { _, err := user.GetEdgeDevice(ctx, 7); return err }},
		{"UserInfo (426)", func() error { _, err := user.UserInfo(ctx); return err }},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatal("want an error")
			}
			texts := []string{err.Error()}
			var apiErr *APIError
			if errors.As(err, &apiErr) {
				b := apiErr.Body
				texts = append(texts, apiErr.Code, b.Detail, b.HolderName, b.OwnerEmail, b.Namespace, b.ClusterID)
				for _, f := range []string{b.HolderName, b.OwnerEmail, b.Namespace, b.ClusterID} {
					if len(f) > maxFieldBytes {
						t.Errorf("a body field has %d bytes, want at most %d", len(f), maxFieldBytes)
					}
				}
				if !strings.Contains(b.Detail, "you sent") || !strings.Contains(b.Detail, Redacted) {
					t.Errorf("Detail = %q, want the excerpt with the secrets redacted", b.Detail)
				}
			}
			if len(err.Error()) > 600 {
				t.Errorf("error text has %d bytes, want a short excerpt: %q", len(err.Error()), err)
			}
			for _, text := range texts {
				for _, s := range allSecrets {
					if strings.Contains(text, s) {
						t.Errorf("%q holds the secret %s", text, s)
					}
				}
				if strings.ContainsAny(text, "\x1b\x07\r\n\u202e\u200b") {
					t.Errorf("%q holds a control or format character", text)
				}
			}
		})
	}
}
