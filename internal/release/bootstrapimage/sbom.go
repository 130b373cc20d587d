package bootstrapimage

import (
	"bytes"
	"crypto/sha1" //nolint:gosec // SPDX 2.3 requires a SHA1 checksum of every file.
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tracebloc/edge/internal/ociimage"
)

// SBOMMediaType is the media type (and OCI artifactType) of an SPDX JSON document.
const SBOMMediaType = "application/spdx+json"

// SBOMInput is what one platform's SBOM describes.
type SBOMInput struct {
	Release    Release
	Platform   Platform
	Image      v1.Hash // the image manifest's digest
	Binary     []byte  // the bootstrap as built
	Binaryname string  // its path in the image
	CA         ociimage.File
}

// The SPDX 2.3 JSON document, as far as the SBOM uses it (spdx-spec v2.3, clauses 6-11).
type (
	spdxDocument struct {
		SPDXVersion       string             `json:"spdxVersion"`
		DataLicense       string             `json:"dataLicense"`
		SPDXID            string             `json:"SPDXID"`
		Name              string             `json:"name"`
		DocumentNamespace string             `json:"documentNamespace"`
		CreationInfo      spdxCreationInfo   `json:"creationInfo"`
		Packages          []spdxPackage      `json:"packages"`
		Files             []spdxFile         `json:"files"`
		Relationships     []spdxRelationship `json:"relationships"`
	}
	spdxCreationInfo struct {
		Created  string   `json:"created"`
		Creators []string `json:"creators"`
	}
	spdxPackage struct {
		SPDXID           string            `json:"SPDXID"`
		Name             string            `json:"name"`
		VersionInfo      string            `json:"versionInfo,omitempty"`
		Supplier         string            `json:"supplier,omitempty"`
		DownloadLocation string            `json:"downloadLocation"`
		FilesAnalyzed    bool              `json:"filesAnalyzed"`
		Checksums        []spdxChecksum    `json:"checksums,omitempty"`
		LicenseConcluded string            `json:"licenseConcluded,omitempty"`
		LicenseDeclared  string            `json:"licenseDeclared,omitempty"`
		PrimaryPurpose   string            `json:"primaryPackagePurpose,omitempty"`
		ExternalRefs     []spdxExternalRef `json:"externalRefs,omitempty"`
	}
	spdxFile struct {
		SPDXID           string         `json:"SPDXID"`
		FileName         string         `json:"fileName"`
		Checksums        []spdxChecksum `json:"checksums"`
		LicenseConcluded string         `json:"licenseConcluded"`
		CopyrightText    string         `json:"copyrightText"`
	}
	spdxChecksum struct {
		Algorithm string `json:"algorithm"`
		Value     string `json:"checksumValue"`
	}
	spdxExternalRef struct {
		Category string `json:"referenceCategory"`
		Type     string `json:"referenceType"`
		Locator  string `json:"referenceLocator"`
	}
	spdxRelationship struct {
		Element string `json:"spdxElementId"`
		Type    string `json:"relationshipType"`
		Related string `json:"relatedSpdxElement"`
	}
)

// SBOM is the SPDX 2.3 JSON document of one platform's image: the image, the bootstrap's
// main module and every module linked into it (read from the binary's build information,
// with the go.sum hash as the checksum), the Go toolchain, and the files of the image
// that come from outside the repository (the CA bundle) or are the program (the
// bootstrap). Its namespace is derived from the image digest and its creation time is
// the release's, so the same image gives the same document.
func SBOM(in SBOMInput) ([]byte, error) {
	info, err := buildinfo.Read(bytes.NewReader(in.Binary))
	if err != nil {
		return nil, fmt.Errorf("read the build information of %s (build it with the go command, not stripped of it): %w", in.Binaryname, err)
	}
	r := in.Release
	doc := spdxDocument{
		SPDXVersion:       "SPDX-2.3",
		DataLicense:       "CC0-1.0",
		SPDXID:            "SPDXRef-DOCUMENT",
		Name:              fmt.Sprintf("%s %s %s", Repository, r.Version, in.Platform),
		DocumentNamespace: Source + "/spdx/" + Repository + "/sha256-" + in.Image.Hex,
		CreationInfo: spdxCreationInfo{
			Created:  r.Created.UTC().Format(time.RFC3339),
			Creators: []string{"Organization: tracebloc", "Tool: tracebloc-edge-release-" + r.Version},
		},
	}
	image := imagePackage(in)
	main := goPackage("SPDXRef-Module-main", info.Main, r.Version)
	main.Supplier, main.DownloadLocation, main.PrimaryPurpose = "Organization: tracebloc", Source, "APPLICATION"
	main.LicenseDeclared = r.Licenses
	toolchain := toolchainPackage(info.GoVersion)
	doc.Packages = []spdxPackage{image, main, toolchain}
	doc.Relationships = []spdxRelationship{
		{"SPDXRef-DOCUMENT", "DESCRIBES", image.SPDXID},
		{image.SPDXID, "CONTAINS", main.SPDXID},
		{main.SPDXID, "DEPENDS_ON", toolchain.SPDXID},
	}
	for i, dep := range info.Deps {
		p := goPackage(fmt.Sprintf("SPDXRef-Module-%d-%s", i, spdxIDPart(dep.Path)), *dep, "")
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, spdxRelationship{main.SPDXID, "DEPENDS_ON", p.SPDXID})
	}
	for _, f := range []struct {
		id, name string
		data     []byte
	}{
		{"SPDXRef-File-bootstrap", in.Binaryname, in.Binary},
		{"SPDXRef-File-ca-certificates", in.CA.Path, in.CA.Data},
	} {
		doc.Files = append(doc.Files, spdxFileOf(f.id, f.name, f.data))
		doc.Relationships = append(doc.Relationships, spdxRelationship{image.SPDXID, "CONTAINS", f.id})
	}
	doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-File-bootstrap", "GENERATED_FROM", main.SPDXID})
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode the SBOM: %w", err)
	}
	return append(out, '\n'), nil
}

