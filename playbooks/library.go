package playbooks

import (
	"embed"
	"io/fs"
)

// library holds the response playbooks that ship with Parry, one file per technique (or tactic fallback).
//
//go:embed *.yaml
var library embed.FS

// LibraryDir is the name library playbooks carry in Source and in error messages: the directory they live
// in within the repository, so an error points at the file to edit.
const LibraryDir = "playbooks"

// LibraryFiles returns the library's YAML files (at the root of the returned FS), for listing and for
// `trigger validate` to show them.
func LibraryFiles() fs.FS { return library }

// Library parses and validates the embedded playbooks and returns them sorted by id, each with Source
// "playbooks/<file>". Every call parses afresh, so callers may change what they get; the library is a
// few dozen small files and CEL programs are cached, so this is cheap.
func Library() ([]*Playbook, error) {
	files, err := readFS(library, LibraryDir)
	if err != nil {
		return nil, err
	}
	out, errs := loadAll(files)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
