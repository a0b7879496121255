package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// stateVersion is written to every state file; a file of another version is refused rather than misread.
const stateVersion = 1

// State is what the lab's actions changed, as kept in the state file. Fields are maps keyed by the
// canonical name the fixture gives (host "WS-0042", user "alice"); a host or user appears once an action
// touched it. Tests read it with ReadState to prove that a side effect happened exactly once.
type State struct {
	Version int `json:"version"`
	// Hosts holds the EDR state of every host an action touched.
	Hosts map[string]*HostState `json:"hosts,omitempty"`
	// Users holds the directory state of every account an action touched.
	Users map[string]*UserState `json:"users,omitempty"`
	// BlockedIPs maps an address to its perimeter block rule.
	BlockedIPs map[string]Rule `json:"blocked_ips,omitempty"`
	// BlockedSenders maps a lowercased sender address to its mail gateway rule.
	BlockedSenders map[string]Rule `json:"blocked_senders,omitempty"`
	// PurgedMessages maps a Message-ID (without angle brackets) to the mailboxes it was removed from.
	PurgedMessages map[string]Purge `json:"purged_messages,omitempty"`
	// Effects records every call that changed or captured something, keyed by its idempotency key: a call
	// repeated with the same key returns the recorded result instead of acting again.
	Effects map[string]Effect `json:"effects,omitempty"`
	// Counts counts effects per action: one per idempotency key, never a retry.
	Counts map[string]int `json:"counts,omitempty"`
	// Attempts counts calls failed by fault injection, per "action key" (see Fault).
	Attempts map[string]int `json:"attempts,omitempty"`
	// NextRule numbers firewall and mail gateway rules.
	NextRule int `json:"next_rule,omitempty"`
}

// HostState is the simulated EDR's view of one host.
type HostState struct {
	Isolated bool `json:"isolated"`
	// Since is when Isolated last changed.
	Since time.Time `json:"since,omitzero"`
	// KilledPIDs are the fixture processes that were terminated.
	KilledPIDs []int `json:"killed_pids,omitempty"`
	// Quarantined maps a file SHA-256 to the paths of the copies in quarantine.
	Quarantined map[string][]string `json:"quarantined,omitempty"`
	// RemovedPersistence lists removed persistence items as "kind/name".
	RemovedPersistence []string `json:"removed_persistence,omitempty"`
	// DisabledAccounts lists disabled local accounts.
	DisabledAccounts []string `json:"disabled_accounts,omitempty"`
}

// UserState is the simulated directory's view of one account.
type UserState struct {
	Disabled bool `json:"disabled"`
	// Sessions is the number of active sign-in sessions (the fixture's count until revoked).
	Sessions int `json:"sessions"`
	// PasswordResetRequired is set by a forced password reset.
	PasswordResetRequired bool `json:"password_reset_required,omitempty"`
}

// Rule is a block rule created by an action.
type Rule struct {
	ID      string    `json:"id"`
	Key     string    `json:"key"` // idempotency key of the call that created it
	At      time.Time `json:"at"`
	Comment string    `json:"comment,omitempty"`
}

// Purge records a message removed from mailboxes.
type Purge struct {
	Mailboxes []string  `json:"mailboxes"`
	Key       string    `json:"key"`
	At        time.Time `json:"at"`
}

// Effect is one recorded side effect.
type Effect struct {
	Action string    `json:"action"`
	Target string    `json:"target"` // host, user, address, message or hash acted on
	At     time.Time `json:"at"`
	// Result is the provider's answer, replayed to a retry with the same key.
	Result json.RawMessage `json:"result"`
}

// Count returns how many distinct calls (idempotency keys) performed action.
func (s State) Count(action string) int { return s.Counts[action] }

// Host returns a host's state; the zero state (not isolated) for a host no action touched.
func (s State) Host(name string) HostState {
	if h := s.Hosts[name]; h != nil {
		return *h
	}
	return HostState{}
}

// User returns an account's state, or ok=false when no action touched it.
func (s State) User(name string) (UserState, bool) {
	if u := s.Users[name]; u != nil {
		return *u, true
	}
	return UserState{}, false
}

