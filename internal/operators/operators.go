// Package operators manages the people who approve from the CLI and the keys runs trust: an operator
// roster (name, public key, approver groups), private key files, and the local operator the dev default
// provisions. Every run pins the public keys it trusts in its input when it starts.
package operators

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/parry-soc/parry/approval"
)

// DevOperator is the name of the operator the dev default provisions.
const DevOperator = "dev"

// Operator is one roster entry.
type Operator struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"` // ed25519:<base64 public key>
	// Groups are the approver group ids (across playbooks) this operator may decide for; "*" means all.
	Groups []string `yaml:"groups"`
}

// Roster is the list of operators, as kept in a roster file:
//
//	operators:
//	  - name: alice
//	    key: ed25519:3q2+7w…
//	    groups: [containment]
type Roster struct {
	Operators []Operator `yaml:"operators"`
}

// LoadRoster reads a roster file. A missing path is an empty roster.
func LoadRoster(path string) (Roster, error) {
	var r Roster
	if path == "" {
		return r, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return r, fmt.Errorf("read operator roster: %w", err)
	}
	if err := yaml.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("read operator roster %s: %w", path, err)
	}
	seen := map[string]bool{}
	for i, o := range r.Operators {
		if o.Name == "" {
			return r, fmt.Errorf("operator roster %s: entry %d has no name", path, i+1)
		}
		if seen[o.Name] {
			return r, fmt.Errorf("operator roster %s: operator %q listed twice", path, o.Name)
		}
		seen[o.Name] = true
		if _, err := approval.ParsePublicKey(o.Key); err != nil {
			return r, fmt.Errorf("operator roster %s: operator %q: %w", path, o.Name, err)
		}
	}
	return r, nil
}

// Keys returns the roster as keys to pin in a run.
func (r Roster) Keys() []approval.Key {
	var keys []approval.Key
	for _, o := range r.Operators {
		pub, err := approval.ParsePublicKey(o.Key)
		if err != nil {
			continue // LoadRoster already refused it
		}
		keys = append(keys, approval.Key{ID: approval.KeyID(pub), Kind: approval.KeyOperator, Name: o.Name, PublicKey: pub, Groups: o.Groups})
	}
	return keys
}

// Add adds or replaces an operator.
func (r *Roster) Add(o Operator) {
	for i := range r.Operators {
		if r.Operators[i].Name == o.Name {
			r.Operators[i] = o
			return
		}
	}
	r.Operators = append(r.Operators, o)
}

// GenerateKey makes a new ed25519 key pair.
func GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	return pub, priv, nil
}

const privatePrefix = "ed25519-private:"

// WritePrivateKey writes a private key file readable by its owner only. It refuses to overwrite one.
func WritePrivateKey(path string, priv ed25519.PrivateKey) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	_, err = fmt.Fprintf(f, "%s%s\n", privatePrefix, base64.StdEncoding.EncodeToString(priv.Seed()))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write key %s: %w", path, err)
	}
	return nil
}

// ReadPrivateKey reads a key file written by WritePrivateKey.
func ReadPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	s, ok := strings.CutPrefix(strings.TrimSpace(string(b)), privatePrefix)
	if !ok {
		return nil, fmt.Errorf("read key %s: not a Parry private key (want %s<base64>)", path, privatePrefix)
	}
	seed, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("read key %s: malformed seed", path)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// LoadOrCreateKey reads the key file at path, or creates it with a new key; when another process creates
// it at the same time, theirs wins.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	key, err := ReadPrivateKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if _, key, err = GenerateKey(); err != nil {
		return nil, err
	}
	if err := WritePrivateKey(path, key); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return ReadPrivateKey(path)
		}
		return nil, err
	}
	return key, nil
}

// Identity is an operator with a private key: who `trigger approve` signs as.
type Identity struct {
	Name string
	Key  ed25519.PrivateKey
}

// Operator returns the identity's roster entry with the given groups.
func (id Identity) Operator(groups ...string) Operator {
	return Operator{Name: id.Name, Key: approval.EncodePublicKey(id.Key.Public().(ed25519.PublicKey)), Groups: groups}
}

// Dev returns the dev default's local operator, creating its key under dir on first use. The dev operator may
// decide for every approver group: it is the person at the keyboard of a lab setup. Nothing else changes in
// dev: every decision is still a signed assertion checked by the workflow.
func Dev(dir string) (Identity, error) {
	priv, err := LoadOrCreateKey(filepath.Join(dir, "keys", "dev-operator.key"))
	if err != nil {
		return Identity{}, err
	}
	return Identity{Name: DevOperator, Key: priv}, nil
}
