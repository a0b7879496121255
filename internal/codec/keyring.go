package codec

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// EnvKeys is the environment variable that holds the payload keys.
const EnvKeys = "PARRY_PAYLOAD_KEYS"

// KeySize is the size of a payload key: AES-256.
const KeySize = 32

// maxIDLen bounds a key id: it is written into every payload's metadata.
const maxIDLen = 64

// Keyring is the set of payload keys a process holds: the newest (the last listed) encrypts, every one
// decrypts. Its String, GoString and LogValue name the key ids only, never key material.
type Keyring struct {
	ids  []string               // in the order given; the last encrypts
	aead map[string]cipher.AEAD // by id
}

// ParseKeyring reads a keyring in PARRY_PAYLOAD_KEYS's format: entries ID:KEY separated by commas,
// whitespace or newlines, the newest last, where ID is 1–64 letters, digits, '.', '_' or '-' and KEY is the
// base64 (standard or URL alphabet, padded or not) of 32 random bytes. A value starting with '@' names a
// file holding the entries instead, one per line; blank lines and lines starting with '#' are skipped.
//
// Errors name the bad entry by its position (and its id once that is known to be well formed), never
// echoing what could be key material.
func ParseKeyring(value string) (*Keyring, error) {
	value = strings.TrimSpace(value)
	source := EnvKeys
	if path, ok := strings.CutPrefix(value, "@"); ok {
		path = strings.TrimSpace(path)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: read key file: %w", EnvKeys, err)
		}
		source = fmt.Sprintf("%s file %s", EnvKeys, path)
		var lines []string
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			lines = append(lines, line)
		}
		value = strings.Join(lines, ",")
	}
	entries := strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	if len(entries) == 0 {
		return nil, fmt.Errorf("%s holds no key: want ID:BASE64KEY entries, newest last (generate a key with `openssl rand -base64 32`)", source)
	}
	k := &Keyring{aead: map[string]cipher.AEAD{}}
	material := map[string]string{} // key bytes → id, to catch one key listed under two ids
	for i, e := range entries {
		n := i + 1
		id, enc, ok := strings.Cut(e, ":")
		if !ok {
			return nil, fmt.Errorf("%s entry %d: want ID:BASE64KEY (a key id, a colon, then the base64 of 32 random bytes)", source, n)
		}
		if err := checkID(id); err != nil {
			return nil, fmt.Errorf("%s entry %d: %w", source, n, err)
		}
		if _, dup := k.aead[id]; dup {
			return nil, fmt.Errorf("%s entry %d: key id %q is listed twice: every key needs its own id", source, n, id)
		}
		key, err := decodeKey(enc)
		if err != nil {
			return nil, fmt.Errorf("%s entry %d (key %s): %w", source, n, id, err)
		}
		if other, dup := material[string(key)]; dup {
			return nil, fmt.Errorf("%s entry %d (key %s): the same key as %s: a new key must be freshly generated", source, n, id, other)
		}
		material[string(key)] = id
		aead, err := newAEAD(key)
		if err != nil {
			return nil, fmt.Errorf("%s entry %d (key %s): %w", source, n, id, err)
		}
		k.ids = append(k.ids, id)
		k.aead[id] = aead
	}
	return k, nil
}

func checkID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("key id must be 1 to %d characters", maxIDLen)
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return errors.New("key id may hold letters, digits, '.', '_' and '-' only")
		}
	}
	return nil
}

// decodeKey accepts the base64 alphabets operators are likely to paste: standard (openssl) or URL-safe,
// padded or not.
func decodeKey(s string) ([]byte, error) {
	var key []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return nil, errors.New("key is not base64: generate one with `openssl rand -base64 32`")
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("key is %d bytes, want %d (AES-256): generate one with `openssl rand -base64 32`", len(key), KeySize)
	}
	if bytes.Count(key, key[:1]) == len(key) {
		return nil, errors.New("key is one byte repeated: generate a random one with `openssl rand -base64 32`")
	}
	return key, nil
}

// newAEAD is AES-256-GCM with a random 96-bit nonce that Seal generates and prepends to the ciphertext
// (and Open reads back): data = nonce(12) ‖ ciphertext ‖ tag(16).
func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("make AES cipher: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("make AES-GCM: %w", err)
	}
	return aead, nil
}

// Current is the id of the key that encrypts: the newest, listed last.
func (k *Keyring) Current() string { return k.ids[len(k.ids)-1] }

// IDs are the ids of every key held, in the order given (the last encrypts).
func (k *Keyring) IDs() []string { return append([]string(nil), k.ids...) }

// Has reports whether the keyring holds the key id.
func (k *Keyring) Has(id string) bool {
	_, ok := k.aead[id]
	return ok
}

// String names the keys without their material.
func (k *Keyring) String() string {
	return fmt.Sprintf("payload keys %s (%s encrypts)", strings.Join(k.ids, ", "), k.Current())
}

// GoString keeps key material out of %#v.
func (k *Keyring) GoString() string { return "codec.Keyring{" + k.String() + "}" }

// LogValue keeps key material out of slog output.
func (k *Keyring) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("ids", k.ids), slog.String("current", k.Current()))
}

// GenerateKey returns a new payload key as PARRY_PAYLOAD_KEYS takes it after "ID:": the standard base64
// of 32 random bytes (what `openssl rand -base64 32` prints).
func GenerateKey() (string, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("generate payload key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(key), nil
}
