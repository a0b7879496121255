package report

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/approval"
	"github.com/parry-soc/parry/notify"
	"github.com/parry-soc/parry/workflows"
)

// FromHistory builds a timeline from a run's history. A run that completed carries its Result in the
// WorkflowExecutionCompleted event; any other run (still open, terminated, timed out) is reconstructed from
// its events. dc must be the data converter the run's payloads were written with (with the payload codec,
// when one is configured).
func FromHistory(h *historypb.History, dc converter.DataConverter) (Timeline, error) {
	hv, err := readHistory(h, dc)
	if err != nil {
		return Timeline{}, err
	}
	if hv.result != nil {
		return build(*hv.result, hv, "history of a closed run"), nil
	}
	res := hv.reconstruct()
	source := "history of a run still open, reconstructed from its events"
	if hv.exec.Status != "running" {
		// Temporal ended it (terminated, timed out, failed outright): say so where the run's state goes.
		source = "history of a " + hv.exec.Status + " run, reconstructed from its events"
		if res.State == workflows.StateRunning {
			res.State = hv.exec.Status
		}
		if res.Ended.IsZero() {
			res.Ended = hv.exec.Closed
		}
		if res.Failure == "" {
			res.Failure = hv.exec.CloseReason
		}
	}
	t := build(res, hv, source)
	t.Reconstructed = true
	t.Notes = append(t.Notes, hv.notes...)
	t.Notes = append(t.Notes, "Reconstructed from the history: what the run had not yet reported to responders when the history was read may be missing, and steps that never ran lack their parameters.")
	return t, nil
}

// FromStatus builds a timeline of a live run from its status query answer, enriched from its history so
// far (attempts per step, Update acceptance times, timers, signals). h may be nil.
func FromStatus(res workflows.Result, h *historypb.History, dc converter.DataConverter) (Timeline, error) {
	if h == nil {
		return build(res, nil, "status query of a live run"), nil
	}
	hv, err := readHistory(h, dc)
	if err != nil {
		return Timeline{}, err
	}
	return build(res, hv, "status query of a live run, with its history so far"), nil
}

// history is what a run's history says, read once.
type history struct {
	dc     converter.DataConverter
	exec   Execution
	lastAt time.Time
	input  *workflows.Input
	result *workflows.Result

	tasks       []taskStart  // workflow tasks started, in order: workflow time is the start of the current task
	acts        []*actRecord // in schedule order
	actByID     map[string]*actRecord
	actBySched  map[int64]*actRecord
	timers      []*timerRecord
	timerByID   map[string]*timerRecord
	ups         []update
	upByID      map[string]int
	completions int
	sigs        []Signal
	events      []notify.Event      // what the run queued for responders, from its notify.event batches
	escs        []notify.Escalation // from its notify.escalate activities
	notes       []string
	// dispositionSet is the workflow time the run last set its disposition search attribute: as it ends, in
	// the task that records its end.
	dispositionSet time.Time
}

type taskStart struct {
	id int64
	at time.Time
}

type actRecord struct {
	id, typ   string
	schedTask time.Time // the workflow time it was scheduled at
	closeID   int64
	input     *commonpb.Payloads
	result    *commonpb.Payloads
	err       string // the workflow's view of the final failure: "Type: message"
	a         Activity
}

type timerRecord struct {
	id        string
	d         time.Duration
	startTask time.Time
	fired     time.Time
}

