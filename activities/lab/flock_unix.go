//go:build unix

package lab

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive flock on path, creating it, and returns its release. flock locks belong to the
// open file description, so they exclude other descriptors of this process as well as other processes, and
// the kernel drops them when a killed worker's descriptors close.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
