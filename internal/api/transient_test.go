package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"
)

// clientTimeout is what net/http wraps in a *url.Error when http.Client.Timeout fires.
type clientTimeout struct{}

func (clientTimeout) Error() string   { return "Client.Timeout exceeded while awaiting headers" }
func (clientTimeout) Timeout() bool   { return true }
func (clientTimeout) Temporary() bool { return true }

func TestTransient(t *testing.T) {
	netErr := &url.Error{Op: "Post", URL: "https://api.tracebloc.io/device/token", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	upgrade := &UpgradeRequiredError{Endpoint: "/device/token", MinVersion: "2.0.0"}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "nil", err: nil, want: false},
		{name: "network", err: netErr, want: true},
		{name: "500", err: &APIError{Status: 500}, want: true},
		{name: "503", err: &APIError{Status: 503}, want: true},
		{name: "429", err: &APIError{Status: 429}, want: true},
		{name: "408", err: &APIError{Status: 408}, want: true},
		{name: "400", err: &APIError{Status: 400}, want: false},
		{name: "401", err: &APIError{Status: 401}, want: false},
		{name: "426", err: upgrade, want: false},
		{name: "wrapped 426", err: fmt.Errorf("x: %w", upgrade), want: false},
		{name: "undecodable 200", err: &DecodeError{Endpoint: "/device/code", Status: 200, Err: errors.New("bad")}, want: false},
		{name: "undecodable 502", err: &DecodeError{Endpoint: "/device/code", Status: 502, Err: errors.New("bad")}, want: true},
		{name: "canceled", err: fmt.Errorf("x: %w", context.Canceled), want: false},
		{name: "the run's deadline", err: fmt.Errorf("x: %w", context.DeadlineExceeded), want: false},
		{name: "the HTTP client's timeout", err: &url.Error{Op: "Post", URL: "http://127.0.0.1/device/token", Err: clientTimeout{}}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Transient(tt.err); got != tt.want {
				t.Errorf("Transient(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want time.Duration
	}{
		{"429 with Retry-After", fmt.Errorf("x: %w", &APIError{Status: 429, RetryAfter: 7 * time.Second}), 7 * time.Second},
		{"beyond the bound", &APIError{Status: 503, RetryAfter: time.Hour}, MaxRetryAfter},
		{"none", errors.New("x"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RetryAfter(tt.err); got != tt.want {
				t.Errorf("RetryAfter(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
