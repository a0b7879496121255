package lab

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/activities/provider"
)

// newLab returns a lab on the default fixture (or the given fixture file) with a fresh state file and
// millisecond ticks.
func newLab(t *testing.T, fixture string) (*Lab, string) {
	t.Helper()
	state := filepath.Join(t.TempDir(), "lab-state.json")
	l, err := New(Config{Fixture: fixture, State: state, Tick: time.Millisecond})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return l, state
}

// writeFixture writes a fixture file and returns its path.
func writeFixture(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fixture.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func errType(err error) string {
	if pe, ok := provider.AsError(err); ok {
		return pe.Type
	}
	return ""
}

func TestDefaultFixtureKnowsTheSampleAlerts(t *testing.T) {
	fx, err := DefaultFixture()
	if err != nil {
		t.Fatalf("DefaultFixture: %v", err)
	}
	for _, h := range []string{"WS-0042", "ws-0042", "WS-0042.corp.example.com", "DC-0001", "dc-0001.corp.example.com", "WEB-0001"} {
		if fx.host(h) == nil {
			t.Errorf("host %q unknown", h)
		}
	}
	for _, u := range []string{"alice", "alice@example.com", `CORP\alice`, "ALICE"} {
		if got := fx.user(u); got == nil || got.Name != "alice" {
			t.Errorf("user(%q) = %v, want alice", u, got)
		}
	}
	const sha = "4f1c6a5e2d9b8c7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0f9e"
	if f := fx.file(sha); f == nil || f.Verdict != provider.Malicious {
		t.Errorf("file %s = %+v, want a known malicious file", sha, f)
	}
	for _, id := range []string{"<20261122085901.4711@mail.example.net>", "20261122085901.4711@mail.example.net"} {
		m := fx.message(id)
		if m == nil {
			t.Fatalf("message %q unknown", id)
		}
		if len(m.DeliveredTo) < 2 || !slices.Contains(m.DeliveredTo, "alice@example.com") {
			t.Errorf("message delivered to %v, want alice's mailbox and others", m.DeliveredTo)
		}
		if len(m.Attachments) == 0 || m.Attachments[0].SHA256 != sha {
			t.Errorf("message attachments %v, want the dropper %s", m.Attachments, sha)
		}
	}
	if g := fx.groups["S0SOCLEADS"]; g == nil || len(g.Members) < 2 {
		t.Errorf("group S0SOCLEADS = %+v, want two leads", g)
	}
	if fx.groups["S0ONCALL"] == nil {
		t.Error("group S0ONCALL unknown")
	}
}

func TestIsolateHostIsRecordedOncePerKey(t *testing.T) {
	ctx := context.Background()
	l, path := newLab(t, "")
	for i := 0; i < 3; i++ { // the first call and two retries
		got, err := l.IsolateHost(ctx, "run-1/isolate", "ws-0042.corp.example.com", "")
		if err != nil {
			t.Fatalf("IsolateHost: %v", err)
		}
		want := provider.HostState{Host: "WS-0042", DeviceID: "38293534662e48c99f33c61631b3536d", State: "isolated"}
		if got != want {
			t.Errorf("IsolateHost = %+v, want %+v", got, want)
		}
	}
	st, err := ReadState(path)
	if err != nil {
		t.Fatalf("ReadState: %v", err)
	}
	if !st.Host("WS-0042").Isolated {
		t.Error("state: WS-0042 not isolated")
	}
	if got := st.Count("edr.isolate_host"); got != 1 {
		t.Errorf("Count(edr.isolate_host) = %d, want 1", got)
	}
	if e := st.Effects["run-1/isolate"]; e.Action != "edr.isolate_host" || e.Target != "WS-0042" {
		t.Errorf("effect = %+v, want edr.isolate_host on WS-0042", e)
	}

	// Another run isolating the same host is a call of its own.
	if _, err := l.IsolateHost(ctx, "run-2/isolate", "WS-0042", ""); err != nil {
		t.Fatal(err)
	}
	if st, _ := ReadState(path); st.Count("edr.isolate_host") != 2 {
		t.Errorf("Count after a second run = %d, want 2", st.Count("edr.isolate_host"))
	}
}

func TestHostMatchingIgnoresCaseAndAcceptsFQDN(t *testing.T) {
	l, _ := newLab(t, "")
	for i, tt := range []struct {
		in       string
		want     string
		wantType string
	}{
		{"WS-0042", "WS-0042", ""},
		{"ws-0042", "WS-0042", ""},
		{"WS-0042.corp.example.com", "WS-0042", ""},
		{"dc-0001.CORP.example.com", "DC-0001", ""},
		{"192.0.2.80", "WEB-0001", ""},
		{"WS-9999", "", actions.ErrHostNotFound},
		{"WS-0042.other.example.com", "", actions.ErrHostNotFound},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := l.IsolateHost(context.Background(), fmt.Sprintf("run/%d", i), tt.in, "")
			if gotType := errType(err); gotType != tt.wantType {
				t.Fatalf("error type = %q (%v), want %q", gotType, err, tt.wantType)
			}
			if got.Host != tt.want {
				t.Errorf("host = %q, want %q", got.Host, tt.want)
			}
		})
	}
}

