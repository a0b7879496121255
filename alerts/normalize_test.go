package alerts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// samples are the payloads in testdata/: the format each is detected as, and the fields its normalized alert
// must hold. Golden files (testdata/<sample>.golden) pin the rest.
var samples = []struct {
	file       string
	source     string
	id         string
	severity   string
	techniques []string
	tactics    []string
	host       string
	user       string
	hashes     Hashes
}{
	{
		file: "parry-spearphishing-attachment.json", source: SourceParry, id: "demo-phish-0001",
		severity: "high", techniques: []string{"T1566.001"}, host: "WS-0042", user: "alice",
		hashes: Hashes{SHA256: "4f1c6a5e2d9b8c7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0f9e"},
	},
	{
		file: "microsoft-defender-graph-alert-v2.json", source: SourceDefender, id: "da637551227677560813_-961444813",
		severity: "low", techniques: []string{"T1564.001"}, host: "WS-0042.corp.example.com",
		// The only account in the evidence is SYSTEM, which is no user to act on.
		hashes: Hashes{SHA256: "8963a19fb992ad9a76576c5638fd68292cffb9aaac29eb8285f9abf6196a7dec", SHA1: "5f1e8acedc065031aad553b710838eb366cfee9a"},
	},
	{
		file: "elastic-security-alert-endpoint-behavior.json", source: SourceElastic, id: "abcdef123",
		severity: "high", techniques: []string{"T1059", "T1059.004", "T1059.006", "T1132", "T1132.001"},
		host: "WS-0042", user: "alice",
		// Upstream masked the first digits of process.hash with "ABCD": the SHA-256 is still 64 hex digits,
		// the SHA-1 and MD5 are not digests any more and are dropped.
		hashes: Hashes{SHA256: "abcd3091f6093bd9a7b308e536fbc285aeef2c5139577cc96bc594a4845f0e13"},
	},
	{
		file: "splunk-es-notable-event.json", source: SourceSplunk,
		id:       "5E6DE97D-B137-47AB-8905-8C4F42998937@@notable@@e4f07602f507975e9f7ba47c4ae0c417",
		severity: "low", // urgency informational
		host:     "WS-0042",
		// user is root, the target of the su: the person is src_user, masked upstream as "xxx".
		user: "xxx",
	},
	{
		// An incident gives tactics only, and no host or user: its owner is the analyst.
		file: "microsoft-sentinel-incident.json", source: SourceSentinel, id: "aaaaaaa-5cd7-4139-a149-9f2736ff2ab5",
		severity: "high", tactics: []string{"initial-access", "persistence"},
	},
	{
		// Rule level 10 is medium; the user is the account the brute force tried.
		file: "wazuh-alert-sshd-bruteforce.json", source: SourceWazuh, id: "1684752043.76892",
		severity: "medium", techniques: []string{"T1110"}, host: "WS-0042", user: "attacker",
	},
	{
		// Tactic "Malware" and technique "Ransomware" are Falcon detection methods, not ATT&CK: no technique.
		file: "crowdstrike-falcon-detection-summary-event.json", source: SourceCrowdStrike,
		id: "ldt:ec86abd353824e96765ecbe18eb4f0b4:38655257584", severity: "high", host: "WS-0042", user: "alice",
		hashes: Hashes{SHA256: "6a671b92a69755de6fd063fcbe4ba926d83b49f78c42dbaeed8cdb6bbc57576a", MD5: "ac4c51eb24aa95b77f705ab159189e24"},
	},
	{
		// ATT&CK names only: User Execution is T1204. The record has no host name; its SHA-1 is all zeros.
		file: "crowdstrike-falcon-epp-detection-summary-event.json", source: SourceCrowdStrike,
		id: "DETECTION ID", severity: "high", techniques: []string{"T1204"}, user: "Administrator",
		hashes: Hashes{SHA256: "0000000000f07f39b17d8c446e27aea75de9f98bea195501e20ed433a7a25469", MD5: "000000000041c03beaa7ea3547b1940c"},
	},
	{
		file: "crowdstrike-falcon-xdr-detection-summary-event.json", source: SourceCrowdStrike,
		id:       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx:ind:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx:xdr|eee4a5c51106f0419184d0dd08fb05bc",
		severity: "critical", techniques: []string{"T1203", "T1566.001"}, host: "WS-0042",
	},
	{
		// Severity 79, "High"; the source endpoint is the host, never the targeted domain controller.
		file: "crowdstrike-falcon-alert-v2-identity.json", source: SourceCrowdStrike,
		id:       "874694c2ff8c43fdb64ef3056ddfb96d:ind:4446934rf3fdb64ec3056ddfb96e:5876E98F-D91B-48AC-8FFC-1191C663A1E9",
		severity: "high", techniques: []string{"T1110"}, host: "WS-0042.corp.example.com", user: "alice",
	},
	{
		// A malware URL in a message Proofpoint blocked: medium. The recipient is the user; no host.
		file: "proofpoint-tap-messages-blocked.json", source: SourceProofpoint, id: "qxxlnx-xxxxxNxXGxQxWxPxxxxx0",
		severity: "medium", techniques: []string{"T1566.002"}, user: "alice@example.com",
	},
	{
		// A phish URL delivered: high. The message's parts are its body and an image, not the threat.
		file: "proofpoint-tap-messages-delivered.json", source: SourceProofpoint, id: "pxxxxvxxxxPxTxxxixxxxFxxxUxx2xxxxx",
		severity: "high", techniques: []string{"T1566.002"}, user: "alice@example.com",
	},
	{
		// The documentation's casing (threatId), an attachment and a URL threat. The attachment's threat id
		// would be its SHA-256, but the mock has "threat_num" and no messageParts: no hash.
		file: "proofpoint-tap-messages-delivered-attachment-threat.json", source: SourceProofpoint, id: "1111",
		severity: "high", techniques: []string{"T1566.001", "T1566.002"}, user: "clark.kent@pharmtech.zz",
	},
	{
		// A rule names no host or user, and its id names the rule: the alert's id is the payload's hash.
		file: "sigma-rule-powershell-encoded-command.json", source: SourceSigma,
		id:       "bae8a68bdd4cf6cf9d068d549d1255034024cd133c21e3c7c3b4de5f23730667",
		severity: "high", techniques: []string{"T1059.001"},
	},
	{
		// attack.s0111 is the software schtasks, not a technique.
		file: "sigma-rule-schtasks-creation.json", source: SourceSigma,
		id:       "aa08ee11363de0eff64e3371259a4cf8fd7270bc9fb244b4ede5ccd76b8b29ee",
		severity: "low", techniques: []string{"T1053.005"},
	},
	{
		// The search's first row has only sourcetype and count: no host, user or severity to read, and the
		// sid names the search job, so the id is the payload's hash.
		file: "splunk-webhook-alert-action.json", source: SourceSplunk,
		id: "51e44b09f2e7739a7bb4b4e8036a91e0c8b3c92dc84ce8b003c86a34ac812535",
	},
}

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNormalizeSamples normalizes each sample, detected and named, checks the fields that playbooks act on
// and compares the whole alert with testdata/<sample>.golden.
func TestNormalizeSamples(t *testing.T) {
	for _, s := range samples {
		t.Run(s.file, func(t *testing.T) {
			payload := readSample(t, s.file)
			got, err := Normalize(payload, "")
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if got.Source != s.source {
				t.Errorf("detected source %q, want %q", got.Source, s.source)
			}
			named, err := Normalize(payload, s.source)
			if err != nil {
				t.Fatalf("Normalize with source %q: %v", s.source, err)
			}
			// Named as any other format it is refused, never read as that format into an empty alert.
			for _, other := range Formats() {
				if other == s.source {
					continue
				}
				if a, err := Normalize(payload, other); err == nil {
					t.Errorf("named %s, it was taken: %+v", other, a)
				}
			}
			gotJSON, namedJSON := marshalAlert(t, got), marshalAlert(t, named)
			if !bytes.Equal(gotJSON, namedJSON) {
				t.Errorf("detected and named source disagree:\n%s\n%s", gotJSON, namedJSON)
			}

			for _, f := range []struct{ name, got, want string }{
				{"id", got.ID, s.id},
				{"severity", got.Severity, s.severity},
				{"host", got.Host, s.host},
				{"user", got.User, s.user},
			} {
				if f.got != f.want {
					t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
				}
			}
			if !reflect.DeepEqual(got.Techniques, s.techniques) {
				t.Errorf("techniques = %q, want %q", got.Techniques, s.techniques)
			}
			if !reflect.DeepEqual(got.Tactics, s.tactics) {
				t.Errorf("tactics = %q, want %q", got.Tactics, s.tactics)
			}
			if got.Hashes != s.hashes {
				t.Errorf("hashes = %+v, want %+v", got.Hashes, s.hashes)
			}

			// The golden file is the alert without raw: raw is the sample itself, compacted.
			got.Raw = nil
			gotJSON = marshalAlert(t, got)
			golden := filepath.Join("testdata", strings.TrimSuffix(s.file, ".json")+".golden")
			if *update {
				if err := os.WriteFile(golden, gotJSON, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./alerts -update to create it)", err)
			}
			if !bytes.Equal(gotJSON, want) {
				t.Errorf("normalized alert differs from %s (go test ./alerts -update rewrites it)\ngot:\n%s\nwant:\n%s", golden, gotJSON, want)
			}
		})
	}
}

