package report

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/approval"
	"github.com/parry-soc/parry/notify"
	"github.com/parry-soc/parry/playbooks"
	"github.com/parry-soc/parry/workflows"
)

// reconstruct rebuilds the Result of a run that has not returned one (still open, or ended by Temporal
// rather than by itself) from its history: the pinned input gives the playbook, the events the run queued
// for responders give phases, steps, approvals and tasks in order, its activities give each step's
// parameters, output, evidence and failure, and its Updates give the approval log. It mirrors what the
// interpreter records, so a completed run's history without its last event reconstructs to its Result
// (a test holds it to that).
func (hv *history) reconstruct() workflows.Result {
	in := hv.input
	pb := &in.Playbook
	res := workflows.Result{
		RunID:       hv.exec.WorkflowID,
		Playbook:    workflows.PlaybookRef{ID: pb.ID, Name: pb.Name, Version: pb.Version, SHA256: pb.SHA256, Source: pb.Source},
		Alert:       workflows.RefOf(in.Alert),
		Route:       in.Route,
		State:       workflows.StateRunning,
		Disposition: workflows.Undetermined,
	}
	if len(hv.tasks) > 0 {
		res.Started = hv.tasks[0].at
	}
	r := &rebuild{res: &res, pb: pb, steps: map[string]int{}, phases: map[string]int{}, approvals: map[string]int{}, tasks: map[string]int{}}
	for i, ph := range pb.Phases {
		r.phases[ph.ID] = i
		res.Phases = append(res.Phases, workflows.PhaseResult{ID: ph.ID, Budget: ph.Budget, OnBreach: ph.OnBreach})
	}
	pb.Walk(func(ph *playbooks.Phase, st *playbooks.Step) {
		r.steps[st.ID] = len(res.Steps)
		res.Steps = append(res.Steps, workflows.StepResult{ID: st.ID, Phase: ph.ID, Action: st.Action, State: workflows.StepPending})
	})

	for _, e := range hv.events {
		r.event(e)
	}
	r.activities(hv)
	r.updates(hv)
	r.rollbackStarts()
	for _, e := range hv.escs {
		res.Escalations = append(res.Escalations, workflows.Escalation{At: e.Event.Time, Reason: e.Reason, Phase: e.Event.Phase, Step: e.Event.Step})
	}
	if !res.Ended.IsZero() && hv.dispositionSet.After(res.Ended) {
		// The run records its end after its last words to responders (and to its incident) are queued.
		res.Ended = hv.dispositionSet
	}
	if r.closed {
		// The interpreter cancels what still waits when a run closes.
		for i := range res.Steps {
			s := &res.Steps[i]
			switch s.State {
			case workflows.StepPending, workflows.StepWaitingApproval, workflows.StepWaitingTask:
				s.State, s.Reason = workflows.StepCanceled, "run stopped: closed by "+res.ClosedBy
			}
		}
	}
	return res
}

// rebuild is the state of a reconstruction.
type rebuild struct {
	res       *workflows.Result
	pb        *playbooks.Playbook
	steps     map[string]int // step id → index in res.Steps
	phases    map[string]int
	approvals map[string]int
	tasks     map[string]int
	closed    bool
}

func (r *rebuild) step(id string) *workflows.StepResult {
	if i, ok := r.steps[id]; ok {
		return &r.res.Steps[i]
	}
	return nil
}

func (r *rebuild) phase(id string) *workflows.PhaseResult {
	if i, ok := r.phases[id]; ok {
		return &r.res.Phases[i]
	}
	return nil
}

func (r *rebuild) approval(id string) *workflows.ApprovalState {
	if i, ok := r.approvals[id]; ok {
		return &r.res.Approvals[i]
	}
	return nil
}

func (r *rebuild) task(step string) *workflows.TaskState {
	if i, ok := r.tasks[step]; ok {
		return &r.res.Tasks[i]
	}
	return nil
}

func (r *rebuild) rollbackStep(id string) *workflows.StepResult {
	for i := range r.res.Rollback {
		if r.res.Rollback[i].ID == id {
			return &r.res.Rollback[i]
		}
	}
	return nil
}

