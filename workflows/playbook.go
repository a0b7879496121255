// Package workflows runs playbooks as Temporal workflows. PlaybookWorkflow is the interpreter: it walks the
// playbook pinned in its input phase by phase under durable budget timers, gates risky steps on approvals
// (Temporal Updates carrying signed assertions), runs each action as its own activity type with the step id
// as activity ID, keeps containment in place when anything fails, and tells responders through one notifier
// coroutine per run. Everything here is deterministic: workflow.Now, workflow.Go, sorted keys, no I/O.
package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/alerts/routing"
	"github.com/parry-soc/parry/expr"
	"github.com/parry-soc/parry/notify"
	"github.com/parry-soc/parry/playbooks"
)

// defaultApprovalTimeout applies when a step's approval names no timeout and its phase has no budget left.
const defaultApprovalTimeout = time.Hour

// run is the state of one playbook run. Handlers and coroutines all work on it; the workflow's single
// thread of execution makes that safe.
type run struct {
	in     Input
	pb     *playbooks.Playbook
	res    Result
	inputs map[string]any
	alert  any // the alert as a CEL value, converted once

	stepIdx   map[string]int // step id → index in res.Steps
	approvals map[string]*gate
	tasks     map[string]int // step id → index in res.Tasks

	// stop is why the run must stop early (a failed step, a budget breached with on_breach: fail).
	stop string
	// closing is set by an accepted close Update.
	closing *closeRequest

	notifier notifier

	// incident is the workflow ID of this run's host incident ("" when the alert names no host or user); it
	// keeps the containment count. answers holds its answers to release requests, by step.
	incident string
	answers  map[string]ReleaseAnswer
	// ledgers are the other incidents this run told of holds (see holds.go), to tell when it ends.
	ledgers      []string
	holdsTelling int // holds on their way to a ledger
}

type closeRequest struct {
	disposition string
	rollback    bool
	by          string
}

// PlaybookWorkflow runs one playbook for one alert and returns the run's result.
func PlaybookWorkflow(ctx workflow.Context, in Input) (Result, error) {
	r, err := newRun(ctx, in)
	if err != nil {
		return Result{}, temporal.NewNonRetryableApplicationError(err.Error(), actions.ErrInvalidInput, nil)
	}
	if err := r.registerHandlers(ctx); err != nil {
		return Result{}, err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, startUpdates(in)...); err != nil {
		return Result{}, fmt.Errorf("set search attributes: %w", err)
	}
	r.notifier.start(ctx, r)
	r.receiveAnswers(ctx)
	r.emit(ctx, notify.Event{Kind: notify.RunStarted, Message: r.summaryLine()})

	r.runPhases(ctx)
	r.finish(ctx)
	return r.res, nil
}

func newRun(ctx workflow.Context, in Input) (*run, error) {
	pb := &in.Playbook
	if len(pb.Phases) == 0 {
		return nil, fmt.Errorf("playbook %s has no phases", pb.ID)
	}
	inputs, err := routing.ResolveInputs(pb, in.Alert)
	if err != nil {
		return nil, fmt.Errorf("resolve inputs: %w", err)
	}
	alertVal, err := expr.Value(in.Alert)
	if err != nil {
		return nil, fmt.Errorf("alert: %w", err)
	}
	info := workflow.GetInfo(ctx)
	r := &run{
		in:        in,
		pb:        pb,
		inputs:    inputs,
		alert:     alertVal,
		stepIdx:   map[string]int{},
		approvals: map[string]*gate{},
		tasks:     map[string]int{},
		answers:   map[string]ReleaseAnswer{},
	}
	if key := in.Alert.HostKey(); key != "" {
		r.incident = IncidentID(key)
	}
	r.res = Result{
		RunID:       info.WorkflowExecution.ID,
		Playbook:    PlaybookRef{ID: pb.ID, Name: pb.Name, Version: pb.Version, SHA256: pb.SHA256, Source: pb.Source},
		Alert:       RefOf(in.Alert),
		Route:       in.Route,
		State:       StateRunning,
		Disposition: Undetermined,
		Started:     workflow.Now(ctx),
	}
	for _, ph := range pb.Phases {
		r.res.Phases = append(r.res.Phases, PhaseResult{ID: ph.ID, Budget: ph.Budget, OnBreach: ph.OnBreach})
	}
	pb.Walk(func(ph *playbooks.Phase, st *playbooks.Step) {
		r.stepIdx[st.ID] = len(r.res.Steps)
		r.res.Steps = append(r.res.Steps, StepResult{ID: st.ID, Phase: ph.ID, Action: st.Action, State: StepPending})
	})
	return r, nil
}

