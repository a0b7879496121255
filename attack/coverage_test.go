package attack

import (
	"reflect"
	"strings"
	"testing"
)

// miniCatalog is a four-tactic matrix whose numbers can be worked out by hand: tactic weights 2, 5/3, 4/3
// and 1; prevalence T1566.001 2 (and T1566 2), T1059.001 3 (T1059 3), T1486 2, T1204 1, T1078 0.
func miniCatalog(t *testing.T) *Catalog {
	t.Helper()
	tech := []byte(`[
		{"id":"T1566","name":"Phishing","tactics":["initial-access"],"platforms":["Windows"]},
		{"id":"T1566.001","name":"Spearphishing Attachment","tactics":["initial-access"],"platforms":["Windows"],"is_subtechnique":true,"parent":"T1566"},
		{"id":"T1566.002","name":"Spearphishing Link","tactics":["initial-access"],"platforms":["Windows"],"is_subtechnique":true,"parent":"T1566"},
		{"id":"T1078","name":"Valid Accounts","tactics":["initial-access"],"platforms":["Windows"]},
		{"id":"T1059","name":"Command and Scripting Interpreter","tactics":["execution"],"platforms":["Windows"]},
		{"id":"T1059.001","name":"PowerShell","tactics":["execution"],"platforms":["Windows"],"is_subtechnique":true,"parent":"T1059"},
		{"id":"T1204","name":"User Execution","tactics":["execution"],"platforms":["Windows"]},
		{"id":"T1486","name":"Data Encrypted for Impact","tactics":["impact"],"platforms":["Windows"]},
		{"id":"T1588","name":"Obtain Capabilities","tactics":["resource-development"],"platforms":["PRE"]},
		{"id":"T1588.002","name":"Tool","tactics":["resource-development"],"platforms":["PRE"],"is_subtechnique":true,"parent":"T1588"},
		{"id":"T1002","name":"Data Compressed","tactics":["exfiltration"],"revoked":true}
	]`)
	tac := []byte(`[
		{"id":"TA0042","shortname":"resource-development","name":"Resource Development"},
		{"id":"TA0001","shortname":"initial-access","name":"Initial Access"},
		{"id":"TA0002","shortname":"execution","name":"Execution"},
		{"id":"TA0040","shortname":"impact","name":"Impact"}
	]`)
	groups := []byte(`[
		{"id":"G1","name":"One","techniques":["T1566.001","T1059.001","T1486","T1588.002"]},
		{"id":"G2","name":"Two","techniques":["T1566.001","T1059.001"]},
		{"id":"G3","name":"Three","techniques":["T1059.001","T1486"]},
		{"id":"G4","name":"Four","techniques":["T1204"]}
	]`)
	c, err := Load(tech, tac, groups)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var (
	miniDetections = []Detection{
		{Technique: "T1566.001", Rule: "Office macro child process", Source: "elastic", Confidence: ConfidenceHigh, Coverage: CoverageFull},
		{Technique: "t1059.001", Rule: "Encoded PowerShell", Source: "sigma", Confidence: ConfidenceMedium, Coverage: CoveragePartial},
		{Technique: "T1059.001", Rule: "AMSI script block", Source: "defender", Confidence: ConfidenceLow, Coverage: CoverageFull},
		{Technique: "T1486", Rule: "Mass file rename", Source: "crowdstrike", Confidence: ConfidenceHigh, Coverage: CoveragePartial},
	}
	miniResponses = []Response{
		{Playbook: "phishing", Techniques: []string{"T1566"}},
		{Playbook: "powershell", Techniques: []string{"T1059.001"}},
		{Playbook: "valid-accounts", Techniques: []string{"T1078"}},
		{Playbook: "endpoint-triage", Tactics: []string{"execution"}},
	}
)

func TestCoverageRisksAreHandComputed(t *testing.T) {
	c := miniCatalog(t)
	rep, err := c.Coverage(miniDetections, miniResponses, CoverageOptions{BlindSpots: 5})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		id, status string
		groups     int
		detection  float64
		risk       float64
		playbooks  []string
		fallbacks  []string
	}
	want := []row{
		// A playbook for the parent, nothing detects the parent itself: 3 × 5/3 × (1 − 1/2) = 2.5.
		{"T1566", StatusNoDetection, 2, 0, 2.5, []string{"phishing"}, nil},
		// A blind spot under the execution fallback: 2 × 4/3 × (1 − 1/8) = 2.33; ties T1486 and goes first
		// as the worse status.
		{"T1204", StatusUncovered, 1, 0, 2.3, nil, []string{"endpoint-triage"}},
		// High confidence, partial coverage (1/2), no playbook: 3 × 1 × (1 − 1/4) = 2.25 → 2.3.
		{"T1486", StatusNoPlaybook, 2, 0.5, 2.3, nil, nil},
		// Strongest detection 1/3 (medium × partial, low × full), a playbook: 4 × 4/3 × (1 − 2/3) = 1.78.
		{"T1059.001", StatusCovered, 3, 0.33, 1.8, []string{"powershell"}, []string{"endpoint-triage"}},
		// No group uses it: 1 × 5/3 × 1/2 = 0.83.
		{"T1078", StatusNoDetection, 0, 0, 0.8, []string{"valid-accounts"}, nil},
		// Answered through its parent's playbook, detected with high confidence and full coverage: no risk.
		{"T1566.001", StatusCovered, 2, 1, 0, []string{"phishing"}, nil},
	}
	var got []row
	for _, tc := range rep.Techniques {
		got = append(got, row{tc.ID, tc.Status, tc.Groups, tc.Detection, tc.Risk, tc.Playbooks, tc.Fallbacks})
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("techniques:\ngot  %+v\nwant %+v", got, want)
	}

	ps, _ := rep.Technique("T1059.001")
	if rules := []string{ps.Detections[0].Rule, ps.Detections[1].Rule}; rules[0] != "AMSI script block" || rules[1] != "Encoded PowerShell" {
		t.Errorf("detections of equal strength are not in rule order: %v", rules)
	}

	type tacticRow struct {
		name                                      string
		detected, withPlaybook                    int
		covered, noPlaybook, noDetection, uncover []string
	}
	wantTactics := []tacticRow{
		{"resource-development", 0, 0, nil, nil, nil, nil},
		{"initial-access", 1, 3, []string{"T1566.001"}, nil, []string{"T1566", "T1078"}, nil},
		{"execution", 1, 1, []string{"T1059.001"}, nil, nil, []string{"T1204"}},
		{"impact", 1, 0, nil, []string{"T1486"}, nil, nil},
	}
	var gotTactics []tacticRow
	for _, tc := range rep.Tactics {
		gotTactics = append(gotTactics, tacticRow{tc.Tactic.ShortName, tc.Detected, tc.WithPlaybook, tc.Covered, tc.NoPlaybook, tc.NoDetection, tc.Uncovered})
	}
	if !reflect.DeepEqual(gotTactics, wantTactics) {
		t.Errorf("tactics:\ngot  %+v\nwant %+v", gotTactics, wantTactics)
	}
}

