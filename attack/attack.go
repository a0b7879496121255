// Package attack is the MITRE ATT&CK Enterprise catalog Parry ships with (v18.1, embedded with MITRE's
// notice in NOTICE): techniques, tactics in matrix order and groups, looked up by id. The tactic list and
// its order come from the data, never from code, so a newer catalog (ATT&CK v19 split Defense Evasion)
// drops in.
package attack

import (
	"embed"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
)

//go:embed data/enterprise-techniques.json data/enterprise-tactics.json data/enterprise-groups.json
var data embed.FS

// Version is the ATT&CK release of the embedded data.
const Version = "18.1"

// Technique is an ATT&CK technique or sub-technique.
type Technique struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	Tactics        []string `json:"tactics"` // tactic short names, matrix order
	Platforms      []string `json:"platforms"`
	IsSubtechnique bool     `json:"is_subtechnique"`
	Parent         string   `json:"parent"`
	Deprecated     bool     `json:"deprecated"`
	Revoked        bool     `json:"revoked"`
	URL            string   `json:"url"`
}

// Active reports whether the technique is neither revoked nor deprecated.
func (t Technique) Active() bool { return !t.Revoked && !t.Deprecated }

// Tactic is an ATT&CK tactic.
type Tactic struct {
	ID        string `json:"id"`
	ShortName string `json:"shortname"`
	Name      string `json:"name"`
}

// Group is an ATT&CK group (intrusion set) with the techniques it is known to use.
type Group struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Aliases    []string `json:"aliases"`
	Techniques []string `json:"techniques"`
	URL        string   `json:"url"`
}

// Catalog is a loaded ATT&CK catalog. It is read-only after loading and safe for concurrent use.
type Catalog struct {
	techniques []Technique // sorted by id
	byID       map[string]int
	byName     map[string][]int // lowercased name → indexes
	subs       map[string][]string
	tactics    []Tactic       // matrix order
	tacticIdx  map[string]int // short name, id and lowercased name → index
	groups     []Group
	platforms  []string // of the active techniques, sorted
}

// Load builds a catalog from the three JSON documents of the compact ATT&CK format.
func Load(techniques, tactics, groups []byte) (*Catalog, error) {
	c := &Catalog{byID: map[string]int{}, byName: map[string][]int{}, subs: map[string][]string{}, tacticIdx: map[string]int{}}
	if err := json.Unmarshal(techniques, &c.techniques); err != nil {
		return nil, fmt.Errorf("read techniques: %w", err)
	}
	if err := json.Unmarshal(tactics, &c.tactics); err != nil {
		return nil, fmt.Errorf("read tactics: %w", err)
	}
	if len(groups) > 0 {
		if err := json.Unmarshal(groups, &c.groups); err != nil {
			return nil, fmt.Errorf("read groups: %w", err)
		}
	}
	sort.Slice(c.techniques, func(i, j int) bool { return c.techniques[i].ID < c.techniques[j].ID })
	for i, t := range c.techniques {
		if t.ID == "" {
			return nil, fmt.Errorf("read techniques: entry %d has no id", i)
		}
		c.byID[t.ID] = i
		name := strings.ToLower(t.Name)
		c.byName[name] = append(c.byName[name], i)
		if t.IsSubtechnique && t.Parent != "" {
			c.subs[t.Parent] = append(c.subs[t.Parent], t.ID)
		}
		for _, p := range t.Platforms {
			if t.Active() && !slices.Contains(c.platforms, p) {
				c.platforms = append(c.platforms, p)
			}
		}
	}
	sort.Strings(c.platforms)
	for i, t := range c.tactics {
		c.tacticIdx[t.ShortName] = i
		c.tacticIdx[t.ID] = i
		c.tacticIdx[strings.ToLower(t.Name)] = i
		c.tacticIdx[strings.ReplaceAll(strings.ToLower(t.Name), " ", "")] = i
	}
	sort.Slice(c.groups, func(i, j int) bool { return c.groups[i].ID < c.groups[j].ID })
	return c, nil
}

// Platforms returns the platforms of the catalog's active techniques, sorted.
func (c *Catalog) Platforms() []string { return slices.Clone(c.platforms) }

var (
	defaultOnce    sync.Once
	defaultCatalog *Catalog
	defaultErr     error
)

