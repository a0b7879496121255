package playbooks

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds Load arbitrary bytes, seeded with the library and every test playbook. Load must never
// panic, must report every problem with a position in the file, and what it accepts must be a playbook
// the workflow can take as input (JSON round trip) and that validates again.
func FuzzLoad(f *testing.F) {
	lib := LibraryFiles()
	names, _ := fs.Glob(lib, "*.yaml")
	for _, name := range names {
		if data, err := fs.ReadFile(lib, name); err == nil {
			f.Add(data)
		}
	}
	for _, pattern := range []string{"testdata/valid/*.yaml", "testdata/invalid/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Load("fuzz.yaml", data)
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("got %T %v, want a non-empty ErrorList", err, err)
			}
			for _, e := range list {
				if e.File != "fuzz.yaml" || e.Msg == "" {
					t.Fatalf("malformed error %#v", e)
				}
			}
			return
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("marshal accepted playbook: %v", err)
		}
		var back Playbook
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal accepted playbook: %v", err)
		}
		if err := Validate(&back); err != nil {
			t.Fatalf("accepted playbook does not validate after a JSON round trip: %v", err)
		}
	})
}
