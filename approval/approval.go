// Package approval defines the signed statements people make about a run — approve or deny a step, mark a
// manual task done, close the run — and how they are checked. Whoever verified the person signs: the front
// door after Slack's request signature checked out, or an operator's own key for the CLI. The workflow
// verifies the signature against the public keys pinned in the run's input, so a statement cannot be forged
// by anyone who can merely send an Update to Temporal.
package approval

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Verbs of a statement.
const (
	Approve = "approve"
	Deny    = "deny"
	Done    = "done"  // a manual task is done
	Close   = "close" // close the run with a disposition
)

// Actor kinds.
const (
	ActorSlack    = "slack"    // a Slack user, vouched for by the front door
	ActorOperator = "operator" // a CLI operator, signing with their own key
)

// Key kinds pinned in a run's input.
const (
	KeyOperator  = "operator"  // an operator's own key: may only speak for that operator
	KeyFrontDoor = "frontdoor" // the front door's key: speaks for Slack users it verified
)

// Actor is the person a statement is about.
type Actor struct {
	Kind string `json:"kind"`           // slack | operator
	ID   string `json:"id"`             // Slack user id, or operator name
	Name string `json:"name,omitempty"` // display name, informational
}

func (a Actor) String() string {
	if a.Name != "" && a.Name != a.ID {
		return fmt.Sprintf("%s:%s (%s)", a.Kind, a.ID, a.Name)
	}
	return a.Kind + ":" + a.ID
}

// Statement is what a person said, as the signer verified it.
type Statement struct {
	Run     string `json:"run"`     // workflow ID
	Subject string `json:"subject"` // approval id, step id, or "run" for close
	Verb    string `json:"verb"`    // approve | deny | done | close
	Actor   Actor  `json:"actor"`
	Reason  string `json:"reason,omitempty"`
	// Disposition and Rollback are set by close statements.
	Disposition string    `json:"disposition,omitempty"`
	Rollback    bool      `json:"rollback,omitempty"`
	IssuedAt    time.Time `json:"issued_at"`
	KeyID       string    `json:"key_id"`
	// Nonce makes two otherwise equal statements distinct (a second click is a second attempt).
	Nonce string `json:"nonce,omitempty"`
}

// Assertion is a signed statement: the exact bytes signed, and the signature.
type Assertion struct {
	Payload   []byte `json:"payload"`   // JSON of the Statement
	Signature []byte `json:"signature"` // ed25519 over Payload
}

// Key is a public key pinned in a run's input.
type Key struct {
	ID        string            `json:"id"`
	Kind      string            `json:"kind"`           // operator | frontdoor
	Name      string            `json:"name,omitempty"` // the operator a KeyOperator speaks for
	PublicKey ed25519.PublicKey `json:"public_key"`
	// Groups are the approver groups an operator may decide for across playbooks ("*": all).
	Groups []string `json:"groups,omitempty"`
}

// KeyID derives a key's id from its public key: "ed25519:" and the first 16 hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "ed25519:" + hex.EncodeToString(sum[:8])
}

// Sign makes an assertion of st with priv, filling st.KeyID.
func Sign(priv ed25519.PrivateKey, st Statement) (Assertion, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return Assertion{}, errors.New("sign statement: not an ed25519 private key")
	}
	st.KeyID = KeyID(priv.Public().(ed25519.PublicKey))
	payload, err := json.Marshal(st)
	if err != nil {
		return Assertion{}, fmt.Errorf("sign statement: %w", err)
	}
	return Assertion{Payload: payload, Signature: ed25519.Sign(priv, payload)}, nil
}

// Decode reads the statement of an assertion without checking its signature: enough to tell whether a
// request is well formed.
func (a Assertion) Decode() (Statement, error) {
	var st Statement
	if len(a.Payload) == 0 {
		return st, errors.New("assertion has no payload")
	}
	if err := json.Unmarshal(a.Payload, &st); err != nil {
		return st, fmt.Errorf("assertion payload: %w", err)
	}
	if st.Run == "" || st.Subject == "" || st.Verb == "" || st.Actor.ID == "" || st.Actor.Kind == "" || st.KeyID == "" {
		return st, errors.New("assertion payload lacks run, subject, verb, actor or key id")
	}
	return st, nil
}

// Verify checks the assertion's signature against the pinned keys and that the key may speak for the actor:
// an operator key only for its own operator, the front door key only for Slack users. It returns the
// statement and the key that signed it.
func Verify(keys []Key, a Assertion) (Statement, Key, error) {
	st, err := a.Decode()
	if err != nil {
		return st, Key{}, err
	}
	var key *Key
	for i := range keys {
		if keys[i].ID == st.KeyID {
			key = &keys[i]
			break
		}
	}
	if key == nil {
		return st, Key{}, fmt.Errorf("key %s is not pinned in this run", st.KeyID)
	}
	if len(key.PublicKey) != ed25519.PublicKeySize || !ed25519.Verify(key.PublicKey, a.Payload, a.Signature) {
		return st, *key, fmt.Errorf("signature does not verify with key %s", key.ID)
	}
	switch {
	case key.Kind == KeyOperator && (st.Actor.Kind != ActorOperator || st.Actor.ID != key.Name):
		return st, *key, fmt.Errorf("operator key %s (%s) cannot speak for %s", key.ID, key.Name, st.Actor)
	case key.Kind == KeyFrontDoor && st.Actor.Kind != ActorSlack:
		return st, *key, fmt.Errorf("front door key %s can only speak for Slack users, not %s", key.ID, st.Actor)
	case key.Kind != KeyOperator && key.Kind != KeyFrontDoor:
		return st, *key, fmt.Errorf("key %s has unknown kind %q", key.ID, key.Kind)
	}
	return st, *key, nil
}

// MayDecide reports whether an operator key is allowed to decide for an approver group.
func (k Key) MayDecide(group string) bool {
	for _, g := range k.Groups {
		if g == "*" || g == group {
			return true
		}
	}
	return false
}

// EncodePublicKey renders a public key as "ed25519:<base64>", the form operator rosters use.
func EncodePublicKey(pub ed25519.PublicKey) string {
	return "ed25519:" + base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey reads the "ed25519:<base64>" form.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b64, ok := strings.CutPrefix(strings.TrimSpace(s), "ed25519:")
	if !ok {
		return nil, fmt.Errorf("public key %q: want ed25519:<base64>", s)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("public key %q: %w", s, err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key %q: %d bytes, want %d", s, len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}
