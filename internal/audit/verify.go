package audit

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// Verdicts.
const (
	StatusOK               = "ok"
	StatusTampered         = "tampered"         // a hash or signature check failed
	StatusNondeterministic = "nondeterministic" // the current code does not reproduce the history
	StatusUnreadable       = "unreadable"       // missing, malformed, or encrypted with keys not held
)

// Verdict is the outcome of checking one run.
type Verdict struct {
	Path   string // the bundle directory or history file
	Run    string // the workflow id, when known
	Status string
	Detail string // which check failed and how, or what was checked
	// Signed is set when the bundle's signature was checked and verified.
	Signed bool
	Events int
}

// String is the verdict's one line: "RUN: STATUS (DETAIL)".
func (v Verdict) String() string {
	name := v.Run
	if name == "" {
		name = v.Path
	}
	if v.Detail == "" {
		return name + ": " + v.Status
	}
	return fmt.Sprintf("%s: %s (%s)", name, v.Status, v.Detail)
}

// Item is something to check: a bundle directory or a plain history file.
type Item struct {
	Path   string
	Bundle bool
	err    error // the path could not be read
}

// Collect expands paths into items: a bundle directory (one holding manifest.json), a bundle's manifest or
// history file, a plain history JSON file, or a directory searched for both (the audit store, or
// workflows/testdata/histories). Names starting with "." (unfinished bundles) are skipped. A path that
// cannot be read becomes an item that checks as unreadable.
func Collect(paths []string) []Item {
	var items []Item
	for _, p := range paths {
		fi, err := os.Stat(p)
		switch {
		case err != nil:
			items = append(items, Item{Path: p, err: err})
		case fi.IsDir():
			items = append(items, collectDir(p)...)
		case filepath.Base(p) == ManifestFile:
			items = append(items, Item{Path: filepath.Dir(p), Bundle: true})
		case filepath.Base(p) == HistoryFile && exists(filepath.Join(filepath.Dir(p), ManifestFile)):
			items = append(items, Item{Path: filepath.Dir(p), Bundle: true})
		default:
			items = append(items, Item{Path: p})
		}
	}
	return items
}

func collectDir(root string) []Item {
	var items []Item
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			items = append(items, Item{Path: path, err: err})
			return nil
		}
		if path != root && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if exists(filepath.Join(path, ManifestFile)) {
				items = append(items, Item{Path: path, Bundle: true})
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(d.Name(), ".json") {
			items = append(items, Item{Path: path})
		}
		return nil
	})
	if err != nil {
		items = append(items, Item{Path: root, err: err})
	}
	return items
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Verifier checks bundles and histories: integrity first, then replay against the current code.
type Verifier struct {
	// Keys are the trusted public keys bundles must be signed with. With none, signatures are not checked
	// (each verdict says so) and only the history hash and replay are.
	Keys []ed25519.PublicKey
	// Replay configures the replayers (payload keys, workflow code).
	Replay ReplayOptions
	// Workers replay in parallel (default three per GOMAXPROCS: a replay also waits, on the SDK's coroutine
	// hand-offs and on the collector, so a few more replays than CPUs keep the CPUs busy; see docs/audit.md).
	Workers int
}