// ReadState reads a lab state file. The file is only ever replaced whole (written aside and renamed), so a
// read needs no lock and always sees a complete state. A missing file is reported with fs.ErrNotExist: the
// lab has not acted yet, or the path is wrong.
func ReadState(path string) (State, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return State{}, fmt.Errorf("read lab state: %w", err)
	}
	return decodeState(path, data)
}

func decodeState(path string, data []byte) (State, error) {
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return State{}, fmt.Errorf("read lab state %s: %w (delete the file to reset the lab)", path, err)
	}
	if st.Version != stateVersion {
		return State{}, fmt.Errorf("read lab state %s: version %d, want %d (delete the file to reset the lab)", path, st.Version, stateVersion)
	}
	st.init()
	return st, nil
}

func (s *State) init() {
	s.Version = stateVersion
	if s.Hosts == nil {
		s.Hosts = map[string]*HostState{}
	}
	if s.Users == nil {
		s.Users = map[string]*UserState{}
	}
	if s.BlockedIPs == nil {
		s.BlockedIPs = map[string]Rule{}
	}
	if s.BlockedSenders == nil {
		s.BlockedSenders = map[string]Rule{}
	}
	if s.PurgedMessages == nil {
		s.PurgedMessages = map[string]Purge{}
	}
	if s.Effects == nil {
		s.Effects = map[string]Effect{}
	}
	if s.Counts == nil {
		s.Counts = map[string]int{}
	}
	if s.Attempts == nil {
		s.Attempts = map[string]int{}
	}
}

// host returns the mutable state of a host, creating it.
func (s *State) host(name string) *HostState {
	h := s.Hosts[name]
	if h == nil {
		h = &HostState{}
		s.Hosts[name] = h
	}
	return h
}

// user returns the mutable state of an account, creating it from the fixture.
func (s *State) user(u *User) *UserState {
	us := s.Users[u.Name]
	if us == nil {
		us = &UserState{Sessions: u.Sessions}
		s.Users[u.Name] = us
	}
	return us
}

// stateFile is the state on disk, shared by every worker process that runs the lab. Each read-modify-write
// holds an exclusive flock on a sibling lock file (the state file itself is replaced by rename, so it cannot
// carry the lock) and writes the new state aside, fsyncs it, renames it over the old one and fsyncs the
// directory: a worker killed at any point leaves either the old state or the new one.
type stateFile struct {
	path string
	lock string
	// mu serialises this Lab's goroutines cheaply. The flock, taken on a descriptor opened for each
	// update, excludes everyone else: other processes and other Labs of this process on the same file.
	mu sync.Mutex
}

func openState(path string) (*stateFile, error) {
	if path == "" {
		return nil, errors.New("open lab state: no path given")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("open lab state: %w", err)
	}
	f := &stateFile{path: path, lock: path + ".lock"}
	// Fail now, not on the first action, if the existing file cannot be read.
	if _, err := f.read(); err != nil {
		return nil, err
	}
	return f, nil
}

// read returns the current state; an absent file is the empty state.
func (f *stateFile) read() (State, error) {
	data, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		var st State
		st.init()
		return st, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("read lab state: %w", err)
	}
	return decodeState(f.path, data)
}

// update runs fn on the current state under the lock and writes the result unless fn fails.
func (f *stateFile) update(fn func(*State) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	unlock, err := lockFile(f.lock)
	if err != nil {
		return fmt.Errorf("lock lab state: %w", err)
	}
	defer unlock()
	st, err := f.read()
	if err != nil {
		return err
	}
	if err := fn(&st); err != nil {
		return err
	}
	return f.write(st)
}

// view runs fn on the current state under the lock, writing nothing.
func (f *stateFile) view(fn func(*State) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	unlock, err := lockFile(f.lock)
	if err != nil {
		return fmt.Errorf("lock lab state: %w", err)
	}
	defer unlock()
	st, err := f.read()
	if err != nil {
		return err
	}
	return fn(&st)
}

func (f *stateFile) write(st State) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	dir := filepath.Dir(f.path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(f.path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), f.path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("write lab state %s: %w", f.path, err)
	}
	return nil
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
