// Package contract provides the backend's recorded answers: files of the form
// {"status": <http status>, "body": <json>} (and, in the project's own recordings, the
// headers that matter). The pinned contract's own fixtures are not part of the
// repository: tests read them at SharedDir when they are there and skip when not.
package contract

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// SharedDir is the contract fixtures beside the repository, as seen from a package folder
// under internal/ (where `go test` runs the tests of that package). The files are read in
// place, never copied.
const SharedDir = "../../../shared/contract"

// Fixture is one recorded answer.
type Fixture struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body"`
}

// Read reads the fixture at path; a missing file is an error matching os.ErrNotExist.
func Read(path string) (Fixture, error) {
	var f Fixture
	data, err := os.ReadFile(path)
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("fixture %s: %w", path, err)
	}
	return f, nil
}

// Names lists the fixture files (*.json) of dir by base name, sorted; a missing dir is an
// error matching os.ErrNotExist.
func Names(dir string) ([]string, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(paths))
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	sort.Strings(names)
	return names, nil
}