// event applies one event the run queued for responders.
func (r *rebuild) event(e notify.Event) {
	res := r.res
	switch e.Kind {
	case notify.PhaseStarted:
		if p := r.phase(e.Phase); p != nil {
			p.Started, p.Deadline = e.Time, e.Deadline
		}
		res.Phase, res.Deadline = e.Phase, e.Deadline
	case notify.PhaseFinished:
		if p := r.phase(e.Phase); p != nil {
			p.Ended, p.Used = e.Time, e.Used
		}
		res.Deadline = time.Time{}
	case notify.BudgetBreached:
		if p := r.phase(e.Phase); p != nil {
			p.Breached, p.BreachedAt = true, e.Time
		}
	case notify.StepStarted:
		if s := r.step(e.Step); s != nil {
			s.State, s.Started = workflows.StepRunning, e.Time
		}
	case notify.StepFinished:
		if s := r.step(e.Step); s != nil {
			s.State, s.Ended, s.Note = workflows.StepSucceeded, e.Time, e.Message
		}
	case notify.StepSkipped:
		if s := r.step(e.Step); s != nil {
			s.State, s.Reason = workflows.StepSkipped, e.Message
			if e.Status != "" {
				s.State = e.Status
			}
		}
	case notify.StepFailed:
		if s := r.step(e.Step); s != nil {
			s.State, s.Reason, s.Error = workflows.StepFailed, e.Message, e.Error
			if s.Ended.IsZero() {
				s.Ended = e.Time
			}
		}
	case notify.ApprovalRequested:
		if e.Approval == nil {
			return
		}
		a := workflows.ApprovalState{ID: e.Approval.ID, Step: e.Step, Group: e.Approval.Group, Min: e.Approval.Min,
			What: e.Approval.What, Approvers: e.Approval.Approvers, Opened: e.Time, Deadline: e.Approval.Deadline,
			OnTimeout: r.onTimeout(e.Approval.ID), State: workflows.ApprovalOpen}
		r.approvals[a.ID] = len(res.Approvals)
		res.Approvals = append(res.Approvals, a)
		if s := r.step(e.Step); s != nil {
			s.State = workflows.StepWaitingApproval
		}
	case notify.ApprovalDecided:
		a := r.approval(approvalID(e))
		if a == nil {
			return
		}
		switch e.Status {
		case workflows.ApprovalTimedOut, workflows.ApprovalCanceled:
			a.State, a.Decided = e.Status, e.Time
		}
		if e.Status == workflows.ApprovalCanceled {
			if s := r.step(a.Step); s != nil && s.State == workflows.StepWaitingApproval {
				s.State = workflows.StepCanceled
				s.Reason = "run stopped: " + strings.TrimPrefix(e.Message, "approval "+a.ID+" canceled: ")
			}
		}
	case notify.TaskRequested:
		r.tasks[e.Step] = len(res.Tasks)
		res.Tasks = append(res.Tasks, workflows.TaskState{Step: e.Step, Text: e.Message, Opened: e.Time})
		if s := r.step(e.Step); s != nil {
			s.State, s.Started = workflows.StepWaitingTask, e.Time
		}
	case notify.TaskDone:
		if s := r.step(e.Step); s != nil {
			s.State, s.Ended, s.Note = workflows.StepSucceeded, e.Time, e.Message
		}
	case notify.RollbackStep:
		s := r.rollbackStep(e.Step)
		if s == nil {
			res.Rollback = append(res.Rollback, workflows.StepResult{ID: e.Step, Phase: "rollback", Action: e.Action})
			s = &res.Rollback[len(res.Rollback)-1]
		}
		s.State, s.Error = e.Status, e.Error
		if e.Message != "" {
			s.Note = e.Message
		}
	case notify.RunFailed:
		res.State, res.Failure, res.Phase, res.Deadline = workflows.StateFailed, e.Error, "", time.Time{}
		// A manual task stops waiting the moment the run halts.
		for i := range res.Steps {
			if s := &res.Steps[i]; s.State == workflows.StepWaitingTask {
				s.State, s.Reason = workflows.StepCanceled, "run stopped: "+e.Error
			}
		}
	case notify.RunCompleted:
		res.State, res.Ended, res.Phase = workflows.StateCompleted, e.Time, ""
	case notify.RunClosed:
		res.State, res.Disposition, res.Ended, res.Phase = e.Status, e.Disposition, e.Time, ""
		r.closed = true
	}
}

// approvalID is the approval an approval event is about.
func approvalID(e notify.Event) string {
	if e.Approval != nil {
		return e.Approval.ID
	}
	return e.Step
}

