package bootstrapimage

import (
	"fmt"
	"io"
)

// Size is one platform's image size: what a pull downloads (the gzip layer) and what it
// unpacks to (the layer tar).
type Size struct {
	Platform                 Platform
	Compressed, Uncompressed int64
}

// Sizes measures each platform's image of the index.
func Sizes(b *Built) ([]Size, error) {
	var out []Size
	for _, pi := range b.Images {
		layers, err := pi.Image.Layers()
		if err != nil {
			return nil, fmt.Errorf("layers of the %s image: %w", pi.Platform, err)
		}
		s := Size{Platform: pi.Platform}
		for _, l := range layers {
			c, err := l.Size()
			if err != nil {
				return nil, fmt.Errorf("size of the %s layer: %w", pi.Platform, err)
			}
			rc, err := l.Uncompressed()
			if err != nil {
				return nil, fmt.Errorf("read the %s layer: %w", pi.Platform, err)
			}
			u, err := io.Copy(io.Discard, rc)
			rc.Close()
			if err != nil {
				return nil, fmt.Errorf("read the %s layer: %w", pi.Platform, err)
			}
			s.Compressed += c
			s.Uncompressed += u
		}
		out = append(out, s)
	}
	return out, nil
}
