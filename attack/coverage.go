package attack

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// Detection confidence and coverage levels, as detection mappings write them.
const (
	ConfidenceLow    = "low"
	ConfidenceMedium = "medium"
	ConfidenceHigh   = "high"

	CoveragePartial = "partial" // the rule sees some of the technique's procedures or platforms
	CoverageFull    = "full"
)

// Confidences and Coverages list the valid levels, weakest first.
var (
	Confidences = []string{ConfidenceLow, ConfidenceMedium, ConfidenceHigh}
	Coverages   = []string{CoveragePartial, CoverageFull}
)

// Coverage statuses of a technique: detection × response.
const (
	StatusCovered     = "covered"      // detected, and a playbook answers it
	StatusNoPlaybook  = "no-playbook"  // detected, but no playbook of its own answers it
	StatusNoDetection = "no-detection" // a playbook answers it, but nothing detects it
	StatusUncovered   = "uncovered"    // neither: a blind spot
)

// Detection is one detection rule mapped to a technique: what coverage needs of a detection mapping.
type Detection struct {
	Technique  string `json:"technique"`
	Rule       string `json:"rule"`
	Source     string `json:"source,omitempty"`   // the SIEM or EDR it runs in
	Platform   string `json:"platform,omitempty"` // ATT&CK platform
	Confidence string `json:"confidence"`         // low | medium | high
	Coverage   string `json:"coverage"`           // partial | full
}

// Strength is how much of its technique a detection can be trusted to catch, from 0 to 1: its confidence
// (low 1/3, medium 2/3, high 1) times its coverage (partial 1/2, full 1). An unknown level counts as the
// weakest.
func (d Detection) Strength() float64 {
	conf := float64(max(1, slices.Index(Confidences, d.Confidence)+1)) / float64(len(Confidences))
	cov := 0.5
	if d.Coverage == CoverageFull {
		cov = 1
	}
	return conf * cov
}

// Response is a playbook as coverage sees it: the techniques it answers or, for a fallback, the tactics.
type Response struct {
	Playbook   string   `json:"playbook"`
	Techniques []string `json:"techniques,omitempty"`
	Tactics    []string `json:"tactics,omitempty"` // tactic short names
}

// CoverageOptions tunes a coverage report.
type CoverageOptions struct {
	// Mapped are techniques to report even when no detection or playbook names them: a detection mapping
	// that records a technique with no rule yet (a known blind spot).
	Mapped []string
	// BlindSpots is how many techniques that nothing detects or answers the report adds, riskiest first.
	BlindSpots int
}

// TechniqueCoverage is one technique's detection × response.
type TechniqueCoverage struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Tactics []string `json:"tactics"` // short names, matrix order
	// Groups is how many ATT&CK groups are known to use the technique (for a technique with sub-techniques,
	// the technique or any of them): its prevalence.
	Groups     int         `json:"groups"`
	Detections []Detection `json:"detections,omitempty"`
	// Detection is the strongest detection's Strength, 0 when nothing detects the technique.
	Detection float64 `json:"detection"`
	// Playbooks answer the technique itself or its parent, as routing does; Fallbacks only its tactics.
	Playbooks []string `json:"playbooks,omitempty"`
	Fallbacks []string `json:"fallbacks,omitempty"`
	Status    string   `json:"status"`
	Risk      float64  `json:"risk"`
}

// Detected reports whether any detection is mapped to the technique.
func (t TechniqueCoverage) Detected() bool { return len(t.Detections) > 0 }

// Answered reports whether a playbook of its own (not a tactic fallback) answers the technique.
func (t TechniqueCoverage) Answered() bool { return len(t.Playbooks) > 0 }

// TacticCoverage sums up one tactic: counts, and its techniques by status, riskiest first.
type TacticCoverage struct {
	Tactic       Tactic   `json:"tactic"`
	Detected     int      `json:"detected"`
	WithPlaybook int      `json:"with_playbook"`
	Covered      []string `json:"covered,omitempty"`
	NoPlaybook   []string `json:"no_playbook,omitempty"`  // detected, no playbook
	NoDetection  []string `json:"no_detection,omitempty"` // playbook, no detection
	Uncovered    []string `json:"uncovered,omitempty"`    // blind spots
}

// CoverageReport is detection × response over the ATT&CK matrix.
type CoverageReport struct {
	Version string `json:"attack_version"`
	// Techniques are every technique a detection, a playbook or opts.Mapped names, and the blind spots
	// asked for, riskiest first.
	Techniques []TechniqueCoverage `json:"techniques"`
	Tactics    []TacticCoverage    `json:"tactics"` // matrix order, every tactic
}

// Technique returns the report's entry for a technique.
func (r CoverageReport) Technique(id string) (TechniqueCoverage, bool) {
	id = NormalizeID(id)
	for _, t := range r.Techniques {
		if t.ID == id {
			return t, true
		}
	}
	return TechniqueCoverage{}, false
}

