// Package routing picks the playbook that answers a normalized alert and reads the run's inputs from it, as
// DESIGN.md's run semantics say: one alert starts at most one run, with the most specific matching
// playbook (sub-technique, then technique, then tactic; ties by priority, then id), and an alert missing a
// required input is refused with the field named.
//
// It is a package of its own, beside alerts, because the playbook validator reads the alert's shape from
// package alerts: routing needs both, and neither may import the other back.
package routing

import (
	"fmt"
	"sort"
	"strings"

	"github.com/parry-soc/parry/alerts"
	"github.com/parry-soc/parry/attack"
	"github.com/parry-soc/parry/expr"
	"github.com/parry-soc/parry/playbooks"
)

// How specifically a playbook matches an alert, most specific first.
const (
	BySubTechnique = "sub-technique" // the playbook lists the alert's exact sub-technique
	ByTechnique    = "technique"     // … the alert's exact technique, or the parent of its sub-technique
	ByTactic       = "tactic"        // … a tactic of one of the alert's techniques, or one the alert names
)

var specificityRank = map[string]int{BySubTechnique: 3, ByTechnique: 2, ByTactic: 1}

// Candidate is a playbook that matches an alert.
type Candidate struct {
	ID          string `json:"id"`
	Specificity string `json:"specificity"`
	Technique   string `json:"technique,omitempty"` // the alert technique that matched
	Tactic      string `json:"tactic,omitempty"`    // for a tactic match, the tactic that matched
	Priority    int    `json:"priority,omitempty"`
}

// Result is the playbook chosen for an alert and why.
type Result struct {
	Playbook    *playbooks.Playbook
	Specificity string
	// Technique is the alert technique that matched; for a tactic match it is the technique whose tactic
	// matched, or empty when the alert named the tactic itself.
	Technique string
	Tactic    string      // for a tactic match, the tactic that matched
	Others    []Candidate // the other matching playbooks, best first
}

// Route picks the playbook that answers an alert: the most specific match (sub-technique, then technique,
// then tactic), ties broken by higher priority and then by id. A playbook's match.when guard must hold too.
// With no match it returns an *UnroutedError. A guard that does not compile or evaluate is an error: the
// library is broken, and routing around it would hide that.
func Route(a alerts.Alert, library []*playbooks.Playbook) (Result, error) {
	techniques := alerts.NormalizeTechniques(a.Techniques)
	tactics := alertTactics(a, techniques)
	vars := &expr.Vars{Alert: a}

	type match struct {
		p *playbooks.Playbook
		Candidate
	}
	var matches []match
	for _, p := range library {
		if p == nil {
			continue
		}
		c, ok := matchPlaybook(p, techniques, tactics)
		if !ok {
			continue
		}
		if p.Match != nil && strings.TrimSpace(p.Match.When) != "" {
			prg, err := expr.CompileBool(p.Match.When)
			if err != nil {
				return Result{}, fmt.Errorf("route alert %s: playbook %s: match.when: %w", a.ID, p.ID, err)
			}
			ok, err := prg.EvalBool(vars)
			if err != nil {
				return Result{}, fmt.Errorf("route alert %s: playbook %s: match.when (test optional fields with has()): %w", a.ID, p.ID, err)
			}
			if !ok {
				continue
			}
		}
		c.ID, c.Priority = p.ID, p.Priority
		matches = append(matches, match{p, c})
	}
	if len(matches) == 0 {
		return Result{}, &UnroutedError{Techniques: techniques, Tactics: tacticNames(tactics)}
	}
	sort.SliceStable(matches, func(i, j int) bool {
		a, b := matches[i], matches[j]
		if ra, rb := specificityRank[a.Specificity], specificityRank[b.Specificity]; ra != rb {
			return ra > rb
		}
		if a.Priority != b.Priority {
			return a.Priority > b.Priority
		}
		return a.ID < b.ID
	})
	best := matches[0]
	r := Result{Playbook: best.p, Specificity: best.Specificity, Technique: best.Technique, Tactic: best.Tactic}
	for _, m := range matches[1:] {
		r.Others = append(r.Others, m.Candidate)
	}
	return r, nil
}

func tacticShortName(key string) (string, bool) {
	t, ok := attack.Default().Tactic(key)
	return t.ShortName, ok
}

// alertTactic is a tactic of the alert and the technique it came from ("" when the alert named it).
type alertTactic struct {
	name      string
	technique string
}

