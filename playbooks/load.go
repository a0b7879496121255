package playbooks

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// LoadFiles loads the playbooks at paths, as `trigger validate PATH...` does: a directory stands for the
// *.yaml and *.yml files directly in it, in name order. It returns the valid playbooks sorted by id,
// and an ErrorList of every problem in every file, duplicate ids across files included.
func LoadFiles(paths ...string) ([]*Playbook, error) {
	var files []namedFile
	var errs ErrorList
	seen := map[string]bool{}
	addFile := func(name string) {
		clean := filepath.Clean(name)
		if seen[clean] {
			return
		}
		seen[clean] = true
		data, err := os.ReadFile(name)
		if err != nil {
			errs = append(errs, &Error{File: name, Msg: fmt.Sprintf("read playbook: %v", err)})
			return
		}
		files = append(files, namedFile{name: name, data: data})
	}
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			errs = append(errs, &Error{File: p, Msg: fmt.Sprintf("read playbook: %v", err)})
			continue
		}
		if !info.IsDir() {
			addFile(p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			errs = append(errs, &Error{File: p, Msg: fmt.Sprintf("read playbook directory: %v", err)})
			continue
		}
		n := 0
		for _, e := range entries {
			if !e.IsDir() && isYAML(e.Name()) {
				addFile(filepath.Join(p, e.Name()))
				n++
			}
		}
		if n == 0 {
			errs = append(errs, &Error{File: p, Msg: "no *.yaml or *.yml playbooks in this directory"})
		}
	}
	out, more := loadAll(files)
	errs = append(errs, more...)
	return out, errs.Err()
}

func isYAML(name string) bool {
	ext := strings.ToLower(path.Ext(name))
	return ext == ".yaml" || ext == ".yml"
}

type namedFile struct {
	name string
	data []byte
}

// loadAll loads files and checks that playbook ids are unique across them: routing and run ids name a
// playbook by id, so two files with one id would make either unreachable.
func loadAll(files []namedFile) ([]*Playbook, ErrorList) {
	var out []*Playbook
	var errs ErrorList
	byID := map[string]*Playbook{}
	for _, f := range files {
		p, err := Load(f.name, f.data)
		if err != nil {
			var list ErrorList
			if errors.As(err, &list) {
				errs = append(errs, list...)
			} else {
				errs = append(errs, &Error{File: f.name, Msg: err.Error()})
			}
			continue
		}
		if first, dup := byID[p.ID]; dup {
			at := first.Source
			if pos := first.pos("id"); pos.Line > 0 {
				at = fmt.Sprintf("%s:%d:%d", first.Source, pos.Line, pos.Col)
			}
			errs.add(p.Source, p.pos("id"), "playbook id %q is already used by %s; ids must be unique (rename one)", p.ID, at)
			continue
		}
		byID[p.ID] = p
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, errs
}

// pos returns where path was written in the playbook's file, when it was parsed from one.
func (p *Playbook) pos(path string) Pos {
	if p.src == nil {
		return Pos{}
	}
	return p.src.spots[path].Pos
}

// readFS reads every *.yaml and *.yml file at the root of fsys, in name order, naming each prefix/<file>.
func readFS(fsys fs.FS, prefix string) ([]namedFile, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("list playbooks: %w", err)
	}
	var files []namedFile
	for _, e := range entries {
		if e.IsDir() || !isYAML(e.Name()) {
			continue
		}
		data, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read playbook %s: %w", e.Name(), err)
		}
		files = append(files, namedFile{name: path.Join(prefix, e.Name()), data: data})
	}
	return files, nil
}
