package playbooks

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Keys each mapping of the format may hold, in the order the format documents them (hints list them so).
var (
	topKeys       = []string{"apiVersion", "kind", "id", "name", "version", "description", "techniques", "tactics", "severity", "inputs", "priority", "match", "notify", "approvers", "rollback", "tags", "phases"}
	inputKeys     = []string{"from", "required"}
	matchKeys     = []string{"when"}
	notifyKeys    = []string{"channel", "escalation", "oncall"}
	approverKeys  = []string{"slack_groups", "slack_users", "operators", "min"}
	rollbackKeys  = []string{"approval"}
	approvalKeys  = []string{"by", "timeout", "on_timeout", "reason"}
	tagsKeys      = []string{"react", "d3fend"}
	phaseKeys     = []string{"id", "name", "budget", "on_breach", "steps"}
	stepKeys      = []string{"id", "name", "action", "when", "with", "approval", "undo", "timeout", "retry", "tags", "parallel"}
	retryKeys     = []string{"max_attempts", "initial_interval", "max_interval", "backoff"}
	coreYAMLTags  = map[string]bool{"!!str": true, "!!int": true, "!!float": true, "!!bool": true, "!!null": true, "!!map": true, "!!seq": true, "!!timestamp": true}
	yamlErrorLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	// yamlParserErrors are the messages of yaml.v3's parser, as opposed to its scanner (parserc.go).
	yamlParserErrors = map[string]bool{
		"did not find expected ',' or ']'": true, "did not find expected ',' or '}'": true,
		"did not find expected '-' indicator": true, "did not find expected <document start>": true,
		"did not find expected key": true, "did not find expected node content": true,
		"found undefined tag handle": true, "found duplicate %TAG directive": true,
		"found duplicate %YAML directive": true, "found incompatible YAML document": true,
	}
)

// maxExactFloat is the largest integer a float64 holds exactly (2^53).
const maxExactFloat = 1 << 53

// source keeps where each part of a parsed playbook was written. Paths name the parts the way the format
// nests them: "phases[0].steps[2].with.host"; a key's own position is stored under its path plus "#".
type source struct {
	spots map[string]spot
	// failed marks paths whose value could not be read, or that an unknown key probably meant: the
	// author has been told once, so Validate does not also call them missing.
	failed map[string]bool
}

// spot is the position of a value. For a single-line scalar whose text maps one to one onto columns,
// shift is the number of columns before the value's first character (1 for a quote); otherwise it is -1
// and positions inside the value fall back to the value's start.
type spot struct {
	Pos
	shift int
}

// Parse reads a parry/v1 playbook from YAML. It checks the shape of the file (syntax, one document, known
// keys, value kinds, durations) and fills the model with positions and defaults that need no catalog
// (on_breach escalate, approval on_timeout deny, approver min 1). It does not check names against the
// action and ATT&CK catalogs: Validate does, and Load does both.
func Parse(filename string, data []byte) (*Playbook, error) {
	p, errs := parse(filename, data)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// parse returns the playbook as far as it could be read (nil when the file is not a YAML mapping at all)
// and every problem found on the way, so Load can report shape and semantic problems together.
func parse(filename string, data []byte) (*Playbook, ErrorList) {
	d := &decoder{file: filename, src: &source{spots: map[string]spot{}, failed: map[string]bool{}}}
	if !d.checkText(data) {
		return nil, d.errs
	}
	d.lines = strings.Split(string(data), "\n")
	root := d.document(data)
	if root == nil {
		return nil, d.errs
	}
	d.lint(root)
	sum := sha256.Sum256(data)
	p := &Playbook{Source: filename, SHA256: hex.EncodeToString(sum[:]), src: d.src}
	d.playbook(root, p)
	return p, d.errs
}

// decoder turns yaml.Nodes into the model, recording positions and collecting errors.
type decoder struct {
	file      string
	lines     []string
	runeLines map[int][]rune
	src       *source
	errs      ErrorList
}

func posOf(n *yaml.Node) Pos { return Pos{Line: n.Line, Col: n.Column} }

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.errs.add(d.file, posOf(n), format, args...)
}

