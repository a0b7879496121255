package attack

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Navigator layer format this package writes: MITRE ATT&CK Navigator layer format 4.5
// (attack-navigator, layers/spec/v4.5/layerformat.md), readable by Navigator 4.9.0 and later.
const (
	LayerFormat      = "4.5"
	NavigatorVersion = "5.2.0"
	LayerDomain      = "enterprise-attack"
)

// Colours of a coverage layer, one per status (detection × response), with the legend's labels.
var statusColors = []struct{ status, color, label string }{
	{StatusCovered, "#1a9850", "detected and answered by a playbook"},
	{StatusNoPlaybook, "#fee08b", "detected, no playbook"},
	{StatusNoDetection, "#91bfdb", "playbook, no detection"},
	{StatusUncovered, "#d73027", "neither detected nor answered"},
}

// StatusColor returns the layer colour of a coverage status.
func StatusColor(status string) string {
	for _, s := range statusColors {
		if s.status == status {
			return s.color
		}
	}
	return ""
}

// Layer is an ATT&CK Navigator layer (format 4.5). Every optional field the format defines for the view is
// written, so the layer opens the same in every Navigator.
type Layer struct {
	Name                          string           `json:"name"`
	Versions                      LayerVersions    `json:"versions"`
	Domain                        string           `json:"domain"`
	Description                   string           `json:"description"`
	Filters                       LayerFilters     `json:"filters"`
	Sorting                       int              `json:"sorting"`
	Layout                        LayerLayout      `json:"layout"`
	HideDisabled                  bool             `json:"hideDisabled"`
	Techniques                    []LayerTechnique `json:"techniques"`
	Gradient                      LayerGradient    `json:"gradient"`
	LegendItems                   []LegendItem     `json:"legendItems"`
	ShowTacticRowBackground       bool             `json:"showTacticRowBackground"`
	TacticRowBackground           string           `json:"tacticRowBackground"`
	SelectTechniquesAcrossTactics bool             `json:"selectTechniquesAcrossTactics"`
	SelectSubtechniquesWithParent bool             `json:"selectSubtechniquesWithParent"`
	SelectVisibleTechniques       bool             `json:"selectVisibleTechniques"`
	Metadata                      []LayerMetadata  `json:"metadata,omitempty"`
}

// LayerVersions are the ATT&CK, Navigator and layer format versions of a layer.
type LayerVersions struct {
	Attack    string `json:"attack"`
	Navigator string `json:"navigator"`
	Layer     string `json:"layer"`
}

// LayerFilters selects the platforms a layer shows.
type LayerFilters struct {
	Platforms []string `json:"platforms"`
}

// LayerLayout is how Navigator draws the matrix.
type LayerLayout struct {
	Layout                string `json:"layout"` // side | flat | mini
	AggregateFunction     string `json:"aggregateFunction"`
	ShowID                bool   `json:"showID"`
	ShowName              bool   `json:"showName"`
	ShowAggregateScores   bool   `json:"showAggregateScores"`
	CountUnscored         bool   `json:"countUnscored"`
	ExpandedSubtechniques string `json:"expandedSubtechniques"` // none | all | annotated
}

// LayerTechnique annotates one technique (for every tactic it belongs to when Tactic is empty).
type LayerTechnique struct {
	TechniqueID       string          `json:"techniqueID"`
	Tactic            string          `json:"tactic,omitempty"`
	Color             string          `json:"color,omitempty"`
	Comment           string          `json:"comment,omitempty"`
	Score             *float64        `json:"score,omitempty"`
	Enabled           bool            `json:"enabled"`
	Metadata          []LayerMetadata `json:"metadata,omitempty"`
	ShowSubtechniques bool            `json:"showSubtechniques"`
}

// LayerGradient maps scores to colours for techniques without a colour of their own.
type LayerGradient struct {
	Colors   []string `json:"colors"`
	MinValue float64  `json:"minValue"`
	MaxValue float64  `json:"maxValue"`
}

// LegendItem is one entry of a layer's legend.
type LegendItem struct {
	Label string `json:"label"`
	Color string `json:"color"`
}

// LayerMetadata is a name and value shown in a technique's (or the layer's) tooltip.
type LayerMetadata struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// LayerOptions names a layer.
type LayerOptions struct {
	Name        string
	Description string
}

