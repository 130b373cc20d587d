package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

type timeoutError struct{}

func (timeoutError) Error() string   { return "Client.Timeout exceeded while awaiting headers" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestTransient(t *testing.T) {
	secrets := schema.GroupResource{Resource: "secrets"}
	refused := &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/api/v1/namespaces/edge/secrets/creds", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", refused, true},
		{"wrapped connection refused", fmt.Errorf("read secret edge/creds: %w", refused), true},
		{"connection reset", &url.Error{Op: "Put", Err: syscall.ECONNRESET}, true},
		{"unexpected EOF", &url.Error{Op: "Get", Err: io.ErrUnexpectedEOF}, true},
		{"503", apierrors.NewServiceUnavailable("shutting down"), true},
		{"429", apierrors.NewTooManyRequests("slow down", 1), true},
		{"500", apierrors.NewInternalError(errors.New("etcd")), true},
		{"504", apierrors.NewServerTimeout(secrets, "get", 1), true},
		{"not found", apierrors.NewNotFound(secrets, "creds"), false},
		{"forbidden", apierrors.NewForbidden(secrets, "creds", errors.New("RBAC")), false},
		{"conflict", apierrors.NewConflict(secrets, "creds", errors.New("changed")), false},
		{"invalid", apierrors.NewBadRequest("bad"), false},
		{"cancelled", fmt.Errorf("read: %w", context.Canceled), false},
		{"request timeout", &url.Error{Op: "Get", Err: timeoutError{}}, true},
		{"nil", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Transient(tc.err); got != tc.want {
				t.Errorf("Transient(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