// checkText refuses bytes YAML cannot hold, with the position of the first bad one: yaml.v3 reports these
// without a line.
func (d *decoder) checkText(data []byte) bool {
	line, col := 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			d.errs.add(d.file, Pos{Line: line, Col: col}, "file is not valid UTF-8 (byte 0x%02x at offset %d); save it as UTF-8", data[i], i)
			return false
		case r == '\n':
			line, col = line+1, 0
		case r == '\uFEFF' && i == 0:
			// A UTF-8 byte order mark is allowed at the start.
		case r < 0x20 && r != '\t' && r != '\r', r == 0x7F, r >= 0x80 && r < 0xA0 && r != 0x85, r == 0xFFFE, r == 0xFFFF:
			d.errs.add(d.file, Pos{Line: line, Col: col}, "control character %U is not allowed in YAML; remove it", r)
			return false
		}
		i += size
		col++
	}
	return true
}

// document decodes the single YAML document of the file and returns its root mapping.
func (d *decoder) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errs.add(d.file, Pos{Line: 1, Col: 1}, "empty playbook (a playbook is a mapping that starts with apiVersion: %s)", APIVersion)
			return nil
		}
		d.syntaxError(err)
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.syntaxError(err)
		return nil
	default:
		d.errorf(&extra, "a second YAML document starts here; a playbook file holds exactly one playbook (remove the --- or split the file)")
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		d.errs.add(d.file, Pos{Line: 1, Col: 1}, "empty playbook (a playbook is a mapping that starts with apiVersion: %s)", APIVersion)
		return nil
	}
	root := doc.Content[0]
	switch {
	case root.Kind == yaml.MappingNode:
		return root
	case root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null":
		d.errorf(root, "empty playbook (a playbook is a mapping that starts with apiVersion: %s)", APIVersion)
	default:
		d.errorf(root, "the top level is %s; a playbook is a mapping that starts with apiVersion: %s (one playbook per file)", kindName(root), APIVersion)
	}
	return nil
}

// syntaxError reports a yaml.v3 parse error. yaml.v3 gives only a line, so the error has no column.
func (d *decoder) syntaxError(err error) {
	msg := err.Error()
	line := 0
	if m := yamlErrorLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		// yaml.v3 reports the 0-based line of a parser (not scanner) error's context: the start of the
		// block or flow collection that is broken. Report that start, 1-based.
		if yamlParserErrors[msg] {
			line++
		}
	} else {
		// yaml.v3 leaves the line out when it is the first one (0-based 0).
		msg = strings.TrimPrefix(msg, "yaml: ")
		line = 1
	}
	pos := Pos{Line: line}
	if strings.HasPrefix(msg, "unknown anchor '") {
		// Raised while building the tree, without a position: find the alias in the text.
		name := strings.TrimSuffix(strings.TrimPrefix(msg, "unknown anchor '"), "' referenced")
		for i, l := range d.lines {
			if j := strings.Index(l, "*"+name); j >= 0 {
				pos = Pos{Line: i + 1, Col: utf8.RuneCountInString(l[:j]) + 1}
				break
			}
		}
	}
	if strings.Contains(msg, "tab") {
		// yaml.v3 reports the line of the enclosing block; the tab itself is more useful.
		for i, l := range d.lines {
			indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
			if j := strings.IndexByte(indent, '\t'); j >= 0 {
				pos = Pos{Line: i + 1, Col: j + 1}
				break
			}
		}
	}
	d.errs.add(d.file, pos, "invalid YAML: %s%s", msg, syntaxHint(msg))
}