func readHistory(h *historypb.History, dc converter.DataConverter) (*history, error) {
	if len(h.GetEvents()) == 0 {
		return nil, errors.New("read history: it has no events")
	}
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	hv := &history{dc: dc, actByID: map[string]*actRecord{}, actBySched: map[int64]*actRecord{},
		timerByID: map[string]*timerRecord{}, upByID: map[string]int{}}
	hv.exec.Status = "running"
	hv.exec.Events = len(h.Events)
	var taskTime time.Time
	for _, e := range h.Events {
		at := e.GetEventTime().AsTime()
		if at.After(hv.lastAt) {
			hv.lastAt = at
		}
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			a := e.GetWorkflowExecutionStartedEventAttributes()
			hv.exec.WorkflowID, hv.exec.RunID = a.GetWorkflowId(), a.GetOriginalExecutionRunId()
			hv.exec.TaskQueue, hv.exec.Started = a.GetTaskQueue().GetName(), at
			if a.GetWorkflowType().GetName() != workflows.WorkflowName {
				return nil, fmt.Errorf("read history: workflow type %q is not a Parry run (%s)", a.GetWorkflowType().GetName(), workflows.WorkflowName)
			}
			var in workflows.Input
			if err := dc.FromPayloads(a.GetInput(), &in); err != nil {
				return nil, fmt.Errorf("read the run's input: %w (is the payload codec key set?)", err)
			}
			hv.input = &in
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			taskTime = at
			hv.tasks = append(hv.tasks, taskStart{id: e.GetEventId(), at: at})
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			a := e.GetActivityTaskScheduledEventAttributes()
			r := &actRecord{id: a.GetActivityId(), typ: a.GetActivityType().GetName(), schedTask: taskTime, input: a.GetInput()}
			r.a = Activity{Type: r.typ, Scheduled: at, Outcome: "running"}
			hv.acts = append(hv.acts, r)
			hv.actByID[r.id] = r
			hv.actBySched[e.GetEventId()] = r
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			a := e.GetActivityTaskStartedEventAttributes()
			if r := hv.actBySched[a.GetScheduledEventId()]; r != nil {
				r.a.Started, r.a.Attempts = at, a.GetAttempt()
				if f := a.GetLastFailure(); f != nil {
					r.a.Failures = append(r.a.Failures, hv.failureMessage(f))
				}
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			a := e.GetActivityTaskCompletedEventAttributes()
			if r := hv.actBySched[a.GetScheduledEventId()]; r != nil {
				r.a.Closed, r.a.Outcome, r.closeID, r.result = at, "completed", e.GetEventId(), a.GetResult()
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED:
			a := e.GetActivityTaskFailedEventAttributes()
			if r := hv.actBySched[a.GetScheduledEventId()]; r != nil {
				r.a.Closed, r.a.Outcome, r.closeID = at, "failed", e.GetEventId()
				r.err = hv.failureMessage(a.GetFailure())
				r.a.Failures = append(r.a.Failures, r.err)
				r.a.RetryState = retryState(a.GetRetryState())
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
			a := e.GetActivityTaskTimedOutEventAttributes()
			if r := hv.actBySched[a.GetScheduledEventId()]; r != nil {
				r.a.Closed, r.a.Outcome, r.closeID = at, "timed-out", e.GetEventId()
				r.err = hv.failureMessage(a.GetFailure())
				r.a.Failures = append(r.a.Failures, r.err)
				r.a.RetryState = retryState(a.GetRetryState())
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
			a := e.GetActivityTaskCanceledEventAttributes()
			if r := hv.actBySched[a.GetScheduledEventId()]; r != nil {
				r.a.Closed, r.a.Outcome, r.closeID = at, "canceled", e.GetEventId()
				r.err = "canceled"
			}
		case enumspb.EVENT_TYPE_TIMER_STARTED:
			a := e.GetTimerStartedEventAttributes()
			t := &timerRecord{id: a.GetTimerId(), d: a.GetStartToFireTimeout().AsDuration(), startTask: taskTime}
			hv.timers = append(hv.timers, t)
			hv.timerByID[t.id] = t
		case enumspb.EVENT_TYPE_TIMER_FIRED:
			if t := hv.timerByID[e.GetTimerFiredEventAttributes().GetTimerId()]; t != nil {
				t.fired = at
			}
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
			hv.accepted(e.GetWorkflowExecutionUpdateAcceptedEventAttributes(), at)
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
			hv.completed(e.GetWorkflowExecutionUpdateCompletedEventAttributes(), taskTime)
		case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
			if _, ok := e.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes().GetIndexedFields()[workflows.AttrDisposition.GetName()]; ok {
				hv.dispositionSet = taskTime
			}
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			a := e.GetWorkflowExecutionSignaledEventAttributes()
			hv.sigs = append(hv.sigs, Signal{Name: a.GetSignalName(), At: at, Identity: a.GetIdentity(), Input: hv.summarisePayloads(a.GetInput())})
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
			hv.closed("completed", at, "")
			var res workflows.Result
			if err := dc.FromPayloads(e.GetWorkflowExecutionCompletedEventAttributes().GetResult(), &res); err != nil {
				return nil, fmt.Errorf("read the run's result: %w", err)
			}
			hv.result = &res
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
			hv.closed("failed", at, hv.failureMessage(e.GetWorkflowExecutionFailedEventAttributes().GetFailure()))
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
			a := e.GetWorkflowExecutionTerminatedEventAttributes()
			why := a.GetReason()
			if a.GetIdentity() != "" {
				why = strings.TrimSpace(why + " (by " + a.GetIdentity() + ")")
			}
			hv.closed("terminated", at, why)
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
			hv.closed("canceled", at, "")
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
			hv.closed("timed-out", at, "")
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
			hv.closed("continued-as-new", at, "")
		}
	}
	if hv.input == nil {
		return nil, errors.New("read history: it does not begin with WorkflowExecutionStarted")
	}
	hv.readNotifications()
	return hv, nil
}

func (hv *history) closed(status string, at time.Time, why string) {
	hv.exec.Status, hv.exec.Closed, hv.exec.CloseReason = status, at, why
	if why != "" {
		hv.notes = append(hv.notes, fmt.Sprintf("Temporal recorded the execution as %s: %s", status, why))
	}
}

// accepted records an Update Temporal accepted: what the statement it carries says.
func (hv *history) accepted(a *historypb.WorkflowExecutionUpdateAcceptedEventAttributes, at time.Time) {
	req := a.GetAcceptedRequest()
	u := update{id: req.GetMeta().GetUpdateId(), identity: req.GetMeta().GetIdentity(), accepted: at, name: req.GetInput().GetName()}
	args := req.GetInput().GetArgs()
	var assertion []byte
	switch u.name {
	case workflows.UpdateDecide:
		var r workflows.DecideRequest
		if err := hv.dc.FromPayloads(args, &r); err == nil {
			u.subject, assertion = r.Approval, r.Assertion.Payload
		}
	case workflows.UpdateTaskDone:
		var r workflows.TaskDoneRequest
		if err := hv.dc.FromPayloads(args, &r); err == nil {
			u.subject, assertion = "task:"+r.Step, r.Assertion.Payload
		}
	case workflows.UpdateClose:
		var r workflows.CloseRequest
		if err := hv.dc.FromPayloads(args, &r); err == nil {
			u.subject, assertion = "close", r.Assertion.Payload
		}
	}
	if st, err := (approval.Assertion{Payload: assertion}).Decode(); err == nil {
		u.actor, u.verb, u.reason, u.keyID = st.Actor.String(), st.Verb, st.Reason, st.KeyID
		u.disposition, u.rollback = st.Disposition, st.Rollback
	}
	hv.upByID[u.id] = len(hv.ups)
	hv.ups = append(hv.ups, u)
}

// completed records what the run answered an Update. The handler records its attempt in the workflow task
// that completes the Update, so that task's time is the attempt's time.
func (hv *history) completed(a *historypb.WorkflowExecutionUpdateCompletedEventAttributes, taskTime time.Time) {
	i, ok := hv.upByID[a.GetMeta().GetUpdateId()]
	if !ok {
		return
	}
	u := &hv.ups[i]
	hv.completions++
	u.done, u.at, u.seq = true, taskTime, hv.completions
	if f := a.GetOutcome().GetFailure(); f != nil {
		u.rejected, u.why = true, hv.failureMessage(f)
		return
	}
	var ans workflows.Answer
	if err := hv.dc.FromPayloads(a.GetOutcome().GetSuccess(), &ans); err == nil {
		u.outcome, u.why, u.state = ans.Outcome, ans.Why, ans.State
	}
}

// readNotifications decodes what the run queued for responders: its events, in order, and its escalations.
func (hv *history) readNotifications() {
	for _, r := range hv.acts {
		switch r.typ {
		case actions.NotifyEvent:
			var b notify.Batch
			if err := hv.dc.FromPayloads(r.input, &b); err == nil {
				hv.events = append(hv.events, b.Events...)
			}
		case actions.NotifyEscalation:
			var e notify.Escalation
			if err := hv.dc.FromPayloads(r.input, &e); err == nil {
				hv.escs = append(hv.escs, e)
			}
		}
	}
	sort.SliceStable(hv.events, func(i, j int) bool { return hv.events[i].Seq < hv.events[j].Seq })
}

// nextTask is the workflow time of the first task started after event id: when the workflow saw it.
func (hv *history) nextTask(id int64) time.Time {
	i := sort.Search(len(hv.tasks), func(i int) bool { return hv.tasks[i].id > id })
	if i == len(hv.tasks) {
		return time.Time{}
	}
	return hv.tasks[i].at
}

func (hv *history) activity(id string) *Activity {
	r, ok := hv.actByID[id]
	if !ok {
		return nil
	}
	a := r.a
	return &a
}

// budgetFired finds the phase's budget timer — started when the phase started, for its budget — and
// returns when it fired.
func (hv *history) budgetFired(p workflows.PhaseResult) time.Time {
	if p.Budget <= 0 || p.Started.IsZero() {
		return time.Time{}
	}
	for _, t := range hv.timers {
		if t.d == p.Budget && t.startTask.Equal(p.Started) {
			return t.fired
		}
	}
	return time.Time{}
}

func (hv *history) approvalTimerFired(a workflows.ApprovalState) time.Time {
	if a.Deadline.IsZero() {
		return time.Time{}
	}
	for _, t := range hv.timers {
		if t.d == a.Deadline.Sub(a.Opened) && t.startTask.Equal(a.Opened) {
			return t.fired
		}
	}
	return time.Time{}
}

// groups numbers the playbook's parallel groups and maps each branch to its group.
func (hv *history) groups() map[string]int {
	out := map[string]int{}
	n := 0
	for _, ph := range hv.input.Playbook.Phases {
		for _, st := range ph.Steps {
			if len(st.Parallel) == 0 {
				continue
			}
			n++
			for _, b := range st.Parallel {
				out[b.ID] = n
			}
		}
	}
	return out
}

func (hv *history) summarisePayloads(p *commonpb.Payloads) string {
	var parts []string
	for _, pl := range p.GetPayloads() {
		var v any
		if err := hv.dc.FromPayload(pl, &v); err != nil {
			parts = append(parts, "(undecodable payload)")
			continue
		}
		if m, ok := v.(map[string]any); ok {
			kvs, more := summarise(m)
			for _, kv := range kvs {
				parts = append(parts, kv.Key+"="+kv.Value)
			}
			if more > 0 {
				parts = append(parts, fmt.Sprintf("and %d more", more))
			}
			continue
		}
		parts = append(parts, summariseValue(v, 80))
	}
	return strings.Join(parts, ", ")
}

// failureMessage is what the workflow saw of a failure: the innermost cause, "Type: message" for an
// application error, "timed out (start_to_close)" for a timeout. With the payload codec the message is
// encrypted in the failure's encoded attributes ("Encoded failure" in its place); it is decoded here, on a
// copy, so the history read stays as it was.
func (hv *history) failureMessage(f *failurepb.Failure) string {
	for f.GetCause() != nil {
		f = f.GetCause()
	}
	if f.GetEncodedAttributes() != nil {
		f = proto.Clone(f).(*failurepb.Failure)
		converter.DecodeCommonFailureAttributes(hv.dc, f)
	}
	if t := f.GetTimeoutFailureInfo(); t != nil {
		return "timed out (" + strings.ToLower(strings.TrimPrefix(t.GetTimeoutType().String(), "TIMEOUT_TYPE_")) + ")"
	}
	if t := f.GetApplicationFailureInfo().GetType(); t != "" {
		return t + ": " + f.GetMessage()
	}
	return f.GetMessage()
}

func retryState(s enumspb.RetryState) string {
	switch s {
	case enumspb.RETRY_STATE_UNSPECIFIED, enumspb.RETRY_STATE_IN_PROGRESS:
		return ""
	}
	return words(s.String())
}

// words splits an enum's CamelCase name into lowercase words: "NonRetryableFailure" → "non retryable failure".
func words(camel string) string {
	var b strings.Builder
	for i, r := range camel {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return strings.ToLower(strings.ReplaceAll(b.String(), "_", " "))
}