// halted reports whether the run must not start anything new.
func (r *run) halted() bool { return r.stop != "" || r.closing != nil }

// halt stops the run: steps not yet started stay pending, containment already done stays in place.
func (r *run) halt(why string) {
	if r.stop == "" {
		r.stop = why
	}
}

func (r *run) runPhases(ctx workflow.Context) {
	for i := range r.pb.Phases {
		if r.halted() {
			return
		}
		r.runPhase(ctx, i)
	}
}

// runPhase runs one phase's steps under its budget timer.
func (r *run) runPhase(ctx workflow.Context, i int) {
	p := &r.pb.Phases[i]
	res := &r.res.Phases[i]
	res.Started = workflow.Now(ctx)
	if p.Budget > 0 {
		res.Deadline = res.Started.Add(p.Budget)
	}
	r.res.Phase, r.res.Deadline = p.ID, res.Deadline
	r.upsert(ctx, AttrPhase.ValueSet(p.ID))
	r.emit(ctx, notify.Event{Kind: notify.PhaseStarted, Phase: p.ID, Budget: p.Budget, Deadline: res.Deadline})

	timerCtx, cancelTimer := workflow.WithCancel(ctx)
	if p.Budget > 0 {
		timer := workflow.NewTimer(timerCtx, p.Budget)
		workflow.Go(ctx, func(ctx workflow.Context) {
			if err := timer.Get(ctx, nil); err != nil {
				return // canceled: the phase ended within its budget
			}
			r.breach(ctx, i)
		})
	}
	for j := range p.Steps {
		if r.halted() {
			break
		}
		r.runItem(ctx, p, &p.Steps[j])
	}
	cancelTimer()

	res.Ended = workflow.Now(ctx)
	res.Used = res.Ended.Sub(res.Started)
	r.res.Deadline = time.Time{}
	r.emit(ctx, notify.Event{Kind: notify.PhaseFinished, Phase: p.ID, Budget: p.Budget, Used: res.Used,
		Status: phaseStatus(res, r.halted())})
}

func phaseStatus(p *PhaseResult, halted bool) string {
	switch {
	case halted:
		return "stopped"
	case p.Breached:
		return "breached"
	default:
		return "within budget"
	}
}

// breach handles a phase's budget timer firing before the phase ended.
func (r *run) breach(ctx workflow.Context, i int) {
	p := &r.pb.Phases[i]
	res := &r.res.Phases[i]
	res.Breached, res.BreachedAt = true, workflow.Now(ctx)
	r.upsert(ctx, AttrBreached.ValueSet(true))
	why := fmt.Sprintf("phase %s exceeded its %s budget (on_breach: %s)", p.ID, p.Budget, p.OnBreach)
	r.emit(ctx, notify.Event{Kind: notify.BudgetBreached, Phase: p.ID, Budget: p.Budget, Status: p.OnBreach, Message: why})
	switch p.OnBreach {
	case playbooks.BreachContinue:
	case playbooks.BreachFail:
		r.escalate(ctx, why, p.ID, "")
		r.halt(why)
	default:
		r.escalate(ctx, why, p.ID, "")
	}
}

// runItem runs a step or a parallel group. Branches of a group run side by side; a branch waiting for an
// approval never holds up the others.
func (r *run) runItem(ctx workflow.Context, p *playbooks.Phase, st *playbooks.Step) {
	if len(st.Parallel) == 0 {
		r.runStep(ctx, p, st)
		return
	}
	pending := len(st.Parallel)
	for k := range st.Parallel {
		branch := &st.Parallel[k]
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer func() { pending-- }()
			r.runStep(ctx, p, branch)
		})
	}
	_ = workflow.Await(ctx, func() bool { return pending == 0 })
}