func syntaxHint(msg string) string {
	switch {
	case strings.Contains(msg, "tab") || strings.Contains(msg, "cannot start any token"):
		return " (indent with spaces, not tabs, and quote values that start with @ or `)"
	case strings.Contains(msg, "mapping values are not allowed"):
		return ` (quote values that contain ": ", or check the indentation)`
	case strings.Contains(msg, "did not find expected key"), strings.Contains(msg, "did not find expected '-'"):
		return " (a line inside the block that starts here is indented wrongly)"
	case strings.Contains(msg, "did not find expected ','"):
		return " (close the { or [ that opens here, and quote values that hold , [ ] { or })"
	case strings.Contains(msg, "could not find expected ':'"):
		return ` (a key needs a ":" after it)`
	case strings.Contains(msg, "quoted scalar"), strings.Contains(msg, "end of stream"):
		return " (close the quote or bracket that is open here)"
	case strings.Contains(msg, "unknown anchor"):
		return " (anchors and aliases are not supported in playbooks; write the value out)"
	}
	return " (check the indentation and quoting around this line)"
}

// lint walks the whole tree for what the format forbids anywhere: anchors and aliases (a playbook is
// reviewed as written, and aliases could make the tree a graph), custom tags, merge keys, keys that are not
// strings and duplicate keys.
func (d *decoder) lint(n *yaml.Node) {
	if n.Kind == yaml.AliasNode {
		d.errorf(n, "alias *%s is not supported in playbooks; write the value out", n.Value)
		return
	}
	if n.Anchor != "" {
		d.errorf(n, "anchor &%s is not supported in playbooks; write the value out where it is used", n.Anchor)
	}
	if n.Style&yaml.TaggedStyle != 0 && !coreYAMLTags[n.Tag] {
		d.errorf(n, "YAML tag %s is not supported in playbooks; remove it", n.Tag)
	}
	switch n.Kind {
	case yaml.MappingNode:
		seen := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			switch {
			case k.Kind == yaml.ScalarNode && k.Tag == "!!merge":
				d.errorf(k, "merge key << is not supported in playbooks; write the keys out")
			case k.Kind != yaml.ScalarNode:
				d.errorf(k, "a key must be a plain string, not %s", kindName(k))
			default:
				if first, dup := seen[k.Value]; dup {
					d.errorf(k, "key %q appears twice in this mapping (first at %d:%d); remove one", k.Value, first.Line, first.Column)
				} else {
					seen[k.Value] = k
				}
			}
			if k.Kind != yaml.ScalarNode {
				continue
			}
			d.lint(n.Content[i+1])
		}
	case yaml.SequenceNode, yaml.DocumentNode:
		for _, c := range n.Content {
			d.lint(c)
		}
	}
}

// kindName names a node's kind for messages: "a mapping", "a list", "a number".
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "empty"
		}
		return "a string"
	}
	return "empty"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// at records where the value at path was written.
func (d *decoder) at(path string, n *yaml.Node) {
	d.src.spots[path] = spot{Pos: posOf(n), shift: d.shift(n)}
}

func (d *decoder) fail(path string) { d.src.failed[path] = true }

// shift returns how many columns precede a single-line scalar's value in the file, or -1 when the value's
// characters do not map one to one onto columns (escapes, folding, block scalars).
func (d *decoder) shift(n *yaml.Node) int {
	if n.Kind != yaml.ScalarNode || strings.ContainsAny(n.Value, "\r\n") {
		return -1
	}
	line := d.line(n.Line)
	if n.Column < 1 || n.Column > len(line) {
		return -1
	}
	raw := line[n.Column-1:]
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		if hasRunePrefix(raw, `"`+n.Value+`"`) {
			return 1
		}
	case n.Style&yaml.SingleQuotedStyle != 0:
		if hasRunePrefix(raw, `'`+n.Value+`'`) {
			return 1
		}
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle|yaml.TaggedStyle) == 0:
		if hasRunePrefix(raw, n.Value) {
			return 0
		}
	}
	return -1
}

