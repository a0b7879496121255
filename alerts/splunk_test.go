package alerts

import "testing"

// payloadID is the id Normalize gives a payload without one: the SHA-256 of its canonical form.
func payloadID(payload string) string {
	doc, err := decodeObject([]byte(payload))
	if err != nil {
		return ""
	}
	id, _ := canonicalID(doc)
	return id
}

func TestNormalizeSplunk(t *testing.T) {
	cimRow := `{"sid":"scheduler__admin__search__RMD5_at_1717578900_42","search_name":"Brute force then success","app":"search",
		"owner":"admin","results_link":"https://splunk.example.com/app/search/@go?sid=x",
		"result":{"dest":"WS-0042","host":"idx-01","user":"CORP\\alice","src":"203.0.113.9","urgency":"critical",
		"annotations.mitre_attack":["T1078","T1110.003"],"_time":"1717578924.250",
		"file_hash":"D9DF3091F6093BD9A7B308E536FBC285AEEF2C5139577CC96BC594A4845F0E13"}}`
	normalizeCases(t, "", []normalizeCase{
		{
			name: "webhook with a CIM row: the id is the payload's hash",
			in:   cimRow,
			want: Alert{ID: payloadID(cimRow), Source: "splunk", Title: "Brute force then success", Rule: "Brute force then success", Severity: "critical",
				Techniques: []string{"T1078", "T1110.003"}, Host: "WS-0042", User: "alice", SourceIP: "203.0.113.9",
				Hashes: Hashes{SHA256: "d9df3091f6093bd9a7b308e536fbc285aeef2c5139577cc96bc594a4845f0e13"}, Time: "2024-06-05T09:15:24.25Z"},
		},
		{
			name: "webhook forwarding a notable: its event_id, technique names, raw host, sysmon hashes",
			in: `{"sid":"s1","search_name":null,"result":{"event_id":"E1@@notable@@h1","rule_title":"Brute force",
				"host":"ws-0042.corp.example.com","user":["root","alice"],"severity":"medium",
				"annotations.mitre_attack.mitre_technique":"Brute Force","annotations.mitre_attack.mitre_tactic":"Credential Access",
				"Hashes":"SHA1=21A5D9C728D069BA6239C1DA751A2F31FBA9B1AA,MD5=F9BF2D21A340F2B3EE534FBA5B29E417"}}`,
			want: Alert{ID: "E1@@notable@@h1", Source: "splunk", Title: "Brute force", Severity: "medium",
				Techniques: []string{"T1110"}, Host: "ws-0042.corp.example.com", User: "alice",
				Hashes: Hashes{SHA1: "21a5d9c728d069ba6239c1da751a2f31fba9b1aa", MD5: "f9bf2d21a340f2b3ee534fba5b29e417"}},
		},
		{
			name: "notable with tactics only, unknown dest, orig_host",
			in: `{"event_id":"E2","urgency":"high","rule_name":"Odd logon","dest":"unknown","host":"es-sh-01","orig_host":"DC-0001",
				"annotations.mitre_attack.mitre_tactic_id":["TA0006","TA0008"],"_time":"2024-06-05T11:15:24.000+02:00"}`,
			want: Alert{ID: "E2", Source: "splunk", Title: "Odd logon", Rule: "Odd logon", Severity: "high", Tactics: []string{"credential-access", "lateral-movement"},
				Host: "DC-0001", Time: "2024-06-05T09:15:24Z"},
		},
		{
			name: "an e-mail row: the recipient is the user; without a rule_name the search names the rule",
			in: `{"event_id":"E3","notable_type":"notable","search_name":"Email - Phish - Rule","message_id":"<m1@example.net>","src_user":"billing@invoices.example.net",
				"recipient":"alice@example.com","subject":"Invoice","urgency":"unknown"}`,
			want: Alert{ID: "E3", Source: "splunk", Title: "Email - Phish - Rule", Rule: "Email - Phish - Rule", User: "alice@example.com",
				Email: Email{MessageID: "<m1@example.net>", Sender: "billing@invoices.example.net", Recipient: "alice@example.com", Subject: "Invoice"}},
		},
	})
	refuseCases(t, []refuseCase{
		{"named without a webhook or notable shape", `{"search_name":"x","results":[]}`, "splunk",
			"splunk alert: has no sid and result (a webhook alert action) nor event_id and urgency (an ES notable event), so it is not in the splunk format; post the webhook alert action's payload as Splunk sends it, or a notable event from index=notable, or name its real source (or none, to detect it)"},
	})
}
