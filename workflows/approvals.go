package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/approval"
	"github.com/parry-soc/parry/notify"
	"github.com/parry-soc/parry/playbooks"
)

// gate is an open or decided approval with what the workflow needs to judge attempts.
type gate struct {
	idx     int // index in res.Approvals
	group   *playbooks.ApproverGroup
	slack   map[string]bool // Slack user ids allowed, resolved when the approval opened
	granted map[string]bool // actors whose approve counted
	// cancelOnHalt is false for the rollback approval, which is asked for while the run is closing.
	cancelOnHalt bool
	// resolved is set once the group's Slack user groups are looked up (or the lookup failed).
	resolved bool
}

// resolveGroups looks up the members of the approver group's Slack user groups (approvers.resolve) and adds
// them to who may decide. A failed lookup escalates; listed users and operators can still decide.
func (r *run) resolveGroups(ctx workflow.Context, g *gate, id, step string) {
	defer func() { g.resolved = true }()
	var members actions.ResolveResult
	opts := activityOptions("approvers-"+id, mustAction(actions.ResolveApprovers), nil)
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), actions.ResolveApprovers, actions.ResolveRequest{Groups: g.group.SlackGroups}).Get(ctx, &members)
	if err != nil {
		r.escalate(ctx, fmt.Sprintf("could not resolve approver group %s for %s: %s", g.group.ID, id, errorMessage(err)), "", step)
		return
	}
	for _, gid := range g.group.SlackGroups {
		for _, u := range members.Members[gid] {
			g.slack[u] = true
		}
	}
	r.state(g).Approvers = r.approverList(g)
}

func (r *run) state(g *gate) *ApprovalState { return &r.res.Approvals[g.idx] }

// resolveWait bounds how long a Slack user's decision waits for the approver group lookup.
const resolveWait = 2 * time.Minute

// approveStep opens a step's approval and waits for its outcome. It reports whether the step may run.
func (r *run) approveStep(ctx workflow.Context, p *playbooks.Phase, st *playbooks.Step, act actions.Action, with map[string]any) bool {
	sr := r.step(st.ID)
	sr.State = StepWaitingApproval
	what := describe(act, with)
	why := st.Approval.Reason
	if why == "" {
		why = fmt.Sprintf("%s: %s", r.in.Alert.Title, st.ID)
	}
	g := r.openApproval(ctx, st.ID, st.ID, *st.Approval, r.phaseRemaining(ctx, p), what, why, true)
	a := r.state(g)
	switch a.State {
	case ApprovalApproved:
		return true
	case ApprovalTimedOut:
		if a.OnTimeout == playbooks.TimeoutApprove {
			return true
		}
		sr.State, sr.Reason = StepDenied, fmt.Sprintf("approval timed out after %s (on_timeout: deny)", a.Deadline.Sub(a.Opened))
	case ApprovalDenied:
		sr.State, sr.Reason = StepDenied, "denied by "+a.DecidedBy
	default:
		sr.State, sr.Reason = StepCanceled, "run stopped: "+r.haltReason()
		return false
	}
	r.emit(ctx, notify.Event{Kind: notify.StepSkipped, Phase: sr.Phase, Step: sr.ID, Action: sr.Action, Status: sr.State, Message: sr.Reason})
	return false
}

// phaseRemaining is what is left of a phase's budget (0 when it has none or it is spent).
func (r *run) phaseRemaining(ctx workflow.Context, p *playbooks.Phase) time.Duration {
	for i := range r.res.Phases {
		ph := &r.res.Phases[i]
		if ph.ID != p.ID || ph.Deadline.IsZero() {
			continue
		}
		if left := ph.Deadline.Sub(workflow.Now(ctx)); left > 0 {
			return left
		}
	}
	return 0
}