// TestDetectionIsUnambiguous checks that exactly one format recognises each sample, so detection order
// never decides between two formats for a payload Parry has seen.
func TestDetectionIsUnambiguous(t *testing.T) {
	for _, s := range samples {
		t.Run(s.file, func(t *testing.T) {
			doc, err := decodeObject(readSample(t, s.file))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range formats {
				if f.Detect(doc) {
					got = append(got, f.Name)
				}
			}
			if want := []string{s.source}; !reflect.DeepEqual(got, want) {
				t.Errorf("detected by %q, want only %q", got, want)
			}
		})
	}
}

func marshalAlert(t testing.TB, a Alert) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // message ids read <…> in the golden files
	enc.SetIndent("", "  ")
	if err := enc.Encode(a); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// normalizeCases runs Normalize over named payloads and compares each alert, without raw, with want.
func normalizeCases(t *testing.T, source string, cases []normalizeCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize([]byte(tt.in), source)
			if err != nil {
				t.Fatal(err)
			}
			got.Raw = nil
			if g, w := marshalAlert(t, got), marshalAlert(t, tt.want); !bytes.Equal(g, w) {
				t.Errorf("got %s\nwant %s", g, w)
			}
		})
	}
}

type normalizeCase struct {
	name string
	in   string
	want Alert
}

