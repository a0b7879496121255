// Package report renders a run as a timeline a person reads: the alert, the playbook and its hash, each
// phase with its budget, time used and breach, each step with its times, attempts, outcome, outputs and
// evidence, every approval attempt with who, when, what and whether it counted, rollback, escalations and
// the disposition — as Markdown, or as one self-contained HTML file with a Gantt chart in inline SVG.
//
// A timeline comes from one of three places:
//   - FromHistory: a run's history (exported, or fetched from the cluster). A closed run's Result is the
//     payload of its WorkflowExecutionCompleted event; a run still open (a failed run held for a person to
//     close it) or ended otherwise (terminated, timed out) is reconstructed from what its history holds —
//     the notifications it queued, its activities and its Updates. Either way the history adds what the
//     Result lacks: attempts and retries per step with their failures, when each budget timer fired, when
//     Temporal accepted each approval attempt, signals.
//   - FromStatus: a live run's status query answer, enriched the same way from its history so far.
//   - FromResult: a Result alone (no history detail).
//
// Times are shown in UTC (RFC 3339) with their offset from the run's start. Everything that came from an
// alert or a vendor is escaped: Markdown metacharacters are backslash-escaped, and the HTML is produced by
// html/template.
package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/parry-soc/parry/workflows"
)

// Timeline is a run as a person reads it.
type Timeline struct {
	// Run is the run as the workflow reported it, or as reconstructed from its history (see Source).
	Run workflows.Result
	// Source says where the run was read from, for the reader.
	Source string
	// Reconstructed is set when Run was rebuilt from history events rather than taken from the workflow's
	// own result or status: fields the history does not carry (a denied step's parameters) may be missing.
	Reconstructed bool
	// Execution describes the Temporal execution, when a history was read.
	Execution Execution
	// Bundle is the export bundle's manifest, when the run was read from one.
	Bundle *Bundle

	// Start and End bound the timeline: the run's start, and its end (or the last thing known of it).
	Start, End time.Time

	Phases    []Phase
	Steps     []Step // in playbook order
	Rollback  []Step // undo steps, in the order they ran
	Approvals []Approval
	Attempts  []Attempt // every approval, task and close attempt, in the order the run recorded them
	Signals   []Signal
	// Notes are things the reader should know about how complete the timeline is.
	Notes []string
}

// Execution is the Temporal side of a run.
type Execution struct {
	Namespace  string
	WorkflowID string
	RunID      string // Temporal's run id
	TaskQueue  string
	Status     string // running, completed, failed, terminated, canceled, timed-out, continued-as-new
	Started    time.Time
	Closed     time.Time
	// CloseReason is why a terminated or failed execution ended, as Temporal recorded it.
	CloseReason string
	Events      int
}

// Phase is a phase with its budget timer as the history shows it.
type Phase struct {
	workflows.PhaseResult
	// TimerFired is when Temporal fired the phase's budget timer (zero when it was canceled in time or the
	// history was not read).
	TimerFired time.Time
}

// Step is a step with its approval and its activity as the history shows it.
type Step struct {
	workflows.StepResult
	// Group numbers the parallel group the step belongs to (0: none), counting from 1 in the playbook.
	Group int
	// Approval is the approval that gated the step, if any.
	Approval *Approval
	// Activity is the step's activity in the history (nil for manual, skipped or never-run steps, or when no
	// history was read).
	Activity *Activity
	// Task is the manual task the step waited for, if any.
	Task *workflows.TaskState
	// Contained is what the step contained, if anything.
	Contained *workflows.Contained
}

// Activity is a step's activity as recorded in the history. Temporal records one started event per
// activity, for the attempt that ended it; earlier attempts leave their last failure on it.
type Activity struct {
	Type      string
	Scheduled time.Time // when the workflow scheduled it
	Started   time.Time // when the final attempt started
	Closed    time.Time // when it completed, failed or timed out
	// Attempts is the final attempt's number (1: no retries); 0 while the first attempt has not ended.
	Attempts int32
	// Outcome is completed, failed, timed-out, canceled, or running.
	Outcome string
	// Failures are the failures recorded: the one before the final attempt, then the final one.
	Failures []string
	// RetryState is why a failed activity was not retried again (non-retryable, maximum attempts, …).
	RetryState string
}

