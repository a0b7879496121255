// Package detections reads detection mappings: per ATT&CK technique, the data sources that see it, the
// detection rules that fire on it (platform, confidence, coverage, the SIEM or EDR they run in), the
// controls already in place and the known gaps. `trigger coverage` crosses them with the playbooks to show
// what is detected, what has a response, and the gaps both ways. The format is documented in README.md
// beside this file; example.yaml is a mapping to start from, embedded as Example.
//
// Every problem is reported at once as file:line:col: message (hint). Technique ids are checked against
// the embedded ATT&CK catalog: unknown, revoked and deprecated ids are errors, and a name, when given,
// must be the technique's (it catches a mistyped id). Data source names are free text: ATT&CK v18 folded
// data sources into detection strategies, and the catalog Parry embeds carries neither.
package detections

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/parry-soc/parry/attack"
	"github.com/parry-soc/parry/playbooks"
)

//go:embed example.yaml
var example embed.FS

// ExampleFile is the name the embedded example carries in Source and in error messages.
const ExampleFile = "detections/example.yaml"

// Mapping is what a team knows about one technique: how it would see it and what it would miss.
type Mapping struct {
	Technique        string   `json:"technique"`
	Name             string   `json:"name"` // the catalog's name (a name in the file is checked against it)
	DataSources      []string `json:"data_sources,omitempty"`
	Detections       []Rule   `json:"detections,omitempty"`
	ExistingControls []string `json:"existing_controls,omitempty"`
	Gaps             []string `json:"gaps,omitempty"`
	Owner            string   `json:"owner,omitempty"`
	LastReviewed     string   `json:"last_reviewed,omitempty"` // YYYY-MM-DD
	// Source is where the mapping was written, file:line.
	Source string `json:"source"`
}

// Rule is one detection rule mapped to a technique.
type Rule struct {
	Name       string `json:"name"`
	Source     string `json:"source,omitempty"`   // the SIEM or EDR it runs in, as Parry names alert sources: elastic, splunk …
	Platform   string `json:"platform,omitempty"` // an ATT&CK platform: Windows, Linux, macOS, Identity Provider …
	Query      string `json:"query,omitempty"`    // the rule's logic, inline
	Ref        string `json:"ref,omitempty"`      // where the rule lives: a URL or a path in the detection repository
	Confidence string `json:"confidence"`         // low | medium | high
	Coverage   string `json:"coverage"`           // partial | full
}

// Detections turns mappings into the detections coverage reads.
func Detections(ms []Mapping) []attack.Detection {
	var out []attack.Detection
	for _, m := range ms {
		for _, r := range m.Detections {
			out = append(out, attack.Detection{Technique: m.Technique, Rule: r.Name, Source: r.Source, Platform: r.Platform,
				Confidence: r.Confidence, Coverage: r.Coverage})
		}
	}
	return out
}

// Techniques returns the mapped technique ids, those with no rule (a known blind spot) included.
func Techniques(ms []Mapping) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Technique)
	}
	return out
}

// Example returns the embedded example mapping.
func Example() ([]Mapping, error) {
	data, err := example.ReadFile("example.yaml")
	if err != nil {
		return nil, err
	}
	return Parse(ExampleFile, data)
}

// Load reads the mappings at paths: a directory stands for the *.yaml and *.yml files directly in it, in
// name order. It returns the mappings sorted by technique, and every problem in every file, a technique
// mapped twice included.
func Load(paths ...string) ([]Mapping, error) {
	var errs ErrorList
	var files []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			errs = append(errs, &Error{File: p, Msg: fmt.Sprintf("read detection mapping: %v", err)})
			continue
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			errs = append(errs, &Error{File: p, Msg: fmt.Sprintf("read detection mappings: %v", err)})
			continue
		}
		n := 0
		for _, e := range entries {
			if ext := strings.ToLower(filepath.Ext(e.Name())); !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
				files = append(files, filepath.Join(p, e.Name()))
				n++
			}
		}
		if n == 0 {
			errs = append(errs, &Error{File: p, Msg: "no *.yaml or *.yml detection mappings in this directory"})
		}
	}
	var all []Mapping
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, &Error{File: f, Msg: fmt.Sprintf("read detection mapping: %v", err)})
			continue
		}
		ms, perr := parse(f, data)
		errs = append(errs, perr...)
		all = append(all, ms...)
	}
	out, more := unique(all)
	errs = append(errs, more...)
	return out, errs.Err()
}

