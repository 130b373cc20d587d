package archives_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/release/archives"
	"github.com/tracebloc/edge/internal/release/releasetest"
)

var mtime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func files() []archives.File {
	return []archives.File{
		{Name: "tracebloc-postrender", Mode: 0o755, Data: []byte("\x7fELF binary")},
		{Name: "README.md", Mode: 0o644, Data: []byte("# read me\n")},
		{Name: "LICENSE", Mode: 0o644, Data: []byte("license text\n")},
	}
}

// entry is what the tests read back of an archive entry.
type entry struct {
	Name     string
	Mode     os.FileMode
	Uid, Gid int
	ModTime  time.Time
	Data     string
}

func readArchive(t *testing.T, name string, data []byte) []entry {
	t.Helper()
	var out []entry
	if strings.HasSuffix(name, ".zip") {
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			out = append(out, entry{Name: f.Name, Mode: f.Mode().Perm(), ModTime: f.Modified.UTC(), Data: string(b)})
		}
		return out
	}
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if !gz.ModTime.IsZero() {
		t.Errorf("gzip header time = %v, want none", gz.ModTime)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out = append(out, entry{Name: h.Name, Mode: os.FileMode(h.Mode).Perm(), Uid: h.Uid, Gid: h.Gid, ModTime: h.ModTime.UTC(), Data: string(b)})
	}
	return out
}

func TestWriteArchiveReproducible(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    archives.Platform
	}{
		{"tar.gz", archives.Platform{OS: "linux", Arch: "amd64"}},
		{"zip", archives.Platform{OS: "windows", Arch: "arm64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := archives.ArchiveName("v1.2.3", tc.p)
			write := func(fs []archives.File, at time.Time) []byte {
				var buf bytes.Buffer
				if err := archives.WriteArchive(&buf, name, fs, at); err != nil {
					t.Fatal(err)
				}
				return buf.Bytes()
			}
			first := write(files(), mtime)
			reversed := files()
			reversed[0], reversed[2] = reversed[2], reversed[0]
			// A later clock reading within the same second, in another zone: same bytes.
			again := write(reversed, mtime.Add(300*time.Millisecond).In(time.FixedZone("x", 3600)))
			if !bytes.Equal(first, again) {
				t.Errorf("WriteArchive(%s) twice from the same inputs gave different bytes", name)
			}
			if later := write(files(), mtime.Add(time.Hour)); bytes.Equal(first, later) {
				t.Errorf("WriteArchive(%s) ignores the modification time", name)
			}
			want := []entry{
				{Name: "LICENSE", Mode: 0o644, ModTime: mtime, Data: "license text\n"},
				{Name: "README.md", Mode: 0o644, ModTime: mtime, Data: "# read me\n"},
				{Name: "tracebloc-postrender", Mode: 0o755, ModTime: mtime, Data: "\x7fELF binary"},
			}
			if diff := cmp.Diff(want, readArchive(t, name, first)); diff != "" {
				t.Errorf("WriteArchive(%s) entries (-want +got):\n%s", name, diff)
			}
		})
	}
}

func TestWriteArchiveDuplicate(t *testing.T) {
	fs := append(files(), archives.File{Name: "README.md", Mode: 0o644})
	err := archives.WriteArchive(io.Discard, "x.tar.gz", fs, mtime)
	if err == nil || !strings.Contains(err.Error(), "two entries named README.md") {
		t.Errorf("WriteArchive(two README.md) = %v, want the duplicate named", err)
	}
}

func TestArchiveName(t *testing.T) {
	for _, tc := range []struct {
		name, version string
		p             archives.Platform
		want          string
	}{
		{"linux tag", "v0.4.0", archives.Platform{OS: "linux", Arch: "amd64"}, "tracebloc-postrender_0.4.0_linux_amd64.tar.gz"},
		{"darwin bare", "1.0.0-rc.1", archives.Platform{OS: "darwin", Arch: "arm64"}, "tracebloc-postrender_1.0.0-rc.1_darwin_arm64.tar.gz"},
		{"windows zip", "v0.4.0", archives.Platform{OS: "windows", Arch: "amd64"}, "tracebloc-postrender_0.4.0_windows_amd64.zip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := archives.ArchiveName(tc.version, tc.p); got != tc.want {
				t.Errorf("ArchiveName(%q, %v) = %q, want %q", tc.version, tc.p, got, tc.want)
			}
		})
	}
}