// imagePackage is the platform's image as an SPDX package: its manifest digest and purl.
func imagePackage(in SBOMInput) spdxPackage {
	r := in.Release
	return spdxPackage{
		SPDXID: "SPDXRef-Image", Name: "edge-bootstrap", VersionInfo: r.Version,
		Supplier: "Organization: tracebloc", DownloadLocation: Source, PrimaryPurpose: "CONTAINER",
		Checksums:        []spdxChecksum{{Algorithm: "SHA256", Value: in.Image.Hex}},
		LicenseConcluded: "NOASSERTION", LicenseDeclared: r.Licenses,
		ExternalRefs: []spdxExternalRef{purl(fmt.Sprintf("pkg:oci/edge-bootstrap@%s?arch=%s&os=%s",
			url.QueryEscape(in.Image.String()), in.Platform.Arch, in.Platform.OS))},
	}
}

// toolchainPackage is the Go standard library the binary was built with.
func toolchainPackage(goVersion string) spdxPackage {
	return spdxPackage{
		SPDXID: "SPDXRef-Toolchain-go", Name: "stdlib", VersionInfo: goVersion,
		DownloadLocation: "https://go.dev/dl/", LicenseDeclared: "BSD-3-Clause",
		ExternalRefs: []spdxExternalRef{purl("pkg:golang/stdlib@" + goVersion)},
	}
}

// goPackage is a Go module as an SPDX package: its purl, and the go.sum hash ("h1:" and
// the base64 of a SHA-256 over the module's files) as a SHA256 checksum. A replaced
// module is described by its replacement, which is what was linked.
func goPackage(id string, m debug.Module, version string) spdxPackage {
	if m.Replace != nil {
		m = *m.Replace
	}
	if version == "" {
		version = m.Version
	}
	p := spdxPackage{
		SPDXID: id, Name: m.Path, VersionInfo: version,
		DownloadLocation: "NOASSERTION", LicenseConcluded: "NOASSERTION", LicenseDeclared: "NOASSERTION",
		PrimaryPurpose: "LIBRARY",
		ExternalRefs:   []spdxExternalRef{purl("pkg:golang/" + m.Path + "@" + version)},
	}
	if m.Version != "" && m.Version != "(devel)" {
		p.DownloadLocation = "https://proxy.golang.org/" + strings.ToLower(m.Path) + "/@v/" + m.Version + ".zip"
	}
	if h, ok := strings.CutPrefix(m.Sum, "h1:"); ok {
		if raw, err := base64.StdEncoding.DecodeString(h); err == nil && len(raw) == sha256.Size {
			p.Checksums = []spdxChecksum{{Algorithm: "SHA256", Value: hex.EncodeToString(raw)}}
		}
	}
	return p
}

func purl(locator string) spdxExternalRef {
	return spdxExternalRef{Category: "PACKAGE-MANAGER", Type: "purl", Locator: locator}
}

func spdxFileOf(id, name string, data []byte) spdxFile {
	s1 := sha1.Sum(data) //nolint:gosec // required by SPDX, not for security
	s256 := sha256.Sum256(data)
	return spdxFile{
		SPDXID: id, FileName: "." + name,
		Checksums: []spdxChecksum{
			{Algorithm: "SHA1", Value: hex.EncodeToString(s1[:])},
			{Algorithm: "SHA256", Value: hex.EncodeToString(s256[:])},
		},
		LicenseConcluded: "NOASSERTION", CopyrightText: "NOASSERTION",
	}
}

var notIDChar = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// spdxIDPart turns a module path into the characters an SPDX identifier allows.
func spdxIDPart(s string) string { return notIDChar.ReplaceAllString(s, "-") }
