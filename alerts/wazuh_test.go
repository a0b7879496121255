package alerts

import "testing"

func TestNormalizeWazuh(t *testing.T) {
	normalizeCases(t, "", []normalizeCase{
		{
			name: "sysmon event: names map through the catalog, hashes from the Hashes list",
			in: `{"id":"1.2","timestamp":"2024-03-01T10:00:00.000+0100","agent":{"id":"012","name":"WS-0042"},
				"rule":{"id":"92057","level":"12","description":"Powershell encoded command",
				"mitre":{"technique":["PowerShell"],"tactic":["Execution"]}},
				"data":{"win":{"eventdata":{"user":"CORP\\alice","hashes":"SHA1=21A5D9C728D069BA6239C1DA751A2F31FBA9B1AA,MD5=F9BF2D21A340F2B3EE534FBA5B29E417,SHA256=D9DF3091F6093BD9A7B308E536FBC285AEEF2C5139577CC96BC594A4845F0E13"}}}}`,
			want: Alert{ID: "1.2", Source: "wazuh", Title: "Powershell encoded command", Rule: "92057", Severity: "high", Techniques: []string{"T1059.001"},
				Host: "WS-0042", User: "alice", Time: "2024-03-01T09:00:00Z",
				Hashes: Hashes{SHA256: "d9df3091f6093bd9a7b308e536fbc285aeef2c5139577cc96bc594a4845f0e13",
					SHA1: "21a5d9c728d069ba6239c1da751a2f31fba9b1aa", MD5: "f9bf2d21a340f2b3ee534fba5b29e417"}},
		},
		{
			name: "syslog through the manager: the device is the host; level 15 is critical; tactics only",
			in: `{"agent":{"id":"000","name":"wazuh-manager-01"},"predecoder":{"hostname":"fw-01"},"_id":"idx-1",
				"rule":{"id":"1","level":15,"mitre":{"tactic":["Impact"]}},"data":{"srcip":"203.0.113.5","dstuser":"SYSTEM"}}`,
			want: Alert{ID: "idx-1", Source: "wazuh", Rule: "1", Severity: "critical", Tactics: []string{"impact"}, Host: "fw-01", SourceIP: "203.0.113.5"},
		},
		{
			name: "an indexer hit; file integrity monitoring hashes; level 3 is low",
			in: `{"_id":"idx-2","_source":{"manager":{"name":"m"},"agent":{"name":"DC-0001"},"rule":{"id":"550","level":3,"mitre":{"id":"T1565.001"}},
				"syscheck":{"sha256_after":"D9DF3091F6093BD9A7B308E536FBC285AEEF2C5139577CC96BC594A4845F0E13","sha1_after":"xx"}}}`,
			want: Alert{ID: "idx-2", Source: "wazuh", Rule: "550", Severity: "low", Techniques: []string{"T1565.001"}, Host: "DC-0001",
				Hashes: Hashes{SHA256: "d9df3091f6093bd9a7b308e536fbc285aeef2c5139577cc96bc594a4845f0e13"}},
		},
	})
	refuseCases(t, []refuseCase{
		{"named without a rule level", `{"rule":{"id":"5710"},"agent":{"name":"WS-0042"}}`, "wazuh",
			"wazuh alert: has no rule.level and rule.id with the agent or manager that raised it, so it is not in the wazuh format; post the alert as the Wazuh manager writes it to alerts.json (an integration's alert_file), or name its real source (or none, to detect it)"},
	})
}
