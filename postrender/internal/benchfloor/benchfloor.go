// Package benchfloor provides the parse floor of the post-renderer's benchmarks: every
// document of a stream parsed with yaml.v3 and the stream written back as it came, the
// least a post-renderer that reads the documents with yaml.v3 and splices its edits into
// the text can cost. benchstream parse runs it in a binary that links nothing else;
// benchfloor/linked in one that links the post-renderer's packages, so that its start
// costs what the post-renderer's start costs.
package benchfloor

import (
	"bytes"
	"errors"
	"io"

	"go.yaml.in/yaml/v3"
)

// Parse parses every document of in and writes in to out unchanged.
func Parse(in io.Reader, out io.Writer) error {
	stream, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(stream))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	_, err = out.Write(stream)
	return err
}