// line returns line i (1-based) of the file as runes, since yaml.v3 counts columns in characters. Lines
// are converted once: a long flow-style line holds many scalars.
func (d *decoder) line(i int) []rune {
	if i < 1 || i > len(d.lines) {
		return nil
	}
	if d.runeLines == nil {
		d.runeLines = map[int][]rune{}
	}
	r, ok := d.runeLines[i]
	if !ok {
		r = []rune(strings.TrimSuffix(d.lines[i-1], "\r"))
		d.runeLines[i] = r
	}
	return r
}

func hasRunePrefix(line []rune, prefix string) bool {
	i := 0
	for _, r := range prefix {
		if i >= len(line) || line[i] != r {
			return false
		}
		i++
	}
	return true
}

// field is one key: value pair of a mapping.
type field struct {
	key  string
	k, v *yaml.Node
	path string
}

// fields returns the pairs of mapping n whose keys are known, in document order, and reports unknown
// keys with the closest known one. where completes "unknown key … in <where>".
func (d *decoder) fields(n *yaml.Node, path, where string, known []string) ([]field, bool) {
	if n.Kind == yaml.AliasNode {
		d.fail(path)
		return nil, false
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s must be a mapping, not %s (with keys such as %s)", where, kindName(n), strings.Join(known[:min(3, len(known))], ", "))
		d.fail(path)
		return nil, false
	}
	d.at(path, n)
	var out []field
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" || seen[k.Value] {
			continue // reported by lint
		}
		seen[k.Value] = true
		if !contains(known, k.Value) {
			if s := suggest(k.Value, known); s != "" {
				d.errorf(k, "unknown key %q in %s (did you mean %q?)", k.Value, where, s)
				d.fail(join(path, s))
			} else {
				d.errorf(k, "unknown key %q in %s (allowed: %s)", k.Value, where, strings.Join(known, ", "))
			}
			continue
		}
		p := join(path, k.Value)
		d.at(p+"#", k)
		d.at(p, v)
		out = append(out, field{key: k.Value, k: k, v: v, path: p})
	}
	return out, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// str reads a string. Any non-empty scalar is taken as written ("version: 3" read as a name is "3").
func (d *decoder) str(f field) (string, bool) {
	n := f.v
	switch {
	case n.Kind == yaml.AliasNode:
	case n.Kind != yaml.ScalarNode:
		d.errorf(n, "%s must be a string, not %s (quote it if it starts with [ or {)", f.key, kindName(n))
	case n.ShortTag() == "!!null":
		d.errorf(n, "%s has no value (give one, or remove the key)", f.key)
	default:
		return n.Value, true
	}
	d.fail(f.path)
	return "", false
}

// integer reads a whole number.
func (d *decoder) integer(f field, bits int) (int64, bool) {
	n := f.v
	if n.Kind == yaml.AliasNode {
		d.fail(f.path)
		return 0, false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		d.errorf(n, "%s must be a whole number, not %s (e.g. %s: 2)", f.key, describe(n), f.key)
		d.fail(f.path)
		return 0, false
	}
	var v int64
	if err := n.Decode(&v); err != nil || (bits < 64 && (v > 1<<(bits-1)-1 || v < -(1<<(bits-1)))) {
		d.errorf(n, "%s %s is out of range", f.key, n.Value)
		d.fail(f.path)
		return 0, false
	}
	return v, true
}

// float reads a number.
func (d *decoder) float(f field) (float64, bool) {
	n := f.v
	if n.Kind == yaml.AliasNode {
		d.fail(f.path)
		return 0, false
	}
	var v float64
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") || n.Decode(&v) != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		d.errorf(n, "%s must be a number, not %s (e.g. %s: 2)", f.key, describe(n), f.key)
		d.fail(f.path)
		return 0, false
	}
	return v, true
}