// Retries is how many times the activity was retried.
func (a *Activity) Retries() int32 {
	if a == nil || a.Attempts <= 1 {
		return 0
	}
	return a.Attempts - 1
}

// Approval is an approval with its attempts.
type Approval struct {
	workflows.ApprovalState
	Attempts []*Attempt
	// TimerFired is when Temporal fired the approval's timeout timer, if it did.
	TimerFired time.Time
}

// Attempt is one approval attempt (or a manual task marked done, or a close request) with what Temporal
// recorded of the Update that carried it.
type Attempt struct {
	workflows.Attempt
	// Accepted is when Temporal accepted the Update (zero without history).
	Accepted time.Time
	UpdateID string
	// Identity is the client identity that sent the Update (the CLI's or the front door's process).
	Identity string
}

// Counted reports whether the attempt had an effect: it decided (granted) or counted towards min.
func (a Attempt) Counted() bool {
	return a.Outcome == workflows.OutcomeGranted || a.Outcome == workflows.OutcomeCounted
}

// Kind says what the attempt was about: approval, task or close.
func (a Attempt) Kind() string {
	switch {
	case a.Approval == "close":
		return "close"
	case strings.HasPrefix(a.Approval, "task:"):
		return "task"
	}
	return "approval"
}

// Signal is a signal the run received. People decide through Updates (the approval log); signals are
// listed as the history has them.
type Signal struct {
	Name     string
	At       time.Time
	Identity string
	Input    string // summarised
}

// FromResult builds a timeline from a run's Result alone: no history detail (attempt counts of failed
// steps, Update acceptance times, timer firings) is available.
func FromResult(res workflows.Result) Timeline {
	return build(res, nil, "run result")
}

// build joins a Result and what its history says.
func build(res workflows.Result, h *history, source string) Timeline {
	t := Timeline{Run: res, Source: source}
	if h != nil {
		t.Execution = h.exec
	}
	t.Start, t.End = res.Started, res.Ended
	if t.End.IsZero() {
		t.End = lastKnown(res)
		if h != nil && h.lastAt.After(t.End) {
			t.End = h.lastAt
		}
	}
	if t.Start.IsZero() && h != nil {
		t.Start = t.Execution.Started
	}

	for _, p := range res.Phases {
		ph := Phase{PhaseResult: p}
		if h != nil {
			ph.TimerFired = h.budgetFired(p)
		}
		t.Phases = append(t.Phases, ph)
	}

	approvals := map[string]*Approval{}
	for _, a := range res.Approvals {
		t.Approvals = append(t.Approvals, Approval{ApprovalState: a})
	}
	for i := range t.Approvals {
		a := &t.Approvals[i]
		approvals[a.ID] = a
		if h != nil {
			a.TimerFired = h.approvalTimerFired(a.ApprovalState)
		}
	}

	var updates []update
	if h != nil {
		updates = h.ups
	}
	used := make([]bool, len(updates))
	for _, at := range res.ApprovalLog {
		att := Attempt{Attempt: at}
		for i, u := range updates {
			if !used[i] && u.matches(at) {
				used[i] = true
				att.Accepted, att.UpdateID, att.Identity = u.accepted, u.id, u.identity
				break
			}
		}
		t.Attempts = append(t.Attempts, att)
	}
	for i := range t.Attempts {
		if a, ok := approvals[t.Attempts[i].Approval]; ok {
			a.Attempts = append(a.Attempts, &t.Attempts[i])
		}
	}

	var groups map[string]int
	if h != nil {
		groups = h.groups()
	}
	tasks := map[string]*workflows.TaskState{}
	for i := range t.Run.Tasks {
		tasks[t.Run.Tasks[i].Step] = &t.Run.Tasks[i]
	}
	contained := map[string]*workflows.Contained{}
	for i := range t.Run.Contained {
		contained[t.Run.Contained[i].Step] = &t.Run.Contained[i]
	}
	for _, s := range res.Steps {
		st := Step{StepResult: s, Group: groups[s.ID], Task: tasks[s.ID], Contained: contained[s.ID]}
		for i := range t.Approvals {
			if t.Approvals[i].Step == s.ID {
				st.Approval = &t.Approvals[i]
			}
		}
		if h != nil {
			st.Activity = h.activity(s.ID)
			enrichStep(&st)
		}
		t.Steps = append(t.Steps, st)
	}
	for _, s := range res.Rollback {
		st := Step{StepResult: s}
		if h != nil {
			st.Activity = h.activity(s.ID)
			enrichStep(&st)
		}
		t.Rollback = append(t.Rollback, st)
	}
	if h != nil {
		t.Signals = h.sigs
	}
	if res.State == workflows.StateFailed && res.Ended.IsZero() {
		t.Notes = append(t.Notes, fmt.Sprintf("The run failed and is held open for a person to close it (trigger close %s --disposition D, with --rollback to undo its containment); what it contained stays contained until then.", res.RunID))
	}
	return t
}