// refuseCases runs Normalize over payloads it must refuse and compares the error message.
func refuseCases(t *testing.T, cases []refuseCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Normalize([]byte(tt.in), tt.source)
			if err == nil {
				t.Fatalf("Normalize succeeded, want error %q", tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error\ngot:  %s\nwant: %s", got, tt.want)
			}
		})
	}
}

type refuseCase struct {
	name   string
	in     string
	source string
	want   string
}

// TestEverySampleIsInTheTable keeps samples complete: a payload added to testdata/ without a row would be
// pinned by nothing.
func TestEverySampleIsInTheTable(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, s := range samples {
		listed[s.file] = true
	}
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s has no row in samples", f)
		}
	}
	if len(files) != len(samples) {
		t.Errorf("%d sample files, %d rows", len(files), len(samples))
	}
}

func TestNormalizeKeepsRawCompacted(t *testing.T) {
	payload := readSample(t, "parry-spearphishing-attachment.json")
	a, err := Normalize(payload, "")
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := json.Compact(&want, payload); err != nil {
		t.Fatal(err)
	}
	if got := string(a.Raw); got != want.String() {
		t.Errorf("raw = %s, want %s", got, want.String())
	}
}

func TestNormalizeParry(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		want Alert
	}{
		{
			name: "techniques tidied",
			in:   `{"id":"a1","techniques":[" t1059.001","T1059.001","T1053.005",""]}`,
			want: Alert{ID: "a1", Source: "parry", Techniques: []string{"T1053.005", "T1059.001"}},
		},
		{
			name: "tactics by id and name in matrix order",
			in:   `{"id":"a2","source":"Parry","tactics":["Lateral Movement","TA0002","execution"]}`,
			want: Alert{ID: "a2", Source: "parry", Tactics: []string{"execution", "lateral-movement"}},
		},
		{
			name: "severity, hashes, time and rule tidied",
			in: `{"id":"a3","techniques":["T1078"],"severity":" HIGH ","hashes":{"md5":"D41D8CD98F00B204E9800998ECF8427E"},` +
				`"time":"2026-11-22T10:02:41+01:00","rule":" Impossible travel ","unknown":{"kept":"in raw"}}`,
			want: Alert{ID: "a3", Source: "parry", Severity: "high", Techniques: []string{"T1078"}, Rule: "Impossible travel",
				Hashes: Hashes{MD5: "d41d8cd98f00b204e9800998ecf8427e"}, Time: "2026-11-22T09:02:41Z"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize([]byte(tt.in), "")
			if err != nil {
				t.Fatal(err)
			}
			got.Raw = nil
			if g, w := marshalAlert(t, got), marshalAlert(t, tt.want); !bytes.Equal(g, w) {
				t.Errorf("got %s, want %s", g, w)
			}
		})
	}
}

