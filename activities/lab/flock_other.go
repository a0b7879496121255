//go:build !unix

package lab

import "errors"

// lockFile is only implemented with flock: the lab shares its state file between processes and must not do
// so unlocked.
func lockFile(string) (func(), error) {
	return nil, errors.New("the lab state file needs flock, which this platform lacks")
}
