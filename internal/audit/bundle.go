package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parry-soc/parry/approval"
)

// Bundle file names and format.
const (
	HistoryFile  = "history.json"
	ManifestFile = "manifest.json"
	// Format names the bundle layout and manifest schema.
	Format = "parry-audit-bundle/v1"
)

// What a bundle's payloads are.
const (
	PayloadsAsRecorded = "as-recorded" // as the cluster holds them: encrypted when the codec was on
	PayloadsDecrypted  = "decrypted"   // decoded with the payload keys: a plaintext copy
)

// Manifest describes one exported run. It is what an auditor or `trigger report` reads without the payload
// keys; the signature covers every member but itself.
type Manifest struct {
	Format       string `json:"format"`
	Namespace    string `json:"namespace"`
	WorkflowID   string `json:"workflow_id"`
	RunID        string `json:"run_id"`
	WorkflowType string `json:"workflow_type"`
	// Status is Temporal's execution status: running, completed, failed, canceled, terminated,
	// continued-as-new or timed-out.
	Status  string    `json:"status"`
	Started time.Time `json:"started"`
	Closed  time.Time `json:"closed,omitzero"` // zero while the run is open

	Playbook   PlaybookInfo `json:"playbook"`
	Techniques []string     `json:"techniques"`
	Alert      AlertInfo    `json:"alert"`
	// State is Parry's run state (completed, failed, closed) and Disposition the person's verdict, from the
	// run's result, or from its last status while it is open.
	State       string `json:"state,omitempty"`
	Disposition string `json:"disposition,omitempty"`

	HistoryFile   string `json:"history_file"`
	HistorySHA256 string `json:"history_sha256"`
	HistoryBytes  int64  `json:"history_bytes"`
	HistoryEvents int    `json:"history_events"`

	// Payloads is as-recorded or decrypted; PayloadKeyIDs are the ids of the payload keys the history's
	// payloads are (or, when decrypted, were) encrypted with — what an auditor needs to ask for.
	Payloads      string   `json:"payloads"`
	PayloadKeyIDs []string `json:"payload_key_ids"`

	ParryVersion string    `json:"parry_version"`
	ExportedAt   time.Time `json:"exported_at"`
	ExportedBy   string    `json:"exported_by"`

	SigningKeyID string `json:"signing_key_id"`
	// Signature is the base64 ed25519 signature of Canonical(manifest without signature).
	Signature string `json:"signature,omitempty"`
}

// PlaybookInfo is the playbook a run was pinned to.
type PlaybookInfo struct {
	ID      string `json:"id"`
	Name    string `json:"name,omitempty"`
	Version int    `json:"version"`
	SHA256  string `json:"sha256"`
}

// AlertInfo names the alert a run answered (never its raw payload).
type AlertInfo struct {
	ID       string `json:"id"`
	Source   string `json:"source"`
	Severity string `json:"severity,omitempty"`
	Rule     string `json:"rule,omitempty"`
}

// Canonical is the form of a manifest that is signed: the JSON object without its "signature" member, with
// the keys of every object sorted, no insignificant whitespace and no HTML escaping. It parses raw rather than
// a Manifest, so members a later version adds are signed as well.
func Canonical(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // numbers keep their exact text
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("manifest is not a JSON object: %w", err)
	}
	if dec.More() {
		return nil, errors.New("manifest has data after its JSON object")
	}
	delete(obj, "signature")
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil { // encoding/json writes map keys sorted
		return nil, fmt.Errorf("canonical manifest: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Sign sets the manifest's signing key id and signature, and returns the manifest as written to
// manifest.json (indented, signature included).
func (m *Manifest) Sign(key ed25519.PrivateKey) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("sign manifest: not an ed25519 private key")
	}
	m.SigningKeyID = approval.KeyID(key.Public().(ed25519.PublicKey))
	m.Signature = ""
	unsigned, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("sign manifest: %w", err)
	}
	canon, err := Canonical(unsigned)
	if err != nil {
		return nil, err
	}
	m.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, canon))
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("sign manifest: %w", err)
	}
	return append(out, '\n'), nil
}

// ErrSignature is wrapped by every signature failure VerifyManifest reports.
var ErrSignature = errors.New("signature")

// ParseManifest reads manifest.json without checking its signature.
func ParseManifest(raw []byte) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, fmt.Errorf("manifest is not valid JSON: %w", err)
	}
	if m.Format != Format {
		return m, fmt.Errorf("manifest format %q, want %q", m.Format, Format)
	}
	return m, nil
}