// Parse reads one file of mappings: a mapping for one technique, or a list of them. Several YAML
// documents (---) in one file are read in turn.
func Parse(filename string, data []byte) ([]Mapping, error) {
	ms, errs := parse(filename, data)
	out, more := unique(ms)
	errs = append(errs, more...)
	return out, errs.Err()
}

// unique sorts mappings by technique and reports a technique mapped twice: coverage would otherwise count
// whichever came last.
func unique(ms []Mapping) ([]Mapping, ErrorList) {
	var errs ErrorList
	seen := map[string]string{}
	var out []Mapping
	for _, m := range ms {
		if first, dup := seen[m.Technique]; dup {
			file, line, col := splitSource(m.Source)
			errs = append(errs, &Error{File: file, Line: line, Col: col,
				Msg: fmt.Sprintf("technique %s is already mapped at %s (map each technique once: merge the two)", m.Technique, first)})
			continue
		}
		seen[m.Technique] = m.Source
		out = append(out, m)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Technique < out[j].Technique })
	return out, errs
}

func splitSource(src string) (string, int, int) {
	parts := strings.Split(src, ":")
	if len(parts) < 3 {
		return src, 0, 0
	}
	line, _ := strconv.Atoi(parts[len(parts)-2])
	col, _ := strconv.Atoi(parts[len(parts)-1])
	return strings.Join(parts[:len(parts)-2], ":"), line, col
}

// Levels of a rule.
var (
	confidences = attack.Confidences
	coverages   = attack.Coverages
)

var (
	mappingKeys = []string{"technique", "name", "data_sources", "detections", "existing_controls", "gaps", "owner", "last_reviewed"}
	ruleKeys    = []string{"name", "source", "platform", "query", "ref", "confidence", "coverage"}
	yamlLineRe  = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

type decoder struct {
	file    string
	catalog *attack.Catalog
	errs    ErrorList
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf(format, args...)})
}

func parse(filename string, data []byte) ([]Mapping, ErrorList) {
	d := &decoder{file: filename, catalog: attack.Default()}
	var out []Mapping
	dec := yaml.NewDecoder(bytes.NewReader(data))
	docs := 0
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			d.syntaxError(err)
			break
		}
		docs++
		if len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		switch root.Kind {
		case yaml.MappingNode:
			if m, ok := d.mapping(root); ok {
				out = append(out, m)
			}
		case yaml.SequenceNode:
			for _, item := range root.Content {
				if item.Kind != yaml.MappingNode {
					d.errorf(item, "a list entry is %s; each entry maps one technique (technique: T1566.001 …)", kindName(item))
					continue
				}
				if m, ok := d.mapping(item); ok {
					out = append(out, m)
				}
			}
		default:
			if root.ShortTag() != "!!null" {
				d.errorf(root, "the top level is %s; a detection mapping is a mapping for one technique, or a list of them", kindName(root))
			}
		}
	}
	if docs == 0 && len(d.errs) == 0 {
		d.errs = append(d.errs, &Error{File: filename, Line: 1, Col: 1, Msg: "empty detection mapping (write technique: T1566.001 and its detections, see detections/README.md)"})
	}
	return out, d.errs
}

// yamlParserErrors are yaml.v3's parser messages (parserc.go), whose line is the 0-based start of the
// broken block; its scanner's messages carry the 1-based line of the problem.
var yamlParserErrors = map[string]bool{
	"did not find expected ',' or ']'": true, "did not find expected ',' or '}'": true,
	"did not find expected '-' indicator": true, "did not find expected <document start>": true,
	"did not find expected key": true, "did not find expected node content": true,
}

func (d *decoder) syntaxError(err error) {
	msg, line := err.Error(), 1
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		if yamlParserErrors[msg] {
			line++
		}
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Msg: "invalid YAML: " + msg + " (check the indentation and quoting around this line)"})
}

// fields returns a mapping node's values by key, reporting unknown and duplicate keys.
func (d *decoder) fields(n *yaml.Node, known []string, what string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	keys := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if first, dup := keys[k.Value]; dup {
			d.errorf(k, "key %q appears twice in this %s (the first is on line %d)", k.Value, what, first.Line)
			continue
		}
		keys[k.Value] = k
		if !slices.Contains(known, k.Value) {
			d.errorf(k, "unknown key %q in %s%s", k.Value, what, didYouMean(k.Value, known))
			continue
		}
		out[k.Value] = v
	}
	return out
}

