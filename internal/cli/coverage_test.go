package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/parry-soc/parry/attack"
)

// TestCoveragePrintsTheGapTableForTheExample runs trigger coverage on the repository's example mapping and
// the library, and checks the gaps both ways, the blind spots and their order, and the Navigator layer.
func TestCoveragePrintsTheGapTableForTheExample(t *testing.T) {
	dir := t.TempDir()
	layerPath := filepath.Join(dir, "layer.json")
	env, stdout, stderr := testEnv(dir, nil)
	err := Trigger(context.Background(), env, []string{"coverage", "--detections", filepath.Join("..", "..", "detections"), "--navigator", layerPath})
	if err != nil {
		t.Fatalf("trigger coverage: %v\n%s", err, stderr)
	}
	out := stdout.String()
	row := func(id, status string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^\s+[0-9.]+\s+` + regexp.QuoteMeta(id) + `\s+.*\s` + regexp.QuoteMeta(status) + `\s`)
	}
	for _, tt := range []struct{ id, status string }{
		{"T1566.001", "covered"},                // detected and answered
		{"T1003.001", "detected, no playbook"},  // the example maps it, no playbook
		{"T1486", "detected, no playbook"},      //
		{"T1547.001", "playbook, no detection"}, // a library playbook the example does not map
		{"T1550.002", "playbook, no detection"}, //
		{"T1567.002", "blind spot"},             // mapped with no rule
		{"T1204.002", "blind spot"},             // the most prevalent technique nothing covers
	} {
		if !row(tt.id, tt.status).MatchString(out) {
			t.Errorf("no %s row for %s in:\n%s", tt.status, tt.id, out)
		}
	}
	for _, want := range []string{
		"13 technique(s) mapped in ../../detections",
		"Credential Access (TA0006): 2 detected, 0 with a playbook",
		"Gaps, riskiest first:",
	} {
		if !strings.Contains(out, filepath.FromSlash(want)) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// The gap list is ordered by risk, highest first.
	gaps := out[strings.Index(out, "Gaps, riskiest first:"):]
	var risks []float64
	for _, m := range regexp.MustCompile(`(?m)^\s+([0-9]+\.[0-9])\s+T`).FindAllStringSubmatch(gaps, -1) {
		var r float64
		if err := json.Unmarshal([]byte(m[1]), &r); err != nil {
			t.Fatal(err)
		}
		risks = append(risks, r)
	}
	if len(risks) < 10 {
		t.Fatalf("%d gaps listed", len(risks))
	}
	for i := 1; i < len(risks); i++ {
		if risks[i] > risks[i-1] {
			t.Errorf("gap %d has risk %v after %v: not riskiest first", i, risks[i], risks[i-1])
		}
	}

	b, err := os.ReadFile(layerPath)
	if err != nil {
		t.Fatal(err)
	}
	var layer attack.Layer
	if err := json.Unmarshal(b, &layer); err != nil {
		t.Fatal(err)
	}
	if layer.Versions.Layer != "4.5" || layer.Domain != "enterprise-attack" || len(layer.LegendItems) != 4 {
		t.Errorf("layer versions %+v domain %s legend %d", layer.Versions, layer.Domain, len(layer.LegendItems))
	}
	found := false
	for _, lt := range layer.Techniques {
		if lt.TechniqueID == "T1566.001" {
			found = true
			if lt.Color != attack.StatusColor(attack.StatusCovered) || !strings.Contains(lt.Comment, "spearphishing-attachment") {
				t.Errorf("T1566.001 in the layer: %+v", lt)
			}
		}
	}
	if !found {
		t.Error("T1566.001 is not in the layer")
	}
}

func TestCoverageFallsBackToTheEmbeddedExample(t *testing.T) {
	// Tests run in internal/cli, where there is no detections/ directory.
	env, stdout, stderr := testEnv(t.TempDir(), nil)
	if err := Trigger(context.Background(), env, []string{"coverage", "--json", "--blind-spots", "0"}); err != nil {
		t.Fatalf("trigger coverage: %v\n%s", err, stderr)
	}
	var rep struct {
		Detections string `json:"detections"`
		attack.CoverageReport
	}
	if err := json.Unmarshal([]byte(stdout.String()), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if !strings.Contains(rep.Detections, "embedded example") {
		t.Errorf("detections from %q, want the embedded example", rep.Detections)
	}
	for _, tc := range rep.Techniques {
		if tc.Status == attack.StatusUncovered && tc.ID != "T1567.002" {
			t.Errorf("%s is a blind spot with --blind-spots 0", tc.ID)
		}
	}
	if len(rep.Tactics) != len(attack.Default().Tactics()) {
		t.Errorf("%d tactics, want every tactic", len(rep.Tactics))
	}
}

func TestCoverageReportsBadMappings(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("technique: T1002\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env, _, stderr := testEnv(dir, nil)
	err := Trigger(context.Background(), env, []string{"coverage", "--detections", bad})
	if ExitCode(err) != 1 || !strings.Contains(stderr.String(), bad+":1:12: technique T1002 \"Data Compressed\" is revoked") {
		t.Errorf("exit %d, stderr %q", ExitCode(err), stderr)
	}
}
