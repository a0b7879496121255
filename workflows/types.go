package workflows

import (
	"time"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/alerts"
	"github.com/parry-soc/parry/approval"
	"github.com/parry-soc/parry/notify"
	"github.com/parry-soc/parry/playbooks"
)

// Names under which the interpreter is registered and talked to.
const (
	TaskQueue       = "parry"
	WorkflowName    = "PlaybookWorkflow"
	QueryStatus     = "status"
	UpdateDecide    = "decide"    // approve or deny an approval
	UpdateTaskDone  = "task-done" // mark a manual task done
	UpdateClose     = "close"     // close the run with a disposition, optionally rolling back
	RollbackID      = "rollback"  // the approval id of a rollback
	CloseSubject    = "run"       // the subject of a close statement
	defaultHoldTime = 7 * 24 * time.Hour
)

// Run states.
const (
	StateRunning   = "running"
	StateCompleted = "completed" // every phase ran
	StateFailed    = "failed"    // a step failed or a budget breached with on_breach: fail; containment stays
	StateClosed    = "closed"    // a person closed the run before it completed
)

// Dispositions.
const (
	TruePositive  = "true-positive"
	FalsePositive = "false-positive"
	Benign        = "benign"
	Undetermined  = "undetermined"
)

// Dispositions lists the valid dispositions.
var Dispositions = []string{TruePositive, FalsePositive, Benign, Undetermined}

// Step states.
const (
	StepPending         = "pending"
	StepWaitingApproval = "waiting-approval"
	StepWaitingTask     = "waiting-task"
	StepRunning         = "running"
	StepSucceeded       = "succeeded"
	StepSkipped         = "skipped"
	StepDenied          = "denied"
	StepFailed          = "failed"
	StepCanceled        = "canceled"
)

// Approval states and attempt outcomes.
const (
	ApprovalOpen     = "open"
	ApprovalApproved = "approved"
	ApprovalDenied   = "denied"
	ApprovalTimedOut = "timed-out"
	ApprovalCanceled = "canceled"

	OutcomeGranted = "granted" // the attempt decided the approval (reached min, or a deny)
	OutcomeCounted = "counted" // an approve counted towards min
	OutcomeRefused = "refused" // not counted: see Why
)

// Input is the workflow input: everything a run needs, pinned when it starts. Editing a playbook file never
// changes a run in flight, and replay sees exactly what the run saw.
type Input struct {
	Playbook playbooks.Playbook `json:"playbook"`
	Alert    alerts.Alert       `json:"alert"`
	Route    RouteInfo          `json:"route"`
	// Keys are the public keys whose assertions the run accepts (operators and the front door).
	Keys []approval.Key `json:"keys"`
	// HoldFailed is how long a failed run waits for a person to close it (default 7 days).
	HoldFailed time.Duration `json:"hold_failed,omitempty"`
	// DrainTimeout bounds how long the run waits for undelivered notifications before it closes (default 2m).
	DrainTimeout time.Duration `json:"drain_timeout,omitempty"`
}

// RouteInfo records why this playbook was chosen.
type RouteInfo struct {
	Specificity string   `json:"specificity,omitempty"` // sub-technique | technique | tactic | explicit
	Technique   string   `json:"technique,omitempty"`
	Others      []string `json:"others,omitempty"` // other matching playbook ids, best first
}

// Result is a run's state: the status query returns it while the run is open, and the workflow returns it.
type Result struct {
	RunID       string          `json:"run_id"`
	Playbook    PlaybookRef     `json:"playbook"`
	Alert       AlertRef        `json:"alert"`
	Route       RouteInfo       `json:"route"`
	State       string          `json:"state"`
	Disposition string          `json:"disposition"`
	Started     time.Time       `json:"started"`
	Ended       time.Time       `json:"ended,omitzero"`
	Phase       string          `json:"phase,omitempty"`         // the phase running now
	Deadline    time.Time       `json:"phase_deadline,omitzero"` // the running phase's budget deadline
	Phases      []PhaseResult   `json:"phases"`
	Steps       []StepResult    `json:"steps"`
	Approvals   []ApprovalState `json:"approvals,omitempty"`
	ApprovalLog []Attempt       `json:"approval_log,omitempty"`
	Tasks       []TaskState     `json:"tasks,omitempty"`
	Contained   []Contained     `json:"contained,omitempty"`
	Rollback    []StepResult    `json:"rollback,omitempty"`
	Escalations []Escalation    `json:"escalations,omitempty"`
	Failure     string          `json:"failure,omitempty"`
	ClosedBy    string          `json:"closed_by,omitempty"`
	// Undelivered counts notifications still queued when the run closed.
	Undelivered int `json:"undelivered,omitempty"`
	// Thread is the run's parent message in the notifier (a Slack channel and ts), once posted.
	Thread notify.MessageRef `json:"thread,omitzero"`
}

// PlaybookRef names the pinned playbook.
type PlaybookRef struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version int    `json:"version"`
	SHA256  string `json:"sha256"`
	Source  string `json:"source,omitempty"`
}

