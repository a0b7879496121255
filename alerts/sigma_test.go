package alerts

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestNormalizeSigma(t *testing.T) {
	tacticsOnly := `{"title":"T","logsource":{"product":"windows"},"detection":{"sel":{"a":1},"condition":"sel"},
		"tags":["attack.defense_evasion","attack.g0016","cve.2021-44228"],"level":"informational","date":"2024-01-01"}`
	normalizeCases(t, "", []normalizeCase{
		{
			name: "tactics only, the old underscore spelling; informational is low; no time from the rule's dates",
			in:   tacticsOnly,
			want: Alert{ID: payloadID(tacticsOnly), Source: "sigma", Title: "T", Rule: "T", Severity: "low", Tactics: []string{"defense-evasion"}},
		},
	})

	// The same rule matching twice is the same payload, hence the same id; what tells two matches apart
	// (the event that matched) changes the id and stays in raw.
	rule := string(readSample(t, "sigma-rule-schtasks-creation.json"))
	withMatch := rule[:len(rule)-1] + `,"match":{"Computer":"WS-0042","UtcTime":"2026-11-22 09:02:41"}}`
	a, err := Normalize([]byte(rule), "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Normalize([]byte(withMatch), "")
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == b.ID || b.ID != payloadID(withMatch) {
		t.Errorf("ids %s and %s: a match's context must change the id", a.ID, b.ID)
	}
}

// TestNormalizeSigmaTakesYAML reads each Sigma sample as written (YAML), detected and named, into the same
// alert as its JSON rendering: the same id, so a rule posted once as YAML and once as JSON is one alert.
func TestNormalizeSigmaTakesYAML(t *testing.T) {
	for _, name := range []string{"sigma-rule-powershell-encoded-command", "sigma-rule-schtasks-creation"} {
		t.Run(name, func(t *testing.T) {
			fromJSON, err := Normalize(readSample(t, name+".json"), "")
			if err != nil {
				t.Fatal(err)
			}
			for _, source := range []string{"", "sigma"} {
				fromYAML, err := Normalize(readSample(t, name+".yml"), source)
				if err != nil {
					t.Fatalf("source %q: %v", source, err)
				}
				// Raw is the rule as JSON either way; its keys are in the YAML's order in one, sorted in the other.
				if !json.Valid(fromYAML.Raw) || !bytes.Contains(fromYAML.Raw, []byte(`"date":"`)) {
					t.Errorf("raw %s: want the rule as JSON, its dates as written", fromYAML.Raw)
				}
				fromYAML.Raw, fromJSON.Raw = nil, nil
				if got, want := marshalAlert(t, fromYAML), marshalAlert(t, fromJSON); !bytes.Equal(got, want) {
					t.Errorf("source %q: the YAML and JSON renderings differ:\n%s\n%s", source, got, want)
				}
			}
		})
	}
}

func TestNormalizeSigmaRefusesBadYAML(t *testing.T) {
	yaml := string(readSample(t, "sigma-rule-powershell-encoded-command.yml"))
	const fix = "; send the Sigma rule as YAML (one document, no anchors or aliases) or as JSON"
	refuseCases(t, []refuseCase{
		{"named another source", yaml, "wazuh", "alert payload at byte 2: invalid JSON: invalid character 'i' in literal true (expecting 'r'); send one alert as a JSON object"},
		{"other non-JSON keeps the JSON error", "title: x", "", "alert payload at byte 2: invalid JSON: invalid character 'i' in literal true (expecting 'r'); send one alert as a JSON object"},
		{"not YAML either", "title: [x\nlogsource: {}\ndetection: {}", "sigma", "sigma alert: is neither JSON (invalid JSON: invalid character 'i' in literal true (expecting 'r')) nor YAML (line 1: did not find expected ',' or ']')" + fix},
		{"a list", "- a\n- b", "sigma", "sigma alert: the YAML is not one mapping (a Sigma rule is one)" + fix},
		{"alias", "title: &t x\nrule: *t\nlogsource: {}\ndetection: {condition: a}", "sigma", "sigma alert: line 1: has a YAML anchor or alias" + fix},
		{"merge key", "base: {a: 1}\nlogsource:\n  <<: {b: 2}\ndetection: {condition: a}", "sigma", "sigma alert: line 3: a mapping key is not a plain string" + fix},
		{"duplicate key", "title: a\ntitle: b\nlogsource: {}\ndetection: {condition: a}", "sigma", `sigma alert: line 2: key "title" appears twice` + fix},
		{"too deep", "logsource: {}\ndetection: {condition: a}\nx: " + strings.Repeat("[", 100) + strings.Repeat("]", 100), "sigma", "sigma alert: line 3: nested deeper than 64 levels" + fix},
		{"named without a rule's shape", "title: x\ntags: [attack.t1059]", "sigma",
			"sigma alert: has no logsource and a detection with a condition (a Sigma rule), so it is not in the sigma format; post the rule that matched, as YAML or JSON, or name its real source (or none, to detect it)"},
		{"named without a rule's shape, JSON", `{"title":"x","tags":["attack.t1059"]}`, "sigma",
			"sigma alert: has no logsource and a detection with a condition (a Sigma rule), so it is not in the sigma format; post the rule that matched, as YAML or JSON, or name its real source (or none, to detect it)"},
	})
}