// onTimeout is what an approval's timeout decides, as the playbook says (the event does not carry it).
func (r *rebuild) onTimeout(id string) string {
	var spec *playbooks.Approval
	if id == workflows.RollbackID {
		if r.pb.Rollback != nil {
			spec = &r.pb.Rollback.Approval
		}
	} else if st, ok := r.pb.Step(id); ok {
		spec = st.Approval
	}
	if spec == nil || spec.OnTimeout == "" {
		return playbooks.TimeoutDeny
	}
	return spec.OnTimeout
}

// activities applies what the run's activities did, in the order they ended: parameters, outputs,
// evidence, failures, containment and its release, rollback steps, approver lookups.
func (r *rebuild) activities(hv *history) {
	ordered := slices.Clone(hv.acts)
	sort.SliceStable(ordered, func(i, j int) bool {
		ci, cj := ordered[i].closeID, ordered[j].closeID
		if ci == 0 || cj == 0 {
			return ci != 0 && cj == 0
		}
		return ci < cj
	})
	for _, a := range ordered {
		switch {
		case a.typ == actions.ResolveApprovers:
			r.approvers(hv, a)
		case strings.HasPrefix(a.id, "undo-") && r.step(a.id) == nil:
			r.undo(hv, a)
		default:
			if s := r.step(a.id); s != nil {
				r.stepActivity(hv, s, a)
			}
		}
	}
}

func (r *rebuild) stepActivity(hv *history, s *workflows.StepResult, a *actRecord) {
	var req actions.Request
	if err := hv.dc.FromPayloads(a.input, &req); err == nil {
		s.With = req.With
	}
	switch s.State {
	case workflows.StepPending, workflows.StepWaitingApproval:
		s.State = workflows.StepRunning
	}
	if s.Started.IsZero() {
		s.Started = a.schedTask
	}
	switch a.a.Outcome {
	case "completed":
		var out actions.Result
		if err := hv.dc.FromPayloads(a.result, &out); err != nil {
			return
		}
		// The step ended when the workflow saw its activity's result; what it told responders may come later.
		s.State = workflows.StepSucceeded
		if t := hv.nextTask(a.closeID); !t.IsZero() {
			s.Ended = t
		}
		s.Output, s.Evidence, s.Attempts, s.Provider = out.Output, out.Evidence, out.Attempt, out.Provider
		if s.Note == "" {
			s.Note = out.Note
		}
		r.contain(s, req.With)
	case "failed", "timed-out", "canceled":
		if s.Error == "" {
			s.Error = a.err
		}
		if s.State != workflows.StepFailed {
			s.State = workflows.StepFailed
			s.Reason = fmt.Sprintf("step %s (%s) failed: %s", s.ID, s.Action, s.Error)
			s.Ended = hv.nextTask(a.closeID)
		}
	}
}

// contain records what a succeeded step contained, and what it released of earlier containment.
func (r *rebuild) contain(s *workflows.StepResult, with map[string]any) {
	act, ok := actions.Lookup(s.Action)
	if !ok {
		return
	}
	if act.Contains != nil {
		undo := ""
		if st, ok := r.pb.Step(s.ID); ok {
			undo = st.Undo
		}
		r.res.Contained = append(r.res.Contained, workflows.Contained{Kind: act.Contains.Kind, Target: fmt.Sprint(with[act.Contains.Param]), Step: s.ID, Undo: undo})
	}
	for i := range r.res.Contained {
		c := &r.res.Contained[i]
		if c.Released || c.Undo != act.Name {
			continue
		}
		orig, _ := actions.Lookup(r.step(c.Step).Action)
		if orig.Contains == nil {
			continue
		}
		if _, ok := act.Param(orig.Contains.Param); ok && fmt.Sprint(with[orig.Contains.Param]) == c.Target {
			c.Released = true
		}
	}
}