func TestUnknownObjectsAreNotFoundErrors(t *testing.T) {
	ctx := context.Background()
	l, path := newLab(t, "")
	for _, tt := range []struct {
		name string
		call func() error
		want string
	}{
		{"release unknown host", func() error { _, err := l.ReleaseHost(ctx, "k/1", "NOPE-1", ""); return err }, actions.ErrHostNotFound},
		{"disable unknown user", func() error { _, err := l.DisableUser(ctx, "k/2", "mallory"); return err }, actions.ErrUserNotFound},
		{"user of another domain", func() error { _, err := l.DisableUser(ctx, "k/3", `OTHER\alice`); return err }, actions.ErrUserNotFound},
		{"unknown local account", func() error { return l.DisableLocalAccount(ctx, "k/4", "WS-0042", "root") }, actions.ErrUserNotFound},
		{"purge unknown message", func() error { _, err := l.PurgeMessage(ctx, "k/5", "<nope@example.net>"); return err }, actions.ErrNotFound},
		{"unknown Slack group", func() error { _, err := l.GroupMembers(ctx, "S0NOPE"); return err }, actions.ErrNotFound},
		{"no idempotency key", func() error { _, err := l.IsolateHost(ctx, "", "WS-0042", ""); return err }, actions.ErrInvalidInput},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if got := errType(err); got != tt.want {
				t.Errorf("error type = %q (%v), want %q", got, err, tt.want)
			}
		})
	}
	st, err := ReadState(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if len(st.Effects) != 0 {
		t.Errorf("failed calls recorded effects: %v", st.Effects)
	}
}

func TestReleasingAHostThatIsNotIsolatedIsANoOp(t *testing.T) {
	l, path := newLab(t, "")
	got, err := l.ReleaseHost(context.Background(), "run/release", "DC-0001", "")
	if err != nil {
		t.Fatalf("ReleaseHost: %v", err)
	}
	if got.State != "released" {
		t.Errorf("state = %q, want released", got.State)
	}
	st, _ := ReadState(path)
	if st.Host("DC-0001").Isolated {
		t.Error("DC-0001 isolated after release")
	}
}

func TestIsolateThenReleaseRoundTrips(t *testing.T) {
	ctx := context.Background()
	l, path := newLab(t, "")
	if _, err := l.IsolateHost(ctx, "run/isolate", "WS-0042", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ReleaseHost(ctx, "run/undo:isolate", "WS-0042", ""); err != nil {
		t.Fatal(err)
	}
	st, _ := ReadState(path)
	if st.Host("WS-0042").Isolated {
		t.Error("WS-0042 still isolated")
	}
	if st.Count("edr.isolate_host") != 1 || st.Count("edr.release_host") != 1 {
		t.Errorf("counts = %v, want one isolation and one release", st.Counts)
	}
}

func TestIdempotencyKeyReusedForAnotherTargetIsRefused(t *testing.T) {
	ctx := context.Background()
	l, _ := newLab(t, "")
	if _, err := l.IsolateHost(ctx, "run/step", "WS-0042", ""); err != nil {
		t.Fatal(err)
	}
	_, err := l.IsolateHost(ctx, "run/step", "DC-0001", "")
	if got := errType(err); got != actions.ErrInvalidInput {
		t.Errorf("error type = %q (%v), want %q", got, err, actions.ErrInvalidInput)
	}
}

func TestPurgeRemovesTheMessageFromEveryMailbox(t *testing.T) {
	ctx := context.Background()
	l, path := newLab(t, "")
	got, err := l.PurgeMessage(ctx, "run/purge", "<20261122085901.4711@mail.example.net>")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"alice@example.com", "bob@example.com", "finance@example.com"}
	if !slices.Equal(got, want) {
		t.Errorf("purged from %v, want %v", got, want)
	}
	// A second purge (another run) finds nothing left to remove.
	again, err := l.PurgeMessage(ctx, "run2/purge", "20261122085901.4711@mail.example.net")
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 0 {
		t.Errorf("second purge removed from %v, want none", again)
	}
	n, err := l.RestoreMessage(ctx, "run/undo:purge", "<20261122085901.4711@mail.example.net>")
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("restored %d mailboxes, want 3", n)
	}
	st, _ := ReadState(path)
	if len(st.PurgedMessages) != 0 {
		t.Errorf("purged messages after restore: %v", st.PurgedMessages)
	}
}

