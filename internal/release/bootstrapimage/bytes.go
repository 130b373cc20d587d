package bootstrapimage

import (
	"bytes"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// maxBlob bounds what is read of a registry's blob: an SBOM or a signature payload.
const maxBlob = 16 << 20

// readLayer reads a small blob (at most maxBlob bytes) of an artifact.
func readLayer(l v1.Layer) ([]byte, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxBlob+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxBlob {
		return nil, errTooLarge
	}
	return data, nil
}