// boolean reads true or false.
func (d *decoder) boolean(f field) (bool, bool) {
	n := f.v
	if n.Kind == yaml.AliasNode {
		d.fail(f.path)
		return false, false
	}
	var v bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&v) != nil {
		d.errorf(n, "%s must be true or false, not %s (YAML 1.2 reads yes, no, on and off as strings)", f.key, describe(n))
		d.fail(f.path)
		return false, false
	}
	return v, true
}

// duration reads a positive duration: every duration of the format bounds something (a budget, a wait),
// so zero or negative is a mistake; leave the key out for "none".
func (d *decoder) duration(f field) (time.Duration, bool) {
	n := f.v
	if n.Kind == yaml.AliasNode {
		d.fail(f.path)
		return 0, false
	}
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
		d.errorf(n, "%s %s has no unit (write %ss, %sm or %sh)", f.key, n.Value, n.Value, n.Value, n.Value)
		d.fail(f.path)
		return 0, false
	}
	s, ok := d.str(f)
	if !ok {
		return 0, false
	}
	v, err := ParseDuration(s)
	if err != nil {
		d.errorf(n, "bad duration %q for %s (write a Go duration such as 90s, 15m or 1h30m, or days such as 2d)", s, f.key)
		d.fail(f.path)
		return 0, false
	}
	if v <= 0 {
		d.errorf(n, "%s must be positive, not %q (leave %s out for none)", f.key, s, f.key)
		d.fail(f.path)
		return 0, false
	}
	return v, true
}

// describe shows a value in a message: the scalar as written, or its kind.
func describe(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && n.ShortTag() != "!!null" {
		return strconv.Quote(n.Value)
	}
	return kindName(n)
}

// strings reads a list of strings; with scalarOK a single string is a list of one (tags: {react: RA3101}).
// An empty list is nil so the model round-trips through JSON unchanged.
func (d *decoder) strings(f field, scalarOK bool) ([]string, bool) {
	n := f.v
	if n.Kind == yaml.AliasNode {
		d.fail(f.path)
		return nil, false
	}
	if n.Kind == yaml.ScalarNode && scalarOK {
		s, ok := d.str(f)
		if !ok {
			return nil, false
		}
		return []string{s}, true
	}
	if n.Kind != yaml.SequenceNode {
		example := "a, b"
		if n.Kind == yaml.ScalarNode && n.ShortTag() != "!!null" {
			example = n.Value
		}
		d.errorf(n, "%s must be a list of strings, not %s (write %s: [%s])", f.key, kindName(n), f.key, example)
		d.fail(f.path)
		return nil, false
	}
	var out []string
	ok := true
	for i, c := range n.Content {
		item := field{key: fmt.Sprintf("%s[%d]", f.key, i), v: c, path: index(f.path, i)}
		d.at(item.path, c)
		s, good := d.str(item)
		if !good {
			ok = false
			continue
		}
		out = append(out, s)
	}
	return out, ok
}

func (d *decoder) playbook(root *yaml.Node, p *Playbook) {
	fs, _ := d.fields(root, "", "the playbook", topKeys)
	for _, f := range fs {
		switch f.key {
		case "apiVersion":
			p.APIVersion, _ = d.str(f)
		case "kind":
			p.Kind, _ = d.str(f)
		case "id":
			p.ID, _ = d.str(f)
		case "name":
			p.Name, _ = d.str(f)
		case "version":
			if v, ok := d.integer(f, 32); ok {
				p.Version = int(v)
			}
		case "description":
			p.Description, _ = d.str(f)
		case "techniques":
			p.Techniques, _ = d.strings(f, false)
		case "tactics":
			p.Tactics, _ = d.strings(f, false)
		case "severity":
			p.Severity, _ = d.str(f)
		case "inputs":
			p.Inputs = d.inputs(f)
		case "priority":
			v, _ := d.integer(f, 32)
			p.Priority = int(v)
		case "match":
			p.Match = d.match(f)
		case "notify":
			p.Notify = d.notify(f)
		case "approvers":
			p.Approvers = d.approvers(f)
		case "rollback":
			p.Rollback = d.rollback(f)
		case "tags":
			p.Tags = d.tags(f)
		case "phases":
			p.Phases = d.phases(f)
		}
	}
}

