package frontdoor_test

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parry-soc/parry/approval"
	"github.com/parry-soc/parry/internal/frontdoor"
	"github.com/parry-soc/parry/internal/operators"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestDevKeyIsCreatedOnce: --dev makes the front door key on first use, owner-readable only, and then
// reads the same key back.
func TestDevKeyIsCreatedOnce(t *testing.T) {
	home := t.TempDir()
	first, err := frontdoor.LoadKey("", true, home)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(frontdoor.DevKeyFile(home))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("dev key file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	again, err := frontdoor.LoadKey("", true, home)
	if err != nil || !bytes.Equal(first, again) {
		t.Errorf("second load: %v, same key %v", err, bytes.Equal(first, again))
	}
	pinned := frontdoor.PinnedKey(first.Public().(ed25519.PublicKey))
	if pinned.Kind != approval.KeyFrontDoor || pinned.ID != approval.KeyID(pinned.PublicKey) {
		t.Errorf("pinned key = %+v, want a front door key", pinned)
	}
}

// TestKeyFromFile: PARRY_FRONTDOOR_KEY wins over the dev key; without either there is an error saying how
// to make one.
func TestKeyFromFile(t *testing.T) {
	dir := t.TempDir()
	_, priv, err := operators.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "frontdoor.key")
	if err := operators.WritePrivateKey(path, priv); err != nil {
		t.Fatal(err)
	}
	got, err := frontdoor.LoadKey(path, true, dir)
	if err != nil || !bytes.Equal(got, priv) {
		t.Errorf("LoadKey(file) = %v, want the file's key", err)
	}
	if _, err := os.Stat(frontdoor.DevKeyFile(dir)); err == nil {
		t.Error("a dev key was created although PARRY_FRONTDOOR_KEY was given")
	}
	if _, err := frontdoor.LoadKey(filepath.Join(dir, "missing.key"), false, dir); err == nil || !contains(err.Error(), "PARRY_FRONTDOOR_KEY") {
		t.Errorf("missing file: %v, want an error naming PARRY_FRONTDOOR_KEY", err)
	}
	if _, err := frontdoor.LoadKey("", false, dir); err == nil || !contains(err.Error(), "trigger keygen") {
		t.Errorf("no key: %v, want an error saying how to make one", err)
	}
}