// Coverage crosses detections with playbooks over the catalog and orders what it finds by risk.
//
// A playbook answers the techniques it names and their sub-techniques (routing matches a sub-technique
// alert to its parent's playbook); a tactic fallback is recorded but is no playbook of the technique's
// own, so a technique only a fallback answers is still a gap. A detection counts for the technique it
// names only: a rule for a parent technique may see none of a sub-technique's procedures.
//
// Risk, highest first, is prevalence × tactic weight × exposure:
//   - prevalence: 1 + the number of ATT&CK groups known to use the technique (the embedded groups data),
//     so a technique no group is known to use still ranks by the rest;
//   - tactic weight: from 2 for the first tactic of the matrix down to 1 for the last, linearly, taking the
//     technique's earliest tactic. A gap early in the chain lets the rest of an intrusion through; the
//     order comes from the data, so a newer matrix re-weights itself;
//   - exposure: 1 − (detection + response) / 2, where detection is the strongest detection's Strength
//     (0 to 1) and response is 1 for a playbook of its own, 1/4 for a tactic fallback only, 0 for none.
//     A blind spot has exposure 1 (7/8 under a fallback); a technique detected with high confidence and
//     full coverage and answered by a playbook has 0.
//
// Blind spots (opts.BlindSpots) are picked among active techniques that have no sub-techniques, and
// sub-techniques, that nothing detects or answers, riskiest first; techniques of the PRE platform only
// (reconnaissance and resource development outside the network) are left out, as no SOC telemetry sees
// them. Every id must be in the catalog; an unknown one is an error.
func (c *Catalog) Coverage(detections []Detection, responses []Response, opts CoverageOptions) (CoverageReport, error) {
	prevalence := c.prevalence()
	entries := map[string]*TechniqueCoverage{}
	add := func(id, what string) (*TechniqueCoverage, error) {
		id = NormalizeID(id)
		if e, ok := entries[id]; ok {
			return e, nil
		}
		t, ok := c.Technique(id)
		if !ok {
			return nil, fmt.Errorf("%s: unknown ATT&CK technique %q", what, id)
		}
		e := &TechniqueCoverage{ID: t.ID, Name: t.Name, Groups: prevalence[t.ID], Status: StatusUncovered}
		for _, tc := range c.TacticsOf(t.ID) {
			e.Tactics = append(e.Tactics, tc.ShortName)
		}
		entries[id] = e
		return e, nil
	}
	for _, d := range detections {
		e, err := add(d.Technique, "detection "+d.Rule)
		if err != nil {
			return CoverageReport{}, err
		}
		d.Technique = e.ID
		e.Detections = append(e.Detections, d)
	}
	for _, id := range opts.Mapped {
		if _, err := add(id, "mapping"); err != nil {
			return CoverageReport{}, err
		}
	}
	for _, r := range responses {
		for _, id := range r.Techniques {
			if _, err := add(id, "playbook "+r.Playbook); err != nil {
				return CoverageReport{}, err
			}
		}
		for _, tac := range r.Tactics {
			if _, ok := c.Tactic(tac); !ok {
				return CoverageReport{}, fmt.Errorf("playbook %s: unknown ATT&CK tactic %q", r.Playbook, tac)
			}
		}
	}
	for _, e := range entries {
		c.settle(e, responses)
	}
	if opts.BlindSpots > 0 {
		for _, e := range c.blindSpots(entries, responses, prevalence, opts.BlindSpots) {
			entries[e.ID] = e
		}
	}

	rep := CoverageReport{Version: Version}
	for _, e := range entries {
		rep.Techniques = append(rep.Techniques, *e)
	}
	sortByRisk(rep.Techniques)
	for _, tac := range c.tactics {
		tc := TacticCoverage{Tactic: tac}
		for _, t := range rep.Techniques {
			if !slices.Contains(t.Tactics, tac.ShortName) {
				continue
			}
			if t.Detected() {
				tc.Detected++
			}
			if t.Answered() {
				tc.WithPlaybook++
			}
			switch t.Status {
			case StatusCovered:
				tc.Covered = append(tc.Covered, t.ID)
			case StatusNoPlaybook:
				tc.NoPlaybook = append(tc.NoPlaybook, t.ID)
			case StatusNoDetection:
				tc.NoDetection = append(tc.NoDetection, t.ID)
			default:
				tc.Uncovered = append(tc.Uncovered, t.ID)
			}
		}
		rep.Tactics = append(rep.Tactics, tc)
	}
	return rep, nil
}