func TestContainmentOfProcessesFilesAndPersistence(t *testing.T) {
	ctx := context.Background()
	l, path := newLab(t, "")
	const dropper = "4f1c6a5e2d9b8c7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0f9e"
	for _, tt := range []struct {
		name string
		call func() (any, error)
		want any
	}{
		{"kill by name", func() (any, error) { return l.KillProcess(ctx, "r/kill", "WS-0042", "RUNDLL32.EXE") }, 1},
		{"kill again finds nothing", func() (any, error) { return l.KillProcess(ctx, "r2/kill", "WS-0042", "7020") }, 0},
		{"quarantine both copies", func() (any, error) { return l.QuarantineFile(ctx, "r/q", "WS-0042", dropper, "") }, 2},
		{"quarantine is not repeated", func() (any, error) { return l.QuarantineFile(ctx, "r2/q", "WS-0042", dropper, "") }, 0},
		{"restore", func() (any, error) { return l.RestoreFile(ctx, "r/undo:q", "WS-0042", dropper) }, 2},
		{"remove run key", func() (any, error) {
			r, err := l.RemovePersistence(ctx, "r/p", "WS-0042", "registry_run_key", "windowsupdatesvc")
			return r.Removed && bytes.Contains(r.Definition, []byte("WindowsUpdateSvc")), err
		}, true},
		{"remove missing item", func() (any, error) {
			r, err := l.RemovePersistence(ctx, "r/p2", "WS-0042", "service", "nope")
			return r.Removed, err
		}, false},
		{"revoke sessions", func() (any, error) { return l.RevokeSessions(ctx, "r/rs", "alice") }, 3},
		{"revoke again", func() (any, error) { return l.RevokeSessions(ctx, "r2/rs", "alice") }, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.call()
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	st, _ := ReadState(path)
	hs := st.Host("WS-0042")
	if !slices.Equal(hs.KilledPIDs, []int{7020}) || !slices.Equal(hs.RemovedPersistence, []string{"registry_run_key/WindowsUpdateSvc"}) {
		t.Errorf("host state = %+v", hs)
	}
	if us, _ := st.User("alice"); us.Sessions != 0 {
		t.Errorf("alice has %d sessions after revocation", us.Sessions)
	}
}

func TestScanReportsWhatIsLeft(t *testing.T) {
	ctx := context.Background()
	l, _ := newLab(t, "")
	before, err := l.ScanHost(ctx, "r/scan1", "WS-0042", "", provider.Progress{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Findings) == 0 {
		t.Fatal("scan of WS-0042 found nothing")
	}
	if _, err := l.QuarantineFile(ctx, "r/q", "WS-0042", "4f1c6a5e2d9b8c7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0f9e", ""); err != nil {
		t.Fatal(err)
	}
	after, err := l.ScanHost(ctx, "r/scan2", "WS-0042", "", provider.Progress{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(after.Findings), len(before.Findings)-2; got != want {
		t.Errorf("findings after quarantine = %d, want %d", got, want)
	}
	clean, err := l.ScanHost(ctx, "r/scan3", "FS-0001", "", provider.Progress{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(clean.Findings) != 0 {
		t.Errorf("FS-0001 findings = %v, want none", clean.Findings)
	}
}

func TestIntelVerdictsComeFromTheFixture(t *testing.T) {
	ctx := context.Background()
	l, _ := newLab(t, "")
	for _, tt := range []struct {
		sha, want string
	}{
		{"4f1c6a5e2d9b8c7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0f9e", provider.Malicious},
		{"4F1C6A5E2D9B8C7A6F5E4D3C2B1A09F8E7D6C5B4A39281706F5E4D3C2B1A0F9E", provider.Malicious},
		{"6a671b92a69755de6fd063fcbe4ba926d83b49f78c42dbaeed8cdb6bbc57576a", provider.Clean},
		{strings.Repeat("ab", 32), provider.Unknown},
	} {
		got, err := l.LookupHash(ctx, tt.sha)
		if err != nil {
			t.Fatal(err)
		}
		if got.Verdict != tt.want {
			t.Errorf("LookupHash(%s) = %q, want %q", tt.sha, got.Verdict, tt.want)
		}
	}
	ip, err := l.LookupIP(ctx, "198.51.100.23")
	if err != nil || ip.Verdict != provider.Malicious || ip.Reputation != 90 {
		t.Errorf("LookupIP = %+v, %v; want malicious, 90", ip, err)
	}
	d, err := l.Detonate(ctx, "r/det", strings.Repeat("cd", 32), provider.Progress{}, nil)
	if err != nil || d.Verdict != provider.Unknown {
		t.Errorf("Detonate(unknown) = %+v, %v; want verdict unknown", d.Verdict, err)
	}
}

func TestLongCallsResumeFromProgress(t *testing.T) {
	l, _ := newLab(t, "")
	const sha = "4f1c6a5e2d9b8c7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0f9e"
	total := l.Fixture().Timing.DetonationSeconds
	var seen []provider.Progress
	d, err := l.Detonate(context.Background(), "r/det", sha, provider.Progress{Stage: "sandbox.detonate", Done: total - 1, Total: total},
		func(p provider.Progress) { seen = append(seen, p) })
	if err != nil {
		t.Fatal(err)
	}
	if d.Verdict != provider.Malicious {
		t.Errorf("verdict = %q, want malicious", d.Verdict)
	}
	// One report where it resumed, one after the single tick left: the first total-1 ticks were skipped.
	want := []provider.Progress{{Stage: "sandbox.detonate", Done: total - 1, Total: total}, {Stage: "sandbox.detonate", Done: total, Total: total}}
	if !slices.Equal(seen, want) {
		t.Errorf("progress = %v, want %v", seen, want)
	}

	// Progress of another stage (or another total) is not resumed from.
	seen = nil
	if _, err := l.Detonate(context.Background(), "r/det2", sha, provider.Progress{Stage: "evidence.memory_dump", Done: total, Total: total},
		func(p provider.Progress) { seen = append(seen, p) }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != total+1 || seen[0].Done != 0 {
		t.Errorf("progress = %v, want %d reports from 0", seen, total+1)
	}
}

func TestCapturesAreByteIdenticalOnRetry(t *testing.T) {
	ctx := context.Background()
	l, _ := newLab(t, "")
	read := func(c provider.Capture, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Body.Close()
		b, err := io.ReadAll(c.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tt := range []struct {
		name    string
		marker  string // what says the capture is simulated
		capture func(key string) []byte
	}{
		{"memory", "PARRY LAB SIMULATION", func(key string) []byte { return read(l.MemoryDump(ctx, key, "WS-0042", provider.Progress{}, nil)) }},
		{"pcap", "parry-lab-simulation", func(key string) []byte {
			return read(l.NetworkCapture(ctx, key, "WS-0042", time.Minute, provider.Progress{}, nil))
		}},
		{"triage", "PARRY LAB SIMULATION", func(key string) []byte {
			data := read(l.CollectTriage(ctx, key, "WS-0042", provider.Progress{}, nil))
			zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatalf("triage package is not a zip: %v", err)
			}
			f, err := zr.Open("README.txt")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			readme, _ := io.ReadAll(f)
			return append(data, readme...) // the package, and its README to look for the marker in
		}},
		{"logs", `"simulated":true`, func(key string) []byte {
			lc, err := l.CollectLogs(ctx, key, "WS-0042", "security", time.Hour, provider.Progress{}, nil)
			return read(lc.Capture, err)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			first := tt.capture("run/" + tt.name)
			// The host changes between the attempts; the retry must still return the first capture's bytes.
			if _, err := l.KillProcess(ctx, "run/kill-"+tt.name, "WS-0042", "EXCEL.EXE"); err != nil {
				t.Fatal(err)
			}
			retry := tt.capture("run/" + tt.name)
			if !bytes.Equal(first, retry) {
				t.Error("retry returned different bytes")
			}
			if !bytes.Contains(first, []byte(tt.marker)) {
				t.Errorf("capture does not contain %q", tt.marker)
			}
		})
	}
}

func TestFaultInjectionFailsTheFirstAttempts(t *testing.T) {
	fixture := writeFixture(t, `
hosts:
  - {name: H-1, fqdn: h-1.example.com}
faults:
  edr.isolate_host: {fail_first: 2}
  edr.release_host: {fail_first: 1, type: VendorRejected, message: host is protected}
`)
	ctx := context.Background()
	l, path := newLab(t, fixture)
	for attempt := 1; attempt <= 3; attempt++ {
		_, err := l.IsolateHost(ctx, "run/isolate", "H-1", "")
		if attempt <= 2 {
			pe, ok := provider.AsError(err)
			if !ok || pe.Type != provider.ErrUnavailable || pe.NonRetryable() {
				t.Errorf("attempt %d: error %v, want a retryable injected fault", attempt, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("attempt %d: %v, want success", attempt, err)
		}
	}
	_, err := l.ReleaseHost(ctx, "run/release", "H-1", "")
	if pe, ok := provider.AsError(err); !ok || pe.Type != actions.ErrVendorRejected || !pe.NonRetryable() {
		t.Errorf("release: %v, want a non-retryable VendorRejected", err)
	}
	st, err := ReadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Count("edr.isolate_host") != 1 {
		t.Errorf("Count = %d, want 1", st.Count("edr.isolate_host"))
	}
}