func (r *run) step(id string) *StepResult { return &r.res.Steps[r.stepIdx[id]] }

// runStep evaluates a step's condition and parameters, waits for its approval, and runs it.
func (r *run) runStep(ctx workflow.Context, p *playbooks.Phase, st *playbooks.Step) {
	sr := r.step(st.ID)
	if r.halted() {
		return
	}
	act, ok := actions.Lookup(st.Action)
	if !ok {
		r.fail(ctx, sr, fmt.Sprintf("unknown action %q", st.Action))
		return
	}
	vars := r.vars(ctx)
	if st.When != "" {
		run, err := evalWhen(st.When, vars)
		if err != nil {
			r.skip(ctx, sr, fmt.Sprintf("when %q could not be evaluated: %v", st.When, err))
			return
		}
		if !run {
			r.skip(ctx, sr, fmt.Sprintf("when %q is false", st.When))
			return
		}
	}
	with, missing := resolveWith(st, act, vars)
	sr.With = with
	if missing != "" {
		r.skip(ctx, sr, missing)
		return
	}
	if st.Approval != nil {
		if !r.approveStep(ctx, p, st, act, with) {
			return
		}
		if r.halted() {
			sr.State, sr.Reason = StepCanceled, "run stopped: "+r.haltReason()
			return
		}
	}
	if act.Manual {
		r.manualTask(ctx, st, with)
		return
	}
	r.execute(ctx, st, act, with)
}

func (r *run) haltReason() string {
	if r.closing != nil {
		return "closed by " + r.closing.by
	}
	return r.stop
}

func evalWhen(src string, vars *expr.Vars) (bool, error) {
	prg, err := expr.CompileBool(src)
	if err != nil {
		return false, err
	}
	return prg.EvalBool(vars)
}

// resolveWith interpolates a step's parameters. It returns the reason to skip the step when a required
// parameter resolves empty: such a step is never sent to a vendor.
func resolveWith(st *playbooks.Step, act actions.Action, vars *expr.Vars) (map[string]any, string) {
	out := map[string]any{}
	for _, name := range workflow.DeterministicKeys(st.With) {
		v, err := interpolate(st.With[name], vars)
		if err == nil && !empty(v) {
			out[name] = v
			continue
		}
		p, _ := act.Param(name)
		if !p.Required {
			continue
		}
		if err != nil {
			return out, fmt.Sprintf("required parameter %s could not be resolved: %v", name, err)
		}
		return out, fmt.Sprintf("required parameter %s resolved empty", name)
	}
	for _, name := range act.Required() {
		if _, ok := out[name]; !ok {
			return out, fmt.Sprintf("required parameter %s is not set", name)
		}
	}
	return out, ""
}

func interpolate(v any, vars *expr.Vars) (any, error) {
	switch x := v.(type) {
	case string:
		t, err := expr.ParseTemplate(x)
		if err != nil {
			return nil, err
		}
		return t.Eval(vars)
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			ev, err := interpolate(e, vars)
			if err != nil {
				return nil, err
			}
			if !empty(ev) {
				out = append(out, ev)
			}
		}
		return out, nil
	default:
		return v, nil
	}
}

func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// vars are the expression variables as the run stands now.
func (r *run) vars(ctx workflow.Context) *expr.Vars {
	steps := make(map[string]any, len(r.res.Steps))
	for _, s := range r.res.Steps {
		out := s.Output
		if out == nil {
			out = map[string]any{}
		}
		steps[s.ID] = map[string]any{"status": s.State, "output": out}
	}
	return &expr.Vars{
		Alert:  r.alert,
		Inputs: r.inputs,
		Steps:  steps,
		Run: map[string]any{
			"id":       r.res.RunID,
			"started":  r.res.Started,
			"playbook": r.pb.ID,
		},
	}
}

