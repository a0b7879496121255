package alerts

import (
	"encoding/json"
	"errors"
	"sort"
	"testing"
)

// FuzzNormalize feeds Normalize arbitrary payloads and sources: it must never panic, must refuse with a
// *PayloadError, and what it accepts must be a well-formed alert.
func FuzzNormalize(f *testing.F) {
	for _, s := range samples {
		payload := readSample(f, s.file)
		f.Add(payload, "")
		f.Add(payload, s.source)
	}
	for _, seed := range []string{
		``, `[]`, `null`, `{}`, `{"techniques":"T1078"}`, `{"id":`, `{"a":1} x`,
		`{"@odata.type":"#microsoft.graph.security.alert","evidence":[{"@odata.type":"x.fileEvidence","fileDetails":{"sha256":"A"}}]}`,
		`{"source":"parry","tactics":["TA0001"],"time":"2026-01-01T00:00:00+02:00"}`,
	} {
		f.Add([]byte(seed), "")
	}
	f.Fuzz(func(t *testing.T, payload []byte, source string) {
		a, err := Normalize(payload, source)
		if err != nil {
			var pe *PayloadError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a *PayloadError", err, err)
			}
			return
		}
		if a.ID == "" || a.Source == "" {
			t.Fatalf("accepted alert has id %q source %q", a.ID, a.Source)
		}
		if !json.Valid(a.Raw) {
			t.Fatalf("raw is not valid JSON: %q", a.Raw)
		}
		if !sort.StringsAreSorted(a.Techniques) {
			t.Fatalf("techniques not sorted: %v", a.Techniques)
		}
		for i := 1; i < len(a.Techniques); i++ {
			if a.Techniques[i] == a.Techniques[i-1] {
				t.Fatalf("duplicate technique: %v", a.Techniques)
			}
		}
		if a.Severity != "" && SeverityRank(a.Severity) == 0 {
			t.Fatalf("severity %q is not on Parry's scale", a.Severity)
		}
		if _, err := json.Marshal(a); err != nil {
			t.Fatalf("alert does not marshal: %v", err)
		}
		// Fields are read by every run; they must not panic either.
		for _, p := range []string{"alert.host", "alert.raw.evidence.deviceDnsName", "alert.raw.a.0.b"} {
			Field(a, p)
		}
	})
}
