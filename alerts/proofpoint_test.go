package alerts

import "testing"

func TestNormalizeProofpoint(t *testing.T) {
	sha := "a591a6d40bf420404a011733cfb7b190d62c65bf0bcda32b57b277d9ad9f146e"
	normalizeCases(t, "", []normalizeCase{
		{
			name: "a bare message: the attachment threat's id is its SHA-256, the MD5 from its part",
			in: `{"GUID":"g1","messageID":"<m1@example.net>","recipient":"alice@example.com","fromAddress":["billing@invoices.example.net"],
				"subject":"Invoice","senderIP":"198.51.100.23","messageTime":"2026-11-22T08:59:01.000Z",
				"threatsInfoMap":[{"threatID":"` + sha + `","threat":"` + sha + `","threatType":"attachment","classification":"malware","threatStatus":"active"}],
				"messageParts":[{"filename":"text.html","sha256":"0000000000000000000000000000000000000000000000000000000000000001","md5":"00000000000000000000000000000001"},
					{"filename":"invoice.xlsm","disposition":"attached","sha256":"` + sha + `","md5":"B10A8DB164E0754105B7A99BE72E3FE5"}]}`,
			want: Alert{ID: "g1", Source: "proofpoint", Title: "Proofpoint TAP: message with malware attachment", Rule: "malware", Severity: "high",
				Techniques: []string{"T1566.001"}, User: "alice@example.com", SourceIP: "198.51.100.23",
				Hashes: Hashes{SHA256: sha, MD5: "b10a8db164e0754105b7a99be72e3fe5"},
				Email:  Email{MessageID: "<m1@example.net>", Sender: "billing@invoices.example.net", Recipient: "alice@example.com", Subject: "Invoice"},
				Time:   "2026-11-22T08:59:01Z"},
		},
		{
			name: "an attachment threat without a usable id: the part the sandbox convicted",
			in: `{"messagesDelivered":[{"GUID":"g2","threatsInfoMap":[{"threatId":"threat_num","threatType":"ATTACHMENT","classification":"MALWARE"}],
				"messageParts":[{"sha256":"` + sha + `","sandboxStatus":"threat"}]}]}`,
			want: Alert{ID: "g2", Source: "proofpoint", Title: "Proofpoint TAP: delivered message with malware attachment", Rule: "malware", Severity: "high",
				Techniques: []string{"T1566.001"}, Hashes: Hashes{SHA256: sha}},
		},
		{
			name: "an impostor in the message text is phishing; false positives and spam are not threats",
			in: `{"messagesBlocked":[{"GUID":"g3","threatsInfoMap":[
				{"threatType":"messageText","classification":"impostor"},
				{"threatType":"url","classification":"phish","threatStatus":"falsePositive"},
				{"threatType":"attachment","classification":"spam"}]}]}`,
			want: Alert{ID: "g3", Source: "proofpoint", Title: "Proofpoint TAP: blocked message with impostor message text", Rule: "impostor", Severity: "medium",
				Techniques: []string{"T1566"}},
		},
		{
			name: "no threat left: no technique and no severity",
			in:   `{"GUID":"g4","threatsInfoMap":[{"threatType":"url","classification":"spam"}],"toAddresses":"alice@example.com"}`,
			want: Alert{ID: "g4", Source: "proofpoint", Title: "Proofpoint TAP: message", User: "alice@example.com",
				Email: Email{Recipient: "alice@example.com"}},
		},
	})
	refuseCases(t, []refuseCase{
		{"a response with several messages", `{"queryEndTime":"x","messagesDelivered":[{"GUID":"a","threatsInfoMap":[]},{"GUID":"b","threatsInfoMap":[]}],"messagesBlocked":[{"GUID":"c","threatsInfoMap":[]}]}`, "",
			"proofpoint alert: the SIEM API response holds 2 in messagesDelivered, 1 in messagesBlocked, and one request is one message; post each message of messagesDelivered or messagesBlocked as a request of its own (click events are not taken)"},
		{"a response with clicks only", `{"clicksPermitted":[{"GUID":"a","url":"https://x"}],"messagesDelivered":[]}`, "",
			"proofpoint alert: the SIEM API response holds 1 in clicksPermitted, and one request is one message; post each message of messagesDelivered or messagesBlocked as a request of its own (click events are not taken)"},
		{"an empty response", `{"queryEndTime":"x","messagesDelivered":[],"messagesBlocked":[]}`, "",
			"proofpoint alert: the SIEM API response holds no message; post each message of messagesDelivered or messagesBlocked as a request of its own (click events are not taken)"},
		{"named without a message", `{"subject":"x"}`, "proofpoint",
			"proofpoint alert: has no GUID and threatsInfoMap (a message event), so it is not in the proofpoint format; post one message of the SIEM API's messagesDelivered or messagesBlocked, or name its real source (or none, to detect it)"},
	})
}
