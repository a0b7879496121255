package frontdoor

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/parry-soc/parry/approval"
	"github.com/parry-soc/parry/internal/operators"
)

// DevKeyFile is where the dev default keeps the front door's private key, under PARRY_HOME.
func DevKeyFile(home string) string { return filepath.Join(home, "keys", "frontdoor.key") }

// LoadKey returns the front door's private key: the file at path (PARRY_FRONTDOOR_KEY) when set, else with
// dev the dev key under home, created on first use. Without either there is no key, and an error says how
// to make one.
func LoadKey(path string, dev bool, home string) (ed25519.PrivateKey, error) {
	if path != "" {
		key, err := operators.ReadPrivateKey(path)
		if err != nil {
			return nil, fmt.Errorf("PARRY_FRONTDOOR_KEY: %w", err)
		}
		return key, nil
	}
	if dev {
		return devKey(DevKeyFile(home))
	}
	return nil, errors.New("no front door key: make one with `trigger keygen frontdoor -o FILE`, set PARRY_FRONTDOOR_KEY=FILE " +
		"here and wherever runs are started (or pin its public key there with PARRY_FRONTDOOR_PUBKEY), or use --dev")
}

// devKey reads the dev key, or creates it; when another process creates it at the same time, theirs wins.
func devKey(path string) (ed25519.PrivateKey, error) {
	key, err := operators.LoadOrCreateKey(path)
	if err != nil {
		return nil, fmt.Errorf("the dev front door key: %w", err)
	}
	return key, nil
}

// PinnedKey is the public half of the front door's key as a run pins it: a key that may speak only for
// Slack users.
func PinnedKey(pub ed25519.PublicKey) approval.Key {
	return approval.Key{ID: approval.KeyID(pub), Kind: approval.KeyFrontDoor, Name: "front door", PublicKey: pub}
}
