package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tracebloc/edge/internal/version"
)

// call sends one contract call to u and decodes a 2xx JSON answer into out (nil: the body
// is read and dropped). in, when not nil, is sent as JSON. auth adds the Bearer token. A 429
// is retried after its Retry-After; every other answer is returned as it is. The status of
// the final 2xx answer is returned with it.
func (c *Client) call(ctx context.Context, method string, u *url.URL, in any, auth bool, out any) (int, error) {
	endpoint := c.endpoint(u)
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return 0, fmt.Errorf("%s %s: encode request: %w", method, endpoint, err)
		}
	}
	for attempt := 0; ; attempt++ {
		status, header, data, err := c.exchange(ctx, method, u, endpoint, body, auth)
		if err != nil {
			return 0, err
		}
		if status >= 200 && status <= 299 {
			return status, decodeBody(endpoint, status, data, out)
		}
		if status == http.StatusUpgradeRequired {
			var eb ErrorBody
			_ = json.Unmarshal(data, &eb) // best effort: the status alone decides
			return 0, &UpgradeRequiredError{Endpoint: endpoint, MinVersion: eb.MinVersion}
		}
		apiErr := newAPIError(method, endpoint, status, header, data, c.now())
		if status != http.StatusTooManyRequests || attempt >= c.maxRetries {
			return 0, apiErr
		}
		wait, ok := parseRetryAfter(header.Get("Retry-After"), c.now())
		if !ok {
			wait = time.Second << min(attempt, 16) // no advice: back off 1 s, 2 s, 4 s, ...
		}
		wait = min(wait, c.maxRetryWait)
		c.log.Debug().Str("method", method).Str("path", endpoint).Dur("wait", wait).Int("attempt", attempt+1).Msg("rate limited, waiting to retry")
		if err := c.sleep(ctx, wait); err != nil {
			return 0, fmt.Errorf("%s %s: rate limited, stopped waiting to retry: %w", method, endpoint, err)
		}
	}
}

// exchange is one HTTP round trip; the body read is capped at MaxBodyBytes+1 so that an
// oversized answer is recognised without reading it all.
func (c *Client) exchange(ctx context.Context, method string, u *url.URL, endpoint string, body []byte, auth bool) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%s %s: %w", method, endpoint, err)
	}
	req.Header.Set("User-Agent", version.UserAgent())
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth && c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, nil, fmt.Errorf("%s %s: %w", method, endpoint, ctx.Err())
		}
		return 0, nil, nil, fmt.Errorf("reach the tracebloc backend: %w (check the backend URL, the network path and proxy settings, and the CA bundle when the backend uses a private CA)", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	c.log.Debug().Str("method", method).Str("path", endpoint).Int("status", resp.StatusCode).Dur("duration", time.Since(start)).Msg("backend call")
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, nil, fmt.Errorf("%s %s: read answer: %w", method, endpoint, ctx.Err())
		}
		return 0, nil, nil, &DecodeError{Endpoint: endpoint, Status: resp.StatusCode, Err: fmt.Errorf("read body: %w", err)}
	}
	if len(data) > MaxBodyBytes {
		return 0, nil, nil, &DecodeError{Endpoint: endpoint, Status: resp.StatusCode,
			Err: fmt.Errorf("body larger than %d bytes", MaxBodyBytes)}
	}
	return resp.StatusCode, resp.Header, data, nil
}

// endpoint is the contract path of u: its path without the base URL's prefix.
func (c *Client) endpoint(u *url.URL) string {
	if p, ok := strings.CutPrefix(u.Path, c.base.Path); ok && strings.HasPrefix(p, "/") {
		return p
	}
	return u.Path
}

// decodeBody decodes a 2xx JSON answer into out. Unknown fields are ignored; an empty
// body, JSON null, malformed JSON or a wrong type is a *DecodeError.
func decodeBody(endpoint string, status int, data []byte, out any) error {
	if out == nil {
		return nil
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return &DecodeError{Endpoint: endpoint, Status: status, Err: errors.New("empty body, want JSON")}
	}
	if string(trimmed) == "null" {
		return &DecodeError{Endpoint: endpoint, Status: status, Err: errors.New("body is null, want a JSON object or array")}
	}
	if err := json.Unmarshal(trimmed, out); err != nil {
		return &DecodeError{Endpoint: endpoint, Status: status, Err: err}
	}
	return nil
}

// newAPIError describes a non-2xx answer. A body that is not the JSON error shape leaves
// Body and Code zero: the status alone still decides.
func newAPIError(method, endpoint string, status int, header http.Header, data []byte, now time.Time) *APIError {
	e := &APIError{Method: method, Endpoint: endpoint, Status: status}
	var eb ErrorBody
	if json.Unmarshal(data, &eb) == nil {
		e.Body = eb
		e.Code = eb.Error
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		e.RetryAfter, _ = parseRetryAfter(header.Get("Retry-After"), now)
	}
	return e
}

// parseRetryAfter reads Retry-After as seconds or as an HTTP date (RFC 9110 section
// 10.2.3); ok is false when it is absent or unreadable. A date in the past is 0.
func parseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
		const maxSecs = uint64(1<<63-1) / uint64(time.Second)
		return time.Duration(min(secs, maxSecs)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// sleepContext waits d or until ctx ends.
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