func TestCoverageBlindSpotsSkipPREAndAnsweredSubTechniques(t *testing.T) {
	c := miniCatalog(t)
	rep, err := c.Coverage(nil, miniResponses, CoverageOptions{BlindSpots: 10, Mapped: []string{"T1588.002"}})
	if err != nil {
		t.Fatal(err)
	}
	if tc, ok := rep.Technique("T1588.002"); !ok || tc.Status != StatusUncovered || tc.Risk != 4 {
		t.Errorf("a mapped technique with no rule: %+v, %v; want uncovered with risk 2 × 2 × 1 = 4", tc, ok)
	}
	var uncovered []string
	for _, tc := range rep.Techniques {
		if tc.Status == StatusUncovered {
			uncovered = append(uncovered, tc.ID)
		}
	}
	// T1588.002 is listed because it is mapped, not as a blind spot (it is PRE only).
	// T1486: 3 × 1 × 1 = 3; T1204 under the fallback: 2 × 4/3 × 7/8 = 2.3.
	// T1566.002 is answered by the T1566 playbook; T1059 and T1566 have sub-techniques; T1002 is revoked.
	if want := []string{"T1588.002", "T1486", "T1204"}; !reflect.DeepEqual(uncovered, want) {
		t.Errorf("blind spots = %v, want %v", uncovered, want)
	}
	rep, err = c.Coverage(nil, miniResponses, CoverageOptions{BlindSpots: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rep.Technique("T1204"); ok {
		t.Error("with one blind spot asked for, T1204 is listed after T1486")
	}
}

func TestCoverageRefusesUnknownIDs(t *testing.T) {
	c := miniCatalog(t)
	for _, tt := range []struct {
		name       string
		detections []Detection
		responses  []Response
		want       string
	}{
		{"detection", []Detection{{Technique: "T9999", Rule: "r"}}, nil, `detection r: unknown ATT&CK technique "T9999"`},
		{"playbook technique", nil, []Response{{Playbook: "p", Techniques: []string{"T1"}}}, `playbook p: unknown ATT&CK technique "T1"`},
		{"playbook tactic", nil, []Response{{Playbook: "p", Tactics: []string{"stealth"}}}, `playbook p: unknown ATT&CK tactic "stealth"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Coverage(tt.detections, tt.responses, CoverageOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestDetectionStrength(t *testing.T) {
	for _, tt := range []struct {
		confidence, coverage string
		want                 float64
	}{
		{ConfidenceHigh, CoverageFull, 1},
		{ConfidenceHigh, CoveragePartial, 0.5},
		{ConfidenceMedium, CoverageFull, 2.0 / 3},
		{ConfidenceLow, CoveragePartial, 1.0 / 6},
		{"", "", 1.0 / 6},
	} {
		if got := (Detection{Confidence: tt.confidence, Coverage: tt.coverage}).Strength(); got != tt.want {
			t.Errorf("Strength(%s, %s) = %v, want %v", tt.confidence, tt.coverage, got, tt.want)
		}
	}
}

func TestDefaultCatalogPrevalenceCountsSubTechniquesUnderTheirParent(t *testing.T) {
	c := Default()
	p := c.prevalence()
	if p["T1059"] < p["T1059.001"] || p["T1059.001"] == 0 {
		t.Errorf("prevalence T1059 = %d, T1059.001 = %d: a parent counts at least its sub-techniques' groups", p["T1059"], p["T1059.001"])
	}
	rep, err := c.Coverage(nil, nil, CoverageOptions{BlindSpots: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Techniques) != 10 {
		t.Fatalf("%d blind spots, want 10", len(rep.Techniques))
	}
	for _, tc := range rep.Techniques {
		tech, _ := c.Technique(tc.ID)
		if preOnly(tech) || !tech.Active() {
			t.Errorf("blind spot %s is PRE only or inactive", tc.ID)
		}
	}
}
