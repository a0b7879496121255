package approval

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"
)

func newKey(t *testing.T, kind, name string) (Key, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return Key{ID: KeyID(pub), Kind: kind, Name: name, PublicKey: pub}, priv
}

func TestVerify(t *testing.T) {
	ana, anaPriv := newKey(t, KeyOperator, "ana")
	door, doorPriv := newKey(t, KeyFrontDoor, "front door")
	_, strangerPriv := newKey(t, KeyOperator, "ana")
	pinned := []Key{ana, door}
	st := func(kind, id string) Statement {
		return Statement{Run: "parry-x-1", Subject: "isolate-host", Verb: Approve, Actor: Actor{Kind: kind, ID: id}, IssuedAt: time.Unix(0, 0)}
	}
	tamper := func(a Assertion) Assertion {
		a.Payload = []byte(strings.Replace(string(a.Payload), "isolate-host", "disable-user", 1))
		return a
	}
	for _, tt := range []struct {
		name    string
		priv    ed25519.PrivateKey
		st      Statement
		mutate  func(Assertion) Assertion
		wantErr string
	}{
		{"operator signs for themself", anaPriv, st(ActorOperator, "ana"), nil, ""},
		{"front door signs for a Slack user", doorPriv, st(ActorSlack, "U0LEAD"), nil, ""},
		{"key not pinned", strangerPriv, st(ActorOperator, "ana"), nil, "not pinned"},
		{"operator key speaks for someone else", anaPriv, st(ActorOperator, "bob"), nil, "cannot speak for"},
		{"operator key speaks for a Slack user", anaPriv, st(ActorSlack, "U0LEAD"), nil, "cannot speak for"},
		{"front door speaks for an operator", doorPriv, st(ActorOperator, "ana"), nil, "only speak for Slack users"},
		{"payload changed after signing", anaPriv, st(ActorOperator, "ana"), tamper, "does not verify"},
		{"no payload", anaPriv, st(ActorOperator, "ana"), func(a Assertion) Assertion { a.Payload = nil; return a }, "no payload"},
		{"not JSON", anaPriv, st(ActorOperator, "ana"), func(a Assertion) Assertion { a.Payload = []byte("{"); return a }, "payload"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Sign(tt.priv, tt.st)
			if err != nil {
				t.Fatal(err)
			}
			if tt.mutate != nil {
				a = tt.mutate(a)
			}
			_, _, err = Verify(pinned, a)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestPublicKeyRoundTrip(t *testing.T) {
	k, _ := newKey(t, KeyOperator, "ana")
	got, err := ParsePublicKey(EncodePublicKey(k.PublicKey))
	if err != nil || !got.Equal(k.PublicKey) {
		t.Fatalf("round trip: %v", err)
	}
	for _, bad := range []string{"", "ed25519:", "rsa:AAAA", "ed25519:!!!", "ed25519:AAAA"} {
		if _, err := ParsePublicKey(bad); err == nil {
			t.Errorf("ParsePublicKey(%q) succeeded", bad)
		}
	}
}

func TestMayDecide(t *testing.T) {
	for _, tt := range []struct {
		groups []string
		group  string
		want   bool
	}{
		{[]string{"*"}, "containment", true},
		{[]string{"containment"}, "containment", true},
		{[]string{"recovery"}, "containment", false},
		{nil, "containment", false},
	} {
		if got := (Key{Groups: tt.groups}).MayDecide(tt.group); got != tt.want {
			t.Errorf("groups %v MayDecide(%s) = %v, want %v", tt.groups, tt.group, got, tt.want)
		}
	}
}