// NavigatorLayer draws a coverage report as a Navigator layer: each technique coloured by detection ×
// response (four legend items), scored by its risk so that sorting by score puts the riskiest first in each
// tactic, with a comment naming its playbooks and detections. A sub-technique's parent is added, expanded,
// when the report does not name it, so the sub-technique shows.
func (c *Catalog) NavigatorLayer(r CoverageReport, opts LayerOptions) Layer {
	name := opts.Name
	if name == "" {
		name = "Parry detection and response coverage"
	}
	desc := opts.Description
	if desc == "" {
		desc = "Techniques coloured by detection × response; score is the coverage risk (prevalence × tactic weight × exposure)."
	}
	l := Layer{
		Name:        name,
		Versions:    LayerVersions{Attack: strings.Split(r.Version, ".")[0], Navigator: NavigatorVersion, Layer: LayerFormat},
		Domain:      LayerDomain,
		Description: desc,
		Filters:     LayerFilters{Platforms: c.Platforms()},
		Sorting:     3, // descending by score: riskiest first
		Layout: LayerLayout{Layout: "side", AggregateFunction: "max", ShowID: true, ShowName: true,
			ExpandedSubtechniques: "annotated"},
		Gradient:                      LayerGradient{Colors: []string{"#ffffff", "#d73027"}, MinValue: 0, MaxValue: 1},
		TacticRowBackground:           "#dddddd",
		SelectTechniquesAcrossTactics: true,
		SelectSubtechniquesWithParent: false,
		Metadata: []LayerMetadata{
			{Name: "generated by", Value: "Parry (trigger coverage)"},
			{Name: "ATT&CK", Value: "v" + r.Version},
		},
	}
	for _, s := range statusColors {
		l.LegendItems = append(l.LegendItems, LegendItem{Label: s.label, Color: s.color})
	}

	named := map[string]bool{}
	for _, t := range r.Techniques {
		named[t.ID] = true
		l.Gradient.MaxValue = max(l.Gradient.MaxValue, t.Risk)
	}
	expand := map[string]bool{}
	for _, t := range r.Techniques {
		if p, ok := c.Parent(t.ID); ok {
			expand[p.ID] = true
		}
	}
	for _, t := range r.Techniques {
		score := t.Risk
		l.Techniques = append(l.Techniques, LayerTechnique{
			TechniqueID:       t.ID,
			Color:             StatusColor(t.Status),
			Comment:           layerComment(t),
			Score:             &score,
			Enabled:           true,
			Metadata:          layerMetadata(t),
			ShowSubtechniques: expand[t.ID],
		})
	}
	var parents []string
	for id := range expand {
		if !named[id] {
			parents = append(parents, id)
		}
	}
	sort.Strings(parents)
	for _, id := range parents {
		l.Techniques = append(l.Techniques, LayerTechnique{TechniqueID: id, Enabled: true, ShowSubtechniques: true})
	}
	sort.SliceStable(l.Techniques, func(i, j int) bool { return l.Techniques[i].TechniqueID < l.Techniques[j].TechniqueID })
	return l
}

// layerComment says what answers and what detects a technique.
func layerComment(t TechniqueCoverage) string {
	var parts []string
	switch {
	case t.Answered():
		parts = append(parts, "Playbook: "+strings.Join(t.Playbooks, ", ")+".")
	case len(t.Fallbacks) > 0:
		parts = append(parts, "No playbook (fallback: "+strings.Join(t.Fallbacks, ", ")+").")
	default:
		parts = append(parts, "No playbook.")
	}
	if t.Detected() {
		var ds []string
		for _, d := range t.Detections {
			ds = append(ds, fmt.Sprintf("%s (%s)", d.Rule, strings.Join(detectionTraits(d), ", ")))
		}
		parts = append(parts, "Detections: "+strings.Join(ds, "; ")+".")
	} else {
		parts = append(parts, "No detection.")
	}
	parts = append(parts, fmt.Sprintf("Risk %s (%d groups).", formatFloat(t.Risk), t.Groups))
	return strings.Join(parts, " ")
}

func layerMetadata(t TechniqueCoverage) []LayerMetadata {
	md := []LayerMetadata{
		{Name: "status", Value: t.Status},
		{Name: "risk", Value: formatFloat(t.Risk)},
		{Name: "groups", Value: strconv.Itoa(t.Groups)},
		{Name: "detections", Value: strconv.Itoa(len(t.Detections))},
	}
	if t.Answered() {
		md = append(md, LayerMetadata{Name: "playbooks", Value: strings.Join(t.Playbooks, ", ")})
	}
	if len(t.Fallbacks) > 0 {
		md = append(md, LayerMetadata{Name: "fallbacks", Value: strings.Join(t.Fallbacks, ", ")})
	}
	return md
}

// detectionTraits are a detection's source, confidence and coverage, those it has.
func detectionTraits(d Detection) []string {
	var out []string
	if d.Source != "" {
		out = append(out, d.Source)
	}
	if d.Confidence != "" {
		out = append(out, d.Confidence+" confidence")
	}
	if d.Coverage != "" {
		out = append(out, d.Coverage+" coverage")
	}
	return out
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