// alertTactics lists the tactics of the alert's techniques (in technique order, each in matrix order) and
// then the tactics the alert names itself, each once.
func alertTactics(a alerts.Alert, techniques []string) []alertTactic {
	c := attack.Default()
	seen := map[string]bool{}
	var out []alertTactic
	add := func(name, technique string) {
		if name == "" || seen[name] {
			return
		}
		seen[name] = true
		out = append(out, alertTactic{name, technique})
	}
	for _, t := range techniques {
		for _, tc := range c.TacticsOf(t) {
			add(tc.ShortName, t)
		}
	}
	for _, t := range a.Tactics {
		short, ok := tacticShortName(t)
		if !ok {
			short = strings.ToLower(strings.TrimSpace(t))
		}
		add(short, "")
	}
	return out
}

// tacticNames lists the tactics' names in matrix order (unknown ones last, by name).
func tacticNames(ts []alertTactic) []string {
	c := attack.Default()
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.name
	}
	order := func(n string) int {
		if o := c.TacticOrder(n); o >= 0 {
			return o
		}
		return len(c.Tactics())
	}
	sort.SliceStable(names, func(i, j int) bool {
		if oi, oj := order(names[i]), order(names[j]); oi != oj {
			return oi < oj
		}
		return names[i] < names[j]
	})
	return names
}

// matchPlaybook returns how specifically p matches, if at all.
func matchPlaybook(p *playbooks.Playbook, techniques []string, tactics []alertTactic) (Candidate, bool) {
	lists := map[string]bool{}
	for _, t := range p.Techniques {
		lists[attack.NormalizeID(t)] = true
	}
	var best Candidate
	consider := func(c Candidate) {
		if specificityRank[c.Specificity] > specificityRank[best.Specificity] {
			best = c
		}
	}
	for _, t := range techniques {
		parent, _, isSub := strings.Cut(t, ".")
		switch {
		case isSub && lists[t]:
			consider(Candidate{Specificity: BySubTechnique, Technique: t})
		case lists[t]:
			consider(Candidate{Specificity: ByTechnique, Technique: t})
		case isSub && lists[parent]:
			consider(Candidate{Specificity: ByTechnique, Technique: t})
		}
	}
	if best.Specificity == "" && len(p.Tactics) > 0 {
		wants := map[string]bool{}
		for _, t := range p.Tactics {
			if short, ok := tacticShortName(t); ok {
				wants[short] = true
			}
		}
		for _, t := range tactics {
			if wants[t.name] {
				consider(Candidate{Specificity: ByTactic, Technique: t.technique, Tactic: t.name})
				break
			}
		}
	}
	return best, best.Specificity != ""
}

// UnroutedError is an alert no playbook matches.
type UnroutedError struct {
	Techniques []string // the alert's techniques
	Tactics    []string // their tactics and the alert's own, matrix order
}

func (e *UnroutedError) Error() string {
	switch {
	case len(e.Techniques) == 0 && len(e.Tactics) == 0:
		return "no playbook matches the alert: it carries no ATT&CK technique or tactic; map the detection to ATT&CK where it is raised, or send techniques with the alert"
	case len(e.Techniques) == 0:
		return fmt.Sprintf("no playbook matches tactics %s; add a fallback playbook with tactics: [%s]",
			strings.Join(e.Tactics, ", "), strings.Join(e.Tactics, ", "))
	case len(e.Tactics) == 0:
		return fmt.Sprintf("no playbook matches techniques %s; add a playbook listing one of them",
			strings.Join(e.Techniques, ", "))
	}
	return fmt.Sprintf("no playbook matches techniques %s (tactics %s); add a playbook listing one of the techniques, or a fallback playbook with tactics: [%s]",
		strings.Join(e.Techniques, ", "), strings.Join(e.Tactics, ", "), strings.Join(e.Tactics, ", "))
}

// MissingInputError is an alert without a value a playbook requires as input. The run must not start.
type MissingInputError struct {
	Playbook string // playbook id
	Input    string // input name
	From     string // the alert path it is read from
}

func (e *MissingInputError) Error() string {
	return fmt.Sprintf("alert has no %s (%s), which playbook %s requires as input %s",
		strings.TrimPrefix(e.From, "alert."), e.From, e.Playbook, e.Input)
}

// ResolveInputs reads every input of p from the alert. An input the alert lacks is an empty string (so
// `inputs.x` always exists in expressions, and a step that needs it is skipped); a required one the alert
// lacks is a *MissingInputError.
func ResolveInputs(p *playbooks.Playbook, a alerts.Alert) (map[string]any, error) {
	out := make(map[string]any, len(p.Inputs))
	for _, in := range p.Inputs {
		v, ok := alerts.Field(a, in.From)
		if !ok {
			if in.Required {
				return nil, &MissingInputError{Playbook: p.ID, Input: in.Name, From: in.From}
			}
			v = ""
		}
		out[in.Name] = v
	}
	return out, nil
}
