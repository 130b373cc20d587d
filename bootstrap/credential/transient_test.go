package credential

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

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

// failing makes the fake API server refuse the first n calls of verb on Secrets.
func failing(cs *fake.Clientset, verb string, n int32) *atomic.Int32 {
	var calls atomic.Int32
	cs.PrependReactor(verb, "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		if calls.Add(1) <= n {
			return true, nil, &url.Error{Op: verb, URL: "https://127.0.0.1:6443", Err: syscall.ECONNREFUSED}
		}
		return false, nil, nil
	})
	return &calls
}

// Reads and writes wait for an API server that does not answer, then go on.
func TestStoreWaitsForTheAPIServer(t *testing.T) {
	cs := fake.NewClientset()
	gets := failing(cs, "get", 2)
	creates := failing(cs, "create", 2)
	var log strings.Builder
	st := &Store{Client: cs, Namespace: "edge", Name: "creds", Log: zerolog.New(&log)}
	pw := strings.Repeat("p", 32)
	if err := st.WriteAhead(context.Background(), "uid-1", pw, nil); err != nil {
		t.Fatalf("WriteAhead() = %v, want it to wait out the refused calls", err)
	}
	s, err := st.Read(context.Background())
	if err != nil || s.WriteAheadPassword() != pw {
		t.Fatalf("Read() = %+v, %v; want the write-ahead password", s.Enrollment, err)
	}
	if gets.Load() < 3 || creates.Load() < 3 {
		t.Errorf("calls: %d gets, %d creates; want the refused ones tried again", gets.Load(), creates.Load())
	}
	if !strings.Contains(log.String(), "the Kubernetes API server is not answering") {
		t.Errorf("the waits were not logged:\n%s", log.String())
	}
	if strings.Contains(log.String(), pw) {
		t.Error("the log holds the password")
	}
}

// An API server that never answers ends the wait after Patience, with an error saying so.
func TestStoreGivesUpAfterPatience(t *testing.T) {
	cs := fake.NewClientset()
	failing(cs, "get", 1<<30)
	st := &Store{Client: cs, Namespace: "edge", Name: "creds", Patience: 600 * time.Millisecond}
	_, err := st.Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "has not answered for") || !Transient(err) {
		t.Fatalf("Read() = %v, want an error saying the API server has not answered", err)
	}
}

// A refusal is not waited for: it is the answer.
func TestStoreDoesNotWaitOnARefusal(t *testing.T) {
	cs := fake.NewClientset()
	var calls atomic.Int32
	cs.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		calls.Add(1)
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "creds", errors.New("RBAC"))
	})
	st := &Store{Client: cs, Namespace: "edge", Name: "creds"}
	if _, err := st.Read(context.Background()); !apierrors.IsForbidden(err) || calls.Load() != 1 {
		t.Fatalf("Read() = %v after %d calls, want the Forbidden error after 1", err, calls.Load())
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "Client.Timeout exceeded while awaiting headers" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
