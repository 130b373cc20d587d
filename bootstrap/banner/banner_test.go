package banner

import (
	"bytes"
	"flag"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

var (
	now  = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	info = Info{
		URL:         "https://app.tracebloc.io/activate",
		URLComplete: "https://app.tracebloc.io/activate?user_code=WDJB-MJHT",
		UserCode:    "WDJB-MJHT",
		ExpiresAt:   now.Add(15 * time.Minute),
		ClusterID:   "6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
		Namespace:   "tracebloc",
	}
)

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

func TestWriteGolden(t *testing.T) {
	withQR := info
	withQR.QR = true
	tests := []struct {
		name     string
		info     Info
		terminal bool
	}{
		{name: "plain", info: info},
		{name: "terminal", info: info, terminal: true},
		{name: "qr_plain", info: withQR},
		{name: "qr_terminal", info: withQR, terminal: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Write(&buf, tt.info, now, tt.terminal); err != nil {
				t.Fatalf("Write() = %v", err)
			}
			golden := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./bootstrap/banner -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), buf.String()); diff != "" {
				t.Errorf("Write() differs from %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

// TestWriteFacts checks what a person needs, in both renderings, independent of layout.
func TestWriteFacts(t *testing.T) {
	for _, terminal := range []bool{false, true} {
		var buf bytes.Buffer
		if err := Write(&buf, info, now, terminal); err != nil {
			t.Fatalf("Write() = %v", err)
		}
		out := ansi.ReplaceAllString(buf.String(), "")
		lines := strings.Split(out, "\n")
		first := -1
		for i, l := range lines {
			if strings.Contains(l, FirstLine) {
				first = i
				break
			}
		}
		if first < 0 {
			t.Fatalf("terminal=%v: no line holds %q:\n%s", terminal, FirstLine, out)
		}
		// What grep -A12 shows.
		grepped := strings.Join(lines[first:min(first+13, len(lines))], "\n")
		for _, want := range []string{
			info.URLComplete,
			"2026-05-01 12:15:00 UTC",
			"in 15 minutes",
			"connects Kubernetes cluster " + info.ClusterID,
			"namespace " + info.Namespace + ", to your tracebloc account",
		} {
			if !strings.Contains(grepped, want) {
				t.Errorf("terminal=%v: grep -A12 %q output lacks %q:\n%s", terminal, FirstLine, want, grepped)
			}
		}
		codeAlone := false
		for _, l := range lines[first:min(first+13, len(lines))] {
			if strings.Trim(l, " │") == info.UserCode {
				codeAlone = true
			}
		}
		if !codeAlone {
			t.Errorf("terminal=%v: the code %s is not on a line of its own:\n%s", terminal, info.UserCode, grepped)
		}
	}
}

func TestWritePlainIsASCII(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, info, now, false); err != nil {
		t.Fatalf("Write() = %v", err)
	}
	for i, r := range buf.String() {
		if r > 0x7e || (r < 0x20 && r != '\n') {
			t.Fatalf("plain banner has %q at byte %d, want printable ASCII only:\n%s", r, i, buf.String())
		}
	}
	if !strings.HasPrefix(buf.String(), FirstLine) {
		t.Errorf("plain banner starts with %q, want %q", strings.SplitN(buf.String(), "\n", 2)[0], FirstLine)
	}
}

// TestWriteCleansBackendText: escape sequences, control characters, bidi overrides and
// zero-width characters in what the backend and the cluster sent never reach the banner
// or the Event, and the printable rest does.
func TestWriteCleansBackendText(t *testing.T) {
	evil := info
	evil.UserCode = "WDJB\x1b[2J\x1b]0;owned\x07-MJHT\u200b\r\n"
	evil.URLComplete = "https://app.tracebloc.io/activate?user_code=WDJB-MJHT\u202e\u2066"
	evil.Namespace = "trace\u200dbloc\x07"
	evil.ClusterID = "6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b\x1b[1A\x1b[2K"
	bad := "\x1b\x07\r\u200b\u200d\u202e\u2066"
	for _, terminal := range []bool{false, true} {
		var buf bytes.Buffer
		if err := Write(&buf, evil, now, terminal); err != nil {
			t.Fatalf("Write() = %v", err)
		}
		out := ansi.ReplaceAllString(buf.String(), "") // the banner's own colours
		if strings.ContainsAny(out, bad) || strings.Contains(out, "[2J") || strings.Contains(out, "owned") {
			t.Errorf("terminal=%v: banner passes control or format characters through:\n%q", terminal, out)
		}
		for _, want := range []string{info.URLComplete, "cluster " + info.ClusterID + ",", "namespace tracebloc,"} {
			if !strings.Contains(out, want) {
				t.Errorf("terminal=%v: banner lacks %q:\n%s", terminal, want, out)
			}
		}
		if !slices.ContainsFunc(strings.Split(out, "\n"), func(l string) bool { return strings.Trim(l, " │") == info.UserCode }) {
			t.Errorf("terminal=%v: the code %s is not on a line of its own:\n%s", terminal, info.UserCode, out)
		}
	}
	if ev := Event(evil, now); strings.ContainsAny(ev, bad) || !strings.Contains(ev, "approve code WDJB-MJHT before") {
		t.Errorf("Event() = %q, want it cleaned", ev)
	}
}

func TestUntil(t *testing.T) {
	tests := []struct {
		name string
		left time.Duration
		want string
	}{
		{name: "fifteen minutes", left: 15 * time.Minute, want: "in 15 minutes"},
		{name: "rounds to the nearest minute", left: 14*time.Minute + 31*time.Second, want: "in 15 minutes"},
		{name: "two minutes", left: 2 * time.Minute, want: "in 2 minutes"},
		{name: "one minute", left: time.Minute, want: "in 1 minute"},
		{name: "seconds", left: 10 * time.Second, want: "in less than a minute"},
		{name: "now", left: 0, want: "expired"},
		{name: "past", left: -time.Minute, want: "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := until(now.Add(tt.left), now); got != tt.want {
				t.Errorf("until(now+%v, now) = %q, want %q", tt.left, got, tt.want)
			}
		})
	}
}

func TestEvent(t *testing.T) {
	long := info
	long.Namespace = strings.Repeat("n", 2000)
	tests := []struct {
		name string
		info Info
		want []string
	}{
		{
			name: "facts",
			info: info,
			want: []string{FirstLine, info.URLComplete, "code WDJB-MJHT", "2026-05-01 12:15:00 UTC", "in 15 minutes",
				"cluster " + info.ClusterID, "namespace tracebloc"},
		},
		{
			name: "without the complete URL",
			info: Info{URL: info.URL, UserCode: "ABCD-EFGH", ExpiresAt: info.ExpiresAt, ClusterID: "c", Namespace: "n"},
			want: []string{"open " + info.URL + " ", "code ABCD-EFGH"},
		},
		{name: "cut to the Event limit", info: long, want: []string{"code WDJB-MJHT", info.ClusterID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Event(tt.info, now)
			if len(got) > eventLimit {
				t.Errorf("len(Event()) = %d, want <= %d", len(got), eventLimit)
			}
			if strings.Contains(got, "\n") {
				t.Errorf("Event() = %q, want one line", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("Event() = %q, want it to contain %q", got, w)
				}
			}
		})
	}
}

// TestQRDecodes reads the rendered text back as a picture (drawn characters light, the rest
// dark, as on a dark log viewer) and decodes it with a QR reader.
func TestQRDecodes(t *testing.T) {
	tests := []struct {
		name     string
		url      string
		terminal bool
	}{
		{name: "plain", url: info.URLComplete},
		{name: "terminal", url: info.URLComplete, terminal: true},
		{name: "long URL", url: "https://dev-api.tracebloc.io/activate?user_code=WDJB-MJHT&cluster=6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := info
			in.URLComplete, in.QR = tt.url, true
			var buf bytes.Buffer
			if err := Write(&buf, in, now, tt.terminal); err != nil {
				t.Fatalf("Write() = %v", err)
			}
			_, qr, ok := strings.Cut(buf.String(), "Or scan this QR code:\n")
			if !ok {
				t.Fatalf("no QR code in the banner:\n%s", buf.String())
			}
			got, err := decode(ansi.ReplaceAllString(qr, ""))
			if err != nil {
				t.Fatalf("decode the QR code: %v\n%s", err, qr)
			}
			if got != tt.url {
				t.Errorf("QR code says %q, want %q", got, tt.url)
			}
		})
	}
}