func (d *decoder) str(n *yaml.Node, key string) (string, bool) {
	if n == nil {
		return "", true
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		d.errorf(n, "%s is %s, want a string", key, kindName(n))
		return "", false
	}
	return strings.TrimSpace(n.Value), true
}

func (d *decoder) strs(n *yaml.Node, key string) []string {
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s is %s, want a list of strings", key, kindName(n))
		return nil
	}
	var out []string
	for _, item := range n.Content {
		s, ok := d.str(item, key+" entry")
		if !ok {
			continue
		}
		if s == "" {
			d.errorf(item, "%s has an empty entry; remove it", key)
			continue
		}
		out = append(out, s)
	}
	return out
}

func (d *decoder) mapping(n *yaml.Node) (Mapping, bool) {
	errsBefore := len(d.errs)
	f := d.fields(n, mappingKeys, "a technique mapping")
	m := Mapping{Source: fmt.Sprintf("%s:%d:%d", d.file, n.Line, n.Column)}

	tn, ok := f["technique"]
	if !ok {
		d.errorf(n, "technique mapping has no technique (add technique: T1566.001, the ATT&CK id it maps)")
	} else if id, ok := d.str(tn, "technique"); ok {
		m.Technique = d.technique(tn, id)
	}
	if nn := f["name"]; nn != nil {
		if name, ok := d.str(nn, "name"); ok {
			d.checkName(nn, m.Technique, name)
		}
	}
	if t, ok := d.catalog.Technique(m.Technique); ok {
		m.Name = t.Name // the catalog's spelling, however the file wrote it
	}
	m.DataSources = d.strs(f["data_sources"], "data_sources")
	m.ExistingControls = d.strs(f["existing_controls"], "existing_controls")
	m.Gaps = d.strs(f["gaps"], "gaps")
	if s, ok := d.str(f["owner"], "owner"); ok {
		m.Owner = s
	}
	if ln := f["last_reviewed"]; ln != nil {
		if s, ok := d.str(ln, "last_reviewed"); ok {
			if _, err := time.Parse(time.DateOnly, s); err != nil {
				d.errorf(ln, "last_reviewed %q is not a date (write it as YYYY-MM-DD, like 2026-10-14)", s)
			} else {
				m.LastReviewed = s
			}
		}
	}
	if dn := f["detections"]; dn != nil {
		if dn.Kind != yaml.SequenceNode {
			d.errorf(dn, "detections is %s, want a list of rules (- name: …, confidence: …, coverage: …)", kindName(dn))
		} else {
			names := map[string]int{}
			for _, rn := range dn.Content {
				r, ok := d.rule(rn)
				if !ok {
					continue
				}
				if line, dup := names[strings.ToLower(r.Name)]; dup {
					d.errorf(rn, "detection %q is listed twice for %s (the first is on line %d)", r.Name, m.Technique, line)
					continue
				}
				names[strings.ToLower(r.Name)] = rn.Line
				m.Detections = append(m.Detections, r)
			}
		}
	}
	return m, len(d.errs) == errsBefore
}

// technique checks an id against the catalog and returns it normalized.
func (d *decoder) technique(n *yaml.Node, raw string) string {
	id := attack.NormalizeID(raw)
	if !attack.IsTechniqueID(id) {
		d.errorf(n, "technique %q is not an ATT&CK technique id (write ids like T1566 or T1566.001)", raw)
		return ""
	}
	t, ok := d.catalog.Technique(id)
	switch {
	case !ok:
		hint := "check the id on attack.mitre.org"
		if p, ok := d.catalog.Technique(strings.Split(id, ".")[0]); ok && strings.Contains(id, ".") {
			var subs []string
			for _, sub := range d.catalog.SubTechniques(p.ID) {
				if st, _ := d.catalog.Technique(sub); st.Active() {
					subs = append(subs, sub)
				}
			}
			hint = fmt.Sprintf("%s %q has sub-techniques %s", p.ID, p.Name, strings.Join(subs, ", "))
		}
		d.errorf(n, "unknown ATT&CK technique %s in ATT&CK v%s (%s)", id, attack.Version, hint)
		return ""
	case t.Revoked:
		d.errorf(n, "technique %s %q is revoked in ATT&CK v%s (map the technique that replaced it; its page on attack.mitre.org names it)", id, t.Name, attack.Version)
		return ""
	case t.Deprecated:
		d.errorf(n, "technique %s %q is deprecated in ATT&CK v%s (map a current technique instead)", id, t.Name, attack.Version)
		return ""
	}
	return t.ID
}

