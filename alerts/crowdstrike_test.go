package alerts

import "testing"

func TestNormalizeCrowdStrike(t *testing.T) {
	normalizeCases(t, "", []normalizeCase{
		{
			name: "alerts api: a Falcon-native technique id, its ATT&CK name maps through the catalog",
			in: `{"composite_id":"c1","cid":"x","severity":30,"tactic_id":"CSTA0006","tactic":"Credential Access",
				"technique_id":"CST0007","technique":"Valid Accounts","user_name":"DC-0001$","source_account_name":"alice",
				"target_endpoint_host_name":"DC-0001.corp.example.com"}`,
			want: Alert{ID: "c1", Source: "crowdstrike", Severity: "low", Techniques: []string{"T1078"}, User: "alice"},
		},
		{
			name: "alerts api: a Falcon-native technique keeps its ATT&CK tactic",
			in:   `{"composite_id":"c2","cid":"x","severity_name":"Critical","tactic_id":"CSTA0006","tactic":"Credential Access","technique_id":"CST0010","technique":"Credential theft"}`,
			want: Alert{ID: "c2", Source: "crowdstrike", Severity: "critical", Tactics: []string{"credential-access"}},
		},
		{
			name: "alerts api: an endpoint alert's device and file",
			in: `{"composite_id":"c3","cid":"x","severity":50,"technique_id":"T1059.001","device":{"hostname":"WS-0042","local_ip":"192.0.2.42"},
				"user_name":"alice","sha256":"D9DF3091F6093BD9A7B308E536FBC285AEEF2C5139577CC96BC594A4845F0E13","md5":"N/A",
				"created_timestamp":"2024-08-16T18:45:02.987127397Z"}`,
			want: Alert{ID: "c3", Source: "crowdstrike", Severity: "medium", Techniques: []string{"T1059.001"}, Host: "WS-0042", User: "alice",
				Hashes: Hashes{SHA256: "d9df3091f6093bd9a7b308e536fbc285aeef2c5139577cc96bc594a4845f0e13"}, Time: "2024-08-16T18:45:02.987127397Z"},
		},
		{
			name: "legacy event: MitreAttack ids, a CSTA tactic dropped, severity 5, time from the process start in seconds",
			in: `{"metadata":{"eventType":"DetectionSummaryEvent"},"event":{"DetectId":"ldt:1","Severity":5,"ComputerName":"WS-0042",
				"UserName":"NT AUTHORITY\\SYSTEM","ProcessStartTime":1536846339,
				"MitreAttack":[{"TacticID":"CSTA0006","TechniqueID":"T1589.003","Tactic":"Falcon Overwatch","Technique":"Malicious Activity"}]}}`,
			want: Alert{ID: "ldt:1", Source: "crowdstrike", Severity: "critical", Techniques: []string{"T1589.003"}, Host: "WS-0042",
				Time: "2018-09-13T13:45:39Z"},
		},
		{
			name: "xdr event: several hosts, the first is the alert's; time from StartTimeEpoch in nanoseconds",
			in: `{"metadata":{"eventType":"XdrDetectionSummaryEvent"},"event":{"DetectId":"x1","Severity":20,"HostNames":"WS-0042,WS-0043",
				"UserNames":"root,alice","TechniqueIds":"T1021.001, CST0001","StartTimeEpoch":1643317697728000000}}`,
			want: Alert{ID: "x1", Source: "crowdstrike", Severity: "low", Techniques: []string{"T1021.001"}, Host: "WS-0042", User: "alice",
				Time: "2022-01-27T21:08:17.728Z"},
		},
		{
			name: "alerts api: without a display name, the rule is the detection's name",
			in:   `{"composite_id":"c5","cid":"x","name":"IdpPolicyAccountLockout","description":"An account was locked out"}`,
			want: Alert{ID: "c5", Source: "crowdstrike", Title: "IdpPolicyAccountLockout", Rule: "IdpPolicyAccountLockout"},
		},
		{
			name: "legacy event without a tactic and technique: the rule is the detect name",
			in:   `{"metadata":{"eventType":"DetectionSummaryEvent"},"event":{"DetectId":"ldt:2","DetectName":"Suspicious Activity"}}`,
			want: Alert{ID: "ldt:2", Source: "crowdstrike", Title: "Suspicious Activity", Rule: "Suspicious Activity"},
		},
	})
	refuseCases(t, []refuseCase{
		{"a stream event that is no detection", `{"metadata":{"eventType":"AuthActivityAuditEvent"},"event":{"UserId":"alice"}}`, "",
			`crowdstrike alert: field metadata.eventType: "AuthActivityAuditEvent" is not a detection; post detection summary events (DetectionSummaryEvent, EppDetectionSummaryEvent, XdrDetectionSummaryEvent, …): other stream events are not alerts`},
		{"named without either shape", `{"event":{"DetectId":"x"}}`, "crowdstrike",
			"crowdstrike alert: has no metadata.eventType with an event (Event Streams) nor composite_id and cid (Alerts API), so it is not in the crowdstrike format; post a detection summary event as the Event Streams API sends it, or an alert as GET /alerts/entities/alerts/v2 returns it, or name its real source (or none, to detect it)"},
	})
}