// describe says what a step will do, to what: "edr.isolate_host host=WS-0042".
func describe(act actions.Action, with map[string]any) string {
	var parts []string
	for _, p := range act.Params {
		if v, ok := with[p.Name]; ok {
			parts = append(parts, fmt.Sprintf("%s=%v", p.Name, v))
		}
	}
	return strings.TrimSpace(act.Summary + " (" + act.Name + " " + strings.Join(parts, " ") + ")")
}

// openApproval resolves who may decide, opens the approval, and waits until it is decided, times out, or
// (when cancelOnHalt) the run stops.
func (r *run) openApproval(ctx workflow.Context, id, step string, spec playbooks.Approval, remaining time.Duration, what, why string, cancelOnHalt bool) *gate {
	group, _ := r.pb.ApproverGroup(spec.By)
	if group == nil {
		group = &playbooks.ApproverGroup{ID: spec.By, Min: 1}
	}
	min := max(group.Min, 1)
	g := &gate{group: group, slack: map[string]bool{}, granted: map[string]bool{}, cancelOnHalt: cancelOnHalt, resolved: len(group.SlackGroups) == 0}
	for _, u := range group.SlackUsers {
		g.slack[u] = true
	}
	timeout := spec.Timeout
	if timeout <= 0 {
		timeout = remaining
	}
	if timeout <= 0 {
		timeout = defaultApprovalTimeout
	}
	onTimeout := spec.OnTimeout
	if onTimeout == "" {
		onTimeout = playbooks.TimeoutDeny
	}
	now := workflow.Now(ctx)
	g.idx = len(r.res.Approvals)
	r.res.Approvals = append(r.res.Approvals, ApprovalState{
		ID: id, Step: step, Group: group.ID, Min: min, What: what, Approvers: r.approverList(g),
		Opened: now, Deadline: now.Add(timeout), OnTimeout: onTimeout, State: ApprovalOpen,
	})
	r.approvals[id] = g
	a := r.state(g)
	r.emit(ctx, notify.Event{Kind: notify.ApprovalRequested, Step: step, Deadline: a.Deadline, Message: why,
		Approval: &notify.Approval{ID: id, Group: group.ID, Min: min, Approvers: a.Approvers, SlackGroups: group.SlackGroups,
			Deadline: a.Deadline, What: what, Why: why}})
	if !g.resolved {
		// Group members are looked up beside the approval, not before it: an operator can decide at once,
		// and a Slack outage never holds up containment that operators approve.
		workflow.Go(ctx, func(ctx workflow.Context) { r.resolveGroups(ctx, g, id, step) })
	}

	ok, _ := workflow.AwaitWithTimeout(ctx, timeout, func() bool {
		return r.state(g).State != ApprovalOpen || (cancelOnHalt && r.halted())
	})
	a = r.state(g)
	switch {
	case a.State != ApprovalOpen:
	case !ok:
		a.State, a.Decided = ApprovalTimedOut, workflow.Now(ctx)
		msg := fmt.Sprintf("approval %s timed out after %s with %d of %d approvals; on_timeout: %s", id, timeout, len(a.Granted), a.Min, a.OnTimeout)
		r.emit(ctx, notify.Event{Kind: notify.ApprovalDecided, Step: step, Status: ApprovalTimedOut, Message: msg,
			Approval: &notify.Approval{ID: id, Group: group.ID, Min: min, Outcome: ApprovalTimedOut, Decision: a.OnTimeout}})
		r.escalate(ctx, msg, "", step)
	default:
		a.State, a.Decided = ApprovalCanceled, workflow.Now(ctx)
		// Tell responders, so the request stops offering buttons for a decision nobody waits for.
		msg := fmt.Sprintf("approval %s canceled: %s", id, r.haltReason())
		r.emit(ctx, notify.Event{Kind: notify.ApprovalDecided, Step: step, Status: ApprovalCanceled, Message: msg,
			Approval: &notify.Approval{ID: id, Group: group.ID, Min: min, Outcome: ApprovalCanceled}})
	}
	return g
}

