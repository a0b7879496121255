package alerts

import (
	"bytes"
	"errors"
	"strings"
)

// SourceSigma is the source name of Sigma rule matches: the rule that matched, as JSON.
const SourceSigma = "sigma"

var sigmaFormat = Format{
	Name:      SourceSigma,
	Detect:    isSigmaRule,
	Normalize: normalizeSigma,
}

// isSigmaRule recognises a Sigma rule (Sigma specification: a logsource and a detection with its
// condition).
func isSigmaRule(doc map[string]any) bool {
	det := asObject(doc["detection"])
	return det != nil && has(det, "condition") && asObject(doc["logsource"]) != nil
}

func normalizeSigma(_ []byte, doc map[string]any) (Alert, error) {
	if !isSigmaRule(doc) {
		return Alert{}, shapeError(SourceSigma, "logsource and a detection with a condition (a Sigma rule)",
			"post the rule that matched, converted from YAML to JSON")
	}
	a := Alert{
		// No id: a rule's id names the rule, not this match, so the id is the payload's hash (see
		// Normalize). Nor a time: date and modified are the rule's, not the match's.
		Title:    text(doc, "title"),
		Rule:     text(doc, "title"),
		Severity: severityWord(text(doc, "level")),
	}
	// Tags in the attack namespace name techniques (attack.t1059.001) and tactics (attack.execution);
	// attack.s0111 (software) and attack.g0016 (groups), and other namespaces (car., cve., stp.), name
	// neither and are dropped.
	var tactics []string
	for _, tag := range texts(doc, "tags") {
		name, ok := strings.CutPrefix(strings.ToLower(tag), "attack.")
		if !ok {
			continue
		}
		if id := techniqueIDs([]string{name}); len(id) > 0 {
			a.Techniques = append(a.Techniques, id...)
		} else {
			tactics = append(tactics, name)
		}
	}
	if len(a.Techniques) == 0 {
		a.Tactics = tacticNames(tactics)
	}
	return a, nil
}

// sigmaYAML says that Parry takes Sigma rules as JSON when a payload that is no JSON was named a Sigma rule
// or looks like one in YAML; other errors pass unchanged.
func sigmaYAML(err error, payload []byte, source string) error {
	var pe *PayloadError
	if !errors.As(err, &pe) || pe.Offset == 0 {
		return err
	}
	named := strings.EqualFold(strings.TrimSpace(source), SourceSigma)
	if !named && !(bytes.Contains(payload, []byte("\ndetection:")) && bytes.Contains(payload, []byte("\nlogsource:"))) {
		return err
	}
	e := *pe
	e.Format = SourceSigma
	e.Fix = "Parry takes Sigma rules as JSON: convert the rule's YAML first (for example yq -o=json rule.yml)"
	return &e
}