// Default returns the embedded catalog.
func Default() *Catalog {
	defaultOnce.Do(func() {
		read := func(name string) []byte {
			b, err := data.ReadFile("data/" + name)
			if err != nil && defaultErr == nil {
				defaultErr = err
			}
			return b
		}
		defaultCatalog, defaultErr = Load(read("enterprise-techniques.json"), read("enterprise-tactics.json"), read("enterprise-groups.json"))
	})
	if defaultErr != nil {
		// The data is embedded at build time and covered by tests; failing here means a broken build.
		panic(fmt.Sprintf("attack: embedded catalog: %v", defaultErr))
	}
	return defaultCatalog
}

// techniqueID is the form of an ATT&CK technique or sub-technique id.
var techniqueID = regexp.MustCompile(`^T[0-9]{4}(\.[0-9]{3})?$`)

// IsTechniqueID reports whether id has the form of a technique (T1566) or sub-technique (T1566.001) id, as
// written: it does not normalize, and it does not look the id up.
func IsTechniqueID(id string) bool { return techniqueID.MatchString(id) }

// NormalizeID upper-cases a technique id and trims spaces ("t1566.001 " → "T1566.001").
func NormalizeID(id string) string { return strings.ToUpper(strings.TrimSpace(id)) }

// Technique returns the technique (or sub-technique) with the given id, revoked and deprecated ones included.
func (c *Catalog) Technique(id string) (Technique, bool) {
	i, ok := c.byID[NormalizeID(id)]
	if !ok {
		return Technique{}, false
	}
	return c.techniques[i], true
}

// Techniques returns every technique, sorted by id.
func (c *Catalog) Techniques() []Technique { return append([]Technique(nil), c.techniques...) }

// TechniquesByName returns the active techniques with exactly this name (case-insensitive). Names are not
// unique ("Local Accounts" is T1078.003 and T1087.001), so callers decide what an ambiguous name means.
func (c *Catalog) TechniquesByName(name string) []Technique {
	var out []Technique
	for _, i := range c.byName[strings.ToLower(strings.TrimSpace(name))] {
		if c.techniques[i].Active() {
			out = append(out, c.techniques[i])
		}
	}
	return out
}

// Parent returns the parent of a sub-technique; ok is false for a technique or an unknown id.
func (c *Catalog) Parent(id string) (Technique, bool) {
	t, ok := c.Technique(id)
	if !ok || !t.IsSubtechnique || t.Parent == "" {
		return Technique{}, false
	}
	return c.Technique(t.Parent)
}

// SubTechniques returns the ids of a technique's sub-techniques, sorted.
func (c *Catalog) SubTechniques(id string) []string {
	return append([]string(nil), c.subs[NormalizeID(id)]...)
}

// Tactics returns the tactics in matrix order.
func (c *Catalog) Tactics() []Tactic { return append([]Tactic(nil), c.tactics...) }

// Tactic finds a tactic by short name (initial-access), id (TA0001) or name (Initial Access, InitialAccess),
// case-insensitively.
func (c *Catalog) Tactic(key string) (Tactic, bool) {
	k := strings.TrimSpace(key)
	if i, ok := c.tacticIdx[k]; ok {
		return c.tactics[i], true
	}
	if i, ok := c.tacticIdx[strings.ToUpper(k)]; ok {
		return c.tactics[i], true
	}
	lk := strings.ToLower(k)
	if i, ok := c.tacticIdx[lk]; ok {
		return c.tactics[i], true
	}
	if i, ok := c.tacticIdx[strings.ReplaceAll(lk, " ", "")]; ok {
		return c.tactics[i], true
	}
	return Tactic{}, false
}

// TacticOrder returns a tactic's position in the matrix (0 first), or -1 for an unknown tactic.
func (c *Catalog) TacticOrder(key string) int {
	t, ok := c.Tactic(key)
	if !ok {
		return -1
	}
	return c.tacticIdx[t.ShortName]
}

// TacticsOf returns the tactics of a technique in matrix order; a sub-technique without tactics of its own
// takes its parent's.
func (c *Catalog) TacticsOf(id string) []Tactic {
	t, ok := c.Technique(id)
	if !ok {
		return nil
	}
	names := t.Tactics
	if len(names) == 0 {
		if p, ok := c.Parent(id); ok {
			names = p.Tactics
		}
	}
	var out []Tactic
	for _, n := range names {
		if tc, ok := c.Tactic(n); ok {
			out = append(out, tc)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return c.tacticIdx[out[i].ShortName] < c.tacticIdx[out[j].ShortName] })
	return out
}

// Groups returns the ATT&CK groups, sorted by id.
func (c *Catalog) Groups() []Group { return append([]Group(nil), c.groups...) }