// TestChecksumsSha256sum checks SHA256SUMS with the real sha256sum -c, and that it
// catches a changed archive.
func TestChecksumsSha256sum(t *testing.T) {
	sha256sum, err := exec.LookPath("sha256sum")
	if err != nil {
		t.Skip("no sha256sum (coreutils) on PATH")
	}
	dir := t.TempDir()
	names := []string{"b_linux.tar.gz", "a_windows.zip"}
	for i, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(strings.Repeat("x", i+1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := archives.WriteChecksums(&buf, dir, names); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	line := regexp.MustCompile(`^[0-9a-f]{64}  \S+$`)
	if len(lines) != 2 || !line.MatchString(lines[0]) || !strings.HasSuffix(lines[0], "  a_windows.zip") || !strings.HasSuffix(lines[1], "  b_linux.tar.gz") {
		t.Errorf("WriteChecksums = %q, want two sorted lines of digest, two spaces, name", buf.String())
	}
	if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	check := func() ([]byte, error) {
		cmd := exec.Command(sha256sum, "--strict", "-c", "SHA256SUMS")
		cmd.Dir = dir
		return cmd.CombinedOutput()
	}
	if out, err := check(); err != nil {
		t.Fatalf("sha256sum -c SHA256SUMS: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, names[0]), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := check(); err == nil {
		t.Errorf("sha256sum -c accepted a changed archive:\n%s", out)
	}
}

// TestLDFlagsMatchMakefile keeps the release's link flags those of `make build`.
func TestLDFlagsMatchMakefile(t *testing.T) {
	root, err := clustertest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^LDFLAGS\s*:=\s*(.+)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("no LDFLAGS := line in the Makefile")
	}
	want := strings.ReplaceAll(strings.TrimSpace(string(m[1])), "$(VERSION)", "v9.8.7")
	if got := archives.LDFlags("v9.8.7"); got != want {
		t.Errorf("LDFlags(v9.8.7) = %q, want the Makefile's %q", got, want)
	}
}

// TestBuild cross-compiles every platform and reads each binary's format and machine;
// the host's binary prints the stamped version.
func TestBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles six binaries (minutes on a cold build cache)")
	}
	src := releasetest.Source(t)
	out := t.TempDir()
	bins, err := archives.Build(context.Background(), archives.BuildOptions{Root: src, Version: "v0.4.0-test", OutDir: out, Stderr: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range archives.Platforms {
		bin := bins[p]
		if filepath.Base(bin) != p.Binary() {
			t.Errorf("Build: %s binary %s, want %s", p, bin, p.Binary())
		}
		if got := machineOf(t, bin); got != p.String() {
			t.Errorf("Build: %s is a %s binary, want %s", bin, got, p)
		}
	}
	host := archives.Platform{OS: runtime.GOOS, Arch: runtime.GOARCH}
	out2, err := exec.Command(bins[host], "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out2), "v0.4.0-test") {
		t.Errorf("%s --version = %q, %v; want the stamped v0.4.0-test", bins[host], out2, err)
	}
}

// machineOf reads a binary's os/arch from its headers.
func machineOf(t *testing.T, path string) string {
	t.Helper()
	if f, err := elf.Open(path); err == nil {
		defer f.Close()
		if f.Section(".interp") != nil {
			return "linux/dynamic"
		}
		switch f.Machine {
		case elf.EM_X86_64:
			return "linux/amd64"
		case elf.EM_AARCH64:
			return "linux/arm64"
		}
		return "linux/" + f.Machine.String()
	}
	if f, err := macho.Open(path); err == nil {
		defer f.Close()
		switch f.Cpu {
		case macho.CpuAmd64:
			return "darwin/amd64"
		case macho.CpuArm64:
			return "darwin/arm64"
		}
		return "darwin/" + f.Cpu.String()
	}
	if f, err := pe.Open(path); err == nil {
		defer f.Close()
		switch f.Machine {
		case pe.IMAGE_FILE_MACHINE_AMD64:
			return "windows/amd64"
		case pe.IMAGE_FILE_MACHINE_ARM64:
			return "windows/arm64"
		}
		return "windows/other"
	}
	return "unknown"
}