// activityOptions are an action's timeouts and retry policy, with the step's overrides. The activity ID is
// the step id, so a history shows which action ran for which step.
func activityOptions(id string, act actions.Action, st *playbooks.Step) workflow.ActivityOptions {
	timeout := act.Timeout
	if st != nil && st.Timeout > 0 {
		timeout = st.Timeout
	}
	rp := act.Retry
	if st != nil && st.Retry != nil {
		if st.Retry.MaxAttempts > 0 {
			rp.MaximumAttempts = st.Retry.MaxAttempts
		}
		if st.Retry.InitialInterval > 0 {
			rp.InitialInterval = st.Retry.InitialInterval
		}
		if st.Retry.MaxInterval > 0 {
			rp.MaximumInterval = st.Retry.MaxInterval
		}
		if st.Retry.Backoff >= 1 {
			rp.BackoffCoefficient = st.Retry.Backoff
		}
	}
	return workflow.ActivityOptions{
		ActivityID:          id,
		StartToCloseTimeout: timeout,
		HeartbeatTimeout:    act.Heartbeat,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        rp.InitialInterval,
			BackoffCoefficient:     rp.BackoffCoefficient,
			MaximumInterval:        rp.MaximumInterval,
			MaximumAttempts:        rp.MaximumAttempts,
			NonRetryableErrorTypes: actions.NonRetryable,
		},
	}
}

// execute runs an action step as its activity.
func (r *run) execute(ctx workflow.Context, st *playbooks.Step, act actions.Action, with map[string]any) {
	sr := r.step(st.ID)
	if release, heldBy := r.mayRelease(ctx, st.ID, act, with); !release {
		r.markReleased(act.Name, with) // this run no longer holds it; the others do
		r.skip(ctx, sr, fmt.Sprintf("not released: still contained by %s (the incident releases it when the last run does)", strings.Join(heldBy, ", ")))
		return
	}
	sr.State, sr.Started = StepRunning, workflow.Now(ctx)
	r.emit(ctx, notify.Event{Kind: notify.StepStarted, Phase: sr.Phase, Step: st.ID, Action: act.Name})
	req := actions.Request{RunID: r.res.RunID, StepID: st.ID, IdempotencyKey: actions.IdempotencyKey(r.res.RunID, st.ID), With: with}
	var out actions.Result
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, activityOptions(st.ID, act, st)), act.Name, req).Get(ctx, &out)
	sr.Ended = workflow.Now(ctx)
	if err != nil {
		sr.Error = errorMessage(err)
		r.fail(ctx, sr, fmt.Sprintf("step %s (%s) failed: %s", st.ID, act.Name, sr.Error))
		return
	}
	r.record(ctx, sr, act, out)
	if act.Contains != nil {
		target := fmt.Sprint(with[act.Contains.Param])
		r.res.Contained = append(r.res.Contained, Contained{Kind: act.Contains.Kind, Target: target, Step: st.ID, Undo: st.Undo})
		r.hold(ctx, Hold{Run: r.res.RunID, Kind: act.Contains.Kind, Target: target})
	}
	r.markReleased(act.Name, with)
	r.emit(ctx, notify.Event{Kind: notify.StepFinished, Phase: sr.Phase, Step: st.ID, Action: act.Name, Status: StepSucceeded, Message: out.Note})
}

// record stores an activity's result in a step and announces its evidence.
func (r *run) record(ctx workflow.Context, sr *StepResult, act actions.Action, out actions.Result) {
	sr.State = StepSucceeded
	sr.Output, sr.Evidence, sr.Attempts, sr.Provider, sr.Note = out.Output, out.Evidence, out.Attempt, out.Provider, out.Note
	for i := range out.Evidence {
		ev := out.Evidence[i]
		r.emit(ctx, notify.Event{Kind: notify.EvidenceCaptured, Phase: sr.Phase, Step: sr.ID, Action: act.Name, Evidence: &ev})
	}
}

