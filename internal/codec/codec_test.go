package codec_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"

	"github.com/parry-soc/parry/internal/codec"
)

// alert is what a payload might carry: the plaintext the tests look for in ciphertext.
type alert struct {
	Host  string `json:"host"`
	User  string `json:"user"`
	Title string `json:"title"`
}

var sample = alert{Host: "WS-0042", User: "alice", Title: "Macro-enabled invoice attachment opened on WS-0042"}

func newKey(t *testing.T) string {
	t.Helper()
	k, err := codec.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustKeyring(t *testing.T, spec string) *codec.Keyring {
	t.Helper()
	k, err := codec.ParseKeyring(spec)
	if err != nil {
		t.Fatalf("ParseKeyring: %v", err)
	}
	return k
}

func payloadOf(t *testing.T, v any) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func encode(t *testing.T, c *codec.Codec, p *commonpb.Payload) *commonpb.Payload {
	t.Helper()
	out, err := c.Encode([]*commonpb.Payload{p})
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if len(out) != 1 {
		t.Fatalf("Encode returned %d payloads, want 1", len(out))
	}
	return out[0]
}

func decode(c *codec.Codec, p *commonpb.Payload) (*commonpb.Payload, error) {
	out, err := c.Decode([]*commonpb.Payload{p})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

func TestCodecRoundTripHidesThePlaintext(t *testing.T) {
	c := codec.New(mustKeyring(t, "k1:"+newKey(t)))
	orig := payloadOf(t, sample)
	enc := encode(t, c, orig)

	if got := string(enc.Metadata[converter.MetadataEncoding]); got != codec.MetadataEncodingEncrypted {
		t.Errorf("encoding = %q, want %q", got, codec.MetadataEncodingEncrypted)
	}
	if got := string(enc.Metadata[codec.MetadataEncryptionKeyID]); got != "k1" {
		t.Errorf("key id = %q, want k1", got)
	}
	if len(enc.Metadata) != 2 {
		t.Errorf("metadata = %v, want encoding and key id only (the original metadata is encrypted)", enc.Metadata)
	}
	for _, marker := range []string{"WS-0042", "alice", "Macro-enabled", "json/plain"} {
		if bytes.Contains(enc.Data, []byte(marker)) {
			t.Errorf("ciphertext contains %q", marker)
		}
	}
	// 12-byte nonce, the marshalled payload, 16-byte tag.
	if want := 12 + proto.Size(orig) + 16; len(enc.Data) != want {
		t.Errorf("ciphertext is %d bytes, want %d", len(enc.Data), want)
	}
	again := encode(t, c, orig)
	if bytes.Equal(again.Data, enc.Data) {
		t.Error("two encryptions of one payload are identical: the nonce is not random")
	}

	dec, err := decode(c, enc)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !proto.Equal(dec, orig) {
		t.Errorf("decoded %v, want %v", dec, orig)
	}
}

func TestRotationEncryptsWithTheNewestAndDecryptsWithAny(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	before := codec.New(mustKeyring(t, "k1:"+k1))
	old := encode(t, before, payloadOf(t, sample))

	after := codec.New(mustKeyring(t, "k1:"+k1+",k2:"+k2))
	if got := after.Keys().Current(); got != "k2" {
		t.Errorf("current key = %s, want k2 (the last listed)", got)
	}
	fresh := encode(t, after, payloadOf(t, sample))
	if got := string(fresh.Metadata[codec.MetadataEncryptionKeyID]); got != "k2" {
		t.Errorf("new payload encrypted with %s, want k2", got)
	}
	for name, p := range map[string]*commonpb.Payload{"old (k1)": old, "new (k2)": fresh} {
		dec, err := decode(after, p)
		if err != nil {
			t.Errorf("decode %s payload after rotation: %v", name, err)
			continue
		}
		var got alert
		if err := converter.GetDefaultDataConverter().FromPayload(dec, &got); err != nil || got != sample {
			t.Errorf("decode %s payload: %+v, %v", name, got, err)
		}
	}

	// The old key retired: old payloads no longer read, and the error says which key is missing.
	retired := codec.New(mustKeyring(t, "k2:"+k2))
	_, err := decode(retired, old)
	want := "payload encrypted with key k1, which PARRY_PAYLOAD_KEYS does not hold"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("decode with k1 retired = %v, want an error containing %q", err, want)
	}
	if err != nil && (strings.Contains(err.Error(), k1) || strings.Contains(err.Error(), k2)) {
		t.Errorf("error shows key material: %v", err)
	}
}

func TestTamperedPayloadsAreRefused(t *testing.T) {
	key := newKey(t)
	c := codec.New(mustKeyring(t, "k1:"+key+",k2:"+newKey(t)))
	ring1 := codec.New(mustKeyring(t, "k1:"+key))
	enc := encode(t, ring1, payloadOf(t, sample))
	n := len(enc.Data)

	flip := func(i int) func(p *commonpb.Payload) {
		return func(p *commonpb.Payload) { p.Data[i] ^= 0x01 }
	}
	for _, tt := range []struct {
		name   string
		tamper func(p *commonpb.Payload)
		want   string
	}{
		{"nonce", flip(0), "authentication failed"},
		{"ciphertext", flip(20), "authentication failed"},
		{"tag", flip(n - 1), "authentication failed"},
		{"truncated", func(p *commonpb.Payload) { p.Data = p.Data[:10] }, "authentication failed"},
		{"key id swapped for another held key", func(p *commonpb.Payload) { p.Metadata[codec.MetadataEncryptionKeyID] = []byte("k2") }, "authentication failed"},
		{"key id removed", func(p *commonpb.Payload) { delete(p.Metadata, codec.MetadataEncryptionKeyID) }, "names no encryption-key-id"},
		{"unknown key id", func(p *commonpb.Payload) { p.Metadata[codec.MetadataEncryptionKeyID] = []byte("k9") }, "payload encrypted with key k9, which PARRY_PAYLOAD_KEYS does not hold (it holds k1, k2)"},
		{"malformed key id", func(p *commonpb.Payload) { p.Metadata[codec.MetadataEncryptionKeyID] = []byte("k1\n<script>") }, "key id is malformed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := proto.Clone(enc).(*commonpb.Payload)
			tt.tamper(p)
			_, err := decode(c, p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decode = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestKeyIDIsAuthenticated: the same key material under another id does not open a payload — the key id
// is in the additional authenticated data, not only used to look the key up.
func TestKeyIDIsAuthenticated(t *testing.T) {
	key := newKey(t)
	enc := encode(t, codec.New(mustKeyring(t, "k1:"+key)), payloadOf(t, sample))
	enc.Metadata[codec.MetadataEncryptionKeyID] = []byte("other")
	_, err := decode(codec.New(mustKeyring(t, "other:"+key)), enc)
	if err == nil || !strings.Contains(err.Error(), "authentication failed") {
		t.Errorf("Decode under a renamed key id = %v, want authentication failed", err)
	}
}

func TestUnencryptedPayloadsPassThroughDecode(t *testing.T) {
	c := codec.New(mustKeyring(t, "k1:"+newKey(t)))
	plain := payloadOf(t, sample)
	null := payloadOf(t, nil)
	out, err := c.Decode([]*commonpb.Payload{plain, null})
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if out[0] != plain || out[1] != null {
		t.Errorf("Decode changed unencrypted payloads: %v", out)
	}
}

func TestDecodeLeavesItsInputAlone(t *testing.T) {
	c := codec.New(mustKeyring(t, "k1:"+newKey(t)))
	enc := encode(t, c, payloadOf(t, sample))
	keep := proto.Clone(enc)
	if _, err := decode(c, enc); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(enc, keep) {
		t.Error("Decode modified the payload it was given")
	}
}

func TestBadKeyEntriesAreNamedWithoutTheirMaterial(t *testing.T) {
	good, other := newKey(t), newKey(t)
	short := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7, 9}, 8))
	zero := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, tt := range []struct {
		name, spec, want string
	}{
		{"empty", " , ", "PARRY_PAYLOAD_KEYS holds no key"},
		{"no id", good, "PARRY_PAYLOAD_KEYS entry 1: want ID:BASE64KEY"},
		{"empty id", ":" + good, "entry 1: key id must be 1 to 64 characters"},
		{"bad id", "k1:" + good + ",k/2:" + other, "entry 2: key id may hold letters, digits"},
		{"long id", strings.Repeat("k", 65) + ":" + good, "entry 1: key id must be 1 to 64 characters"},
		{"duplicate id", "k1:" + good + ",k1:" + other, `entry 2: key id "k1" is listed twice`},
		{"not base64", "k1:" + good + ",k2:not*base64!", "entry 2 (key k2): key is not base64"},
		{"16 bytes", "k1:" + short, "entry 1 (key k1): key is 16 bytes, want 32 (AES-256)"},
		{"placeholder", "k1:" + zero, "entry 1 (key k1): key is one byte repeated"},
		{"same key twice", "k1:" + good + ",k2:" + good, "entry 2 (key k2): the same key as k1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := codec.ParseKeyring(tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseKeyring = %v, want an error containing %q", err, tt.want)
			}
			for _, secret := range []string{good, other, short, "not*base64!"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows key material: %v", err)
				}
			}
		})
	}
}

