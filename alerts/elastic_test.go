package alerts

import "testing"

func TestNormalizeElastic(t *testing.T) {
	normalizeCases(t, "", []normalizeCase{
		{
			name: "nested kibana object, rule threat with a sub-technique, critical",
			in: `{"@timestamp":"2024-06-09T15:56:03.205+02:00","kibana":{"alert":{"uuid":"k1","severity":"critical","rule":{"name":"R",
				"threat":[{"framework":"MITRE ATT&CK","tactic":{"id":"TA0001","name":"Initial Access"},
				"technique":[{"id":"T1566","name":"Phishing","subtechnique":[{"id":"T1566.001","name":"Spearphishing Attachment"}]}]}]}}},
				"host":{"name":"WS-0042.corp.example.com"},"source":{"ip":"198.51.100.7"}}`,
			want: Alert{ID: "k1", Source: "elastic", Title: "R", Rule: "R", Severity: "critical", Techniques: []string{"T1566", "T1566.001"},
				Host: "WS-0042.corp.example.com", SourceIP: "198.51.100.7", Time: "2024-06-09T13:56:03.205Z"},
		},
		{
			name: "names without ids map through the catalog, a sub-technique under its parent",
			in: `{"kibana.alert.uuid":"k2","threat":[
				{"tactic":{"name":"Initial Access"},"technique":[{"name":"Spearphishing Attachment"}]},
				{"tactic":{"name":"Execution"},"technique":[{"id":"T1059","subtechnique":[{"name":"PowerShell"}]}]},
				{"tactic":{"name":"Execution"},"technique":[{"name":"Command and Scripting Interpreter","subtechnique":[{"name":"Python"}]}]}]}`,
			want: Alert{ID: "k2", Source: "elastic", Techniques: []string{"T1059", "T1059.001", "T1059.006", "T1566.001"}},
		},
		{
			name: "another framework is skipped, a tactic alone becomes the tactics",
			in: `{"kibana.alert.uuid":"k3","kibana.alert.rule.threat":[
				{"framework":"MITRE ATLAS","technique":[{"id":"AML.T0051","name":"LLM Prompt Injection"}]},
				{"framework":"MITRE ATT&CK","tactic":{"id":"TA0008","name":"Lateral Movement"}}]}`,
			want: Alert{ID: "k3", Source: "elastic", Tactics: []string{"lateral-movement"}},
		},
		{
			name: "risk score when severity is missing",
			in:   `{"kibana.alert.uuid":"k4","kibana.alert.risk_score":47}`,
			want: Alert{ID: "k4", Source: "elastic", Severity: "medium"},
		},
		{
			name: "root is no user: the process's user is",
			in:   `{"kibana.alert.uuid":"k5","user":{"name":"root"},"process":{"user":{"name":"svc-backup"},"hash":{"md5":"F9BF2D21A340F2B3EE534FBA5B29E417"}}}`,
			want: Alert{ID: "k5", Source: "elastic", User: "svc-backup", Hashes: Hashes{MD5: "f9bf2d21a340f2b3ee534fba5b29e417"}},
		},
		{
			name: "a search hit: its _source is the alert, its _id the id",
			in:   `{"_index":".internal.alerts-security.alerts-default-000001","_id":"hit-1","_source":{"kibana.alert.rule.uuid":"r1","kibana.alert.severity":"low"}}`,
			want: Alert{ID: "hit-1", Source: "elastic", Severity: "low"},
		},
		{
			name: "a search response with one hit",
			in:   `{"took":3,"hits":{"total":{"value":1},"hits":[{"_id":"hit-2","_source":{"kibana.alert.uuid":"k6","kibana.alert.rule.name":"R6"}}]}}`,
			want: Alert{ID: "k6", Source: "elastic", Title: "R6", Rule: "R6"},
		},
	})
}

func TestNormalizeElasticRefuses(t *testing.T) {
	refuseCases(t, []refuseCase{
		{"several hits", `{"hits":{"hits":[{"_source":{"kibana.alert.uuid":"a"}},{"_source":{"kibana.alert.uuid":"b"}}]}}`, "",
			"elastic alert: field hits.hits: holds 2 alerts, and one request is one alert; post each hit's _source as a request of its own"},
		{"no hits", `{"hits":{"hits":[]}}`, "elastic",
			"elastic alert: field hits.hits: holds 0 alerts, and one request is one alert; post each hit's _source as a request of its own"},
		{"not an alert document", `{"event":{"kind":"signal"},"host":{"name":"WS-0042"}}`, "elastic",
			"elastic alert: has no kibana.alert.uuid or other kibana.alert.rule fields, so it is not in the elastic format; post the alert document from .alerts-security.alerts-* (a search hit's _source), or name its real source (or none, to detect it)"},
	})
}
