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

	"github.com/tracebloc/edge/internal/retry"
	"github.com/tracebloc/edge/internal/version"
)

// call sends one contract call to u and decodes a 2xx JSON answer into out (nil: the body
// is read and dropped); see send. The status of the final 2xx answer is returned with it.
func (c *Client) call(ctx context.Context, method string, u *url.URL, in any, auth bool, out any) (int, error) {
	status, data, err := c.send(ctx, method, u, in, auth)
	if err != nil {
		return 0, err
	}
	if err := c.decodeBody(c.endpoint(u), status, data, out); err != nil {
		return 0, err
	}
	c.secrets.addAnswer(out)
	return status, nil
}

// send sends one contract call to u and returns the status and body of a 2xx answer. in,
// when not nil, is sent as JSON. auth adds the Bearer token. A 429 is retried after its
// Retry-After, unless retries are off; a 3xx is an error (no redirect is ever followed);
// every other answer is returned as an error.
func (c *Client) send(ctx context.Context, method string, u *url.URL, in any, auth bool) (int, []byte, error) {
	endpoint := c.endpoint(u)
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return 0, nil, fmt.Errorf("%s %s: encode request: %w", method, endpoint, err)
		}
		c.secrets.addBody(body)
	}
	for attempt := 0; ; attempt++ {
		status, header, data, err := c.exchange(ctx, method, u, endpoint, body, auth)
		if err != nil {
			return 0, nil, err
		}
		if status >= 200 && status <= 299 {
			return status, data, nil
		}
		if status == http.StatusUpgradeRequired {
			var eb ErrorBody
			_ = json.Unmarshal(data, &eb) // best effort: the status alone decides
			return 0, nil, &UpgradeRequiredError{Endpoint: endpoint, MinVersion: c.secrets.text(eb.MinVersion, maxCodeBytes)}
		}
		apiErr := c.newAPIError(method, u, endpoint, status, header, data)
		if status != http.StatusTooManyRequests || attempt >= c.maxRetries {
			return 0, nil, apiErr
		}
		wait, ok := parseRetryAfter(header.Get("Retry-After"), c.clock.Now())
		if !ok {
			wait = retry.Backoff{Base: time.Second, Cap: c.maxRetryWait}.Next(attempt) // no advice: 1 s, 2 s, 4 s, ...
		}
		wait = min(wait, c.maxRetryWait)
		c.log.Debug().Str("method", method).Str("path", endpoint).Dur("wait", wait).Int("attempt", attempt+1).Msg("rate limited, waiting to retry")
		if err := retry.Wait(ctx, c.clock, wait); err != nil {
			return 0, nil, fmt.Errorf("%s %s: rate limited, stopped waiting to retry: %w", method, endpoint, err)
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

// endpoint is the contract path of u: its path without the base URL's prefix. A path that
// came from the backend (a next page) is made safe to show like any backend text.
func (c *Client) endpoint(u *url.URL) string {
	p := u.Path
	if rest, ok := strings.CutPrefix(u.Path, c.base.Path); ok && strings.HasPrefix(rest, "/") {
		p = rest
	}
	return c.secrets.text(p, maxFieldBytes)
}

// decodeBody decodes a 2xx JSON answer into out. Unknown fields are ignored; an empty
// body, JSON null, malformed JSON or a wrong type is a *DecodeError.
func (c *Client) decodeBody(endpoint string, status int, data []byte, out any) error {
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
		return c.decodeError(endpoint, status, err)
	}
	return nil
}

// decodeError keeps a decoder's error as safe text: a JSON or date parser quotes what it
// could not read, and that is backend text.
func (c *Client) decodeError(endpoint string, status int, err error) *DecodeError {
	return &DecodeError{Endpoint: endpoint, Status: status, Err: errors.New(c.secrets.text(err.Error(), maxDetailBytes))}
}

// newAPIError describes a non-2xx answer, its backend text made safe to show (see
// redactor.text). A body that is not the JSON error shape leaves Body and Code zero: the
// status alone still decides.
func (c *Client) newAPIError(method string, u *url.URL, endpoint string, status int, header http.Header, data []byte) *APIError {
	e := &APIError{Method: method, Endpoint: endpoint, Status: status}
	var eb ErrorBody
	if json.Unmarshal(data, &eb) == nil {
		e.Body = c.secrets.errorBody(eb)
		e.Code = e.Body.Error
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		e.RetryAfter, _ = parseRetryAfter(header.Get("Retry-After"), c.clock.Now())
	}
	if status >= 300 && status <= 399 {
		if loc, err := u.Parse(header.Get("Location")); err == nil && loc.Host != "" {
			e.Location = c.secrets.text(loc.Scheme+"://"+loc.Host, maxFieldBytes)
		}
	}
	return e
}

// parseRetryAfter reads Retry-After as seconds or as an HTTP date (RFC 9110 section
// 10.2.3); ok is false when it is absent or unreadable. A date in the past is 0; anything
// longer than MaxRetryAfter is MaxRetryAfter.
func parseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
		return time.Duration(min(secs, uint64(MaxRetryAfter/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), MaxRetryAfter), true
	}
	return 0, false
}
