package alerts

import "testing"

func TestNormalizeSentinel(t *testing.T) {
	normalizeCases(t, "", []normalizeCase{
		{
			name: "technique ids beside the tactics, informational is low",
			in: `{"name":"inc-1","type":"Microsoft.SecurityInsights/incidents","properties":{"title":"T","severity":"Informational",
				"incidentNumber":1,"createdTimeUtc":"2019-01-01T14:15:30+01:00",
				"additionalData":{"tactics":["InitialAccess"],"techniques":["T1566","CST0001"]}}}`,
			want: Alert{ID: "inc-1", Source: "sentinel", Title: "T", Rule: "T", Severity: "low", Techniques: []string{"T1566"}, Time: "2019-01-01T13:15:30Z"},
		},
		{
			name: "incident trigger body: the object, with its entities",
			in: `{"objectSchemaType":"Incident","objectEventType":"Create","object":{"id":"/subscriptions/x/incidents/inc-2","name":"inc-2",
				"type":"Microsoft.SecurityInsights/Incidents","properties":{"severity":"Medium","incidentNumber":2,
				"additionalData":{"tactics":["CommandAndControl","ImpairProcessControl"]},
				"relatedEntities":[
					{"kind":"Account","properties":{"accountName":"SYSTEM","sid":"S-1-5-18"}},
					{"kind":"Account","properties":{"accountName":"alice","upnSuffix":"example.com"}},
					{"kind":"Host","properties":{"hostName":"WS-0042","dnsDomain":"corp.example.com"}},
					{"kind":"Ip","properties":{"address":"198.51.100.7"}},
					{"kind":"FileHash","properties":{"algorithm":"MD5","hashValue":"F9BF2D21A340F2B3EE534FBA5B29E417"}}]}}}`,
			want: Alert{ID: "inc-2", Source: "sentinel", Severity: "medium", Tactics: []string{"command-and-control"},
				Host: "WS-0042", User: "alice", SourceIP: "198.51.100.7", Hashes: Hashes{MD5: "f9bf2d21a340f2b3ee534fba5b29e417"}},
		},
	})
	refuseCases(t, []refuseCase{
		{"named without properties", `{"name":"inc-3","title":"x"}`, "sentinel",
			"sentinel alert: has no properties with the incident's incidentNumber and severity, so it is not in the sentinel format; post the incident as the Microsoft.SecurityInsights/incidents REST API returns it, or name its real source (or none, to detect it)"},
	})
}
