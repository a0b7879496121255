package alerts

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func decodeDoc(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTextsReadsFlatAndNestedKeysThroughLists(t *testing.T) {
	doc := decodeDoc(t, `{
		"kibana.alert.uuid": "flat",
		"kibana": {"alert": {"uuid": "nested"}},
		"threat": [{"technique": [{"id": "T1059"}, {"id": "T1132"}]}, {"technique": {"id": 7}}],
		"n": 4780, "blank": " ", "obj": {"a": true}
	}`)
	for _, tt := range []struct {
		path string
		want []string
	}{
		{"kibana.alert.uuid", []string{"flat", "nested"}},
		{"threat.technique.id", []string{"T1059", "T1132", "7"}},
		{"n", []string{"4780"}},
		{"blank", nil},
		{"obj", nil},
		{"obj.a", nil},
		{"missing.path", nil},
		{"", nil},
	} {
		if got := texts(doc, tt.path); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("texts(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
	if got, want := text(doc, "missing", "n"), "4780"; got != want {
		t.Errorf("text = %q, want %q", got, want)
	}
}

func TestSplitTexts(t *testing.T) {
	doc := decodeDoc(t, `{"ids": "T1566.001, T1203", "mv": ["T1078\nT1110", "T1059;"]}`)
	if got, want := splitTexts(doc, "ids"), []string{"T1566.001", "T1203"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := splitTexts(doc, "mv"), []string{"T1078", "T1110", "T1059"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestAccountNameSkipsMachineAccounts(t *testing.T) {
	for _, tt := range []struct {
		name, sid, want string
	}{
		{"alice", "", "alice"},
		{"CORP\\alice", "", "alice"},
		{"alice@example.com", "", "alice@example.com"},
		{"Administrator", "", "Administrator"},
		{"SYSTEM", "", ""},
		{"NT AUTHORITY\\SYSTEM", "", ""},
		{"LOCAL SERVICE", "", ""},
		{"NetworkService", "", ""},
		{"anything", "S-1-5-18", ""},
		{"root", "", ""},
		{"DC-0001$", "", ""},
		{"unknown", "", ""},
		{"-", "", ""},
		{" ", "", ""},
	} {
		if got := accountName(tt.name, tt.sid); got != tt.want {
			t.Errorf("accountName(%q, %q) = %q, want %q", tt.name, tt.sid, got, tt.want)
		}
	}
}

func TestFileHashesDropsMalformedAndZeroDigests(t *testing.T) {
	got := fileHashes(
		" ABCD3091F6093BD9A7B308E536FBC285AEEF2C5139577CC96BC594A4845F0E13 ",
		"ABCDc728d069ba6239c1da751a2f31fba9b1aa", // 38 digits: a masked value, not a SHA-1
		"00000000000000000000000000000000",
	)
	want := Hashes{SHA256: "abcd3091f6093bd9a7b308e536fbc285aeef2c5139577cc96bc594a4845f0e13"}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestHashList(t *testing.T) {
	sha256 := "d9df3091f6093bd9a7b308e536fbc285aeef2c5139577cc96bc594a4845f0e13"
	sha1 := "21a5d9c728d069ba6239c1da751a2f31fba9b1aa"
	md5 := "f9bf2d21a340f2b3ee534fba5b29e417"
	for _, tt := range []struct {
		name string
		in   []string
		want Hashes
	}{
		{"sysmon", []string{"SHA1=" + sha1 + ",MD5=" + md5 + ",SHA256=" + sha256 + ",IMPHASH=" + md5}, Hashes{sha256, sha1, md5}},
		{"bare by length", []string{md5, sha256}, Hashes{SHA256: sha256, MD5: md5}},
		{"junk", []string{"SHA256=xyz", "12"}, Hashes{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := hashList(tt.in...); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestTechniqueIDsDropVendorIDs(t *testing.T) {
	got := techniqueIDs([]string{"t1110", "CST0007", "CSTA0006", "AML.T0051", "T1059.001", "T15", "TA0001"})
	if want := []string{"T1110", "T1059.001"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestTechniqueByName(t *testing.T) {
	for _, tt := range []struct {
		name    string
		tactics []string
		want    string
		wantOK  bool
	}{
		{"User Execution", nil, "T1204", true},
		{"brute force", nil, "T1110", true},
		{"Spearphishing Attachment", []string{"Initial Access"}, "T1566.001", true},
		{"Spearphishing Attachment", []string{"TA0043"}, "T1598.002", true},
		{"Spearphishing Attachment", nil, "", false},                   // ambiguous, no tactic to decide
		{"Spearphishing Attachment", []string{"Execution"}, "", false}, // ambiguous, tactic decides nothing
		{"Phishing: Spearphishing Attachment", nil, "T1566.001", true},
		{"Ransomware", []string{"Malware"}, "", false}, // a Falcon detection method, not ATT&CK
	} {
		got, ok := techniqueByName(tt.name, tt.tactics)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("techniqueByName(%q, %q) = %q, %v; want %q, %v", tt.name, tt.tactics, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestTacticNames(t *testing.T) {
	got := tacticNames([]string{"Persistence", "InitialAccess", "privilege_escalation", "TA0002", "Malware", "CSTA0006", "persistence"})
	if want := []string{"initial-access", "execution", "persistence", "privilege-escalation"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestVendorTime(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   any
		unit time.Duration
		want string
	}{
		{"rfc 3339 with offset", "2024-06-05T09:15:24.000+00:00", 0, "2024-06-05T09:15:24Z"},
		{"wazuh offset without colon", "2023-05-22T10:40:43.395+0000", 0, "2023-05-22T10:40:43.395Z"},
		{"zone-less space-separated is utc", "2024-12-03 19:54:30.000000000", 0, "2024-12-03T19:54:30Z"},
		{"epoch seconds", json.Number("1536846339"), time.Second, "2018-09-13T13:45:39Z"},
		{"epoch seconds with fraction, as a string", "1717578914.332298000", time.Second, "2024-06-05T09:15:14.332298Z"},
		{"epoch milliseconds", json.Number("1582101000000"), time.Millisecond, "2020-02-19T08:30:00Z"},
		{"epoch nanoseconds", json.Number("1643317697728000000"), time.Nanosecond, "2022-01-27T21:08:17.728Z"},
		{"epoch zero is unset", json.Number("0"), time.Second, ""},
		{"number without a unit", json.Number("1536846339"), 0, ""},
		{"beyond year 9999", json.Number("9223372036854775807"), time.Second, ""},
		{"utc past year 9999", "9999-12-31T23:00:00-05:00", 0, ""},
		{"negative", "-5", time.Second, ""},
		{"not a time", "yesterday", time.Second, ""},
		{"not a scalar", []any{"2024-06-05T09:15:24Z"}, 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := vendorTime(tt.in, tt.unit); got != tt.want {
				t.Errorf("vendorTime(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSeverityBand(t *testing.T) {
	// CrowdStrike's 0–100 scale: medium from 50, high from 70, critical from 90.
	for _, tt := range []struct {
		score float64
		want  string
	}{
		{-1, ""}, {0, "low"}, {10, "low"}, {49, "low"}, {50, "medium"}, {69.9, "medium"}, {70, "high"}, {79, "high"},
		{90, "critical"}, {100, "critical"}, {101, ""},
	} {
		if got := severityBand(tt.score, 0, 100, 50, 70, 90); got != tt.want {
			t.Errorf("severityBand(%v) = %q, want %q", tt.score, got, tt.want)
		}
	}
}

func TestGetFoldPrefersExactKey(t *testing.T) {
	m := map[string]any{"threatID": "real", "threatid": "other", "THREATID": "third"}
	if got := getFold(m, "threatID"); got != "real" {
		t.Errorf("exact key: got %v", got)
	}
	if got := getFold(m, "threatId"); got != "third" { // "THREATID" sorts first
		t.Errorf("folded key: got %v, want the first spelling in sort order", got)
	}
}