// settle fills an entry's response, status and risk from its detections and the playbooks.
func (c *Catalog) settle(e *TechniqueCoverage, responses []Response) {
	parent := ""
	if p, ok := c.Parent(e.ID); ok {
		parent = p.ID
	}
	e.Playbooks, e.Fallbacks = nil, nil
	for _, r := range responses {
		switch {
		case slices.ContainsFunc(r.Techniques, func(id string) bool {
			id = NormalizeID(id)
			return id == e.ID || (parent != "" && id == parent)
		}):
			e.Playbooks = appendNew(e.Playbooks, r.Playbook)
		case slices.ContainsFunc(r.Tactics, func(tac string) bool {
			t, ok := c.Tactic(tac)
			return ok && slices.Contains(e.Tactics, t.ShortName)
		}):
			e.Fallbacks = appendNew(e.Fallbacks, r.Playbook)
		}
	}
	sort.Strings(e.Playbooks)
	sort.Strings(e.Fallbacks)
	sort.SliceStable(e.Detections, func(i, j int) bool {
		a, b := e.Detections[i], e.Detections[j]
		if a.Strength() != b.Strength() {
			return a.Strength() > b.Strength()
		}
		return a.Rule < b.Rule
	})
	e.Detection = 0
	for _, d := range e.Detections {
		e.Detection = max(e.Detection, d.Strength())
	}
	switch {
	case e.Detected() && e.Answered():
		e.Status = StatusCovered
	case e.Detected():
		e.Status = StatusNoPlaybook
	case e.Answered():
		e.Status = StatusNoDetection
	default:
		e.Status = StatusUncovered
	}
	response := 0.0
	switch {
	case e.Answered():
		response = 1
	case len(e.Fallbacks) > 0:
		response = 0.25
	}
	exposure := 1 - (e.Detection+response)/2
	e.Detection = round(e.Detection, 100)
	e.Risk = round(float64(e.Groups+1)*c.tacticWeight(e.Tactics)*exposure, 10)
}

// tacticWeight is 2 for the matrix's first tactic down to 1 for its last, for the earliest of tactics.
func (c *Catalog) tacticWeight(tactics []string) float64 {
	n := len(c.tactics)
	if n < 2 {
		return 1
	}
	best := n - 1
	for _, t := range tactics {
		if i := c.TacticOrder(t); i >= 0 && i < best {
			best = i
		}
	}
	return 2 - float64(best)/float64(n-1)
}

// blindSpots returns the n riskiest leaf techniques that no detection or playbook names.
func (c *Catalog) blindSpots(have map[string]*TechniqueCoverage, responses []Response, prevalence map[string]int, n int) []*TechniqueCoverage {
	var out []*TechniqueCoverage
	for _, t := range c.techniques {
		if !t.Active() || have[t.ID] != nil || c.hasActiveSubs(t.ID) || preOnly(t) {
			continue
		}
		e := &TechniqueCoverage{ID: t.ID, Name: t.Name, Groups: prevalence[t.ID]}
		for _, tc := range c.TacticsOf(t.ID) {
			e.Tactics = append(e.Tactics, tc.ShortName)
		}
		c.settle(e, responses)
		if e.Status != StatusUncovered {
			continue // its parent's playbook answers it
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool { return riskLess(*out[j], *out[i]) })
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func (c *Catalog) hasActiveSubs(id string) bool {
	return slices.ContainsFunc(c.subs[id], func(sub string) bool { t, _ := c.Technique(sub); return t.Active() })
}

func preOnly(t Technique) bool {
	return len(t.Platforms) > 0 && !slices.ContainsFunc(t.Platforms, func(p string) bool { return p != "PRE" })
}

// prevalence counts, per technique, the groups known to use it; a technique with sub-techniques counts the
// groups that use it or any of them.
func (c *Catalog) prevalence() map[string]int {
	users := map[string]map[string]bool{}
	use := func(tech, group string) {
		if users[tech] == nil {
			users[tech] = map[string]bool{}
		}
		users[tech][group] = true
	}
	for _, g := range c.groups {
		for _, id := range g.Techniques {
			use(id, g.ID)
			if parent, _, ok := strings.Cut(id, "."); ok {
				use(parent, g.ID)
			}
		}
	}
	out := make(map[string]int, len(users))
	for id, gs := range users {
		out[id] = len(gs)
	}
	return out
}

var statusRank = map[string]int{StatusUncovered: 0, StatusNoDetection: 1, StatusNoPlaybook: 2, StatusCovered: 3}

// riskLess orders by risk, then the worse status, then prevalence, then id (descending risk when used as
// riskLess(b, a)).
func riskLess(a, b TechniqueCoverage) bool {
	if a.Risk != b.Risk {
		return a.Risk < b.Risk
	}
	if statusRank[a.Status] != statusRank[b.Status] {
		return statusRank[a.Status] > statusRank[b.Status]
	}
	if a.Groups != b.Groups {
		return a.Groups < b.Groups
	}
	return a.ID > b.ID
}

func sortByRisk(ts []TechniqueCoverage) {
	sort.SliceStable(ts, func(i, j int) bool { return riskLess(ts[j], ts[i]) })
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// round rounds x to 1/per (per 10: one decimal), so reports compare and print stably.
func round(x float64, per float64) float64 { return math.Round(x*per) / per }
