package credential

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/tracebloc/edge/bootstrap/kube"
	"github.com/tracebloc/edge/internal/retry/retrytest"
)

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

// Reads and writes wait for an API server that does not answer, on the store's clock,
// then go on: the reads from the write's re-read start their backoff afresh.
func TestStoreWaitsForTheAPIServer(t *testing.T) {
	cs := fake.NewClientset()
	gets := failing(cs, "get", 2)
	creates := failing(cs, "create", 2)
	var log strings.Builder
	clk := retrytest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	st := &Store{Client: cs, Namespace: "edge", Name: "creds", Clock: clk, Log: zerolog.New(&log)}
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
	ms := time.Millisecond
	if diff := cmp.Diff([]time.Duration{250 * ms, 500 * ms, 250 * ms, 500 * ms}, clk.Waits()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
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
	tests := []struct {
		name     string
		patience time.Duration
		want     []time.Duration
	}{
		{"short", 600 * time.Millisecond, []time.Duration{250 * time.Millisecond, 500 * time.Millisecond}},
		{"default: two minutes, 4 s apart at most", 0, append([]time.Duration{
			250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}, slices.Repeat([]time.Duration{4 * time.Second}, 30)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset()
			calls := failing(cs, "get", 1<<30)
			clk := retrytest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
			st := &Store{Client: cs, Namespace: "edge", Name: "creds", Clock: clk, Patience: tt.patience}
			_, err := st.Read(context.Background())
			if err == nil || !strings.Contains(err.Error(), "has not answered for") || !kube.Transient(err) {
				t.Fatalf("Read() = %v, want an error saying the API server has not answered", err)
			}
			if diff := cmp.Diff(tt.want, clk.Waits()); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			if got, want := calls.Load(), int32(len(tt.want)+1); got != want {
				t.Errorf("calls = %d, want %d", got, want)
			}
		})
	}
}

// A write that got no answer is tried again from a fresh read within Patience, then fails
// naming the write.
func TestStoreWriteGivesUpAfterPatience(t *testing.T) {
	cs := fake.NewClientset()
	creates := failing(cs, "create", 1<<30)
	clk := retrytest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	st := &Store{Client: cs, Namespace: "edge", Name: "creds", Clock: clk, Patience: time.Second}
	err := st.WriteAhead(context.Background(), "uid-1", strings.Repeat("p", 32), nil)
	if err == nil || !strings.HasPrefix(err.Error(), "write secret edge/creds: ") || !kube.Transient(err) {
		t.Fatalf("WriteAhead() = %v, want the write's transient error", err)
	}
	ms := time.Millisecond
	if diff := cmp.Diff([]time.Duration{250 * ms, 500 * ms, time.Second}, clk.Waits()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if got := creates.Load(); got != 4 {
		t.Errorf("creates = %d, want 4", got)
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