// named is one entry of a mapping of named things (inputs, approver groups): its key node, value node and
// path.
type named struct {
	k, v *yaml.Node
	path string
}

// namedEntries returns the entries of a mapping of named things in document order, each name once (the
// duplicate itself is reported where keys are checked), or reports that f is not such a mapping.
func (d *decoder) namedEntries(f field, shape string) []named {
	if f.v.Kind != yaml.MappingNode {
		if f.v.Kind != yaml.AliasNode {
			d.errorf(f.v, "%s must be a mapping of %s, not %s", f.key, shape, kindName(f.v))
		}
		d.fail(f.path)
		return nil
	}
	var out []named
	seen := map[string]bool{}
	for i := 0; i+1 < len(f.v.Content); i += 2 {
		k, v := f.v.Content[i], f.v.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" || seen[k.Value] {
			continue
		}
		seen[k.Value] = true
		path := join(f.path, k.Value)
		d.at(path+"#", k)
		out = append(out, named{k: k, v: v, path: path})
	}
	return out
}

func (d *decoder) inputs(f field) []Input {
	var out []Input
	for _, e := range d.namedEntries(f, "name: {from: alert.<field>}") {
		k, v, path := e.k, e.v, e.path
		in := Input{Name: k.Value, Pos: posOf(k)}
		if v.Kind == yaml.ScalarNode && v.ShortTag() != "!!null" {
			d.errorf(v, "input %q must be a mapping such as {from: %s}", k.Value, v.Value)
			d.fail(path)
			out = append(out, in)
			continue
		}
		fs, _ := d.fields(v, path, fmt.Sprintf("input %q", k.Value), inputKeys)
		for _, g := range fs {
			switch g.key {
			case "from":
				in.From, _ = d.str(g)
			case "required":
				in.Required, _ = d.boolean(g)
			}
		}
		out = append(out, in)
	}
	return out
}

func (d *decoder) match(f field) *Match {
	fs, ok := d.fields(f.v, f.path, "match", matchKeys)
	if !ok {
		return nil
	}
	m := &Match{Pos: posOf(f.v)}
	for _, g := range fs {
		m.When, _ = d.str(g)
	}
	return m
}

func (d *decoder) notify(f field) Notify {
	var n Notify
	fs, _ := d.fields(f.v, f.path, "notify", notifyKeys)
	for _, g := range fs {
		switch g.key {
		case "channel":
			n.Channel, _ = d.str(g)
		case "escalation":
			n.Escalation, _ = d.str(g)
		case "oncall":
			n.Oncall, _ = d.str(g)
		}
	}
	return n
}

func (d *decoder) approvers(f field) []ApproverGroup {
	var out []ApproverGroup
	for _, e := range d.namedEntries(f, "group: {slack_groups, slack_users, operators, min}") {
		k, v, path := e.k, e.v, e.path
		g := ApproverGroup{ID: k.Value, Min: 1, Pos: posOf(k)}
		fs, _ := d.fields(v, path, fmt.Sprintf("approver group %q", k.Value), approverKeys)
		for _, h := range fs {
			switch h.key {
			case "slack_groups":
				g.SlackGroups, _ = d.strings(h, true)
			case "slack_users":
				g.SlackUsers, _ = d.strings(h, true)
			case "operators":
				g.Operators, _ = d.strings(h, true)
			case "min":
				if v, ok := d.integer(h, 32); ok {
					g.Min = int(v)
				}
			}
		}
		out = append(out, g)
	}
	return out
}

func (d *decoder) rollback(f field) *RollbackPolicy {
	fs, ok := d.fields(f.v, f.path, "rollback", rollbackKeys)
	if !ok {
		return nil
	}
	r := &RollbackPolicy{Approval: Approval{OnTimeout: TimeoutDeny, Pos: posOf(f.v)}}
	for _, g := range fs {
		if a := d.approval(g, "rollback approval"); a != nil {
			r.Approval = *a
		}
	}
	return r
}

