//go:build unix

package devserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockRecord is what the owner of the database writes into the lock file
// once its server answers, so that other processes can attach to it.
type lockRecord struct {
	PID       int       `json:"pid"`
	Address   string    `json:"address"`
	UIURL     string    `json:"ui_url,omitempty"`
	Namespace string    `json:"namespace"`
	Started   time.Time `json:"started"`
}

// lockFile is an open lock file; held tells whether we own the flock.
type lockFile struct {
	f    *os.File
	path string
	held bool
}

// openLock opens (creating if needed) the lock file and tries to take an
// exclusive flock without blocking. A flock belongs to the open file
// description, so a second Start in the same process sees the lock as held
// too, and the kernel drops it when the holder dies, even by SIGKILL: a lock
// file left behind by a killed process is simply taken over.
func openLock(path string) (*lockFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	l := &lockFile{f: f, path: path}
	if err := l.tryLock(); err != nil {
		_ = f.Close()
		return nil, err
	}
	return l, nil
}

func (l *lockFile) tryLock() error {
	err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	switch {
	case err == nil:
		l.held = true
		// Whatever a previous owner recorded is stale from now on.
		if err := l.f.Truncate(0); err != nil {
			return fmt.Errorf("clear lock file %s: %w", l.path, err)
		}
		return nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		return nil
	default:
		return fmt.Errorf("lock %s: %w", l.path, err)
	}
}

// write records the running server. Readers may catch the file between the
// truncate and the write; they retry until the JSON parses.
func (l *lockFile) write(rec lockRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode lock record: %w", err)
	}
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("write lock file %s: %w", l.path, err)
	}
	if _, err := l.f.WriteAt(append(data, '\n'), 0); err != nil {
		return fmt.Errorf("write lock file %s: %w", l.path, err)
	}
	return nil
}

// read returns the record, or ok=false while there is none yet (the owner
// is still starting) or it is half written.
func (l *lockFile) read() (rec lockRecord, ok bool) {
	data, err := os.ReadFile(l.path)
	if err != nil || len(data) == 0 {
		return lockRecord{}, false
	}
	if err := json.Unmarshal(data, &rec); err != nil || rec.Address == "" {
		return lockRecord{}, false
	}
	return rec, true
}

// release empties the file before unlocking, so nobody attaches to a server
// that is gone. The file itself stays: unlinking a flock file lets two
// processes lock two different inodes.
func (l *lockFile) release() error {
	var errs []error
	if l.held {
		errs = append(errs, l.f.Truncate(0))
		errs = append(errs, syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN))
		l.held = false
	}
	errs = append(errs, l.f.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("release lock %s: %w", l.path, err)
	}
	return nil
}

// processAlive reports whether pid still exists (signal 0 checks without
// sending anything).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