// markReleased notes that an action undid containment of the same target earlier in the run (the recovery
// phase releasing the host the immediate phase isolated).
func (r *run) markReleased(action string, with map[string]any) {
	for i := range r.res.Contained {
		c := &r.res.Contained[i]
		if c.Released || c.Undo != action {
			continue
		}
		undo, _ := actions.Lookup(action)
		orig, _ := actions.Lookup(r.step(c.Step).Action)
		if orig.Contains == nil {
			continue
		}
		if _, ok := undo.Param(orig.Contains.Param); ok && fmt.Sprint(with[orig.Contains.Param]) == c.Target {
			c.Released = true
		}
	}
}

func (r *run) skip(ctx workflow.Context, sr *StepResult, why string) {
	sr.State, sr.Reason = StepSkipped, why
	r.emit(ctx, notify.Event{Kind: notify.StepSkipped, Phase: sr.Phase, Step: sr.ID, Action: sr.Action, Message: why})
}

// fail marks a step failed and stops the run. Nothing is undone: containment stays in place.
func (r *run) fail(ctx workflow.Context, sr *StepResult, why string) {
	sr.State, sr.Reason = StepFailed, why
	if sr.Ended.IsZero() {
		sr.Ended = workflow.Now(ctx)
	}
	r.emit(ctx, notify.Event{Kind: notify.StepFailed, Phase: sr.Phase, Step: sr.ID, Action: sr.Action, Error: sr.Error, Message: why})
	r.halt(why)
}

// errorMessage is the innermost cause of an activity error: the vendor's or simulator's message.
func errorMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		if t := appErr.Type(); t != "" {
			return fmt.Sprintf("%s: %s", t, appErr.Message())
		}
		return appErr.Message()
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		return "timed out (" + strings.ToLower(strings.TrimPrefix(timeoutErr.TimeoutType().String(), "TIMEOUT_TYPE_")) + ")"
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// finish settles how the run ends: completed, failed (held open until a person closes it), or closed, with
// a rollback when the person asked for one.
func (r *run) finish(ctx workflow.Context) {
	r.res.Phase, r.res.Deadline = "", time.Time{}
	if r.closing == nil && r.stop != "" {
		r.res.State, r.res.Failure = StateFailed, r.stop
		r.escalate(ctx, "run failed: "+r.stop, "", "")
		r.emit(ctx, notify.Event{Kind: notify.RunFailed, Status: StateFailed, Error: r.stop, Message: r.containmentLine()})
		hold := r.in.HoldFailed
		if hold <= 0 {
			hold = defaultHoldTime
		}
		// A failed run stays open so a person can close it, with a rollback if they choose; Parry never
		// releases anything on its own because something broke.
		_, _ = workflow.AwaitWithTimeout(ctx, hold, func() bool { return r.closing != nil })
	}
	switch {
	case r.closing != nil:
		if r.res.State != StateFailed {
			r.res.State = StateClosed
		}
		r.res.Disposition, r.res.ClosedBy = r.closing.disposition, r.closing.by
		r.cancelOpen(ctx)
		if r.closing.rollback {
			r.rollback(ctx)
		}
		r.emit(ctx, notify.Event{Kind: notify.RunClosed, Status: r.res.State, Disposition: r.res.Disposition, Summary: r.summary()})
	case r.res.State == StateRunning:
		r.res.State = StateCompleted
		r.emit(ctx, notify.Event{Kind: notify.RunCompleted, Status: StateCompleted, Disposition: r.res.Disposition, Summary: r.summary()})
	}
	// A closed run no longer needs anything contained; what it left contained is another run's to release.
	r.runEnded(ctx)
	r.upsert(ctx, AttrDisposition.ValueSet(r.res.Disposition), AttrPhase.ValueUnset())
	r.res.Ended = workflow.Now(ctx)
	r.res.Undelivered = r.notifier.drain(ctx, r.in.DrainTimeout)
}

// cancelOpen cancels approvals and tasks still waiting when the run closes.
func (r *run) cancelOpen(ctx workflow.Context) {
	for i := range r.res.Steps {
		s := &r.res.Steps[i]
		if s.State == StepPending || s.State == StepWaitingApproval || s.State == StepWaitingTask {
			s.State, s.Reason = StepCanceled, "run stopped: "+r.haltReason()
		}
	}
}