func TestKeyringFormats(t *testing.T) {
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	std, url := base64.StdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw)
	dir := t.TempDir()
	file := filepath.Join(dir, "payload.keys")
	if err := os.WriteFile(file, []byte("# retired 2026-10, escrowed\nold:"+url+"\n\n  new:"+newKey(t)+"  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, spec string
		want       []string
	}{
		{"one", "k1:" + std, []string{"k1"}},
		{"commas and spaces, url alphabet unpadded", " old:" + url + ", new:" + newKey(t) + " ", []string{"old", "new"}},
		{"newlines", "a.1:" + std + "\nb_2:" + newKey(t) + "\n", []string{"a.1", "b_2"}},
		{"file", "@" + file, []string{"old", "new"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k := mustKeyring(t, tt.spec)
			if got := k.IDs(); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("ids = %v, want %v", got, tt.want)
			}
			if got := k.Current(); got != tt.want[len(tt.want)-1] {
				t.Errorf("current = %s, want the last listed", got)
			}
		})
	}
	if _, err := codec.ParseKeyring("@" + filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "read key file") {
		t.Errorf("missing key file = %v", err)
	}
}

func TestKeyringNeverPrintsKeyMaterial(t *testing.T) {
	key := newKey(t)
	k := mustKeyring(t, "k1:"+key)
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("keys", "keys", k)
	raw, _ := base64.StdEncoding.DecodeString(key)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k), fmt.Sprintf("%v", *k), logged.String()} {
		if strings.Contains(s, key) || bytes.Contains([]byte(s), raw) || strings.Contains(s, fmt.Sprint(raw[:4])) {
			t.Errorf("printed key material: %s", s)
		}
		if !strings.Contains(s, "k1") {
			t.Errorf("does not name the key id: %s", s)
		}
	}
}

func TestFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := codec.FromEnv(env(nil))
	if c != nil || err != nil {
		t.Errorf("no keys: FromEnv = %v, %v; want nil, nil", c, err)
	}
	if dc := c.DataConverter(); dc != converter.GetDefaultDataConverter() {
		t.Error("no keys: DataConverter is not Temporal's default")
	}
	if fc := c.FailureConverter(); fc != temporal.GetDefaultFailureConverter() {
		t.Error("no keys: FailureConverter is not Temporal's default")
	}
	if _, err := codec.FromEnv(env(map[string]string{codec.EnvKeys: "k1:short"})); err == nil {
		t.Error("bad keys: no error")
	}
	dc, err := codec.DataConverterFromEnv(env(map[string]string{codec.EnvKeys: "k1:" + newKey(t)}))
	if err != nil {
		t.Fatal(err)
	}
	p, err := dc.ToPayload(sample)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Metadata[converter.MetadataEncoding]) != codec.MetadataEncodingEncrypted {
		t.Errorf("DataConverterFromEnv payload encoding = %q", p.Metadata[converter.MetadataEncoding])
	}
	var got alert
	if err := dc.FromPayload(p, &got); err != nil || got != sample {
		t.Errorf("round trip through the data converter: %+v, %v", got, err)
	}
}

// TestFailureMessagesAreEncrypted: error text (which names users and hosts) is encrypted in the failure's
// encoded attributes, and comes back whole on the other side.
func TestFailureMessagesAreEncrypted(t *testing.T) {
	conv, err := codec.ConvertersFromEnv(func(string) string { return "k1:" + newKey(t) })
	if err != nil {
		t.Fatal(err)
	}
	cause := temporal.NewNonRetryableApplicationError("disable user alice on WS-0042: account locked", "UserLocked", nil)
	f := conv.Failure.ErrorToFailure(cause)
	wire, err := proto.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, marker := range []string{"alice", "WS-0042"} {
		if bytes.Contains(wire, []byte(marker)) {
			t.Errorf("failure on the wire contains %q", marker)
		}
	}
	if !bytes.Contains(wire, []byte("UserLocked")) {
		t.Error("failure type is not readable: retry policies and the UI match on it")
	}
	back := conv.Failure.FailureToError(f)
	var app *temporal.ApplicationError
	if !errors.As(back, &app) || !strings.Contains(back.Error(), "disable user alice on WS-0042") || app.Type() != "UserLocked" {
		t.Errorf("decoded failure = %v", back)
	}
}
