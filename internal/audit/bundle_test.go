package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func TestEscapeIDKeepsSafeNamesAndEscapesTheRest(t *testing.T) {
	long := "parry-splunk-" + strings.Repeat("x", 300)
	for _, tt := range []struct {
		name, id, want string
	}{
		{"parry run", "parry-parry-demo-phish-0001", "parry-parry-demo-phish-0001"},
		{"dots inside", "parry-elastic-a.b_c", "parry-elastic-a.b_c"},
		{"slash and dot-dot", "parry-x-../../etc/passwd", "parry-x-..%2F..%2Fetc%2Fpasswd"},
		{"leading dot", ".hidden", "%2Ehidden"},
		{"percent itself", "a%2Fb", "a%252Fb"},
		{"space and unicode", "a b·c", "a%20b%C2%B7c"},
		{"at sign (used for another run's bundle)", "a@b", "a%40b"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := EscapeID(tt.id); got != tt.want {
				t.Errorf("EscapeID(%q) = %q, want %q", tt.id, got, tt.want)
			}
		})
	}
	t.Run("long ids are cut and stay unique", func(t *testing.T) {
		a, b := EscapeID(long+"a"), EscapeID(long+"b")
		if len(a) > maxDirName || a == b || !strings.Contains(a, "~") {
			t.Errorf("got %q (%d bytes) and %q", a, len(a), b)
		}
		if EscapeID(long+"a") != a {
			t.Error("not deterministic")
		}
	})
	t.Run("never cuts inside an escape", func(t *testing.T) {
		got := EscapeID(strings.Repeat("/", 200))
		body, _, _ := strings.Cut(got, "~")
		if len(body)%3 != 0 {
			t.Errorf("cut inside an escape: %q", got)
		}
	})
}

func testManifest() Manifest {
	return Manifest{
		Format: Format, Namespace: "default", WorkflowID: "parry-parry-demo-phish-0001", RunID: "0195-run",
		WorkflowType: "PlaybookWorkflow", Status: "completed",
		Started: time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC), Closed: time.Date(2026, 11, 26, 18, 0, 9, 0, time.UTC),
		Playbook:   PlaybookInfo{ID: "spearphishing-attachment", Version: 1, SHA256: "ab12"},
		Techniques: []string{"T1566.001"}, Alert: AlertInfo{ID: "demo-phish-0001", Source: "parry"},
		State: "completed", Disposition: "undetermined", Payloads: PayloadsAsRecorded, PayloadKeyIDs: []string{},
		ParryVersion: "devel", ExportedAt: time.Date(2026, 11, 26, 18, 1, 0, 0, time.UTC), ExportedBy: "test",
		HistoryFile: HistoryFile, HistorySHA256: SHA256Hex([]byte("{}")),
	}
}

func TestManifestSignatureCoversEveryMember(t *testing.T) {
	key, other := newKey(t), newKey(t)
	m := testManifest()
	raw, err := m.Sign(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyManifest(raw, []ed25519.PublicKey{pub(key)}); err != nil {
		t.Fatalf("a fresh signature does not verify: %v", err)
	}
	// The same object re-encoded (other member order, other whitespace) still verifies: the signature is
	// over the canonical form.
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	compact, _ := json.Marshal(obj)
	if _, err := VerifyManifest(compact, []ed25519.PublicKey{pub(key)}); err != nil {
		t.Errorf("a re-encoded manifest does not verify: %v", err)
	}

	added := bytes.Replace(raw, []byte(`"format"`), []byte(`"extra": "x", "format"`), 1)
	for _, tt := range []struct {
		name string
		raw  []byte
		keys []ed25519.PublicKey
		want string
	}{
		{"a changed value", bytes.Replace(raw, []byte("demo-phish-0001"), []byte("demo-phish-0002"), 1), []ed25519.PublicKey{pub(key)}, "changed after it was signed"},
		{"a member added", added, []ed25519.PublicKey{pub(key)}, "changed after it was signed"},
		{"another key", raw, []ed25519.PublicKey{pub(other)}, "not by a trusted key"},
		{"not JSON", raw[:len(raw)/2], []ed25519.PublicKey{pub(key)}, "not valid JSON"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifyManifest(tt.raw, tt.keys)
			if !errors.Is(err, ErrSignature) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want a signature error saying %q", err, tt.want)
			}
		})
	}
}

func TestWriteBundleKeepsAClosedRunAndReplacesAnOpenOne(t *testing.T) {
	root, key := t.TempDir(), newKey(t)
	open := testManifest()
	open.Closed, open.Status = time.Time{}, "running"
	w, err := WriteBundle(root, &open, []byte(`{"events":[]}`), key)
	if err != nil || w.Existing || w.Dir != filepath.Join(root, "parry-parry-demo-phish-0001") {
		t.Fatalf("first write: %+v %v", w, err)
	}
	closed := testManifest()
	if w, err = WriteBundle(root, &closed, []byte(`{"events":[1]}`), key); err != nil || w.Existing {
		t.Fatalf("the closed run did not replace the open one: %+v %v", w, err)
	}
	again := testManifest()
	if w, err = WriteBundle(root, &again, []byte(`{"events":[2]}`), key); err != nil || !w.Existing {
		t.Fatalf("a closed run's bundle was not kept: %+v %v", w, err)
	}
	if b, _ := os.ReadFile(filepath.Join(w.Dir, HistoryFile)); string(b) != `{"events":[1]}` {
		t.Errorf("history = %s, want the first closed export", b)
	}
	other := testManifest()
	other.RunID = "0196-another-run"
	if w, err = WriteBundle(root, &other, []byte(`{}`), key); err != nil || filepath.Base(w.Dir) != "parry-parry-demo-phish-0001@0196-another-run" {
		t.Fatalf("another run of the same workflow id: %+v %v", w, err)
	}
	if _, m, ok := Find(root, other.WorkflowID, other.RunID); !ok || m.RunID != other.RunID {
		t.Errorf("Find does not find the other run's bundle")
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 2 {
		t.Errorf("audit dir holds %d entries, want 2 bundles and no leftovers: %v", len(entries), entries)
	}
}

func TestConcurrentWritersLeaveOneBundle(t *testing.T) {
	root, key := t.TempDir(), newKey(t)
	var wg sync.WaitGroup
	written := make(chan Written, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := testManifest()
			m.ExportedBy = string(rune('a' + i))
			w, err := WriteBundle(root, &m, []byte(`{}`), key)
			if err != nil {
				t.Error(err)
			}
			written <- w
		}()
	}
	wg.Wait()
	close(written)
	fresh := 0
	for w := range written {
		if !w.Existing {
			fresh++
		}
	}
	entries, _ := os.ReadDir(root)
	if fresh != 1 || len(entries) != 1 {
		t.Errorf("%d writers wrote, %d entries in the audit dir: want one bundle, written once", fresh, len(entries))
	}
}