// TestQRQuietZone checks the light margin around the code: the first and last text rows
// are fully drawn, and so are the first and last quietZone columns.
func TestQRQuietZone(t *testing.T) {
	rows, err := qrRows(info.URLComplete)
	if err != nil {
		t.Fatal(err)
	}
	grid := make([][]rune, len(rows))
	for i, r := range rows {
		grid[i] = []rune(r)
		if len(grid[i]) != len(grid[0]) {
			t.Fatalf("row %d is %d wide, row 0 is %d", i, len(grid[i]), len(grid[0]))
		}
	}
	size := len(grid[0])
	if want := (size + 1) / 2; len(rows) != want {
		t.Errorf("QR code of width %d has %d rows, want %d (two modules a row)", size, len(rows), want)
	}
	for _, r := range grid[0] {
		if string(r) != fullBlock {
			t.Fatalf("first row %q is not all light", rows[0])
		}
	}
	for i, row := range grid {
		for _, x := range []int{0, quietZone - 1, size - quietZone, size - 1} {
			if string(row[x]) == " " {
				t.Fatalf("row %d column %d is dark, want the quiet zone light: %q", i, x, rows[i])
			}
		}
	}
}

// decode turns half-block text into an image, 4 pixels a module, and decodes it.
func decode(text string) (string, error) {
	var rows [][]rune
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		rows = append(rows, []rune(strings.TrimPrefix(l, "  ")))
	}
	const scale = 4
	width := 0
	for _, r := range rows {
		width = max(width, len(r))
	}
	img := image.NewGray(image.Rect(0, 0, (width+8)*scale, (2*len(rows)+8)*scale))
	for y, r := range rows {
		for x, c := range r {
			top := c == '█' || c == '▀'
			bottom := c == '█' || c == '▄'
			for dy := range 2 * scale {
				light := top
				if dy >= scale {
					light = bottom
				}
				if !light {
					continue
				}
				for dx := range scale {
					img.SetGray((x+4)*scale+dx, (2*y+4)*scale+dy, color.Gray{Y: 255})
				}
			}
		}
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", err
	}
	res, err := gozxingqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		return "", err
	}
	return res.GetText(), nil
}
