package alerts

import (
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/parry-soc/parry/attack"
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
		checkNormalized(t, a, err)
	})
}

// fuzzSource fuzzes one normalizer: through Normalize with the source named, and straight into the
// normalizer, so every input reaches it whatever its shape (Normalize refuses a payload shaped as another
// format before its normalizer sees it). Seeds are the format's samples and the given payloads.
func fuzzSource(f *testing.F, source string, seeds ...string) {
	var format Format
	for _, ff := range formats {
		if ff.Name == source {
			format = ff
		}
	}
	if format.Normalize == nil {
		f.Fatalf("no format %q", source)
	}
	for _, s := range samples {
		if s.source == source {
			f.Add(readSample(f, s.file))
		}
	}
	for _, s := range append(seeds, ``, `{}`, `[]`, `{"id":null}`) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		a, err := Normalize(payload, source)
		checkNormalized(t, a, err)
		if err == nil && a.Source != source {
			t.Fatalf("source %q, want %q", a.Source, source)
		}
		if doc, err := decodeObject(payload); err == nil {
			if _, err := format.Normalize(payload, doc); err != nil {
				var pe *PayloadError
				if !errors.As(err, &pe) {
					t.Fatalf("error %T %v is not a *PayloadError", err, err)
				}
			}
		}
	})
}

// checkNormalized checks what Normalize returned: a *PayloadError, or a well-formed alert.
func checkNormalized(t *testing.T, a Alert, err error) {
	t.Helper()
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
	if a.Source != SourceParry {
		// Vendor normalizers keep only ATT&CK ids and well-formed hashes and times; Parry's own format
		// refuses anything else, so it needs no check here.
		for _, id := range a.Techniques {
			if !attack.IsTechniqueID(id) {
				t.Fatalf("technique %q is not an ATT&CK id", id)
			}
		}
		for _, h := range []struct {
			v    string
			size int
		}{{a.Hashes.SHA256, 64}, {a.Hashes.SHA1, 40}, {a.Hashes.MD5, 32}} {
			if h.v != "" && !isHex(h.v, h.size) {
				t.Fatalf("hash %q is not %d hex digits", h.v, h.size)
			}
		}
	}
	if a.Time != "" {
		if _, ok := normalizeTime(a.Time); !ok {
			t.Fatalf("time %q is not RFC 3339", a.Time)
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
}

func FuzzDefender(f *testing.F) {
	fuzzSource(f, SourceDefender,
		`{"id":"d","evidence":[{"@odata.type":"#microsoft.graph.security.userEvidence","userAccount":{"accountName":"SYSTEM"}}]}`)
}

func FuzzParry(f *testing.F) {
	fuzzSource(f, SourceParry, `{"techniques":["T1078"],"hashes":{"md5":"D41D8CD98F00B204E9800998ECF8427E"},"time":"2026-01-01T00:00:00+02:00"}`)
}

func FuzzElastic(f *testing.F) {
	fuzzSource(f, SourceElastic,
		`{"hits":{"hits":[{"_id":"h","_source":{"kibana.alert.uuid":"k","kibana.alert.risk_score":"73"}}]}}`,
		`{"_source":{"kibana":{"alert":{"rule":{"uuid":"r","threat":[{"technique":[{"name":"Phishing","subtechnique":[{"name":"x"}]}]}]}}}}}`)
}

func FuzzSplunk(f *testing.F) {
	fuzzSource(f, SourceSplunk,
		`{"sid":"s","result":{"dest":["a","b"],"_time":"1717578924.25","Hashes":"SHA256=00,MD5=x","annotations.mitre_attack":"T1078\nCST1"}}`,
		`{"event_id":"e","urgency":"informational","message_id":"m","user":"root","src":"::1"}`)
}

func FuzzSentinel(f *testing.F) {
	fuzzSource(f, SourceSentinel,
		`{"object":{"name":"i","properties":{"severity":"High","incidentNumber":"1","relatedEntities":[{"kind":"FileHash","properties":{"algorithm":"SHA256","hashValue":"0"}}]}}}`)
}

func FuzzWazuh(f *testing.F) {
	fuzzSource(f, SourceWazuh,
		`{"agent":{"id":"000"},"predecoder":{"hostname":"h"},"rule":{"id":1,"level":"16","mitre":{"id":"T1110,T1078","technique":["x"]}},"timestamp":"2023-05-22T10:40:43.395+0000"}`)
}

func FuzzCrowdStrike(f *testing.F) {
	fuzzSource(f, SourceCrowdStrike,
		`{"metadata":{"eventType":"DetectionSummaryEvent","eventCreationTime":"99999999999999999999"},"event":{"Severity":"4.5","MitreAttack":[{"Technique":"Phishing: x"}]}}`,
		`{"composite_id":"c","cid":"x","severity":"NaN","technique_id":["T1078"],"timestamp":1}`)
}

func FuzzProofpoint(f *testing.F) {
	fuzzSource(f, SourceProofpoint,
		`{"GUID":"g","threatsInfoMap":[{"threatID":"A591A6D40BF420404A011733CFB7B190D62C65BF0BCDA32B57B277D9AD9F146E","threatType":"attachment"}],"messageParts":[{"sandboxStatus":"threat","sha256":1}]}`,
		`{"messagesBlocked":[{"guid":"g","THREATSINFOMAP":{},"recipient":[1,"a"]}],"clicksBlocked":[]}`)
}

func FuzzSigma(f *testing.F) {
	for _, s := range samples {
		if s.source == SourceSigma {
			f.Add(readSample(f, strings.TrimSuffix(s.file, ".json")+".yml"))
		}
	}
	f.Add([]byte("logsource: {}\ndetection: {condition: x}\ntags: [attack.t1059, 0x1F, .inf, ~, yes]\nlevel: high"))
	fuzzSource(f, SourceSigma,
		`{"logsource":{},"detection":{"condition":"x"},"tags":["attack.t1059.001","attack.privilege_escalation","attack."],"level":"critical"}`)
}
