// Package playbooks holds the playbook model (format parry/v1), its parser and validator, and the embedded
// library of response playbooks, one per ATT&CK technique. Parsing keeps every node's position so each error
// reads file:line:col.
//
// Load (Parse, then Validate) is what callers use; it reports every problem of a file at once. Decisions
// the format leaves open:
//   - Numbers in `with:` are float64. The playbook reaches the worker as JSON, where encoding/json decodes
//     any number held in an `any` as float64; parsing to the same type keeps the validated model and the
//     one a run sees identical. Integers beyond 2^53 are refused (quote them).
//   - YAML anchors, aliases, merge keys and custom tags are refused: a playbook is reviewed as written.
//   - Validate fills what the catalog decides, so the interpreter never re-derives it: a step's undo from
//     the action's inverse, and the rollback approver group from the first step with undo and approval.
//     Parse fills on_breach (escalate), approval on_timeout (deny) and approver min (1).
//   - Durations are Go durations with an optional leading whole number of days (2d, 1d12h); `with:`
//     parameters of duration type stay Go durations, as the actions read them.
package playbooks

import "time"

// APIVersion and Kind are the only values a parry/v1 playbook may carry.
const (
	APIVersion = "parry/v1"
	Kind       = "Playbook"
)

// Breach policies of a phase budget.
const (
	BreachEscalate = "escalate" // notify the escalation channel and on-call, go on (the default)
	BreachFail     = "fail"     // stop the run as failed; containment stays in place
	BreachContinue = "continue" // only record the breach
)

// Approval timeout outcomes.
const (
	TimeoutApprove = "approve"
	TimeoutDeny    = "deny" // the default
)

// Playbook is one parsed playbook. It is part of every run's input, so it must stay plain data that JSON
// round-trips exactly.
type Playbook struct {
	APIVersion  string   `json:"api_version"`
	Kind        string   `json:"kind"`
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Version     int      `json:"version"`
	Description string   `json:"description,omitempty"`
	Techniques  []string `json:"techniques"`
	// Tactics makes the playbook a fallback for alerts whose techniques (or tactics) belong to these ATT&CK
	// tactics (short names, e.g. lateral-movement) when no technique playbook matches.
	Tactics   []string        `json:"tactics,omitempty"`
	Severity  string          `json:"severity,omitempty"`
	Inputs    []Input         `json:"inputs,omitempty"`
	Priority  int             `json:"priority,omitempty"`
	Match     *Match          `json:"match,omitempty"`
	Notify    Notify          `json:"notify"`
	Approvers []ApproverGroup `json:"approvers,omitempty"`
	Rollback  *RollbackPolicy `json:"rollback,omitempty"`
	Phases    []Phase         `json:"phases"`
	Tags      *Tags           `json:"tags,omitempty"`

	// Source is where the playbook was read from (a file path, or "playbooks/<file>" for the library).
	Source string `json:"source,omitempty"`
	// SHA256 is the hex SHA-256 of the file's bytes: a run pins the exact text it was started from.
	SHA256 string `json:"sha256"`

	// src records where each part was written, for Validate's messages. It is not part of the model and
	// does not travel in JSON: a playbook decoded from a workflow input has none.
	src *source
}

// Input is one value a run takes from its alert.
type Input struct {
	Name     string `json:"name"`
	From     string `json:"from"` // a path into the alert: alert.host, alert.hashes.sha256
	Required bool   `json:"required,omitempty"`
	Pos      Pos    `json:"-"`
}

// Match narrows routing with a CEL guard over `alert`.
type Match struct {
	When string `json:"when,omitempty"`
	Pos  Pos    `json:"-"`
}

// Notify says where a run's notifications go.
type Notify struct {
	Channel    string `json:"channel,omitempty"`
	Escalation string `json:"escalation,omitempty"`
	Oncall     string `json:"oncall,omitempty"` // a Slack user group id
}