// approval reads an approval gate; on_timeout defaults to deny, written out so the interpreter never has
// to know the default.
func (d *decoder) approval(f field, where string) *Approval {
	if f.v.Kind == yaml.ScalarNode && f.v.ShortTag() != "!!null" {
		d.errorf(f.v, "%s must be a mapping such as {by: %s}, not a string", where, f.v.Value)
		d.fail(f.path)
		return nil
	}
	fs, ok := d.fields(f.v, f.path, where, approvalKeys)
	if !ok {
		return nil
	}
	a := &Approval{OnTimeout: TimeoutDeny, Pos: posOf(f.v)}
	for _, g := range fs {
		switch g.key {
		case "by":
			a.By, _ = d.str(g)
		case "timeout":
			a.Timeout, _ = d.duration(g)
		case "on_timeout":
			a.OnTimeout, _ = d.str(g)
		case "reason":
			a.Reason, _ = d.str(g)
		}
	}
	return a
}

func (d *decoder) tags(f field) *Tags {
	fs, ok := d.fields(f.v, f.path, "tags", tagsKeys)
	if !ok {
		return nil
	}
	t := &Tags{}
	for _, g := range fs {
		switch g.key {
		case "react":
			t.React, _ = d.strings(g, true)
		case "d3fend":
			t.D3fend, _ = d.strings(g, true)
		}
	}
	if t.React == nil && t.D3fend == nil {
		return nil
	}
	return t
}

func (d *decoder) phases(f field) []Phase {
	if f.v.Kind != yaml.SequenceNode {
		if f.v.Kind != yaml.AliasNode {
			d.errorf(f.v, "phases must be a list of phases (- id: …), not %s", kindName(f.v))
		}
		d.fail(f.path)
		return nil
	}
	var out []Phase
	for i, n := range f.v.Content {
		path := index(f.path, i)
		ph := Phase{OnBreach: BreachEscalate, Pos: posOf(n)}
		fs, ok := d.fields(n, path, "phase", phaseKeys)
		if !ok {
			continue
		}
		for _, g := range fs {
			switch g.key {
			case "id":
				ph.ID, _ = d.str(g)
			case "name":
				ph.Name, _ = d.str(g)
			case "budget":
				ph.Budget, _ = d.duration(g)
			case "on_breach":
				ph.OnBreach, _ = d.str(g)
			case "steps":
				ph.Steps = d.steps(g)
			}
		}
		out = append(out, ph)
	}
	return out
}

// steps reads a list of steps: the steps of a phase or the branches of a parallel group.
func (d *decoder) steps(f field) []Step {
	if f.v.Kind != yaml.SequenceNode {
		if f.v.Kind != yaml.AliasNode {
			d.errorf(f.v, "%s must be a list of steps (- id: …), not %s", f.key, kindName(f.v))
		}
		d.fail(f.path)
		return nil
	}
	var out []Step
	for i, n := range f.v.Content {
		path := index(f.path, i)
		fs, ok := d.fields(n, path, "step", stepKeys)
		if !ok {
			continue
		}
		out = append(out, d.step(n, fs))
	}
	return out
}

func (d *decoder) step(n *yaml.Node, fs []field) Step {
	st := Step{Pos: posOf(n)}
	for _, g := range fs {
		switch g.key {
		case "id":
			st.ID, _ = d.str(g)
		case "name":
			st.Name, _ = d.str(g)
		case "action":
			st.Action, _ = d.str(g)
		case "when":
			st.When, _ = d.str(g)
		case "with":
			st.With = d.with(g)
		case "approval":
			st.Approval = d.approval(g, "approval")
		case "undo":
			st.Undo, _ = d.str(g)
		case "timeout":
			st.Timeout, _ = d.duration(g)
		case "retry":
			st.Retry = d.retry(g)
		case "tags":
			st.Tags = d.tags(g)
		case "parallel":
			st.Parallel = d.steps(g)
			if len(g.v.Content) == 0 && g.v.Kind == yaml.SequenceNode {
				d.errorf(g.v, "parallel group is empty (it needs at least two steps)")
				d.fail(g.path)
			}
		}
	}
	return st
}

