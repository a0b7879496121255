package operators

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parry-soc/parry/approval"
)

func TestLoadRoster(t *testing.T) {
	dir := t.TempDir()
	_, priv, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	key := Identity{Name: "ana", Key: priv}.Operator().Key
	for _, tt := range []struct {
		name, body, wantErr string
		wantKeys            int
	}{
		{"one operator", "operators:\n  - {name: ana, key: " + key + ", groups: [containment]}\n", "", 1},
		{"empty", "operators: []\n", "", 0},
		{"no name", "operators:\n  - {key: " + key + "}\n", "has no name", 0},
		{"twice", "operators:\n  - {name: ana, key: " + key + "}\n  - {name: ana, key: " + key + "}\n", "listed twice", 0},
		{"bad key", "operators:\n  - {name: ana, key: ed25519:xyz}\n", "operator \"ana\"", 0},
		{"not YAML", "operators: [", "roster", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".yaml")
			if err := os.WriteFile(path, []byte(tt.body), 0o644); err != nil {
				t.Fatal(err)
			}
			r, err := LoadRoster(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			keys := r.Keys()
			if len(keys) != tt.wantKeys {
				t.Fatalf("keys = %d, want %d", len(keys), tt.wantKeys)
			}
			if tt.wantKeys == 1 && (keys[0].Kind != approval.KeyOperator || keys[0].Name != "ana" || !keys[0].MayDecide("containment")) {
				t.Errorf("key = %+v", keys[0])
			}
		})
	}
}

func TestDevOperatorKeyIsStable(t *testing.T) {
	dir := t.TempDir()
	first, err := Dev(dir)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Dev(dir)
	if err != nil {
		t.Fatal(err)
	}
	if first.Name != DevOperator || !first.Key.Equal(second.Key) {
		t.Error("the dev operator's key changed between uses")
	}
	fi, err := os.Stat(filepath.Join(dir, "keys", "dev-operator.key"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestReadPrivateKeyRejectsOtherFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	if err := os.WriteFile(path, []byte("-----BEGIN RSA PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPrivateKey(path); err == nil || !strings.Contains(err.Error(), "not a Parry private key") {
		t.Errorf("got %v", err)
	}
}
