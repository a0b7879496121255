package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/notify"
)

// Notification batching and draining. A batch keeps the history small (one activity per burst of events
// instead of one per event) while events still leave in order.
const (
	maxBatch            = 50
	defaultDrainTimeout = 2 * time.Minute
)

// notifier is the per-run notification coroutine pair: events go out in order on one lane, escalations on
// their own lane so an escalation never waits behind a backlog of posts. Neither sits on the containment
// path: steps only append to the queues.
type notifier struct {
	seq         int
	events      []notify.Event
	escalations []notify.Escalation
	busyEvents  bool
	busyEsc     bool
	closing     bool
	batches     int
	escalated   int
	// requests maps the seq of an approval or task request event to what it requested ("approval:<id>",
	// "task:<step>"). The run's parent message, once a delivery posted it, is the result's Thread.
	requests map[int]string
}

// emit queues an event for responders.
func (r *run) emit(ctx workflow.Context, e notify.Event) {
	n := &r.notifier
	n.seq++
	e.Seq, e.Time, e.Run = n.seq, workflow.Now(ctx), r.notifyRun()
	switch {
	case e.Kind == notify.ApprovalRequested && e.Approval != nil:
		n.request(e.Seq, "approval:"+e.Approval.ID)
	case e.Kind == notify.TaskRequested:
		n.request(e.Seq, "task:"+e.Step)
	}
	n.events = append(n.events, e)
}

func (n *notifier) request(seq int, what string) {
	if n.requests == nil {
		n.requests = map[int]string{}
	}
	n.requests[seq] = what
}

// stamp fills in, just before delivery, what only earlier deliveries can tell: the run's thread, and the
// request message an approval.decided or task.done event closes.
func (r *run) stamp(e *notify.Event) {
	if e.Thread.IsZero() {
		e.Thread = r.res.Thread
	}
	switch {
	case e.Kind == notify.ApprovalDecided && e.Approval != nil:
		if g, ok := r.approvals[e.Approval.ID]; ok {
			e.Target = r.state(g).Message
		}
	case e.Kind == notify.TaskDone:
		if i, ok := r.tasks[e.Step]; ok {
			e.Target = r.res.Tasks[i].Message
		}
	}
}

// delivered records what a delivery posted.
func (r *run) delivered(d notify.Delivery) {
	if !d.Parent.IsZero() && r.res.Thread.IsZero() {
		r.res.Thread = d.Parent
	}
	for _, m := range d.Messages {
		what := r.notifier.requests[m.Seq]
		switch {
		case strings.HasPrefix(what, "approval:"):
			if g, ok := r.approvals[strings.TrimPrefix(what, "approval:")]; ok {
				r.state(g).Message = m.Message
			}
		case strings.HasPrefix(what, "task:"):
			if i, ok := r.tasks[strings.TrimPrefix(what, "task:")]; ok {
				r.res.Tasks[i].Message = m.Message
			}
		}
	}
}

// escalate records an escalation and queues it on the escalation lane.
func (r *run) escalate(ctx workflow.Context, reason, phase, step string) {
	now := workflow.Now(ctx)
	r.res.Escalations = append(r.res.Escalations, Escalation{At: now, Reason: reason, Phase: phase, Step: step})
	n := &r.notifier
	n.seq++
	e := notify.Event{Run: r.notifyRun(), Seq: n.seq, Kind: "escalation", Time: now, Phase: phase, Step: step, Message: reason}
	n.escalations = append(n.escalations, notify.Escalation{Event: e, Reason: reason})
}

func (r *run) notifyRun() notify.Run {
	a := r.in.Alert
	nr := notify.Run{
		ID: r.res.RunID, Playbook: r.pb.ID, Name: r.pb.Name, Version: r.pb.Version,
		AlertID: a.ID, Source: a.Source, Title: a.Title, Severity: a.Severity, Host: a.Host, User: a.User,
		Techniques: a.Techniques, Channel: r.pb.Notify.Channel, Escalation: r.pb.Notify.Escalation, Oncall: r.pb.Notify.Oncall,
	}
	for _, p := range r.pb.Phases {
		nr.Budgets = append(nr.Budgets, notify.PhaseBudget{Phase: p.ID, Budget: p.Budget})
	}
	return nr
}

// start runs the two delivery coroutines until the run drains them.
func (n *notifier) start(ctx workflow.Context, r *run) {
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			_ = workflow.Await(ctx, func() bool { return len(n.events) > 0 || n.closing })
			if len(n.events) == 0 {
				return
			}
			batch := n.events[:min(len(n.events), maxBatch)]
			for i := range batch {
				r.stamp(&batch[i])
			}
			n.busyEvents = true
			n.batches++
			act := mustAction(actions.NotifyEvent)
			opts := activityOptions(fmt.Sprintf("notify-%d", batch[0].Seq), act, nil)
			opts.HeartbeatTimeout = act.Timeout
			var d notify.Delivery
			err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), actions.NotifyEvent, notify.Batch{Events: batch}).Get(ctx, &d)
			r.delivered(d)
			if err != nil {
				workflow.GetLogger(ctx).Error("notification batch dropped", "first_seq", batch[0].Seq, "events", len(batch), "error", err)
			}
			n.events = n.events[len(batch):]
			n.busyEvents = false
		}
	})
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			_ = workflow.Await(ctx, func() bool { return len(n.escalations) > 0 || n.closing })
			if len(n.escalations) == 0 {
				return
			}
			e := n.escalations[0]
			if e.Event.Thread.IsZero() {
				e.Event.Thread = r.res.Thread
			}
			n.busyEsc = true
			n.escalated++
			opts := activityOptions(fmt.Sprintf("escalate-%d", e.Event.Seq), mustAction(actions.NotifyEscalation), nil)
			if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), actions.NotifyEscalation, e).Get(ctx, nil); err != nil {
				workflow.GetLogger(ctx).Error("escalation dropped", "seq", e.Event.Seq, "error", err)
			}
			n.escalations = n.escalations[1:]
			n.busyEsc = false
		}
	})
}

// drain waits (bounded) until every queued notification is delivered, then stops the coroutines. It returns
// how many were left undelivered.
func (n *notifier) drain(ctx workflow.Context, timeout time.Duration) int {
	if timeout <= 0 {
		timeout = defaultDrainTimeout
	}
	_, _ = workflow.AwaitWithTimeout(ctx, timeout, func() bool {
		return len(n.events) == 0 && len(n.escalations) == 0 && !n.busyEvents && !n.busyEsc
	})
	left := len(n.events) + len(n.escalations)
	n.closing = true
	return left
}