// ApproverGroup is a named set of people who may approve, and how many distinct people a decision needs.
type ApproverGroup struct {
	ID          string   `json:"id"`
	SlackGroups []string `json:"slack_groups,omitempty"`
	SlackUsers  []string `json:"slack_users,omitempty"`
	// Operators names CLI operators (by roster name) who may approve for this group.
	Operators []string `json:"operators,omitempty"`
	Min       int      `json:"min"` // at least 1
	Pos       Pos      `json:"-"`
}

// RollbackPolicy says who approves a rollback requested with `trigger close --rollback`.
type RollbackPolicy struct {
	Approval Approval `json:"approval"`
}

// Phase is a stage of the response under one time budget.
type Phase struct {
	ID       string        `json:"id"`
	Name     string        `json:"name,omitempty"`
	Budget   time.Duration `json:"budget,omitempty"` // 0: no budget
	OnBreach string        `json:"on_breach,omitempty"`
	Steps    []Step        `json:"steps"`
	Pos      Pos           `json:"-"`
}

// Step is an action step, or a parallel group when Parallel is set (then only ID-less grouping applies).
type Step struct {
	ID       string         `json:"id,omitempty"`
	Name     string         `json:"name,omitempty"`
	Action   string         `json:"action,omitempty"`
	When     string         `json:"when,omitempty"`
	With     map[string]any `json:"with,omitempty"` // string (may hold ${{ }}), float64, bool, or []any of those
	Approval *Approval      `json:"approval,omitempty"`
	Undo     string         `json:"undo,omitempty"`
	Timeout  time.Duration  `json:"timeout,omitempty"`
	Retry    *Retry         `json:"retry,omitempty"`
	Tags     *Tags          `json:"tags,omitempty"`
	Parallel []Step         `json:"parallel,omitempty"`
	Pos      Pos            `json:"-"`
}

// Approval gates a step on people's decision.
type Approval struct {
	By        string        `json:"by"`                   // an approver group id
	Timeout   time.Duration `json:"timeout,omitempty"`    // 0: the phase's remaining budget
	OnTimeout string        `json:"on_timeout,omitempty"` // approve | deny (default deny)
	Reason    string        `json:"reason,omitempty"`     // why, shown to approvers
	Pos       Pos           `json:"-"`
}

// Retry overrides an action's default retry policy.
type Retry struct {
	MaxAttempts     int32         `json:"max_attempts,omitempty"`
	InitialInterval time.Duration `json:"initial_interval,omitempty"`
	MaxInterval     time.Duration `json:"max_interval,omitempty"`
	Backoff         float64       `json:"backoff,omitempty"`
}

// Tags link a step to response frameworks: RE&CT response actions (RA…) and D3FEND techniques (D3-…).
type Tags struct {
	React  []string `json:"react,omitempty"`
	D3fend []string `json:"d3fend,omitempty"`
}

// Pos is a position in a playbook file.
type Pos struct {
	Line int `json:"line,omitempty"`
	Col  int `json:"col,omitempty"`
}

// Walk calls fn for every action step of the playbook in document order, parallel branches included, with
// the phase it belongs to.
func (p *Playbook) Walk(fn func(phase *Phase, step *Step)) {
	for i := range p.Phases {
		ph := &p.Phases[i]
		for j := range ph.Steps {
			st := &ph.Steps[j]
			if len(st.Parallel) == 0 {
				fn(ph, st)
				continue
			}
			for k := range st.Parallel {
				fn(ph, &st.Parallel[k])
			}
		}
	}
}

// Step returns the action step with the given id.
func (p *Playbook) Step(id string) (*Step, bool) {
	var found *Step
	p.Walk(func(_ *Phase, s *Step) {
		if s.ID == id && found == nil {
			found = s
		}
	})
	return found, found != nil
}

// ApproverGroup returns the named approver group.
func (p *Playbook) ApproverGroup(id string) (*ApproverGroup, bool) {
	for i := range p.Approvers {
		if p.Approvers[i].ID == id {
			return &p.Approvers[i], true
		}
	}
	return nil, false
}
