package playbooks

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the .golden files of testdata/invalid from the current output")

// TestInvalidPlaybooksGolden loads each testdata/invalid/<name>.yaml and compares the whole error output
// with <name>.golden (caddy's adapt tests do the same). Run `go test ./playbooks -run Golden -update` after
// changing a message, and read the diff.
func TestInvalidPlaybooksGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/invalid/*.yaml")
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.ToSlash(file)
			p, err := Load(file, data)
			if err == nil {
				t.Fatalf("loaded %s (%s) without errors, want errors", file, p.ID)
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("got %T, want an ErrorList", err)
			}
			for _, e := range list {
				if e.File != file || e.Line < 1 {
					t.Errorf("error without a position: %v", e)
				}
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}
