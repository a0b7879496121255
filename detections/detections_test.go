package detections

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parry-soc/parry/attack"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestInvalidMappingsGolden loads each file in testdata/invalid and compares every error it reports with
// testdata/invalid/<file>.golden.
func TestInvalidMappingsGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid samples: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := Load(f)
			if err == nil {
				t.Fatal("Load succeeded, want errors")
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error %T is not an ErrorList", err)
			}
			got := filepath.ToSlash(err.Error()) + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./detections -update writes it)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s (go test ./detections -update rewrites it)\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

func TestLoadDirectoryReadsEveryFileSortedByTechnique(t *testing.T) {
	ms, err := Load(filepath.Join("testdata", "valid"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.Technique)
	}
	if want := []string{"T1003.001", "T1486", "T1490", "T1567.002"}; !reflect.DeepEqual(got, want) {
		t.Errorf("techniques = %v, want %v", got, want)
	}
	lsass := ms[0]
	want := Mapping{
		Technique:    "T1003.001",
		Name:         "LSASS Memory",
		DataSources:  []string{"Process: Process Access"},
		Detections:   []Rule{{Name: "Suspicious access to LSASS service", Source: "defender", Platform: "Windows", Confidence: "high", Coverage: "full"}},
		Owner:        "detection-engineering",
		LastReviewed: "2026-10-01",
		Source:       filepath.Join("testdata", "valid", "one.yaml") + ":2:1",
	}
	if !reflect.DeepEqual(lsass, want) {
		t.Errorf("mapping:\ngot  %+v\nwant %+v", lsass, want)
	}
	if got := ms[3]; len(got.Detections) != 0 || !reflect.DeepEqual(got.Gaps, []string{"No CASB"}) {
		t.Errorf("a mapping without detections: %+v", got)
	}
}

func TestLoadRefusesATechniqueMappedInTwoFiles(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"a.yaml": "technique: T1486\n",
		"b.yaml": "- technique: T1490\n- technique: T1486\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Load(dir)
	want := filepath.Join(dir, "b.yaml") + ":2:3: technique T1486 is already mapped at " + filepath.Join(dir, "a.yaml") + ":1:1"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want %q", err, want)
	}
}

func TestLoadReportsMissingPaths(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(filepath.Join(dir, "nope"), dir)
	if err == nil || !strings.Contains(err.Error(), "nope") || !strings.Contains(err.Error(), "no *.yaml or *.yml detection mappings") {
		t.Errorf("error %v", err)
	}
}

// TestExampleShowsBothGapDirections keeps the shipped example useful: it parses, it maps techniques that
// library playbooks answer and techniques no playbook answers, it leaves some library techniques unmapped,
// and it covers every tactic the library's technique playbooks sit in.
func TestExampleShowsBothGapDirections(t *testing.T) {
	ms, err := Example()
	if err != nil {
		t.Fatal(err)
	}
	mapped := map[string]bool{}
	for _, m := range ms {
		mapped[m.Technique] = true
		for _, r := range m.Detections {
			if r.Source == "" || r.Platform == "" {
				t.Errorf("%s: detection %q names no source or platform", m.Technique, r.Name)
			}
		}
	}
	for _, id := range []string{"T1566.001", "T1059.001", "T1003.001", "T1486"} {
		if !mapped[id] {
			t.Errorf("the example does not map %s", id)
		}
	}
	for _, id := range []string{"T1547.001", "T1550.002"} {
		if mapped[id] {
			t.Errorf("the example maps %s, which should stay a playbook without a detection", id)
		}
	}
	// The file in the repository is the embedded one.
	fromDisk, err := Load(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(fromDisk) != len(ms) {
		t.Errorf("Load(.) read %d mappings, the embedded example %d", len(fromDisk), len(ms))
	}
}

func TestDetectionsForCoverage(t *testing.T) {
	ms, err := Parse("x.yaml", []byte(`
- technique: T1059.001
  detections:
    - {name: Encoded command, source: sigma, platform: Windows, confidence: medium, coverage: partial}
    - {name: AMSI, confidence: high, coverage: full}
- technique: T1567.002
`))
	if err != nil {
		t.Fatal(err)
	}
	got := Detections(ms)
	want := []attack.Detection{
		{Technique: "T1059.001", Rule: "Encoded command", Source: "sigma", Platform: "Windows", Confidence: "medium", Coverage: "partial"},
		{Technique: "T1059.001", Rule: "AMSI", Confidence: "high", Coverage: "full"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Detections:\ngot  %+v\nwant %+v", got, want)
	}
	if got, want := Techniques(ms), []string{"T1059.001", "T1567.002"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Techniques = %v, want %v (a mapping without rules included)", got, want)
	}
}