func mustAction(name string) actions.Action {
	a, _ := actions.Lookup(name)
	return a
}

// approverList names who may decide, for people reading the request: Slack users, operators listed in the
// group, and operators whose keys are granted the group.
func (r *run) approverList(g *gate) []string {
	var out []string
	for _, u := range workflow.DeterministicKeys(g.slack) {
		out = append(out, "slack:"+u)
	}
	for _, o := range g.group.Operators {
		out = append(out, "operator:"+o)
	}
	for _, k := range r.in.Keys {
		if k.Kind == approval.KeyOperator && k.MayDecide(g.group.ID) && !slices.Contains(g.group.Operators, k.Name) {
			out = append(out, "operator:"+k.Name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// authorized decides whether a verified actor may decide for the gate's group.
func (r *run) authorized(g *gate, st approval.Statement, key approval.Key) bool {
	switch st.Actor.Kind {
	case approval.ActorSlack:
		return g.slack[st.Actor.ID]
	case approval.ActorOperator:
		return key.MayDecide(g.group.ID) || slices.Contains(g.group.Operators, key.Name)
	}
	return false
}

// validateDecide rejects only malformed or stale requests: everything else is an attempt the history keeps.
func (r *run) validateDecide(req DecideRequest) error {
	g, ok := r.approvals[req.Approval]
	if !ok {
		return fmt.Errorf("no approval %q in run %s (open: %s)", req.Approval, r.res.RunID, r.openApprovalIDs())
	}
	if s := r.state(g).State; s != ApprovalOpen {
		return fmt.Errorf("approval %q is already %s", req.Approval, s)
	}
	st, err := req.Assertion.Decode()
	if err != nil {
		return fmt.Errorf("malformed assertion: %w", err)
	}
	if st.Verb != approval.Approve && st.Verb != approval.Deny {
		return fmt.Errorf("malformed assertion: verb %q, want approve or deny", st.Verb)
	}
	return nil
}

func (r *run) openApprovalIDs() string {
	var ids []string
	for _, a := range r.res.Approvals {
		if a.State == ApprovalOpen {
			ids = append(ids, a.ID)
		}
	}
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// decide records one approval attempt and applies it when it counts.
func (r *run) decide(ctx workflow.Context, req DecideRequest) (Answer, error) {
	g := r.approvals[req.Approval]
	st, key, err := approval.Verify(r.in.Keys, req.Assertion)
	if err == nil && st.Actor.Kind == approval.ActorSlack && !g.slack[st.Actor.ID] && !g.resolved {
		// A click can beat the group lookup; judge it once the members are known.
		_, _ = workflow.AwaitWithTimeout(ctx, resolveWait, func() bool { return g.resolved })
	}
	a := r.state(g)
	att := Attempt{Approval: a.ID, Actor: st.Actor.String(), Verb: st.Verb, Reason: st.Reason, At: workflow.Now(ctx), KeyID: st.KeyID}
	actor := st.Actor.Kind + ":" + st.Actor.ID
	switch {
	case a.State != ApprovalOpen:
		att.Outcome, att.Why = OutcomeRefused, "approval is already "+a.State
	case err != nil:
		att.Outcome, att.Why = OutcomeRefused, "assertion refused: "+err.Error()
	case st.Run != r.res.RunID:
		att.Outcome, att.Why = OutcomeRefused, fmt.Sprintf("assertion is for run %s, not %s", st.Run, r.res.RunID)
	case st.Subject != a.ID:
		att.Outcome, att.Why = OutcomeRefused, fmt.Sprintf("assertion is for approval %s, not %s", st.Subject, a.ID)
	case !r.authorized(g, st, key):
		att.Outcome, att.Why = OutcomeRefused, fmt.Sprintf("%s is not an approver of group %s", st.Actor, a.Group)
	case g.granted[actor]:
		att.Outcome, att.Why = OutcomeRefused, fmt.Sprintf("%s already approved: one person counts once", st.Actor)
	case st.Verb == approval.Deny:
		att.Outcome = OutcomeGranted
		a.State, a.Decided, a.DecidedBy = ApprovalDenied, att.At, st.Actor.String()
	default:
		g.granted[actor] = true
		a.Granted = append(a.Granted, st.Actor.String())
		att.Outcome = OutcomeCounted
		if len(a.Granted) >= a.Min {
			att.Outcome = OutcomeGranted
			a.State, a.Decided, a.DecidedBy = ApprovalApproved, att.At, strings.Join(a.Granted, ", ")
		} else {
			att.Why = fmt.Sprintf("%d of %d approvals", len(a.Granted), a.Min)
		}
	}
	r.res.ApprovalLog = append(r.res.ApprovalLog, att)
	ev := &notify.Approval{ID: a.ID, Group: a.Group, Min: a.Min, Actor: att.Actor, Decision: st.Verb, Outcome: att.Outcome, Reason: firstNonEmpty(att.Why, st.Reason)}
	r.emit(ctx, notify.Event{Kind: notify.ApprovalAttempt, Step: a.Step, Status: att.Outcome, Approval: ev, Message: att.Why})
	if a.State != ApprovalOpen && att.Outcome == OutcomeGranted {
		decided := *ev
		decided.Outcome = a.State
		r.emit(ctx, notify.Event{Kind: notify.ApprovalDecided, Step: a.Step, Status: a.State, Approval: &decided,
			Message: fmt.Sprintf("%s %s by %s", a.ID, a.State, a.DecidedBy)})
	}
	return Answer{Outcome: att.Outcome, Why: att.Why, State: a.State}, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// manualTask waits for a person to mark a manual step done.
func (r *run) manualTask(ctx workflow.Context, st *playbooks.Step, with map[string]any) {
	sr := r.step(st.ID)
	sr.State, sr.Started = StepWaitingTask, workflow.Now(ctx)
	text := fmt.Sprint(with["text"])
	r.tasks[st.ID] = len(r.res.Tasks)
	r.res.Tasks = append(r.res.Tasks, TaskState{Step: st.ID, Text: text, Opened: sr.Started})
	r.emit(ctx, notify.Event{Kind: notify.TaskRequested, Phase: sr.Phase, Step: st.ID, Action: st.Action, Message: text})
	_ = workflow.Await(ctx, func() bool { return !r.res.Tasks[r.tasks[st.ID]].Done.IsZero() || r.halted() })
	t := &r.res.Tasks[r.tasks[st.ID]]
	if t.Done.IsZero() {
		sr.State, sr.Reason = StepCanceled, "run stopped: "+r.haltReason()
		return
	}
	sr.State, sr.Ended, sr.Note = StepSucceeded, t.Done, "done by "+t.DoneBy
	r.emit(ctx, notify.Event{Kind: notify.TaskDone, Phase: sr.Phase, Step: st.ID, Action: st.Action, Status: StepSucceeded, Message: sr.Note})
}

func (r *run) validateTaskDone(req TaskDoneRequest) error {
	i, ok := r.tasks[req.Step]
	if !ok {
		return fmt.Errorf("no manual task %q is waiting in run %s", req.Step, r.res.RunID)
	}
	if !r.res.Tasks[i].Done.IsZero() {
		return fmt.Errorf("task %q is already done", req.Step)
	}
	st, err := req.Assertion.Decode()
	if err != nil {
		return fmt.Errorf("malformed assertion: %w", err)
	}
	if st.Verb != approval.Done {
		return fmt.Errorf("malformed assertion: verb %q, want done", st.Verb)
	}
	return nil
}

func (r *run) taskDone(ctx workflow.Context, req TaskDoneRequest) (Answer, error) {
	st, _, err := approval.Verify(r.in.Keys, req.Assertion)
	att := Attempt{Approval: "task:" + req.Step, Actor: st.Actor.String(), Verb: st.Verb, Reason: st.Reason, At: workflow.Now(ctx), KeyID: st.KeyID}
	t := &r.res.Tasks[r.tasks[req.Step]]
	switch {
	case err != nil:
		att.Outcome, att.Why = OutcomeRefused, "assertion refused: "+err.Error()
	case st.Run != r.res.RunID || st.Subject != req.Step:
		att.Outcome, att.Why = OutcomeRefused, fmt.Sprintf("assertion is for %s/%s, not %s/%s", st.Run, st.Subject, r.res.RunID, req.Step)
	case !t.Done.IsZero():
		att.Outcome, att.Why = OutcomeRefused, "task is already done"
	default:
		att.Outcome = OutcomeGranted
		t.Done, t.DoneBy = att.At, st.Actor.String()
	}
	r.res.ApprovalLog = append(r.res.ApprovalLog, att)
	return Answer{Outcome: att.Outcome, Why: att.Why}, nil
}

func (r *run) validateClose(req CloseRequest) error {
	if r.closing != nil {
		return fmt.Errorf("run %s is already closing (by %s)", r.res.RunID, r.closing.by)
	}
	st, err := req.Assertion.Decode()
	if err != nil {
		return fmt.Errorf("malformed assertion: %w", err)
	}
	if st.Verb != approval.Close {
		return fmt.Errorf("malformed assertion: verb %q, want close", st.Verb)
	}
	if !slices.Contains(Dispositions, st.Disposition) {
		return fmt.Errorf("disposition %q: want one of %s", st.Disposition, strings.Join(Dispositions, ", "))
	}
	return nil
}

// close accepts a verified request to close the run. The run stops starting new steps at once; a rollback,
// when asked for, still needs its own approval.
func (r *run) close(ctx workflow.Context, req CloseRequest) (Answer, error) {
	st, _, err := approval.Verify(r.in.Keys, req.Assertion)
	att := Attempt{Approval: "close", Actor: st.Actor.String(), Verb: st.Verb, Reason: st.Reason, At: workflow.Now(ctx), KeyID: st.KeyID}
	switch {
	case r.closing != nil:
		att.Outcome, att.Why = OutcomeRefused, "run is already closing"
	case err != nil:
		att.Outcome, att.Why = OutcomeRefused, "assertion refused: "+err.Error()
	case st.Run != r.res.RunID || st.Subject != CloseSubject:
		att.Outcome, att.Why = OutcomeRefused, fmt.Sprintf("assertion is for %s/%s, not %s/%s", st.Run, st.Subject, r.res.RunID, CloseSubject)
	default:
		att.Outcome = OutcomeGranted
		att.Why = "disposition " + st.Disposition
		if st.Rollback {
			att.Why += ", rollback requested"
		}
		r.closing = &closeRequest{disposition: st.Disposition, rollback: st.Rollback, by: st.Actor.String()}
	}
	r.res.ApprovalLog = append(r.res.ApprovalLog, att)
	return Answer{Outcome: att.Outcome, Why: att.Why}, nil
}

// rollback undoes the run's containment in reverse order once its approval is granted.
func (r *run) rollback(ctx workflow.Context) {
	var todo []int
	for i := len(r.res.Contained) - 1; i >= 0; i-- {
		if c := r.res.Contained[i]; !c.Released && c.Undo != "" {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return
	}
	spec := playbooks.Approval{By: r.rollbackGroup()}
	if r.pb.Rollback != nil {
		spec = r.pb.Rollback.Approval
	}
	var targets []string
	for _, i := range todo {
		targets = append(targets, r.res.Contained[i].Kind+" "+r.res.Contained[i].Target)
	}
	what := "Roll back containment: release " + strings.Join(targets, ", ")
	r.emit(ctx, notify.Event{Kind: notify.RollbackStarted, Message: what})
	g := r.openApproval(ctx, RollbackID, "", spec, 0, what, "requested by "+r.closing.by+" closing as "+r.closing.disposition, false)
	if r.state(g).State != ApprovalApproved && !(r.state(g).State == ApprovalTimedOut && r.state(g).OnTimeout == playbooks.TimeoutApprove) {
		return
	}
	for _, i := range todo {
		c := &r.res.Contained[i]
		orig := r.step(c.Step)
		act, ok := actions.Lookup(c.Undo)
		if !ok {
			continue
		}
		with := map[string]any{}
		for _, p := range act.Params {
			if v, ok := orig.With[p.Name]; ok {
				with[p.Name] = v
			}
		}
		id := "undo-" + c.Step
		sr := StepResult{ID: id, Phase: "rollback", Action: act.Name, State: StepRunning, Started: workflow.Now(ctx), With: with}
		if release, heldBy := r.mayRelease(ctx, id, act, with); !release {
			sr.State, sr.Ended = StepSkipped, workflow.Now(ctx)
			sr.Reason = "not released: still contained by " + strings.Join(heldBy, ", ")
			c.Released = true
			r.res.Rollback = append(r.res.Rollback, sr)
			r.emit(ctx, notify.Event{Kind: notify.RollbackStep, Step: id, Action: act.Name, Status: sr.State, Message: sr.Reason})
			continue
		}
		req := actions.Request{RunID: r.res.RunID, StepID: id, IdempotencyKey: r.res.RunID + "/undo:" + c.Step, With: with}
		var out actions.Result
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, activityOptions(id, act, nil)), act.Name, req).Get(ctx, &out)
		sr.Ended = workflow.Now(ctx)
		if err != nil {
			sr.State, sr.Error = StepFailed, errorMessage(err)
			r.escalate(ctx, fmt.Sprintf("rollback of %s (%s %s) failed: %s", c.Step, c.Kind, c.Target, sr.Error), "", id)
		} else {
			sr.State, sr.Output, sr.Attempts, sr.Provider, sr.Note = StepSucceeded, out.Output, out.Attempt, out.Provider, out.Note
			c.Released = true
			orig.RolledBack = true
		}
		r.res.Rollback = append(r.res.Rollback, sr)
		r.emit(ctx, notify.Event{Kind: notify.RollbackStep, Step: id, Action: act.Name, Status: sr.State, Error: sr.Error, Message: sr.Note})
	}
}

// rollbackGroup is the approver group of a rollback when the playbook names none: the first approval guarding
// a step that has an undo.
func (r *run) rollbackGroup() string {
	group := ""
	r.pb.Walk(func(_ *playbooks.Phase, s *playbooks.Step) {
		if group == "" && s.Undo != "" && s.Approval != nil {
			group = s.Approval.By
		}
	})
	if group == "" && len(r.pb.Approvers) > 0 {
		group = r.pb.Approvers[0].ID
	}
	return group
}

// registerHandlers registers the status query and the Updates, all in one place, before anything else runs.
func (r *run) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryStatus, func() (Result, error) { return r.res, nil },
		workflow.QueryHandlerOptions{Description: "the run's phases, steps, approvals and deadlines"}); err != nil {
		return fmt.Errorf("register status query: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateDecide, r.decide, workflow.UpdateHandlerOptions{
		Validator: func(ctx workflow.Context, req DecideRequest) error { return r.validateDecide(req) },
	}); err != nil {
		return fmt.Errorf("register decide update: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateTaskDone, r.taskDone, workflow.UpdateHandlerOptions{
		Validator: func(ctx workflow.Context, req TaskDoneRequest) error { return r.validateTaskDone(req) },
	}); err != nil {
		return fmt.Errorf("register task-done update: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateClose, r.close, workflow.UpdateHandlerOptions{
		Validator: func(ctx workflow.Context, req CloseRequest) error { return r.validateClose(req) },
	}); err != nil {
		return fmt.Errorf("register close update: %w", err)
	}
	return nil
}
