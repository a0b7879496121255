package alerts

import (
	"reflect"
	"testing"
)

func TestField(t *testing.T) {
	a := Alert{
		ID:         "a1",
		Source:     "parry",
		Severity:   "high",
		Techniques: []string{"T1566.001"},
		Host:       "WS-0042",
		User:       "  ",
		Hashes:     Hashes{SHA256: "ab"},
		Email:      Email{MessageID: "<m@x>"},
		Raw: []byte(`{"kibana.alert.uuid":"k1","kibana":{"alert":{"rule":{"name":"r"}}},` +
			`"evidence":[{"kind":"file"},{"kind":"device","deviceDnsName":"ws-0042.corp","pid":4780,"score":0.5}],` +
			`"empty":"","none":null,"list":[],"obj":{}}`),
	}
	for _, tt := range []struct {
		path   string
		want   any
		wantOK bool
	}{
		{"alert.host", "WS-0042", true},
		{"alert.id", "a1", true},
		{"alert.severity", "high", true},
		{"alert.techniques", []string{"T1566.001"}, true},
		{"alert.hashes.sha256", "ab", true},
		{"alert.hashes", map[string]any{"sha256": "ab"}, true},
		{"alert.email.message_id", "<m@x>", true},
		{"alert.user", nil, false},                                 // blank counts as absent
		{"alert.source_ip", nil, false},                            // empty
		{"alert.tactics", nil, false},                              // empty list
		{"alert.email.sender", nil, false},                         // empty
		{"alert.nope", nil, false},                                 // unknown field
		{"host", nil, false},                                       // not an alert path
		{"alert.raw.kibana.alert.uuid", "k1", true},                // flat dotted key
		{"alert.raw.kibana.alert.rule.name", "r", true},            // nested objects
		{"alert.raw.evidence.deviceDnsName", "ws-0042.corp", true}, // first list element that has it
		{"alert.raw.evidence.1.pid", int64(4780), true},
		{"alert.raw.evidence.0.kind", "file", true},
		{"alert.raw.evidence.1.score", 0.5, true},
		{"alert.raw.evidence.7.kind", nil, false},
		{"alert.raw.evidence.-1.kind", nil, false},
		{"alert.raw.empty", nil, false},
		{"alert.raw.none", nil, false},
		{"alert.raw.list", nil, false},
		{"alert.raw.obj", nil, false},
		{"alert.raw.missing.deeper", nil, false},
		{"alert.raw.", nil, false},
	} {
		t.Run(tt.path, func(t *testing.T) {
			got, ok := Field(a, tt.path)
			if ok != tt.wantOK || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Field(%q) = %#v, %v; want %#v, %v", tt.path, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestFieldOfAlertWithoutRaw(t *testing.T) {
	if got, ok := Field(Alert{}, "alert.raw.x"); ok {
		t.Errorf("Field of an alert without raw = %v, want absent", got)
	}
	if got, ok := Field(Alert{}, "alert.raw"); ok {
		t.Errorf("Field(alert.raw) without raw = %v, want absent", got)
	}
}

func TestFieldResultDoesNotAliasAlert(t *testing.T) {
	a := Alert{Techniques: []string{"T1078"}}
	v, _ := Field(a, "alert.techniques")
	v.([]string)[0] = "T9999"
	if a.Techniques[0] != "T1078" {
		t.Errorf("changing Field's result changed the alert: %v", a.Techniques)
	}
}
