// Package images provides images.yaml, the digest pins of the images the chart runs,
// embedded at build time so that the post-renderer pins them without a file beside it.
// The format is read by github.com/tracebloc/edge/postrender/pins.
package images

import (
	"bytes"
	_ "embed"
)

//go:embed images.yaml
var pinList []byte

// PinList returns images.yaml as it was when the binary was built.
func PinList() []byte {
	return bytes.Clone(pinList)
}