// Check checks one item with the given replayer.
func (v *Verifier) Check(r *Replayer, it Item) Verdict {
	out := Verdict{Path: it.Path, Status: StatusOK}
	if it.err != nil {
		return out.fail(StatusUnreadable, it.err.Error())
	}
	var raw []byte
	var signed bool
	if it.Bundle {
		manifest, err := os.ReadFile(filepath.Join(it.Path, ManifestFile))
		if err != nil {
			return out.fail(StatusUnreadable, err.Error())
		}
		if raw, err = os.ReadFile(filepath.Join(it.Path, HistoryFile)); err != nil {
			return out.fail(StatusUnreadable, err.Error())
		}
		var m Manifest
		if len(v.Keys) > 0 {
			if m, err = VerifyManifest(manifest, v.Keys); err != nil {
				out.Run = m.WorkflowID
				return out.fail(StatusTampered, err.Error())
			}
			signed = true
		} else if m, err = ParseManifest(manifest); err != nil {
			return out.fail(StatusTampered, err.Error())
		}
		out.Run = m.WorkflowID
		if got := SHA256Hex(raw); got != m.HistorySHA256 {
			return out.fail(StatusTampered, fmt.Sprintf("history hash: the manifest records %s, %s hashes to %s", short(m.HistorySHA256), HistoryFile, short(got)))
		}
		h, err := ParseHistory(raw)
		if err != nil {
			return out.fail(StatusUnreadable, err.Error())
		}
		out.Events = len(h.GetEvents())
		if err := checkStart(h); err != nil {
			return out.fail(StatusUnreadable, err.Error())
		}
		if id := h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowId(); id != "" && id != m.WorkflowID {
			return out.fail(StatusTampered, fmt.Sprintf("manifest: it names run %s, the history is of %s", m.WorkflowID, id))
		}
		if err := r.Replay(h); err != nil {
			return out.replayFailed(err)
		}
		out.Signed = signed
		if signed {
			out.Detail = fmt.Sprintf("signed by %s, %d events", m.SigningKeyID, out.Events)
		} else {
			out.Detail = fmt.Sprintf("signature not checked: no public key given; %d events", out.Events)
		}
		return out
	}
	f, err := os.Open(it.Path)
	if err != nil {
		return out.fail(StatusUnreadable, err.Error())
	}
	h, err := ReadHistory(f)
	f.Close()
	if err != nil {
		return out.fail(StatusUnreadable, err.Error())
	}
	out.Events = len(h.GetEvents())
	if err := r.Replay(h); err != nil {
		return out.replayFailed(err)
	}
	out.Detail = fmt.Sprintf("history only, no manifest to check; %d events", out.Events)
	return out
}

func (v Verdict) fail(status, detail string) Verdict {
	v.Status, v.Detail = status, detail
	return v
}

func (v Verdict) replayFailed(err error) Verdict {
	var nd *NondeterminismError
	var ur *UnreadableError
	switch {
	case errors.As(err, &nd):
		return v.fail(StatusNondeterministic, nd.Detail)
	case errors.As(err, &ur):
		return v.fail(StatusUnreadable, ur.Error())
	}
	return v.fail(StatusUnreadable, err.Error())
}

func short(sum string) string {
	if len(sum) > 16 {
		return sum[:16] + "…"
	}
	if sum == "" {
		return "nothing"
	}
	return sum
}

// ReplayGCPercent is the garbage collector target (GOGC) for a process that verifies many histories: replay
// allocates about 2.5 MB per history and keeps little, so collecting less often is nearly free in memory and
// measured 175 → 260 histories/s on 2 vCPUs (BenchmarkVerify). trigger replay sets it.
const ReplayGCPercent = 400

// CheckAll checks the items in parallel, one replayer per worker, and calls each with every verdict in the
// items' order.
func (v *Verifier) CheckAll(items []Item, each func(Verdict)) {
	workers := v.Workers
	if workers <= 0 {
		workers = 3 * runtime.GOMAXPROCS(0)
	}
	workers = min(workers, max(len(items), 1))
	results := make([]chan Verdict, len(items))
	for i := range results {
		results[i] = make(chan Verdict, 1)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := NewReplayer(v.Replay)
			for i := range next {
				results[i] <- v.Check(r, items[i])
			}
		}()
	}
	go func() {
		for i := range items {
			next <- i
		}
		close(next)
	}()
	for i := range items {
		each(<-results[i])
	}
	wg.Wait()
}

// Summary counts verdicts by status.
type Summary map[string]int

// Add counts a verdict.
func (s Summary) Add(v Verdict) { s[v.Status]++ }

// OK reports whether every verdict was ok.
func (s Summary) OK() bool {
	for st, n := range s {
		if st != StatusOK && n > 0 {
			return false
		}
	}
	return true
}

// String lists the counts: "12 ok, 1 tampered".
func (s Summary) String() string {
	var parts []string
	for _, st := range []string{StatusOK, StatusTampered, StatusNondeterministic, StatusUnreadable} {
		if s[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", s[st], st))
		}
	}
	if len(parts) == 0 {
		return "nothing checked"
	}
	return strings.Join(parts, ", ")
}