// undo applies a rollback step's activity.
func (r *rebuild) undo(hv *history, a *actRecord) {
	s := r.rollbackStep(a.id)
	if s == nil {
		r.res.Rollback = append(r.res.Rollback, workflows.StepResult{ID: a.id, Phase: "rollback", Action: a.typ, State: workflows.StepRunning})
		s = &r.res.Rollback[len(r.res.Rollback)-1]
	}
	s.Started = a.schedTask
	var req actions.Request
	if err := hv.dc.FromPayloads(a.input, &req); err == nil {
		s.With = req.With
	}
	if a.closeID != 0 {
		s.Ended = hv.nextTask(a.closeID)
	}
	orig := r.step(strings.TrimPrefix(a.id, "undo-"))
	switch a.a.Outcome {
	case "completed":
		var out actions.Result
		if err := hv.dc.FromPayloads(a.result, &out); err == nil {
			s.Output, s.Attempts, s.Provider, s.Note = out.Output, out.Attempt, out.Provider, out.Note
		}
		s.State = workflows.StepSucceeded
		for i := range r.res.Contained {
			if r.res.Contained[i].Step == strings.TrimPrefix(a.id, "undo-") {
				r.res.Contained[i].Released = true
			}
		}
		if orig != nil {
			orig.RolledBack = true
		}
	case "failed", "timed-out", "canceled":
		s.State, s.Error = workflows.StepFailed, a.err
	}
}

// rollbackStarts dates the undo steps: they run one after another from the moment the rollback is
// approved, each starting when the one before it ended — before any check that precedes its activity (such
// as asking the host's incident), so not when its activity was scheduled.
func (r *rebuild) rollbackStarts() {
	ap := r.approval(workflows.RollbackID)
	for i := range r.res.Rollback {
		s := &r.res.Rollback[i]
		switch {
		case i > 0 && !r.res.Rollback[i-1].Ended.IsZero():
			s.Started = r.res.Rollback[i-1].Ended
		case i == 0 && ap != nil && !ap.Decided.IsZero():
			s.Started = ap.Decided
		}
	}
}

// approvers adds the members an approver lookup found to who may decide.
func (r *rebuild) approvers(hv *history, a *actRecord) {
	ap := r.approval(strings.TrimPrefix(a.id, "approvers-"))
	if ap == nil || a.a.Outcome != "completed" {
		return
	}
	var members actions.ResolveResult
	if err := hv.dc.FromPayloads(a.result, &members); err != nil {
		return
	}
	list := slices.Clone(ap.Approvers)
	for _, ids := range members.Members {
		for _, u := range ids {
			list = append(list, "slack:"+u)
		}
	}
	slices.Sort(list)
	ap.Approvers = slices.Compact(list)
}

// updates applies the approval log: every attempt the run recorded, in the order its handlers completed.
func (r *rebuild) updates(hv *history) {
	res := r.res
	done := make([]update, 0, len(hv.ups))
	for _, u := range hv.ups {
		if u.done && !u.rejected {
			done = append(done, u)
		}
	}
	sort.SliceStable(done, func(i, j int) bool { return done[i].seq < done[j].seq })
	for _, u := range done {
		att := workflows.Attempt{Approval: u.subject, Actor: u.actor, Verb: u.verb, Reason: u.reason, At: u.at, KeyID: u.keyID, Outcome: u.outcome, Why: u.why}
		res.ApprovalLog = append(res.ApprovalLog, att)
		switch u.name {
		case workflows.UpdateDecide:
			a := r.approval(u.subject)
			if a == nil {
				continue
			}
			if u.verb == approval.Approve && (u.outcome == workflows.OutcomeCounted || u.outcome == workflows.OutcomeGranted) {
				a.Granted = append(a.Granted, u.actor)
			}
			if u.outcome == workflows.OutcomeGranted {
				a.State, a.Decided = u.state, u.at
				a.DecidedBy = strings.Join(a.Granted, ", ")
				if u.verb == approval.Deny {
					a.DecidedBy = u.actor
					if s := r.step(a.Step); s != nil && s.State == workflows.StepWaitingApproval {
						s.State, s.Reason = workflows.StepDenied, "denied by "+u.actor
					}
				}
			}
		case workflows.UpdateTaskDone:
			step := strings.TrimPrefix(u.subject, "task:")
			t := r.task(step)
			if t == nil || u.outcome != workflows.OutcomeGranted {
				continue
			}
			t.Done, t.DoneBy = u.at, u.actor
			if s := r.step(step); s != nil && s.State == workflows.StepWaitingTask {
				s.State, s.Ended, s.Note = workflows.StepSucceeded, u.at, "done by "+u.actor
			}
		case workflows.UpdateClose:
			if u.outcome == workflows.OutcomeGranted {
				res.ClosedBy, res.Disposition = u.actor, u.disposition
			}
		}
	}
}