// enrichStep fills from the history what the Result leaves out: a failed step's attempts.
func enrichStep(s *Step) {
	if s.Activity == nil {
		return
	}
	if s.Attempts < s.Activity.Attempts {
		s.Attempts = s.Activity.Attempts
	}
}

// lastKnown is the latest time a Result mentions: the end of an open run's timeline.
func lastKnown(res workflows.Result) time.Time {
	last := res.Started
	see := func(ts ...time.Time) {
		for _, t := range ts {
			if t.After(last) {
				last = t
			}
		}
	}
	for _, p := range res.Phases {
		see(p.Started, p.Ended, p.BreachedAt)
	}
	for _, s := range res.Steps {
		see(s.Started, s.Ended)
	}
	for _, s := range res.Rollback {
		see(s.Started, s.Ended)
	}
	for _, a := range res.Approvals {
		see(a.Opened, a.Decided)
	}
	for _, a := range res.ApprovalLog {
		see(a.At)
	}
	for _, e := range res.Escalations {
		see(e.At)
	}
	return last
}

// update is one Update the run accepted, as its history records it.
type update struct {
	id       string
	name     string // decide, task-done, close
	identity string
	accepted time.Time // the acceptance event's time
	at       time.Time // the workflow time the handler recorded the attempt at
	// What the statement said, and what the run answered.
	subject     string // approval id, "task:<step>", or "close"
	actor       string
	verb        string
	reason      string
	keyID       string
	outcome     string
	why         string
	state       string
	seq         int  // the order the run completed its Updates in
	done        bool // completed
	rejected    bool // completed with a failure (not an attempt the run recorded)
	disposition string
	rollback    bool
}

func (u update) matches(a workflows.Attempt) bool {
	return u.done && !u.rejected && u.subject == a.Approval && u.actor == a.Actor && u.verb == a.Verb
}

// breaches counts the phases that breached their budget.
func (t *Timeline) breaches() int {
	n := 0
	for _, p := range t.Phases {
		if p.Breached {
			n++
		}
	}
	return n
}

// attemptsAccepted reports whether the attempts carry Temporal's acceptance times (read from a history).
func (t *Timeline) attemptsAccepted() bool {
	for _, a := range t.Attempts {
		if !a.Accepted.IsZero() {
			return true
		}
	}
	return false
}

// rolledBack reports whether rollback undid a step.
func (t *Timeline) rolledBack(step string) bool {
	for _, s := range t.Steps {
		if s.ID == step {
			return s.RolledBack
		}
	}
	return false
}
