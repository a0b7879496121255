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
	ID        string    `json:"id"`
	Group     string    `json:"group"`
	Min       int       `json:"min"`
	Approvers []string  `json:"approvers,omitempty"` // Slack user ids and operator names who may decide
	Deadline  time.Time `json:"deadline,omitzero"`
	What      string    `json:"what,omitempty"` // what will happen, to what
	Why       string    `json:"why,omitempty"`
	Actor     string    `json:"actor,omitempty"`
	Decision  string    `json:"decision,omitempty"` // approve | deny, or the outcome: approved | denied | timed-out
	Outcome   string    `json:"outcome,omitempty"`  // granted | refused | counted (an attempt), approved | denied (the decision)
	Reason    string    `json:"reason,omitempty"`
}

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
}

// Escalation asks the on-call group to look now: a budget breach, an approval timeout, a failed run.
type Escalation struct {
	Event  Event  `json:"event"`
	Reason string `json:"reason"`
}

// Notifier delivers a run's events and escalations. Implementations must be safe to call again with an
// event they already delivered (activities retry).
type Notifier interface {
	Notify(ctx context.Context, e Event) error
	Escalate(ctx context.Context, e Escalation) error
}

// Batch is the input of the notify.event activity: the events queued since the last delivery, in order. A
// notifier delivers them one by one and records its progress in the activity's heartbeat, so a retry
// resumes after the last event delivered instead of posting it twice.
type Batch struct {
	Events []Event `json:"events"`
}