// TestNormalizeIDIsCanonicalPayloadHash checks that a payload without an id gets the SHA-256 of its
// canonical form (keys sorted, no whitespace, numbers as written), so the same alert formatted differently
// gets the same id.
func TestNormalizeIDIsCanonicalPayloadHash(t *testing.T) {
	a, err := Normalize([]byte(`{ "techniques": ["T1078"], "host": "ws-1", "n": 1.50, "s": "<&>" }`), "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Normalize([]byte(`{"s":"<&>","n":1.50,"host":"ws-1","techniques":["T1078"]}`), "parry")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(`{"host":"ws-1","n":1.50,"s":"<&>","techniques":["T1078"]}`))
	want := hex.EncodeToString(sum[:])
	if a.ID != want || b.ID != want {
		t.Errorf("ids = %s, %s; want %s", a.ID, b.ID, want)
	}
}

func TestNormalizeRefusesBadPayloads(t *testing.T) {
	for _, tt := range []struct {
		name   string
		in     string
		source string
		want   string
	}{
		{"empty body", "", "", "alert payload: the body is empty; send one alert as a JSON object"},
		{"blank body", " \n\t", "", "alert payload: the body is empty; send one alert as a JSON object"},
		{"array", `[{"id":"x"}]`, "", "alert payload: the body is a JSON array, not an object; send one alert per request, as a JSON object"},
		{"string", `"alert"`, "", "alert payload: the body is a JSON string, not an object; send one alert as a JSON object"},
		{"null", `null`, "", "alert payload: the body is a JSON null, not an object; send one alert as a JSON object"},
		{"truncated", `{"id":"x","techniques":["T10`, "", "alert payload at byte 28: the JSON ends too early (is the body truncated?); send the complete JSON object"},
		{"syntax", `{"id": "x",}`, "", "alert payload at byte 12: invalid JSON: invalid character '}' looking for beginning of object key string; send one alert as a JSON object"},
		{"two objects", `{"id":"x"} {"id":"y"}`, "", "alert payload at byte 12: more data follows the JSON value; send exactly one alert per request"},
		{"unknown shape", `{"foo":"bar"}`, "", "alert payload: matches no known alert format (tried defender, elastic, splunk, sentinel, wazuh, crowdstrike, proofpoint, sigma, parry); name the format as the alert source, or send Parry's own format (the normalized alert as JSON)"},
		{"unknown source", `{"foo":"bar"}`, "splunk-x", `alert payload: unknown alert source "splunk-x"; name one of defender, elastic, splunk, sentinel, wazuh, crowdstrike, proofpoint, sigma, parry, or leave the source out to detect the format`},
		{"parry wrong source", `{"source":"elastic","techniques":["T1078"]}`, "", `parry alert: field source: "elastic" is not parry; Parry's own format always has source parry (or none); to send the vendor's payload instead, name its format as the source`},
		{"parry bad severity", `{"techniques":["T1078"],"severity":"urgent"}`, "", `parry alert: field severity: "urgent" is not a severity; use one of low, medium, high, critical`},
		{"parry bad technique", `{"techniques":["T1078","lateral"]}`, "", `parry alert: field techniques[1]: "lateral" is not an ATT&CK technique id; write technique ids like T1566 or T1566.001`},
		{"parry bad tactic", `{"tactics":["kill-chain"]}`, "", `parry alert: field tactics[0]: "kill-chain" is not an ATT&CK tactic; use a tactic short name like initial-access, or an id like TA0001`},
		{"parry bad ip", `{"techniques":["T1078"],"source_ip":"10.0.0.300"}`, "", `parry alert: field source_ip: "10.0.0.300" is not an IP address; write an IPv4 or IPv6 address, or leave it out`},
		{"parry bad hash", `{"techniques":["T1078"],"hashes":{"sha256":"abc"}}`, "", `parry alert: field hashes.sha256: "abc" is not a SHA-256; write 64 hex digits`},
		{"parry bad time", `{"techniques":["T1078"],"time":"yesterday"}`, "", `parry alert: field time: "yesterday" is not an RFC 3339 time; write times like 2026-11-22T09:02:41Z`},
		{"parry time before year 1 in UTC", `{"techniques":["T1078"],"time":"0000-01-01T00:00:00+01:00"}`, "", `parry alert: field time: "0000-01-01T00:00:00+01:00" is not an RFC 3339 time; write times like 2026-11-22T09:02:41Z`},
		{"parry wrong type", `{"techniques":"T1078"}`, "", "parry alert at byte 21: field techniques: is a JSON string, want a list of strings; send the field with the documented type"},
		{"defender named without an id", `{"title":"x","severity":"high"}`, "defender", "defender alert: has no id or providerAlertId, so it is not in the defender format; post the alert as Microsoft Graph returns it (GET /security/alerts_v2/{id}), or name its real source (or none, to detect it)"},
		{"sentinel incident named defender", `{"properties":{"incidentNumber":7,"title":"x","severity":"High","additionalData":{"tactics":["InitialAccess"]}}}`, "defender", "defender alert: named as the source, but the payload has the sentinel format's shape; name sentinel as the source, or leave the source out to detect the format"},
		{"parry alert named wazuh", `{"id":"x","techniques":["T1078"]}`, "wazuh", "wazuh alert: named as the source, but the payload has the parry format's shape; name parry as the source, or leave the source out to detect the format"},
		{"defender wrong type", `{"@odata.type":"#microsoft.graph.security.alert","mitreTechniques":[1]}`, "", "defender alert at byte 69: field mitreTechniques: is a JSON number, want a string; send the field with the documented type"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Normalize([]byte(tt.in), tt.source)
			if err == nil {
				t.Fatalf("Normalize(%q) succeeded, want error %q", tt.in, tt.want)
			}
			var pe *PayloadError
			if !errors.As(err, &pe) {
				t.Errorf("error %T is not a *PayloadError", err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error\ngot:  %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestNormalizeSyntaxErrorWrapsJSONError(t *testing.T) {
	_, err := Normalize([]byte(`{"id": x}`), "")
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error %v does not wrap *json.SyntaxError", err)
	}
	if se.Offset != 8 {
		t.Errorf("offset = %d, want 8", se.Offset)
	}
}

func TestNormalizeDefender(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		want Alert
	}{
		{
			name: "informational is low, provider id when id is missing",
			in:   `{"@odata.type":"#microsoft.graph.security.alert","providerAlertId":"p1","severity":"informational","mitreTechniques":["t1078"]}`,
			want: Alert{ID: "p1", Source: "defender", Severity: "low", Techniques: []string{"T1078"}},
		},
		{
			name: "unknown severity stays empty, category names the tactic",
			in:   `{"@odata.type":"#microsoft.graph.security.alert","id":"d1","severity":"unknownFutureValue","category":"LateralMovement","mitreTechniques":[]}`,
			want: Alert{ID: "d1", Source: "defender", Tactics: []string{"lateral-movement"}},
		},
		{
			name: "malicious file beats the first file, user evidence beats process, system accounts skipped",
			in: `{"@odata.type":"#microsoft.graph.security.alert","id":"d2","severity":"high","evidence":[
				{"@odata.type":"#microsoft.graph.security.processEvidence","userAccount":{"accountName":"SYSTEM","userSid":"S-1-5-18"},
				 "imageFile":{"sha256":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
				{"@odata.type":"#microsoft.graph.security.fileEvidence","verdict":"unknown","fileDetails":{"sha256":"1111111111111111111111111111111111111111111111111111111111111111"}},
				{"@odata.type":"#microsoft.graph.security.fileEvidence","verdict":"malicious","fileDetails":{"sha256":"2222222222222222222222222222222222222222222222222222222222222222","sha1":"3333333333333333333333333333333333333333"}},
				{"@odata.type":"#microsoft.graph.security.userEvidence","userAccount":{"accountName":"","userPrincipalName":"alice@example.com"}},
				{"@odata.type":"#microsoft.graph.security.ipEvidence","ipAddress":"203.0.113.7"},
				{"@odata.type":"#microsoft.graph.security.deviceEvidence","deviceDnsName":"","hostName":"WS-0042"}]}`,
			want: Alert{ID: "d2", Source: "defender", Severity: "high", Host: "WS-0042", User: "alice@example.com", SourceIP: "203.0.113.7",
				Hashes: Hashes{SHA256: "2222222222222222222222222222222222222222222222222222222222222222", SHA1: "3333333333333333333333333333333333333333"}},
		},
		{
			name: "analyzed message gives the e-mail and sender ip",
			in: `{"@odata.type":"#microsoft.graph.security.alert","id":"d3","mitreTechniques":["T1566.001"],"evidence":[
				{"@odata.type":"#microsoft.graph.security.analyzedMessageEvidence","internetMessageId":"<m1@example.net>",
				 "p1Sender":{"emailAddress":"billing@invoices.example.net"},"recipientEmailAddress":"alice@example.com",
				 "subject":"Invoice","senderIp":"198.51.100.23"}]}`,
			want: Alert{ID: "d3", Source: "defender", Techniques: []string{"T1566.001"}, SourceIP: "198.51.100.23",
				Email: Email{MessageID: "<m1@example.net>", Sender: "billing@invoices.example.net", Recipient: "alice@example.com", Subject: "Invoice"}},
		},
		{
			name: "without a title, the detector's id names the rule",
			in:   `{"@odata.type":"#microsoft.graph.security.alert","id":"d5","detectorId":"e0da400f-affd-43ef-b1d5-afc2eb6f2756"}`,
			want: Alert{ID: "d5", Source: "defender", Rule: "e0da400f-affd-43ef-b1d5-afc2eb6f2756"},
		},
		{
			name: "detected by shape without odata type",
			in:   `{"id":"d4","providerAlertId":"d4","mitreTechniques":["T1204.002"],"evidence":[],"createdDateTime":"2021-04-27T12:19:27.7211305Z"}`,
			want: Alert{ID: "d4", Source: "defender", Techniques: []string{"T1204.002"}, Time: "2021-04-27T12:19:27.7211305Z"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize([]byte(tt.in), "")
			if err != nil {
				t.Fatal(err)
			}
			got.Raw = nil
			if g, w := marshalAlert(t, got), marshalAlert(t, tt.want); !bytes.Equal(g, w) {
				t.Errorf("got %s, want %s", g, w)
			}
		})
	}
}

func TestFormatsListsDetectionOrder(t *testing.T) {
	got, want := strings.Join(Formats(), ","), "defender,elastic,splunk,sentinel,wazuh,crowdstrike,proofpoint,sigma,parry"
	if got != want {
		t.Errorf("Formats() = %s, want %s", got, want)
	}
}
