// Package codec encrypts what Parry stores in Temporal: every payload (workflow inputs and results,
// activity inputs and results, Update arguments, heartbeats, encoded failure messages) passes through an
// AES-256-GCM converter.PayloadCodec before it leaves the process, so the cluster's database, its
// operators and anyone holding an exported history see ciphertext. Search attributes are not payloads a
// codec sees: they stay plain and hold no secrets (see workflows/search.go).
//
// Keys come from PARRY_PAYLOAD_KEYS (see ParseKeyring): several may be held; the newest, listed last,
// encrypts and any of them decrypts, so a key is rotated by appending the new one and keeping the old.
// With no keys set, FromEnv returns a nil *Codec and the converters are Temporal's defaults.
//
// An encrypted payload follows the convention of Temporal's encryption samples:
//
//	metadata["encoding"]          = "binary/encrypted"
//	metadata["encryption-key-id"] = the key's id
//	data = nonce (12 random bytes) ‖ AES-256-GCM ciphertext ‖ tag (16 bytes)
//
// The plaintext is the original payload (its metadata and data) in protobuf wire format, and the
// additional authenticated data is "parry/payload/v1" ‖ 0x00 ‖ key id, so a payload cannot be passed off
// as encrypted under another key id. docs/keys.md shows how to decrypt one without Parry, for escrow.
//
// Decode leaves payloads that are not "binary/encrypted" as they are, so histories written before
// encryption was turned on still read.
package codec

import (
	"fmt"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

// Payload metadata of an encrypted payload.
const (
	// MetadataEncodingEncrypted is the "encoding" of an encrypted payload.
	MetadataEncodingEncrypted = "binary/encrypted"
	// MetadataEncryptionKeyID names the key that encrypted the payload.
	MetadataEncryptionKeyID = "encryption-key-id"
)

// aadPrefix versions the format: it is authenticated with every payload.
const aadPrefix = "parry/payload/v1\x00"

func aad(keyID string) []byte { return []byte(aadPrefix + keyID) }

// Codec encrypts payloads with a keyring's newest key and decrypts them with whichever key they name.
type Codec struct {
	keys *Keyring
}

var _ converter.PayloadCodec = (*Codec)(nil)

// New makes a Codec over a keyring.
func New(keys *Keyring) *Codec { return &Codec{keys: keys} }

// Keys is the codec's keyring.
func (c *Codec) Keys() *Keyring { return c.keys }

// Encode encrypts each payload with the newest key.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	id := c.keys.Current()
	aead := c.keys.aead[id]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return payloads, fmt.Errorf("encrypt payload: marshal: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(MetadataEncodingEncrypted),
				MetadataEncryptionKeyID:    []byte(id),
			},
			Data: aead.Seal(nil, nil, plain, aad(id)),
		}
	}
	return out, nil
}

// Decode decrypts each encrypted payload with the key it names; other payloads are returned as they are.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != MetadataEncodingEncrypted {
			out[i] = p
			continue
		}
		d, err := c.decrypt(p)
		if err != nil {
			return payloads, err
		}
		out[i] = d
	}
	return out, nil
}

func (c *Codec) decrypt(p *commonpb.Payload) (*commonpb.Payload, error) {
	raw, ok := p.GetMetadata()[MetadataEncryptionKeyID]
	if !ok || len(raw) == 0 {
		return nil, fmt.Errorf("decrypt payload: it is %s but names no %s", MetadataEncodingEncrypted, MetadataEncryptionKeyID)
	}
	id := string(raw)
	aead, ok := c.keys.aead[id]
	if !ok {
		if checkID(id) != nil {
			return nil, fmt.Errorf("decrypt payload: its key id is malformed, and %s holds no such key", EnvKeys)
		}
		return nil, fmt.Errorf("payload encrypted with key %s, which %s does not hold (it holds %s): add that key back to decrypt it",
			id, EnvKeys, strings.Join(c.keys.ids, ", "))
	}
	plain, err := aead.Open(nil, nil, p.GetData(), aad(id))
	if err != nil {
		return nil, fmt.Errorf("decrypt payload with key %s: authentication failed: the payload was altered, or key %s is not the key it was encrypted with", id, id)
	}
	d := &commonpb.Payload{}
	if err := proto.Unmarshal(plain, d); err != nil {
		return nil, fmt.Errorf("decrypt payload with key %s: the plaintext is not a payload: %w", id, err)
	}
	return d, nil
}

// FromEnv reads PARRY_PAYLOAD_KEYS through getenv. With the variable unset or empty it returns nil and no
// error: payloads are not encrypted.
func FromEnv(getenv func(string) string) (*Codec, error) {
	v := getenv(EnvKeys)
	if v == "" {
		return nil, nil
	}
	keys, err := ParseKeyring(v)
	if err != nil {
		return nil, err
	}
	return New(keys), nil
}

// DataConverter is the data converter of every client, worker and replayer: Temporal's default with c
// encrypting its payloads; Temporal's default alone when c is nil.
func (c *Codec) DataConverter() converter.DataConverter {
	if c == nil {
		return converter.GetDefaultDataConverter()
	}
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// FailureConverter is the failure converter to use with DataConverter. With a codec, a failure's message
// and stack trace move into its encoded attributes and are encrypted like any payload — error text names
// users, hosts and vendor responses — and the history shows "Encoded failure" in their place. Failure
// types (the catalog's stable error type names) stay readable. Without a codec, Temporal's default.
func (c *Codec) FailureConverter() converter.FailureConverter {
	if c == nil {
		return temporal.GetDefaultFailureConverter()
	}
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter:          c.DataConverter(),
		EncodeCommonAttributes: true,
	})
}

// DataConverterFromEnv is FromEnv then DataConverter: what a replayer or a test needs to read Parry's
// histories (with worker.WorkflowReplayerOptions, use ConvertersFromEnv to get the failure converter too).
func DataConverterFromEnv(getenv func(string) string) (converter.DataConverter, error) {
	c, err := FromEnv(getenv)
	if err != nil {
		return nil, err
	}
	return c.DataConverter(), nil
}

// Converters are the data and failure converters that go together.
type Converters struct {
	Data    converter.DataConverter
	Failure converter.FailureConverter
}

// ConvertersFromEnv is FromEnv then both converters (Temporal's defaults when no key is set).
func ConvertersFromEnv(getenv func(string) string) (Converters, error) {
	c, err := FromEnv(getenv)
	if err != nil {
		return Converters{}, err
	}
	return Converters{Data: c.DataConverter(), Failure: c.FailureConverter()}, nil
}
