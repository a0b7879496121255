package evidence

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := New(filepath.Join(t.TempDir(), "evidence"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pathOf(t *testing.T, locator string) string {
	t.Helper()
	u, err := url.Parse(locator)
	if err != nil || u.Scheme != "file" {
		t.Fatalf("locator %q is not a file URL", locator)
	}
	return filepath.FromSlash(u.Path)
}

func TestPutWritesTheFileItHashes(t *testing.T) {
	s := newStore(t)
	data := []byte("memory image bytes")
	ev, err := s.Put(context.Background(), "parry-parry-demo-phish-0001/memory-dump", "memory.raw", strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	path := pathOf(t, ev.Locator)
	if want := filepath.Join(s.Dir(), "parry-parry-demo-phish-0001", "memory-dump", "memory.raw"); path != want {
		t.Errorf("path = %s, want %s", path, want)
	}
	onDisk, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(onDisk)
	if got, want := ev.SHA256, hex.EncodeToString(sum[:]); got != want {
		t.Errorf("sha256 = %s, want %s (of the file)", got, want)
	}
	if ev.Size != int64(len(data)) || string(onDisk) != string(data) {
		t.Errorf("stored %q (%d bytes), want %q", onDisk, ev.Size, data)
	}
	if err := s.Verify(ev); err != nil {
		t.Errorf("Verify: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("step directory holds %d entries, want only the evidence (no temporary files)", len(entries))
	}
}

func TestPutOfAStepTwiceKeepsTheFirstEvidence(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	first, err := s.Put(ctx, "run/step", "headers.txt", strings.NewReader("first"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Put(ctx, "run/step", "headers.txt", strings.NewReader("second"))
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Errorf("second Put = %+v, want the first %+v", again, first)
	}
	got, ok, err := s.Lookup(ctx, "run/step", "headers.txt")
	if err != nil || !ok || got != first {
		t.Errorf("Lookup = %+v, %t, %v; want %+v", got, ok, err, first)
	}
	if _, ok, _ := s.Lookup(ctx, "run/other", "headers.txt"); ok {
		t.Error("Lookup found evidence of a step that stored none")
	}
}

func TestConcurrentPutsAgreeOnOneFile(t *testing.T) {
	s := newStore(t)
	var wg sync.WaitGroup
	results := make([]string, 8)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ev, err := s.Put(context.Background(), "run/step", "capture.pcap", strings.NewReader(strings.Repeat("x", 1<<16)))
			if err != nil {
				t.Error(err)
			}
			results[i] = ev.SHA256
		}(i)
	}
	wg.Wait()
	for _, r := range results[1:] {
		if r != results[0] {
			t.Errorf("puts returned different hashes: %v", results)
		}
	}
}

func TestPathsAreSafeAndDistinct(t *testing.T) {
	s := newStore(t)
	for _, tt := range []struct {
		key, name string
		wantErr   bool
	}{
		{"parry-crowdstrike-ldt:ec86abd353824e96765ecbe18eb4f0b4:38655257584/isolate", "memory.raw", false},
		{"run/with/slashes/step", "x", false},
		{"../../etc/step", "passwd", false},
		{"run/step", "../../escape", false},
		{"run/..", ".hidden", false},
		{"no-slash", "x", true},
		{"/step", "x", true},
		{"run/", "x", true},
		{"run/step", "", true},
	} {
		t.Run(tt.key+" "+tt.name, func(t *testing.T) {
			p, err := s.Path(tt.key, tt.name)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Path error = %v, want error %t", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			rel, err := filepath.Rel(s.Dir(), p)
			if err != nil || !filepath.IsLocal(rel) || strings.Count(rel, string(filepath.Separator)) != 2 {
				t.Errorf("path %s is not <run>/<step>/<name> inside the store", p)
			}
		})
	}
	a, _ := s.Path("run:1/step", "x")
	b, _ := s.Path("run_1/step", "x")
	if a == b {
		t.Errorf("run ids differing only in unsafe characters share %s", a)
	}
}

func TestVerifyNoticesATamperedFile(t *testing.T) {
	s := newStore(t)
	ev, err := s.Put(context.Background(), "run/step", "memory.raw", strings.NewReader("original"))
	if err != nil {
		t.Fatal(err)
	}
	path := pathOf(t, ev.Locator)
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("tampered"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(ev); err == nil {
		t.Error("Verify accepted a tampered file")
	}
	ev.Locator = "file:///etc/passwd"
	if err := s.Verify(ev); err == nil {
		t.Error("Verify accepted a locator outside the store")
	}
}

func TestPutStopsWhenCancelled(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Put(ctx, "run/step", "memory.raw", strings.NewReader("bytes"))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Put = %v, want context.Canceled", err)
	}
	if _, ok, _ := s.Lookup(context.Background(), "run/step", "memory.raw"); ok {
		t.Error("a cancelled Put left evidence behind")
	}
}