func (d *decoder) retry(f field) *Retry {
	fs, ok := d.fields(f.v, f.path, "retry", retryKeys)
	if !ok {
		return nil
	}
	r := &Retry{}
	for _, g := range fs {
		switch g.key {
		case "max_attempts":
			v, _ := d.integer(g, 32)
			r.MaxAttempts = int32(v)
		case "initial_interval":
			r.InitialInterval, _ = d.duration(g)
		case "max_interval":
			r.MaxInterval, _ = d.duration(g)
		case "backoff":
			r.Backoff, _ = d.float(g)
		}
	}
	return r
}

// with reads a step's parameters. Values are strings (as written), numbers, booleans or lists of those.
// Every number is a float64: the playbook travels to the worker as JSON, where encoding/json decodes any
// number into an `any` as float64, so storing float64 from the start keeps the parsed model and the one
// the workflow sees identical (expr turns integral floats back into CEL ints).
func (d *decoder) with(f field) map[string]any {
	if f.v.Kind != yaml.MappingNode {
		if f.v.Kind != yaml.AliasNode {
			d.errorf(f.v, "with must be a mapping of parameter: value, not %s", kindName(f.v))
		}
		d.fail(f.path)
		return nil
	}
	d.at(f.path, f.v)
	out := map[string]any{}
	seen := map[string]bool{}
	for i := 0; i+1 < len(f.v.Content); i += 2 {
		k, v := f.v.Content[i], f.v.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" || seen[k.Value] {
			continue // reported by lint
		}
		seen[k.Value] = true
		path := join(f.path, k.Value)
		d.at(path+"#", k)
		d.at(path, v)
		val, ok := d.withValue(k.Value, v, path, true)
		if !ok {
			d.fail(path)
			continue
		}
		out[k.Value] = val
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func (d *decoder) withValue(name string, n *yaml.Node, path string, listOK bool) (any, bool) {
	switch n.Kind {
	case yaml.AliasNode:
		return nil, false
	case yaml.MappingNode:
		d.errorf(n, "with.%s must be a value or a list of values, not a mapping", name)
		return nil, false
	case yaml.SequenceNode:
		if !listOK {
			d.errorf(n, "with.%s: a list cannot hold lists; write plain values", name)
			return nil, false
		}
		if len(n.Content) == 0 {
			d.errorf(n, "with.%s is an empty list (remove it, or list values)", name)
			return nil, false
		}
		out := make([]any, 0, len(n.Content))
		ok := true
		for i, c := range n.Content {
			p := index(path, i)
			d.at(p, c)
			v, good := d.withValue(name, c, p, false)
			if !good {
				ok = false
				continue
			}
			out = append(out, v)
		}
		return out, ok
	}
	switch n.ShortTag() {
	case "!!null":
		d.errorf(n, "with.%s has no value (give one, or remove it)", name)
		return nil, false
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			d.errorf(n, "with.%s: %q is not a boolean", name, n.Value)
			return nil, false
		}
		return b, true
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil || i > maxExactFloat || i < -maxExactFloat {
			d.errorf(n, "with.%s: %s is too large to keep exactly; quote it to pass it as a string", name, n.Value)
			return nil, false
		}
		return float64(i), true
	case "!!float":
		var x float64
		if err := n.Decode(&x); err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			d.errorf(n, "with.%s: %s is not a finite number; quote it to pass it as a string", name, n.Value)
			return nil, false
		}
		return x, true
	}
	return n.Value, true
}