func (r *run) upsert(ctx workflow.Context, updates ...temporal.SearchAttributeUpdate) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		workflow.GetLogger(ctx).Warn("upsert search attributes", "error", err)
	}
}

// summaryLine is the one line a first notification shows.
func (r *run) summaryLine() string {
	a := r.in.Alert
	return fmt.Sprintf("%s (%s) on %s for %s: playbook %s v%d", a.Title, a.Severity, orDash(a.Host), orDash(a.User), r.pb.ID, r.pb.Version)
}

// summary counts the steps by state for the run's last notification.
func (r *run) summary() string {
	counts := map[string]int{}
	for _, s := range r.res.Steps {
		counts[s.State]++
	}
	var parts []string
	for _, k := range workflow.DeterministicKeys(counts) {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	line := strings.Join(parts, ", ")
	if c := r.containmentLine(); c != "" {
		line += "; " + c
	}
	return line
}

// containmentLine lists what is still contained.
func (r *run) containmentLine() string {
	var held []string
	for _, c := range r.res.Contained {
		if !c.Released {
			held = append(held, c.Kind+" "+c.Target)
		}
	}
	if len(held) == 0 {
		return ""
	}
	return "still contained: " + strings.Join(held, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// tellIncident signals the run's incident. A run without an incident (no host or user), or whose incident
// is gone, has nothing to count with: the signal's failure is logged and the run goes on.
func (r *run) tellIncident(ctx workflow.Context, signal string, arg any) {
	if r.incident == "" {
		return
	}
	if err := workflow.SignalExternalWorkflow(ctx, r.incident, "", signal, arg).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("incident not told", "incident", r.incident, "signal", signal, "error", err)
	}
}

// releaseWait bounds how long a release waits for the incident's answer.
const releaseWait = time.Minute

// mayRelease asks the incident or ledger counting the target (see holds.go) whether this run may undo
// containment that other open runs may still need (a host isolated by two runs is released by the last). It
// answers true for actions that release nothing, when nothing counts the target, and when the count does
// not answer in time.
func (r *run) mayRelease(ctx workflow.Context, stepID string, act actions.Action, with map[string]any) (bool, []string) {
	kind, target, ok := released(act, with)
	if !ok {
		return true, nil
	}
	r.heldTold(ctx)
	ledger := r.ledgerFor(ctx, kind, target)
	if ledger == "" {
		return true, nil
	}
	req := ReleaseRequest{Hold: Hold{Run: r.res.RunID, Kind: kind, Target: target}, Step: stepID}
	if err := workflow.SignalExternalWorkflow(ctx, ledger, "", SignalRelease, req).Get(ctx, nil); err != nil {
		return true, nil // no incident or ledger to hold it for anyone else
	}
	answered, _ := workflow.AwaitWithTimeout(ctx, releaseWait, func() bool { _, ok := r.answers[stepID]; return ok })
	if !answered {
		r.escalate(ctx, fmt.Sprintf("incident %s did not answer whether %s %s may be released; releasing", ledger, kind, target), "", stepID)
		return true, nil
	}
	ans := r.answers[stepID]
	return ans.Release, ans.HeldBy
}

// released says what an action releases: the kind and target of the containment it undoes.
func released(act actions.Action, with map[string]any) (kind, target string, ok bool) {
	for _, a := range actions.All() {
		if a.Contains == nil || a.Undo != act.Name {
			continue
		}
		if v, has := with[a.Contains.Param]; has {
			return a.Contains.Kind, fmt.Sprint(v), true
		}
	}
	return "", "", false
}

// receiveAnswers files the incident's answers to release requests by step.
func (r *run) receiveAnswers(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, SignalReleaseAnswer)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var ans ReleaseAnswer
			if !ch.Receive(ctx, &ans) {
				return
			}
			r.answers[ans.Step] = ans
		}
	})
}