// AlertRef summarises the alert (never the raw payload).
type AlertRef struct {
	ID         string   `json:"id"`
	Source     string   `json:"source"`
	Title      string   `json:"title,omitempty"`
	Severity   string   `json:"severity,omitempty"`
	Host       string   `json:"host,omitempty"`
	User       string   `json:"user,omitempty"`
	Techniques []string `json:"techniques,omitempty"`
	Time       string   `json:"time,omitempty"` // when the alert fired (RFC 3339)
	Rule       string   `json:"rule,omitempty"` // the detection rule that fired
}

// RefOf summarises an alert for a run's result, an unrouted record or a report.
func RefOf(a alerts.Alert) AlertRef {
	return AlertRef{ID: a.ID, Source: a.Source, Title: a.Title, Severity: a.Severity, Host: a.Host, User: a.User,
		Techniques: a.Techniques, Time: a.Time, Rule: a.Rule}
}

// PhaseResult is one phase's budget and time.
type PhaseResult struct {
	ID         string        `json:"id"`
	Budget     time.Duration `json:"budget,omitempty"`
	OnBreach   string        `json:"on_breach,omitempty"`
	Started    time.Time     `json:"started,omitzero"`
	Ended      time.Time     `json:"ended,omitzero"`
	Deadline   time.Time     `json:"deadline,omitzero"`
	Used       time.Duration `json:"used,omitempty"`
	Breached   bool          `json:"breached,omitempty"`
	BreachedAt time.Time     `json:"breached_at,omitzero"`
}

// StepResult is one step's outcome.
type StepResult struct {
	ID       string             `json:"id"`
	Phase    string             `json:"phase"`
	Action   string             `json:"action"`
	State    string             `json:"state"`
	Reason   string             `json:"reason,omitempty"` // why skipped, denied or failed
	Started  time.Time          `json:"started,omitzero"`
	Ended    time.Time          `json:"ended,omitzero"`
	Attempts int32              `json:"attempts,omitempty"`
	With     map[string]any     `json:"with,omitempty"`
	Output   map[string]any     `json:"output,omitempty"`
	Evidence []actions.Evidence `json:"evidence,omitempty"`
	Provider string             `json:"provider,omitempty"`
	Note     string             `json:"note,omitempty"`
	Error    string             `json:"error,omitempty"`
	// RolledBack is set when rollback undid this step.
	RolledBack bool `json:"rolled_back,omitempty"`
}

// ApprovalState is one approval: who may decide, how many, until when, and how it ended.
type ApprovalState struct {
	ID        string    `json:"id"`
	Step      string    `json:"step,omitempty"`
	Group     string    `json:"group"`
	Min       int       `json:"min"`
	What      string    `json:"what,omitempty"`
	Approvers []string  `json:"approvers,omitempty"` // resolved Slack user ids and operator grants
	Opened    time.Time `json:"opened"`
	Deadline  time.Time `json:"deadline,omitzero"`
	OnTimeout string    `json:"on_timeout"`
	State     string    `json:"state"`
	Granted   []string  `json:"granted,omitempty"` // distinct people who approved
	Decided   time.Time `json:"decided,omitzero"`
	DecidedBy string    `json:"decided_by,omitempty"`
	// Message is the request the notifier posted, updated in place when the approval is decided.
	Message notify.MessageRef `json:"message,omitzero"`
}

// Attempt is one well-formed approval attempt, whatever came of it.
type Attempt struct {
	Approval string    `json:"approval"`
	Actor    string    `json:"actor"`
	Verb     string    `json:"verb"`
	Reason   string    `json:"reason,omitempty"`
	At       time.Time `json:"at"`
	KeyID    string    `json:"key_id,omitempty"`
	Outcome  string    `json:"outcome"` // granted | counted | refused
	Why      string    `json:"why,omitempty"`
}

// TaskState is a manual task.
type TaskState struct {
	Step   string    `json:"step"`
	Text   string    `json:"text"`
	Opened time.Time `json:"opened"`
	Done   time.Time `json:"done,omitzero"`
	DoneBy string    `json:"done_by,omitempty"`
	// Message is the request the notifier posted, updated in place when the task is done.
	Message notify.MessageRef `json:"message,omitzero"`
}

// Contained is something a step contained (a host isolated, an account disabled). It stays contained when
// a run fails; only a person's rollback or the playbook's own recovery steps release it.
type Contained struct {
	Kind     string `json:"kind"`
	Target   string `json:"target"`
	Step     string `json:"step"`
	Undo     string `json:"undo,omitempty"`
	Released bool   `json:"released,omitempty"`
}

// Escalation records one escalation.
type Escalation struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
	Phase  string    `json:"phase,omitempty"`
	Step   string    `json:"step,omitempty"`
}

// DecideRequest is the argument of the decide Update.
type DecideRequest struct {
	Approval  string             `json:"approval"`
	Assertion approval.Assertion `json:"assertion"`
}

// TaskDoneRequest is the argument of the task-done Update.
type TaskDoneRequest struct {
	Step      string             `json:"step"`
	Assertion approval.Assertion `json:"assertion"`
}

// CloseRequest is the argument of the close Update.
type CloseRequest struct {
	Assertion approval.Assertion `json:"assertion"`
}

// Answer is what an Update returns: the attempt as recorded.
type Answer struct {
	Outcome string `json:"outcome"`
	Why     string `json:"why,omitempty"`
	State   string `json:"state,omitempty"` // the approval's state after the attempt
}
