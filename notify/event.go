// Package notify defines what a run tells responders — events in order, escalations on their own lane —
// and the notifiers that deliver them (the log notifier here; Slack in its own package).
package notify

import (
	"context"
	"time"

	"github.com/parry-soc/parry/actions"
)

// Event kinds, in the order a run usually emits them.
const (
	RunStarted        = "run.started"
	PhaseStarted      = "phase.started"
	PhaseFinished     = "phase.finished"
	BudgetBreached    = "budget.breached"
	StepStarted       = "step.started"
	StepFinished      = "step.finished"
	StepSkipped       = "step.skipped"
	StepFailed        = "step.failed"
	EvidenceCaptured  = "evidence.captured"
	ApprovalRequested = "approval.requested"
	ApprovalAttempt   = "approval.attempt"
	ApprovalDecided   = "approval.decided"
	TaskRequested     = "task.requested"
	TaskDone          = "task.done"
	RollbackStarted   = "rollback.started"
	RollbackStep      = "rollback.step"
	RunCompleted      = "run.completed"
	RunFailed         = "run.failed"
	RunClosed         = "run.closed"
)

// Run identifies the run an event belongs to and carries what a first message about it shows.
type Run struct {
	ID         string   `json:"id"` // workflow ID
	Playbook   string   `json:"playbook"`
	Name       string   `json:"name"`
	Version    int      `json:"version"`
	AlertID    string   `json:"alert_id"`
	Source     string   `json:"source"`
	Title      string   `json:"title,omitempty"`
	Severity   string   `json:"severity,omitempty"`
	Host       string   `json:"host,omitempty"`
	User       string   `json:"user,omitempty"`
	Techniques []string `json:"techniques,omitempty"`
	Channel    string   `json:"channel,omitempty"`
	Escalation string   `json:"escalation,omitempty"`
	Oncall     string   `json:"oncall,omitempty"`
	// Budgets lists the phases with their budgets, for the run's first message.
	Budgets []PhaseBudget `json:"budgets,omitempty"`
}

// PhaseBudget is one phase and its budget (0: none).
type PhaseBudget struct {
	Phase  string        `json:"phase"`
	Budget time.Duration `json:"budget"`
}

// Approval describes an approval in an event.
type Approval struct {
	ID        string   `json:"id"`
	Group     string   `json:"group"`
	Min       int      `json:"min"`
	Approvers []string `json:"approvers,omitempty"` // "slack:U…" users and "operator:name" operators who may decide
	// SlackGroups are the Slack user groups whose members may decide (mention them to reach everyone).
	SlackGroups []string  `json:"slack_groups,omitempty"`
	Deadline    time.Time `json:"deadline,omitzero"`
	What        string    `json:"what,omitempty"` // what will happen, to what
	Why         string    `json:"why,omitempty"`
	Actor       string    `json:"actor,omitempty"`
	Decision    string    `json:"decision,omitempty"` // approve | deny, or the outcome: approved | denied | timed-out
	Outcome     string    `json:"outcome,omitempty"`  // granted | refused | counted (an attempt), approved | denied (the decision)
	Reason      string    `json:"reason,omitempty"`
}

// MessageRef locates a message a notifier posted (in Slack: a channel id and a message ts). The workflow
// keeps the refs it is given back, so later events can reply in a run's thread or update a message in
// place, whichever worker delivers them.
type MessageRef struct {
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

// IsZero reports whether the ref points nowhere.
func (m MessageRef) IsZero() bool { return m.Channel == "" || m.TS == "" }

// Event is one thing that happened in a run. Seq orders a run's events; a notifier delivers them in Seq order
// and may use (RunID, Seq) to drop a redelivered one.
type Event struct {
	Run      Run               `json:"run"`
	Seq      int               `json:"seq"`
	Kind     string            `json:"kind"`
	Time     time.Time         `json:"time"`
	Phase    string            `json:"phase,omitempty"`
	Step     string            `json:"step,omitempty"`
	Action   string            `json:"action,omitempty"`
	Status   string            `json:"status,omitempty"`
	Message  string            `json:"message,omitempty"`
	Error    string            `json:"error,omitempty"`
	Budget   time.Duration     `json:"budget,omitempty"`
	Used     time.Duration     `json:"used,omitempty"`
	Deadline time.Time         `json:"deadline,omitzero"`
	Evidence *actions.Evidence `json:"evidence,omitempty"`
	Approval *Approval         `json:"approval,omitempty"`
	// Disposition and Summary are set on the run's last events.
	Disposition string `json:"disposition,omitempty"`
	Summary     string `json:"summary,omitempty"`
	// Thread is the run's parent message once a notifier has posted it (zero before: the event that posts
	// it is run.started). Every later event is a reply in that thread.
	Thread MessageRef `json:"thread,omitzero"`
	// Target is a message this event resolves, to be updated in place: the approval request an
	// approval.decided event closes, the task request a task.done event closes.
	Target MessageRef `json:"target,omitzero"`
}

// Posted is what delivering one event produced.
type Posted struct {
	// Parent is the run's parent message, when this delivery created it.
	Parent MessageRef `json:"parent,omitzero"`
	// Message is the message posted for the event (for an approval or task request, the one to update
	// later), if any.
	Message MessageRef `json:"message,omitzero"`
}

// Escalation asks the on-call group to look now: a budget breach, an approval timeout, a failed run.
type Escalation struct {
	Event  Event  `json:"event"`
	Reason string `json:"reason"`
}

// Notifier delivers a run's events and escalations. A retried activity may hand a notifier an event it
// already delivered when the worker died between delivering and recording it; otherwise each event comes
// once, in Seq order.
type Notifier interface {
	Notify(ctx context.Context, e Event) (Posted, error)
	Escalate(ctx context.Context, e Escalation) error
}

// Batch is the input of the notify.event activity: the events queued since the last delivery, in order.
// The activity delivers them one by one and records its progress in the activity's heartbeat, so a retry
// resumes after the last event delivered instead of posting it twice.
type Batch struct {
	Events []Event `json:"events"`
}

// Delivery is the result of the notify.event activity: the run's parent message if the batch created it,
// and the message posted for each event that posted one.
type Delivery struct {
	Parent   MessageRef  `json:"parent,omitzero"`
	Messages []Delivered `json:"messages,omitempty"`
}

// Delivered is the message posted for one event.
type Delivered struct {
	Seq     int        `json:"seq"`
	Message MessageRef `json:"message"`
}
