package alerts

import "testing"

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

func TestNormalizeSigmaTakesJSONOnly(t *testing.T) {
	yaml := string(readSample(t, "sigma-rule-powershell-encoded-command.yml"))
	want := "sigma alert at byte 2: invalid JSON: invalid character 'i' in literal true (expecting 'r'); Parry takes Sigma rules as JSON: convert the rule's YAML first (for example yq -o=json rule.yml)"
	refuseCases(t, []refuseCase{
		{"yaml named sigma", yaml, "sigma", want},
		{"yaml detected by its look", yaml, "", want},
		{"other non-JSON keeps the generic fix", "title: x", "", "alert payload at byte 2: invalid JSON: invalid character 'i' in literal true (expecting 'r'); send one alert as a JSON object"},
		{"named without a rule's shape", `{"title":"x","tags":["attack.t1059"]}`, "sigma",
			"sigma alert: has no logsource and a detection with a condition (a Sigma rule), so it is not in the sigma format; post the rule that matched, converted from YAML to JSON, or name its real source (or none, to detect it)"},
	})
}
