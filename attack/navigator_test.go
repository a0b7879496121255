package attack

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestNavigatorLayerHasTheFormatsRequiredFields checks a layer of the embedded catalog against the layer
// format 4.5 (attack-navigator, layers/spec/v4.5/layerformat.md), reading the JSON as Navigator does.
func TestNavigatorLayerHasTheFormatsRequiredFields(t *testing.T) {
	c := Default()
	rep, err := c.Coverage(
		[]Detection{{Technique: "T1566.001", Rule: "Office macro child process", Source: "elastic", Confidence: ConfidenceHigh, Coverage: CoverageFull},
			{Technique: "T1003.001", Rule: "LSASS access", Source: "defender", Confidence: ConfidenceMedium, Coverage: CoveragePartial}},
		[]Response{{Playbook: "spearphishing-attachment", Techniques: []string{"T1566.001"}}, {Playbook: "valid-accounts", Techniques: []string{"T1078"}}},
		CoverageOptions{BlindSpots: 5})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(c.NavigatorLayer(rep, LayerOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	var layer map[string]any
	if err := json.Unmarshal(b, &layer); err != nil {
		t.Fatal(err)
	}

	// The layer's required fields: name, domain; versions.navigator and versions.layer.
	if s, _ := layer["name"].(string); s == "" {
		t.Error("name is missing")
	}
	if got := layer["domain"]; got != "enterprise-attack" {
		t.Errorf("domain = %v, want enterprise-attack", got)
	}
	versions, _ := layer["versions"].(map[string]any)
	if got := versions["layer"]; got != "4.5" {
		t.Errorf("versions.layer = %v, want 4.5", got)
	}
	if got := versions["attack"]; got != "18" {
		t.Errorf("versions.attack = %v, want 18 (the embedded catalog's major version)", got)
	}
	if nav, _ := versions["navigator"].(string); !versionAtLeast(nav, "4.9.0") {
		t.Errorf("versions.navigator = %q, want at least 4.9.0", nav)
	}
	if s, ok := layer["description"].(string); !ok || s == "" {
		t.Error("description is missing")
	}
	if sorting, _ := layer["sorting"].(float64); sorting < 0 || sorting > 3 {
		t.Errorf("sorting = %v, want 0 to 3", sorting)
	}
	if _, ok := layer["hideDisabled"].(bool); !ok {
		t.Error("hideDisabled is not a boolean")
	}
	layout, _ := layer["layout"].(map[string]any)
	if l := layout["layout"]; !slices.Contains([]any{"side", "flat", "mini"}, l) {
		t.Errorf("layout.layout = %v", l)
	}
	if f := layout["aggregateFunction"]; !slices.Contains([]any{"average", "min", "max", "sum"}, f) {
		t.Errorf("layout.aggregateFunction = %v", f)
	}
	if e := layout["expandedSubtechniques"]; !slices.Contains([]any{"none", "all", "annotated"}, e) {
		t.Errorf("layout.expandedSubtechniques = %v", e)
	}

	// Platforms are the catalog's.
	filters, _ := layer["filters"].(map[string]any)
	platforms, _ := filters["platforms"].([]any)
	for _, want := range []string{"Windows", "Linux", "macOS", "PRE"} {
		if !slices.Contains(platforms, any(want)) {
			t.Errorf("filters.platforms %v lacks %s", platforms, want)
		}
	}

	// Gradient: at least two colours, maxValue > minValue.
	gradient, _ := layer["gradient"].(map[string]any)
	colors, _ := gradient["colors"].([]any)
	if len(colors) < 2 {
		t.Errorf("gradient.colors = %v, want at least two", colors)
	}
	if lo, hi := gradient["minValue"].(float64), gradient["maxValue"].(float64); !(hi > lo) {
		t.Errorf("gradient min %v max %v, want max > min", lo, hi)
	}

	// Four legend items, one per detection × response, each with a label and a colour.
	hex := regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	legend, _ := layer["legendItems"].([]any)
	if len(legend) != 4 {
		t.Errorf("%d legend items, want 4", len(legend))
	}
	legendColors := map[any]bool{}
	for _, li := range legend {
		m, _ := li.(map[string]any)
		if s, _ := m["label"].(string); s == "" || !hex.MatchString(m["color"].(string)) {
			t.Errorf("legend item %v lacks a label or a colour", m)
		}
		legendColors[m["color"]] = true
	}

	// Techniques: each with a techniqueID the catalog knows; every coloured one in a legend colour, scored,
	// enabled, with a comment and metadata.
	id := regexp.MustCompile(`^T\d{4}(\.\d{3})?$`)
	techs, _ := layer["techniques"].([]any)
	if len(techs) < len(rep.Techniques) {
		t.Fatalf("%d techniques in the layer, %d in the report", len(techs), len(rep.Techniques))
	}
	byID := map[string]map[string]any{}
	for _, x := range techs {
		m, _ := x.(map[string]any)
		tid, _ := m["techniqueID"].(string)
		if !id.MatchString(tid) {
			t.Errorf("techniqueID %q is not an ATT&CK id", tid)
		}
		if _, ok := c.Technique(tid); !ok {
			t.Errorf("techniqueID %s is not in the catalog", tid)
		}
		if e, ok := m["enabled"].(bool); !ok || !e {
			t.Errorf("%s: enabled = %v", tid, m["enabled"])
		}
		if _, ok := m["showSubtechniques"].(bool); !ok {
			t.Errorf("%s: showSubtechniques is not a boolean", tid)
		}
		byID[tid] = m
		if m["color"] == nil {
			continue
		}
		if !legendColors[m["color"]] {
			t.Errorf("%s: colour %v is not in the legend", tid, m["color"])
		}
		if _, ok := m["score"].(float64); !ok {
			t.Errorf("%s: score is missing", tid)
		}
		if s, _ := m["comment"].(string); s == "" {
			t.Errorf("%s: comment is missing", tid)
		}
		if md, _ := m["metadata"].([]any); len(md) == 0 {
			t.Errorf("%s: metadata is missing", tid)
		}
	}
	phish := byID["T1566.001"]
	if got := phish["color"]; got != StatusColor(StatusCovered) {
		t.Errorf("T1566.001 colour %v, want the covered colour", got)
	}
	if s, _ := phish["comment"].(string); !strings.Contains(s, "Playbook: spearphishing-attachment") {
		t.Errorf("T1566.001 comment %q does not name its playbook", s)
	}
	if got := byID["T1003.001"]["color"]; got != StatusColor(StatusNoPlaybook) {
		t.Errorf("T1003.001 colour %v, want the detected-no-playbook colour", got)
	}
	if got := byID["T1078"]["color"]; got != StatusColor(StatusNoDetection) {
		t.Errorf("T1078 colour %v, want the playbook-no-detection colour", got)
	}
	if p := byID["T1566"]; p == nil || p["showSubtechniques"] != true {
		t.Errorf("T1566 is not in the layer with its sub-techniques shown: %v", p)
	}
}

// TestNavigatorLayerGolden pins the layer of the hand-computed coverage report.
func TestNavigatorLayerGolden(t *testing.T) {
	c := miniCatalog(t)
	rep, err := c.Coverage(miniDetections, miniResponses, CoverageOptions{BlindSpots: 5})
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	enc := json.NewEncoder(&got)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c.NavigatorLayer(rep, LayerOptions{Name: "mini", Description: "hand-computed"})); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "mini-layer.golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./attack -update writes it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("layer differs from %s (go test ./attack -update rewrites it)\ngot:\n%s", golden, got.String())
	}
}

// versionAtLeast compares dotted version numbers.
func versionAtLeast(v, min string) bool {
	a, b := strings.Split(v, "."), strings.Split(min, ".")
	for i := range b {
		var x, y int
		if i < len(a) {
			x = atoi(a[i])
		}
		y = atoi(b[i])
		if x != y {
			return x > y
		}
	}
	return true
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return n
		}
		n = n*10 + int(r-'0')
	}
	return n
}
