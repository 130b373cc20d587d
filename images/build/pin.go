package main

import (
	"fmt"
	"os"

	"github.com/tracebloc/edge/images"
)

// pinDigest writes name at version and digest into the image list at file, with
// images.SetDigest (the release's edit): the entry's lines change, the rest stays.
func pinDigest(file, name, version, digest string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read image list %s: %w", file, err)
	}
	out, err := images.SetDigest(data, name, version, digest)
	if err != nil {
		return fmt.Errorf("pin %s in %s: %w", name, file, err)
	}
	if err := os.WriteFile(file, out, 0o644); err != nil {
		return fmt.Errorf("write image list %s: %w", file, err)
	}
	return nil
}
