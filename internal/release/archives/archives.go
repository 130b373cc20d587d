// Package archives provides the post-renderer's release archives: the binaries
// cross-compiled for each platform, one tar.gz (zip for windows) per platform named
// tracebloc-postrender_<version>_<os>_<arch>, and the SHA256SUMS file over them in the
// format of sha256sum. The archives are reproducible: fixed modification times, owner 0,
// sorted entries and no compressor timestamp, so the same inputs give the same bytes.
//
// goreleaser is the usual tool for this, and it is not used here: its module builds
// hundreds of packages (cloud SDKs, package formats, announcers) that a cold CI run
// would compile from source for a job of a few hundred lines, and the tests must make
// the archives offline with the code that makes the release. Only archive/tar,
// archive/zip, compress/gzip and the go command are needed. The names follow
// goreleaser's defaults (the version without its leading "v"), so a later
// .goreleaser.yaml can produce the same files.
package archives

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// BinaryName is the post-renderer's command name; Windows adds ".exe".
const BinaryName = "tracebloc-postrender"

// Platform is one GOOS/GOARCH pair a release carries.
type Platform struct {
	OS, Arch string
}

// Platforms are the release's platforms, in the order the archives are listed.
var Platforms = []Platform{
	{"linux", "amd64"}, {"linux", "arm64"},
	{"darwin", "amd64"}, {"darwin", "arm64"},
	{"windows", "amd64"}, {"windows", "arm64"},
}

// String is the os/arch form of the go command and of Helm's platform selectors.
func (p Platform) String() string { return p.OS + "/" + p.Arch }

// Binary is the post-renderer's file name on the platform.
func (p Platform) Binary() string { return p.executable(BinaryName) }

// executable is the file name of the command name on the platform.
func (p Platform) executable(name string) string {
	if p.OS == "windows" {
		return name + ".exe"
	}
	return name
}

// ParsePlatform reads an os/arch pair such as linux/amd64.
func ParsePlatform(s string) (Platform, error) {
	goos, arch, ok := strings.Cut(s, "/")
	if !ok || goos == "" || arch == "" || strings.Contains(arch, "/") {
		return Platform{}, fmt.Errorf("platform %q: want os/arch, such as linux/amd64", s)
	}
	return Platform{goos, arch}, nil
}

// FileVersion is the version as it appears in file names: without its leading "v"
// (v0.4.0 -> 0.4.0), as goreleaser names archives.
func FileVersion(version string) string {
	return strings.TrimPrefix(version, "v")
}

// ArchiveName is the archive's file name for a version and platform.
func ArchiveName(version string, p Platform) string {
	ext := ".tar.gz"
	if p.OS == "windows" {
		ext = ".zip"
	}
	return fmt.Sprintf("%s_%s_%s_%s%s", BinaryName, FileVersion(version), p.OS, p.Arch, ext)
}

// File is one entry of an archive.
type File struct {
	Name string // path inside the archive, slash-separated
	Mode os.FileMode
	Data []byte
}

// WriteArchive writes files as a tar.gz, or as a zip when name ends in .zip, with every
// entry's modification time set to mtime, owner 0 and the entries sorted by name.
func WriteArchive(w io.Writer, name string, files []File, mtime time.Time) error {
	sorted := slices.Clone(files)
	slices.SortFunc(sorted, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Name == sorted[i-1].Name {
			return fmt.Errorf("archive %s: two entries named %s", name, sorted[i].Name)
		}
	}
	mtime = mtime.UTC().Truncate(time.Second)
	if strings.HasSuffix(name, ".zip") {
		return writeZip(w, sorted, mtime)
	}
	return writeTarGz(w, sorted, mtime)
}

func writeTarGz(w io.Writer, files []File, mtime time.Time) error {
	gz, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	for _, f := range files {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     f.Name,
			Mode:     int64(f.Mode.Perm()),
			Size:     int64(len(f.Data)),
			ModTime:  mtime,
			Format:   tar.FormatUSTAR,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("tar header %s: %w", f.Name, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return fmt.Errorf("tar entry %s: %w", f.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func writeZip(w io.Writer, files []File, mtime time.Time) error {
	zw := zip.NewWriter(w)
	for _, f := range files {
		hdr := &zip.FileHeader{Name: f.Name, Method: zip.Deflate, Modified: mtime}
		hdr.SetMode(f.Mode.Perm())
		fw, err := zw.CreateHeader(hdr)
		if err != nil {
			return fmt.Errorf("zip header %s: %w", f.Name, err)
		}
		if _, err := fw.Write(f.Data); err != nil {
			return fmt.Errorf("zip entry %s: %w", f.Name, err)
		}
	}
	return zw.Close()
}

// ArchiveFiles are the entries of a platform's archive: the binary (mode 0755), README.md
// and LICENSE when the repository has one (mode 0644), read from the repository root.
func ArchiveFiles(root string, p Platform, binary []byte) ([]File, error) {
	files := []File{{Name: p.Binary(), Mode: 0o755, Data: binary}}
	for _, doc := range []struct {
		name     string
		required bool
	}{{"README.md", true}, {"LICENSE", false}} {
		data, err := os.ReadFile(filepath.Join(root, doc.name))
		if errors.Is(err, os.ErrNotExist) && !doc.required {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s for the archive: %w (run from the repository root, or pass --repo)", doc.name, err)
		}
		files = append(files, File{Name: doc.name, Mode: 0o644, Data: data})
	}
	return files, nil
}

// WriteChecksums writes the SHA256SUMS file of the named files in dir, sorted by name,
// in the format `sha256sum -c` reads: the hex digest, two spaces, the file name.
func WriteChecksums(w io.Writer, dir string, names []string) error {
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	var buf bytes.Buffer
	for _, name := range sorted {
		sum, err := fileSHA256(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		fmt.Fprintf(&buf, "%s  %s\n", sum, name)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("checksum: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("checksum %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
