// Package chart provides the Helm chart "edge" (the files beside this one: Chart.yaml,
// values.yaml, values.schema.json, templates/) to Go tests and tools, embedded at build
// time. Helm itself reads the directory; .helmignore keeps the Go files and testdata out
// of the packaged chart.
package chart

import (
	"embed"
	"io/fs"
)

// files holds the chart without its dependency (charts/, fetched by `helm dependency
// update`; see internal/chartdeps). "all:" keeps templates/_helpers.tpl, which embed skips
// by default.
//
//go:embed Chart.yaml Chart.lock values.yaml values.schema.json .helmignore README.md all:templates
var files embed.FS

// Files returns the chart's files, with Chart.yaml at the root, as Helm's loader wants them.
func Files() fs.FS {
	return files
}
