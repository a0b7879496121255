package actions

import (
	"fmt"
	"time"
)

// Request is the input of every action activity. With holds the step's resolved parameters (strings,
// numbers, booleans or lists of strings, as JSON decodes them).
type Request struct {
	RunID  string `json:"run_id"`  // the Parry run: the workflow ID
	StepID string `json:"step_id"` // the step, also the activity ID
	// IdempotencyKey is RunID + "/" + StepID (rollback: RunID + "/undo:" + StepID). Providers key every side
	// effect by it so a retried activity never acts twice.
	IdempotencyKey string         `json:"idempotency_key"`
	With           map[string]any `json:"with,omitempty"`
}

// IdempotencyKey returns the key of a step's side effect in a run.
func IdempotencyKey(runID, stepID string) string { return runID + "/" + stepID }

// String returns a string parameter, or "" when it is absent.
func (r Request) String(name string) string {
	switch v := r.With[name].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// Duration returns a duration parameter, or def when it is absent.
func (r Request) Duration(name string, def time.Duration) (time.Duration, error) {
	s := r.String(name)
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("parameter %s: %w", name, err)
	}
	return d, nil
}

// Strings returns a list parameter; a single string is a list of one.
func (r Request) Strings(name string) []string {
	switch v := r.With[name].(type) {
	case []string:
		return v
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			out = append(out, fmt.Sprint(e))
		}
		return out
	case string:
		if v == "" {
			return nil
		}
		return []string{v}
	default:
		return nil
	}
}

// Evidence is a reference to something captured in the evidence store: never the bytes themselves.
type Evidence struct {
	Kind    string `json:"kind"`    // memory, pcap, email-headers, triage, logs, report, backup
	Locator string `json:"locator"` // e.g. file:///…/.parry/evidence/<run>/<step>/memory.raw, s3://bucket/key
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
}

// Result is the output of every action activity.
type Result struct {
	// Output is the step's output, readable in expressions as steps['id'].output.
	Output   map[string]any `json:"output,omitempty"`
	Evidence []Evidence     `json:"evidence,omitempty"`
	// Provider names the adapter that did the work ("lab", "crowdstrike", …).
	Provider string `json:"provider"`
	// Simulated is true when the work was done by the lab simulator, not a real system.
	Simulated bool `json:"simulated,omitempty"`
	// Attempt is the activity attempt that succeeded (1 for the first).
	Attempt int32 `json:"attempt"`
	// Note is a short human-readable line of what was done.
	Note string `json:"note,omitempty"`
}

// ResolveRequest asks for the members of Slack user groups (the approvers.resolve activity).
type ResolveRequest struct {
	Groups []string `json:"groups"`
}

// ResolveResult maps each group to its members' Slack user ids, sorted.
type ResolveResult struct {
	Members map[string][]string `json:"members"`
}
