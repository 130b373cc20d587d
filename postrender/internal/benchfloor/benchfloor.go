// Package benchfloor provides the floors of the post-renderer's benchmarks, what a
// post-renderer costs that does no edits:
//   - Parse: every document of a stream parsed with yaml.v3 and the stream written back as
//     it came, the least a post-renderer that reads the documents with yaml.v3 and splices
//     its edits into the text can cost;
//   - RoundTrip: every document decoded and encoded again with yaml.v3, the least any
//     post-renderer that writes its documents from the parsed tree can cost.
//
// benchstream parse and benchstream floor run them in a binary that links nothing else;
// benchfloor/linked runs Parse in one that links the post-renderer's packages, so that
// its start costs what the post-renderer's start costs.
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
	if err := documents(bytes.NewReader(stream), func(*yaml.Node) error { return nil }); err != nil {
		return err
	}
	_, err = out.Write(stream)
	return err
}

// RoundTrip decodes every document of in and writes it encoded again to out, each after a
// `---` line, once the whole stream is read.
func RoundTrip(in io.Reader, out io.Writer) error {
	var b bytes.Buffer
	err := documents(in, func(doc *yaml.Node) error {
		b.WriteString("---\n")
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(doc); err != nil {
			return err
		}
		return enc.Close()
	})
	if err != nil {
		return err
	}
	_, err = out.Write(b.Bytes())
	return err
}

// documents decodes the documents of in one at a time and hands each to each.
func documents(in io.Reader, each func(*yaml.Node) error) error {
	dec := yaml.NewDecoder(in)
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := each(&doc); err != nil {
			return err
		}
	}
}
