package api

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"

	"github.com/tracebloc/edge/internal/safetext"
)

// Redacted stands in for a secret in backend text kept by an error.
const Redacted = "[redacted]"

const (
	// minSecretBytes: shorter values are not registered. Every credential this client
	// handles is longer (machine passwords are at least 16 bytes, tokens and device codes
	// longer still), and redacting a two-letter value would garble every message.
	minSecretBytes = 8
	// maxSecrets bounds the list over a long run (a new device code every quarter hour);
	// the oldest, long expired, goes first.
	maxSecrets = 256
)

// secretFields are the JSON fields of a request body whose values are secrets.
var secretFields = []string{"password", "device_code", "token"}

// redactor knows every secret a Client and its copies sent or received, and takes them out
// of backend text before an error keeps it.
type redactor struct {
	mu      sync.Mutex
	secrets []string
}

// add registers secret, and its cleaned form, which is what a cleaned text would hold.
func (r *redactor) add(secret string) {
	if len(secret) < minSecretBytes {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range []string{secret, safetext.Clean(secret)} {
		if len(s) < minSecretBytes || slices.Contains(r.secrets, s) {
			continue
		}
		if len(r.secrets) == maxSecrets {
			r.secrets = slices.Delete(r.secrets, 0, 1)
		}
		r.secrets = append(r.secrets, s)
	}
}

// addBody registers the values of the secret fields of a JSON request body.
func (r *redactor) addBody(body []byte) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return
	}
	for _, name := range secretFields {
		var v string
		if raw, ok := fields[name]; ok && json.Unmarshal(raw, &v) == nil {
			r.add(v)
		}
	}
}

// addAnswer registers the secrets of a decoded answer.
func (r *redactor) addAnswer(out any) {
	switch v := out.(type) {
	case *Token:
		r.add(v.Token)
	case *DeviceCode:
		r.add(v.DeviceCode)
	}
}

// redact replaces every known secret in text by Redacted, the longest first, so that a
// secret that contains another is replaced whole.
func (r *redactor) redact(text string) string {
	r.mu.Lock()
	secrets := slices.Clone(r.secrets)
	r.mu.Unlock()
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, s := range secrets {
		text = strings.ReplaceAll(text, s, Redacted)
	}
	return text
}

// text is backend text as an error may keep it: cleaned, redacted, then cut to n bytes,
// in that order, so that neither an escape sequence inside a secret nor the cut can leave
// a piece of it behind.
func (r *redactor) text(s string, n int) string {
	if s == "" {
		return ""
	}
	return safetext.Truncate(strings.TrimSpace(r.redact(safetext.Clean(s))), n)
}

// errorBody is b with every string made safe to keep (see text).
func (r *redactor) errorBody(b ErrorBody) ErrorBody {
	b.Error = r.text(b.Error, maxCodeBytes)
	b.Detail = r.text(b.Detail, maxDetailBytes)
	b.ClusterID = r.text(b.ClusterID, maxFieldBytes)
	b.OwnerEmail = r.text(b.OwnerEmail, maxFieldBytes)
	b.HolderName = r.text(b.HolderName, maxFieldBytes)
	b.Namespace = r.text(b.Namespace, maxFieldBytes)
	b.MinVersion = r.text(b.MinVersion, maxCodeBytes)
	return b
}
