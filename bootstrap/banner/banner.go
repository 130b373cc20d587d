// Package banner renders the activation banner that a person finds in
// `kubectl logs ... -c bootstrap`.
//
// Every banner starts with FirstLine, so that
//
//	kubectl logs -n <namespace> deploy/<release> -c bootstrap | grep -A12 'TRACEBLOC ACTIVATION'
//
// shows the whole of it: the link with the code, the code on its own line, the expiry and
// what is being authorized. Without a terminal the banner is plain ASCII (no colours, no
// box drawing); a terminal gets a framed, coloured version. The optional QR code of the
// link is drawn with half-block characters (see qr.go). Event gives the same facts in one
// line for a Kubernetes Event on the pod.
package banner

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tracebloc/edge/internal/safetext"
)

// FirstLine is the fixed first phrase of every banner, documented for grep.
const FirstLine = "TRACEBLOC ACTIVATION"

// eventLimit is the size limit of a Kubernetes Event message.
const eventLimit = 1024

// Info is what a banner shows: the device code as the backend issued it and what
// approving it connects.
type Info struct {
	URL         string // verification_uri: the page where the code is typed
	URLComplete string // verification_uri_complete: the page with the code filled in
	UserCode    string
	ExpiresAt   time.Time
	ClusterID   string // UID of the kube-system namespace
	Namespace   string
	QR          bool // also print a QR code of URLComplete
}

// style is how a line is emphasised on a terminal.
type style int

const (
	styleText style = iota
	styleHeading
	styleLink
	styleCode
)

type line struct {
	text  string
	style style
}

// Write writes the banner to w. now is the time the "in N minutes" refers to; terminal
// selects the framed, coloured rendering.
func Write(w io.Writer, info Info, now time.Time, terminal bool) error {
	info = info.sanitized()
	lines := info.lines(now)
	var b strings.Builder
	if terminal {
		writeFramed(&b, lines)
	} else {
		writePlain(&b, lines)
	}
	if info.QR {
		if err := writeQR(&b, info, terminal); err != nil {
			return err
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write the activation banner: %w", err)
	}
	return nil
}

// Event returns the facts of the banner in one line, at most 1024 bytes, for the message
// of a Kubernetes Event.
func Event(info Info, now time.Time) string {
	info = info.sanitized()
	msg := fmt.Sprintf("%s: open %s and approve code %s before %s (%s) to connect Kubernetes cluster %s, namespace %s, to your tracebloc account",
		FirstLine, info.link(), info.UserCode, utc(info.ExpiresAt), until(info.ExpiresAt, now), info.ClusterID, info.Namespace)
	return safetext.Truncate(msg, eventLimit)
}

// lines is the content of the banner, the same in both renderings. The first line holds
// FirstLine and the next twelve hold every fact, for grep -A12.
func (info Info) lines(now time.Time) []line {
	l := []line{
		{text: FirstLine + ": connect this Kubernetes cluster to your tracebloc account", style: styleHeading},
		{},
		{text: "  1. Open this link in a browser, on any device:"},
		{text: "       " + info.link(), style: styleLink},
		{text: "  2. Check that the page shows this code, then sign in and approve:"},
		{},
		{text: "       " + info.UserCode, style: styleCode},
		{},
		{text: fmt.Sprintf("  The code expires at %s (%s).", utc(info.ExpiresAt), until(info.ExpiresAt, now))},
		{text: fmt.Sprintf("  Approving connects Kubernetes cluster %s,", info.ClusterID)},
		{text: fmt.Sprintf("  namespace %s, to your tracebloc account.", info.Namespace)},
	}
	if info.URLComplete != "" && info.URL != "" {
		l = append(l, line{text: fmt.Sprintf("  No link? Open %s and type the code.", info.URL)})
	}
	return l
}

// link is the URL to open: the one with the code when the backend sent it.
func (info Info) link() string {
	if info.URLComplete != "" {
		return info.URLComplete
	}
	return info.URL
}

// Bounds of the values shown: a code, a cluster id and a namespace are short; a link is a
// page address.
const (
	maxCodeBytes = 64
	maxNameBytes = 128
	maxLinkBytes = 1024
)

// sanitized cleans everything the backend or the cluster sent (safetext: no escape
// sequence, control or format character), so that no value can move the cursor, clear the
// screen, reorder the text with a bidi override or forge log lines, and bounds it.
func (info Info) sanitized() Info {
	info.URL = safetext.Excerpt(info.URL, maxLinkBytes)
	info.URLComplete = safetext.Excerpt(info.URLComplete, maxLinkBytes)
	info.UserCode = safetext.Excerpt(info.UserCode, maxCodeBytes)
	info.ClusterID = safetext.Excerpt(info.ClusterID, maxNameBytes)
	info.Namespace = safetext.Excerpt(info.Namespace, maxNameBytes)
	return info
}

func utc(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// until says how long is left, rounded to whole minutes.
func until(deadline, now time.Time) string {
	d := deadline.Sub(now)
	switch {
	case d <= 0:
		return "expired"
	case d < 90*time.Second:
		if d < 30*time.Second {
			return "in less than a minute"
		}
		return "in 1 minute"
	}
	return fmt.Sprintf("in %d minutes", int(d.Round(time.Minute)/time.Minute))
}

const (
	rule  = "=============================================================================="
	reset = "\x1b[0m"
)

func writePlain(b *strings.Builder, lines []line) {
	for _, l := range lines {
		b.WriteString(strings.TrimRight(l.text, " "))
		b.WriteByte('\n')
	}
	b.WriteString(rule)
	b.WriteByte('\n')
}

// writeFramed draws the lines in a rounded box, emphasising the heading, the link and the
// code.
func writeFramed(b *strings.Builder, lines []line) {
	width := 0
	for _, l := range lines {
		width = max(width, utf8.RuneCountInString(l.text))
	}
	bar := strings.Repeat("─", width+2)
	b.WriteString("╭" + bar + "╮\n")
	for _, l := range lines {
		b.WriteString("│ ")
		switch l.style {
		case styleHeading:
			b.WriteString("\x1b[1m" + l.text + reset)
		case styleLink:
			b.WriteString("\x1b[4;36m" + l.text + reset)
		case styleCode:
			b.WriteString("\x1b[1;33m" + l.text + reset)
		default:
			b.WriteString(l.text)
		}
		b.WriteString(strings.Repeat(" ", width-utf8.RuneCountInString(l.text)))
		b.WriteString(" │\n")
	}
	b.WriteString("╰" + bar + "╯\n")
}
