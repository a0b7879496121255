package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.temporal.io/sdk/converter"

	"github.com/parry-soc/parry/internal/audit"
)

// Bundle is an export bundle's manifest (written by trigger history export) and whether the history read
// matches it. The report shows what the manifest says; checking its signature is trigger replay's work.
type Bundle struct {
	Dir      string
	Manifest audit.Manifest
	// HistoryHash is "matches" or "does not match" (the SHA-256 of history.json against the manifest's), or
	// "" when the manifest names none.
	HistoryHash string
}

// IsBundle reports whether dir is an export bundle: it holds a manifest and a history.
func IsBundle(dir string) bool {
	for _, f := range []string{audit.ManifestFile, audit.HistoryFile} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || !fi.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// Open reads a run for a report without a cluster: an export bundle directory (manifest.json and
// history.json), a directory holding exactly one bundle, or a history JSON file (`temporal workflow show
// --output json`, or history.json of a bundle). dc decodes the history's payloads.
func Open(path string, dc converter.DataConverter) (Timeline, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Timeline{}, err
	}
	if !fi.IsDir() {
		if name := filepath.Base(path); name == audit.ManifestFile || (name == audit.HistoryFile && IsBundle(filepath.Dir(path))) {
			return Open(filepath.Dir(path), dc)
		}
		return openHistory(path, dc)
	}
	dir := path
	if !IsBundle(dir) {
		found, err := findBundles(dir)
		if err != nil {
			return Timeline{}, err
		}
		switch len(found) {
		case 0:
			return Timeline{}, fmt.Errorf("%s is not an export bundle: it holds no %s with a %s", path, audit.ManifestFile, audit.HistoryFile)
		case 1:
			dir = found[0]
		default:
			return Timeline{}, fmt.Errorf("%s holds %d bundles; name one: %s", path, len(found), strings.Join(found, ", "))
		}
	}
	mraw, err := os.ReadFile(filepath.Join(dir, audit.ManifestFile))
	if err != nil {
		return Timeline{}, err
	}
	b := Bundle{Dir: dir}
	// Fields this version does not know are ignored; another format is read as far as it goes, with a note.
	if err := json.Unmarshal(mraw, &b.Manifest); err != nil {
		return Timeline{}, fmt.Errorf("%s: %w", filepath.Join(dir, audit.ManifestFile), err)
	}
	hfile := b.Manifest.HistoryFile
	if hfile == "" || filepath.Base(hfile) != hfile {
		hfile = audit.HistoryFile
	}
	raw, err := os.ReadFile(filepath.Join(dir, hfile))
	if err != nil {
		return Timeline{}, err
	}
	if b.Manifest.HistorySHA256 != "" {
		b.HistoryHash = "matches"
		if !strings.EqualFold(audit.SHA256Hex(raw), b.Manifest.HistorySHA256) {
			b.HistoryHash = "does not match"
		}
	}
	t, err := fromHistoryBytes(raw, dc)
	if err != nil {
		if len(b.Manifest.PayloadKeyIDs) > 0 && b.Manifest.Payloads != audit.PayloadsDecrypted {
			err = fmt.Errorf("%w (its payloads are encrypted with payload key %s: set PARRY_PAYLOAD_KEYS)", err, strings.Join(b.Manifest.PayloadKeyIDs, ", "))
		}
		return Timeline{}, fmt.Errorf("%s: %w", filepath.Join(dir, hfile), err)
	}
	t.Bundle = &b
	t.Source = "export bundle " + dir + " (" + t.Source + ")"
	if t.Execution.Namespace == "" {
		t.Execution.Namespace = b.Manifest.Namespace
	}
	if b.Manifest.Format != audit.Format {
		t.Notes = append(t.Notes, fmt.Sprintf("The bundle's manifest is in format %q; this report reads %q.", b.Manifest.Format, audit.Format))
	}
	if b.HistoryHash == "does not match" {
		t.Notes = append([]string{"The history's SHA-256 does not match the bundle's manifest: this is not the history that was exported."}, t.Notes...)
	}
	return t, nil
}

func openHistory(path string, dc converter.DataConverter) (Timeline, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Timeline{}, err
	}
	t, err := fromHistoryBytes(raw, dc)
	if err != nil {
		return Timeline{}, fmt.Errorf("%s: %w", path, err)
	}
	t.Source = "history file " + filepath.Base(path) + " (" + t.Source + ")"
	return t, nil
}

func fromHistoryBytes(raw []byte, dc converter.DataConverter) (Timeline, error) {
	h, err := audit.ParseHistory(raw)
	if err != nil {
		return Timeline{}, err
	}
	return FromHistory(h, dc)
}

// findBundles lists the bundles directly under dir (an export directory).
func findBundles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && IsBundle(filepath.Join(dir, e.Name())) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out, nil
}
