// Package evidence keeps captured evidence (memory images, packet captures, preserved headers, sandbox
// reports) in a directory on the local filesystem, one file per step output:
//
//	<dir>/<run id>/<step id>/<name>
//
// Evidence is immutable: a file is written to a temporary name, fsynced and then linked into place, so a
// reader never sees a partial file and the first complete capture of a step wins. Put computes the SHA-256
// and size while writing; runs pass the returned locator and hash around, never the bytes.
package evidence

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/parry-soc/parry/actions"
)

// Store is a filesystem evidence store rooted at one directory.
type Store struct {
	dir string // absolute
}

// New returns a store rooted at dir, creating it if needed.
func New(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("open evidence store: no directory given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open evidence store %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("open evidence store: %w", err)
	}
	return &Store{dir: abs}, nil
}

// Dir returns the store's root directory.
func (s *Store) Dir() string { return s.dir }

// Put stores the bytes of r as evidence name of the step whose idempotency key is key ("<run id>/<step id>",
// see actions.IdempotencyKey) and returns its locator, SHA-256 and size; the caller sets Kind. When the step
// already stored evidence under that name (a retried activity), Put leaves the file alone and returns what
// is there, without reading r: evidence never changes once written.
func (s *Store) Put(ctx context.Context, key, name string, r io.Reader) (actions.Evidence, error) {
	path, err := s.Path(key, name)
	if err != nil {
		return actions.Evidence{}, err
	}
	if ev, ok, err := s.stat(path); err != nil || ok {
		return ev, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return actions.Evidence{}, fmt.Errorf("store evidence %s: %w", name, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return actions.Evidence{}, fmt.Errorf("store evidence %s: %w", name, err)
	}
	defer os.Remove(tmp.Name()) // the temporary name goes, linked into place or not

	h := sha256.New()
	size, err := io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, r})
	if err == nil {
		err = tmp.Chmod(0o440) // evidence is read, never rewritten
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return actions.Evidence{}, fmt.Errorf("store evidence %s: %w", name, err)
	}

	// Link rather than rename: when two workers capture the same step at once (a heartbeat timeout handed
	// the activity to another worker while the first still ran), the first complete file wins and both
	// return it. Rename is the fallback for filesystems without hard links.
	switch err := os.Link(tmp.Name(), path); {
	case err == nil:
	case errors.Is(err, fs.ErrExist):
		ev, _, err := s.stat(path)
		return ev, err
	default:
		if err := os.Rename(tmp.Name(), path); err != nil {
			return actions.Evidence{}, fmt.Errorf("store evidence %s: %w", name, err)
		}
	}
	// The new directory entries must survive a crash too: the step's, the run's and the root's.
	for _, d := range []string{dir, filepath.Dir(dir), s.dir} {
		if err := syncDir(d); err != nil {
			return actions.Evidence{}, fmt.Errorf("store evidence %s: %w", name, err)
		}
	}
	return actions.Evidence{Locator: locator(path), SHA256: hex.EncodeToString(h.Sum(nil)), Size: size}, nil
}

// Lookup returns the evidence a step stored under name, if any.
func (s *Store) Lookup(_ context.Context, key, name string) (actions.Evidence, bool, error) {
	path, err := s.Path(key, name)
	if err != nil {
		return actions.Evidence{}, false, err
	}
	return s.stat(path)
}

// Verify recomputes the SHA-256 and size of stored evidence and compares them with ev.
func (s *Store) Verify(ev actions.Evidence) error {
	u, err := url.Parse(ev.Locator)
	if err != nil || u.Scheme != "file" {
		return fmt.Errorf("verify evidence %s: not a file locator", ev.Locator)
	}
	path := filepath.FromSlash(u.Path)
	if rel, err := filepath.Rel(s.dir, path); err != nil || !filepath.IsLocal(rel) {
		return fmt.Errorf("verify evidence %s: outside the store %s", ev.Locator, s.dir)
	}
	got, ok, err := s.stat(path)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("verify evidence %s: %w", ev.Locator, fs.ErrNotExist)
	}
	if got.SHA256 != ev.SHA256 || got.Size != ev.Size {
		return fmt.Errorf("verify evidence %s: stored file has sha256 %s (%d bytes), want %s (%d bytes)",
			ev.Locator, got.SHA256, got.Size, ev.SHA256, ev.Size)
	}
	return nil
}

// Path returns the file that holds evidence name of the step whose idempotency key is key. The key is split
// at its last slash: step ids never contain one, run ids (workflow ids built from vendor alert ids) might.
// Each part is reduced to a safe file name; a part that had to change gets a short hash of the original
// appended, so two runs whose ids differ only in unsafe characters never share a directory.
func (s *Store) Path(key, name string) (string, error) {
	i := strings.LastIndexByte(key, '/')
	if i <= 0 || i == len(key)-1 {
		return "", fmt.Errorf("evidence key %q is not <run id>/<step id>", key)
	}
	if name == "" {
		return "", errors.New("evidence name is empty")
	}
	return filepath.Join(s.dir, Segment(key[:i]), Segment(key[i+1:]), Segment(name)), nil
}

// Segment turns s into one safe path segment: letters, digits, '.', '_' and '-' are kept, anything else
// becomes '_'. When that changed s (or s was empty, hidden, or too long), a hash of s is appended.
func Segment(s string) string {
	const maxLen = 96
	var b strings.Builder
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	out := b.String()
	if out == s && s != "" && !strings.HasPrefix(s, ".") && len(s) <= maxLen {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	out = strings.TrimLeft(out, ".")
	if len(out) > maxLen {
		out = out[:maxLen]
	}
	if out == "" {
		out = "_"
	}
	return out + "-" + hex.EncodeToString(sum[:4])
}

// stat returns the evidence at path, hashing it, or ok=false when there is none.
func (s *Store) stat(path string) (ev actions.Evidence, ok bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return actions.Evidence{}, false, nil
	}
	if err != nil {
		return actions.Evidence{}, false, fmt.Errorf("read evidence: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return actions.Evidence{}, false, fmt.Errorf("read evidence %s: %w", path, err)
	}
	return actions.Evidence{Locator: locator(path), SHA256: hex.EncodeToString(h.Sum(nil)), Size: size}, true, nil
}

func locator(path string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, fs.ErrInvalid) {
		return err
	}
	return nil
}

// ctxReader stops a copy when the activity is cancelled (a heartbeat timeout, the run ending).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
