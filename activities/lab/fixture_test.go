package lab

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parry-soc/parry/actions"
)

func TestFixtureOverrideByPath(t *testing.T) {
	fixture := writeFixture(t, `
org: Tiny Co
hosts:
  - {name: TINY-01, fqdn: tiny-01.tiny.example, ip: 192.0.2.200, role: server, device_id: d1}
users:
  - {name: zoe, upn: zoe@tiny.example}
`)
	l, _ := newLab(t, fixture)
	if got := l.Fixture().Source(); got != fixture {
		t.Errorf("Source() = %q, want %q", got, fixture)
	}
	hs, err := l.IsolateHost(context.Background(), "r/1", "tiny-01.tiny.example", "")
	if err != nil || hs.Host != "TINY-01" {
		t.Errorf("IsolateHost = %+v, %v; want TINY-01", hs, err)
	}
	if _, err := l.IsolateHost(context.Background(), "r/2", "WS-0042", ""); errType(err) != actions.ErrHostNotFound {
		t.Errorf("the default fixture's WS-0042 is still known: %v", err)
	}
}

func TestBadFixturesAreClearErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		yaml string
		want []string // substrings of the error
	}{
		{"syntax", "hosts:\n  - name: A\n   fqdn: [\n", []string{"bad.yaml:1: did not find expected"}},
		{"unknown key", "hosts:\n  - name: A\n    colour: blue\n", []string{"bad.yaml:3:", "colour"}},
		{"wrong type", "timing:\n  scan_seconds: soon\n", []string{"bad.yaml:2:"}},
		{"empty", "", []string{"bad.yaml", "empty"}},
		{"bad ip", "hosts:\n  - name: A\n    ip: 300.1.1.1\n", []string{"bad.yaml:3: hosts[0].ip:", `"300.1.1.1" is not an IP address`}},
		{"duplicate host", "hosts:\n  - name: A\n  - name: a\n", []string{"bad.yaml:3: hosts[1]:", "defined twice"}},
		{"bad hash", "files:\n  - sha256: abc\n    verdict: clean\n", []string{"bad.yaml:2: files[0].sha256:", "not a SHA-256"}},
		{"bad verdict", "files:\n  - sha256: " + strings.Repeat("a", 64) + "\n    verdict: evil\n", []string{"bad.yaml:3: files[0].verdict:"}},
		{"unknown owner", "hosts:\n  - name: A\n    owner: nobody\n", []string{"bad.yaml:3: hosts[0].owner:", `unknown user "nobody"`}},
		{"unknown mailbox", "messages:\n  - message_id: <a@b>\n    delivered_to: [x@example.com]\n", []string{"bad.yaml:3: messages[0].delivered_to[0]:", "unknown mailbox"}},
		{"unknown Slack member", "slack:\n  groups:\n    - {id: S1, members: [U9]}\n", []string{"bad.yaml:3: slack.groups[0].members[0]:", `unknown Slack user "U9"`}},
		{"unknown fault action", "faults:\n  edr.explode: {fail_first: 1}\n", []string{"bad.yaml:2: faults.edr.explode:", "unknown action"}},
		{"negative tick", "timing:\n  tick: -1s\n", []string{"bad.yaml:2: timing.tick:"}},
		{"two problems", "hosts:\n  - name: A\n    ip: x\n  - name: B\n    role: toaster\n", []string{"bad.yaml:3:", "bad.yaml:5:"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFixture("bad.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("ParseFixture accepted a bad fixture")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestMissingFixtureFileNamesThePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := New(Config{Fixture: path, State: filepath.Join(t.TempDir(), "s.json")})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("New = %v, want an error naming %s", err, path)
	}
}

// FuzzParseFixture checks that no input makes the parser panic.
func FuzzParseFixture(f *testing.F) {
	f.Add(defaultFixture)
	f.Add([]byte("hosts:\n  - name: A\n    ip: x\n"))
	f.Add([]byte("faults: {edr.isolate_host: {fail_first: -1}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseFixture("fuzz.yaml", data)
	})
}
