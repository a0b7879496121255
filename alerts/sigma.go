package alerts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// SourceSigma is the source name of Sigma rule matches: the rule that matched, as JSON or YAML.
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
			"post the rule that matched, as YAML or JSON")
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

// sigmaYAML reads a payload that is no JSON as a Sigma rule in YAML — the form rules are written in — when
// it was named a Sigma rule or looks like one (top-level detection: and logsource:). The rule is converted to
// JSON, which becomes the alert's Raw and the input of its payload hash; scalars keep the text written (a
// rule's date stays "2019-01-16"). Anything else gets the JSON error it had.
func sigmaYAML(jsonErr error, payload []byte, source string) ([]byte, error) {
	var pe *PayloadError
	if !errors.As(jsonErr, &pe) || pe.Offset == 0 {
		return nil, jsonErr
	}
	named := strings.EqualFold(strings.TrimSpace(source), SourceSigma)
	looks := (bytes.HasPrefix(payload, []byte("detection:")) || bytes.Contains(payload, []byte("\ndetection:"))) &&
		(bytes.HasPrefix(payload, []byte("logsource:")) || bytes.Contains(payload, []byte("\nlogsource:")))
	if source = strings.TrimSpace(source); (source != "" && !named) || (!named && !looks) {
		return nil, jsonErr
	}
	refuse := func(problem string) error {
		return &PayloadError{Format: SourceSigma, Problem: problem, Fix: "send the Sigma rule as YAML (one document, no anchors or aliases) or as JSON"}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(payload, &doc); err != nil {
		return nil, refuse("is neither JSON (" + pe.Problem + ") nor YAML (" + strings.TrimPrefix(err.Error(), "yaml: ") + ")")
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, refuse("the YAML is not one mapping (a Sigma rule is one)")
	}
	v, err := yamlValue(doc.Content[0], 0)
	if err != nil {
		return nil, refuse(err.Error())
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, refuse("cannot be rendered as JSON: " + err.Error())
	}
	return b, nil
}

// maxYAMLDepth bounds the nesting of a YAML rule, so a hostile body cannot exhaust the stack.
const maxYAMLDepth = 64

// yamlValue converts a YAML node into what encoding/json decodes: objects, lists, strings, json.Number,
// booleans and null. Anchors and aliases are refused (no Sigma rule needs them, and expanding them is how a
// small body becomes a huge one).
func yamlValue(n *yaml.Node, depth int) (any, error) {
	if depth > maxYAMLDepth {
		return nil, fmt.Errorf("line %d: nested deeper than %d levels", n.Line, maxYAMLDepth)
	}
	if n.Anchor != "" || n.Kind == yaml.AliasNode {
		return nil, fmt.Errorf("line %d: has a YAML anchor or alias", n.Line)
	}
	switch n.Kind {
	case yaml.MappingNode:
		obj := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
				return nil, fmt.Errorf("line %d: a mapping key is not a plain string", k.Line)
			}
			if _, dup := obj[k.Value]; dup {
				return nil, fmt.Errorf("line %d: key %q appears twice", k.Line, k.Value)
			}
			v, err := yamlValue(n.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			obj[k.Value] = v
		}
		return obj, nil
	case yaml.SequenceNode:
		list := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := yamlValue(c, depth+1)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		return list, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, fmt.Errorf("line %d: %w", n.Line, err)
			}
			return b, nil
		case "!!int", "!!float":
			var f float64
			if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return n.Value, nil // .inf, .nan, 0x…: keep the text
			}
			if json.Valid([]byte(n.Value)) {
				return json.Number(n.Value), nil
			}
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
		}
		return n.Value, nil // strings, timestamps and anything else: the text as written
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}