// VerifyManifest checks a manifest's signature against the trusted public keys: the key it names must be one
// of them, and the signature must verify over the canonical form of raw. Failures wrap ErrSignature.
func VerifyManifest(raw []byte, keys []ed25519.PublicKey) (Manifest, error) {
	m, err := ParseManifest(raw)
	if err != nil {
		return m, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	var key ed25519.PublicKey
	var trusted []string
	for _, k := range keys {
		id := approval.KeyID(k)
		trusted = append(trusted, id)
		if id == m.SigningKeyID {
			key = k
		}
	}
	if key == nil {
		return m, fmt.Errorf("%w: signed by key %q, not by a trusted key (%s)", ErrSignature, m.SigningKeyID, strings.Join(trusted, ", "))
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return m, fmt.Errorf("%w: the manifest's signature is malformed", ErrSignature)
	}
	canon, err := Canonical(raw)
	if err != nil {
		return m, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	if !ed25519.Verify(key, canon, sig) {
		return m, fmt.Errorf("%w: does not verify with key %s: the manifest was changed after it was signed", ErrSignature, m.SigningKeyID)
	}
	return m, nil
}

// SHA256Hex is the hex SHA-256 of b, as manifests record it.
func SHA256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// maxDirName bounds an escaped id: most filesystems allow 255 bytes per name, and the temporary name and an
// "@<run id>" suffix need room.
const maxDirName = 180

// EscapeID turns a workflow id into a directory name, deterministically: ASCII letters, digits, '-', '_'
// and (except leading) '.' stay; every other byte becomes %XX (upper-case hex), as in URL percent-encoding.
// Alert ids come from vendors and may hold '/', '..' or anything else. A name longer than 180 bytes is cut
// and ends in "~" and 16 hex digits of the id's SHA-256, so it stays unique. The manifest keeps the real id.
func EscapeID(id string) string {
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	s := b.String()
	if len(s) <= maxDirName {
		return s
	}
	cut := maxDirName - 17
	// Never cut inside a %XX escape.
	if i := strings.LastIndexByte(s[:cut], '%'); i >= cut-2 {
		cut = i
	}
	return s[:cut] + "~" + SHA256Hex([]byte(id))[:16]
}

// Written is the outcome of writing a bundle.
type Written struct {
	Dir string
	// Existing is set when a bundle of the same closed run was already there and was kept.
	Existing bool
}

// WriteBundle signs the manifest and writes it with the history into root, atomically: both files go into a
// temporary directory that is renamed into place. It fills the manifest's history fields.
func WriteBundle(root string, m *Manifest, history []byte, key ed25519.PrivateKey) (Written, error) {
	if m.WorkflowID == "" || m.RunID == "" {
		return Written{}, errors.New("write bundle: the manifest names no workflow or run id")
	}
	m.Format = Format
	m.HistoryFile = HistoryFile
	m.HistorySHA256 = SHA256Hex(history)
	m.HistoryBytes = int64(len(history))
	if m.PayloadKeyIDs == nil {
		m.PayloadKeyIDs = []string{}
	}
	if m.Techniques == nil {
		m.Techniques = []string{}
	}
	manifest, err := m.Sign(key)
	if err != nil {
		return Written{}, err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return Written{}, fmt.Errorf("write bundle: %w", err)
	}
	tmp, err := os.MkdirTemp(root, ".tmp-")
	if err != nil {
		return Written{}, fmt.Errorf("write bundle: %w", err)
	}
	defer os.RemoveAll(tmp) // gone after a successful rename
	if err := os.Chmod(tmp, 0o755); err != nil {
		return Written{}, fmt.Errorf("write bundle: %w", err)
	}
	if err := writeSynced(filepath.Join(tmp, HistoryFile), history); err != nil {
		return Written{}, err
	}
	if err := writeSynced(filepath.Join(tmp, ManifestFile), manifest); err != nil {
		return Written{}, err
	}
	if err := syncDir(tmp); err != nil {
		return Written{}, err
	}
	base := EscapeID(m.WorkflowID)
	for _, name := range []string{base, base + "@" + EscapeID(m.RunID)} {
		dir := filepath.Join(root, name)
		w, done, err := place(tmp, dir, m)
		if err != nil {
			return Written{}, err
		}
		if done {
			return w, syncDir(root)
		}
	}
	return Written{}, fmt.Errorf("write bundle: %s and its run's own directory are taken by other runs", filepath.Join(root, base))
}

// place moves the finished temporary bundle to dir. It reports done=false when dir holds another run.
func place(tmp, dir string, m *Manifest) (Written, bool, error) {
	for attempt := 0; attempt < 3; attempt++ {
		err := os.Rename(tmp, dir)
		if err == nil {
			return Written{Dir: dir}, true, nil
		}
		if !errors.Is(err, fs.ErrExist) { // EEXIST or ENOTEMPTY: dir is there
			return Written{}, false, fmt.Errorf("write bundle: %w", err)
		}
		old, rerr := readManifestFile(dir)
		switch {
		case rerr != nil && errors.Is(rerr, fs.ErrNotExist):
			continue // removed meanwhile, or a half-removed replacement: try again
		case rerr != nil:
			return Written{}, false, fmt.Errorf("write bundle: %s exists and its manifest cannot be read: %w", dir, rerr)
		case old.RunID != m.RunID:
			return Written{}, false, nil
		case !old.Closed.IsZero():
			// The same run, closed when it was exported: its history cannot have changed. Keep it.
			return Written{Dir: dir, Existing: true}, true, nil
		}
		// The existing bundle was exported while the run was open: replace it with what the run is now.
		aside := filepath.Join(filepath.Dir(dir), ".old-"+randomSuffix())
		if err := os.Rename(dir, aside); err != nil {
			continue
		}
		err = os.Rename(tmp, dir)
		os.RemoveAll(aside)
		if err == nil {
			return Written{Dir: dir}, true, nil
		}
	}
	return Written{}, false, fmt.Errorf("write bundle: %s keeps changing under concurrent writers", dir)
}

// Find returns the directory of the bundle of a run under root, if there is one.
func Find(root, workflowID, runID string) (dir string, m Manifest, ok bool) {
	base := EscapeID(workflowID)
	for _, name := range []string{base, base + "@" + EscapeID(runID)} {
		dir := filepath.Join(root, name)
		m, err := readManifestFile(dir)
		if err == nil && m.WorkflowID == workflowID && m.RunID == runID {
			return dir, m, true
		}
	}
	return "", Manifest{}, false
}

func readManifestFile(dir string) (Manifest, error) {
	raw, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return Manifest{}, err
	}
	return ParseManifest(raw)
}

func randomSuffix() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeSynced writes a file and flushes it to disk.
func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	_, err = f.Write(b)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write bundle %s: %w", path, err)
	}
	return nil
}

// syncDir flushes a directory's entries, so a rename into it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("write bundle: sync %s: %w", dir, err)
	}
	return nil
}