// checkName accepts the technique's name or, for a sub-technique, "Parent: Name" as ATT&CK writes it.
func (d *decoder) checkName(n *yaml.Node, id, name string) {
	t, ok := d.catalog.Technique(id)
	if !ok {
		return
	}
	want := []string{t.Name}
	if p, ok := d.catalog.Parent(id); ok {
		want = append(want, p.Name+": "+t.Name)
	}
	for _, w := range want {
		if strings.EqualFold(w, name) {
			return
		}
	}
	hint := "is the id right?"
	if others := d.catalog.TechniquesByName(name); len(others) > 0 {
		var ids []string
		for _, o := range others {
			ids = append(ids, o.ID)
		}
		hint = fmt.Sprintf("%q is %s: is the id right?", name, strings.Join(ids, ", "))
	}
	d.errorf(n, "name %q is not the name of %s, %q (%s)", name, id, t.Name, hint)
}

func (d *decoder) rule(n *yaml.Node) (Rule, bool) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "a detection is %s; write it as a mapping (name: …, confidence: …, coverage: …)", kindName(n))
		return Rule{}, false
	}
	errsBefore := len(d.errs)
	f := d.fields(n, ruleKeys, "a detection")
	var r Rule
	if v, ok := f["name"]; !ok {
		d.errorf(n, "detection has no name (the rule's name as your SIEM or EDR shows it)")
	} else if s, ok := d.str(v, "name"); ok {
		if s == "" {
			d.errorf(v, "detection name is empty")
		}
		r.Name = s
	}
	if s, ok := d.str(f["source"], "source"); ok {
		r.Source = strings.ToLower(s)
	}
	if s, ok := d.str(f["query"], "query"); ok {
		r.Query = s
	}
	if s, ok := d.str(f["ref"], "ref"); ok {
		r.Ref = s
	}
	if v := f["platform"]; v != nil {
		if s, ok := d.str(v, "platform"); ok {
			r.Platform = d.platform(v, s)
		}
	}
	r.Confidence = d.level(n, f["confidence"], "confidence", confidences)
	r.Coverage = d.level(n, f["coverage"], "coverage", coverages)
	return r, len(d.errs) == errsBefore
}

func (d *decoder) level(parent, n *yaml.Node, key string, levels []string) string {
	if n == nil {
		d.errorf(parent, "detection has no %s (one of %s)", key, strings.Join(levels, ", "))
		return ""
	}
	s, ok := d.str(n, key)
	if !ok {
		return ""
	}
	if l := strings.ToLower(s); slices.Contains(levels, l) {
		return l
	}
	d.errorf(n, "%s %q is not one of %s", key, s, strings.Join(levels, ", "))
	return ""
}

// platform returns the catalog's spelling of an ATT&CK platform.
func (d *decoder) platform(n *yaml.Node, s string) string {
	known := d.catalog.Platforms()
	for _, p := range known {
		if strings.EqualFold(p, s) {
			return p
		}
	}
	d.errorf(n, "platform %q is not an ATT&CK platform%s", s, didYouMean(s, known))
	return ""
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.ShortTag() == "!!null" {
		return "empty"
	}
	return fmt.Sprintf("the scalar %q", n.Value)
}

// didYouMean suggests the closest of candidates, case-insensitively, within a third of the word's length,
// or lists them all when none is close.
func didYouMean(word string, candidates []string) string {
	best, bestDist := "", -1
	limit := max(1, len(word)/3)
	for _, c := range candidates {
		if dist := distance(strings.ToLower(word), strings.ToLower(c)); dist <= limit && (bestDist < 0 || dist < bestDist) {
			best, bestDist = c, dist
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return " (one of " + strings.Join(candidates, ", ") + ")"
}

// distance is the Levenshtein distance in runes; inputs are short keys and names.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return max(len(ra), len(rb))
	}
	prev := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur := make([]int, len(rb)+1)
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(rb)]
}

// Error is one problem in a detection mapping file, at a position when it has one; ErrorList is every
// problem found, sorted by file and position. They are the playbook loader's: one format for editors and CI.
type (
	Error     = playbooks.Error
	ErrorList = playbooks.ErrorList
)
