package activities

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/activity"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/notify"
)

// NotifyEvent implements notify.event: it delivers a batch of run events through the Notifier, in order,
// and returns the messages they posted (the run's parent message, approval and task requests) so the
// workflow can thread later events and update requests in place. After each event it records its progress
// as the heartbeat details; the SDK sends the last details with a failure, so a retry resumes after the last
// event delivered. Only a worker crash between an event and its heartbeat can deliver that event twice.
func (a *Activities) NotifyEvent(ctx context.Context, b notify.Batch) (notify.Delivery, error) {
	if a.Notifier == nil {
		return notify.Delivery{}, notConfigured(actions.NotifyEvent, "notifier")
	}
	var p deliveryProgress
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &p); err != nil {
			p = deliveryProgress{} // deliver the batch again
		}
	}
	for i := max(p.Done, 0); i < len(b.Events); i++ {
		e := b.Events[i]
		if e.Thread.IsZero() {
			e.Thread = p.Delivery.Parent
		}
		posted, err := a.Notifier.Notify(ctx, e)
		if err != nil {
			return p.Delivery, temporalError(actions.NotifyEvent, fmt.Errorf("event %d (%s) of run %s: %w", e.Seq, e.Kind, e.Run.ID, err))
		}
		if !posted.Parent.IsZero() {
			p.Delivery.Parent = posted.Parent
		}
		if !posted.Message.IsZero() {
			p.Delivery.Messages = append(p.Delivery.Messages, notify.Delivered{Seq: e.Seq, Message: posted.Message})
		}
		p.Done = i + 1
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, p)
		}
	}
	return p.Delivery, nil
}

// deliveryProgress is NotifyEvent's heartbeat: how many events of the batch are delivered, and what they
// posted.
type deliveryProgress struct {
	Done     int             `json:"done"`
	Delivery notify.Delivery `json:"delivery"`
}

// NotifyEscalation implements notify.escalate.
func (a *Activities) NotifyEscalation(ctx context.Context, e notify.Escalation) error {
	if a.Notifier == nil {
		return notConfigured(actions.NotifyEscalation, "notifier")
	}
	return temporalError(actions.NotifyEscalation, a.Notifier.Escalate(ctx, e))
}

// ResolveApprovers implements approvers.resolve: the members of each Slack user group, sorted. An unknown
// group is a non-retryable NotFound: the playbook names a group that does not exist.
func (a *Activities) ResolveApprovers(ctx context.Context, req actions.ResolveRequest) (actions.ResolveResult, error) {
	if a.Directory == nil {
		return actions.ResolveResult{}, notConfigured(actions.ResolveApprovers, "directory")
	}
	out := actions.ResolveResult{Members: map[string][]string{}}
	for _, g := range req.Groups {
		g = strings.TrimSpace(g)
		if g == "" {
			return actions.ResolveResult{}, invalid(actions.ResolveApprovers, "empty group id")
		}
		if _, done := out.Members[g]; done {
			continue
		}
		members, err := a.Directory.GroupMembers(ctx, g)
		if err != nil {
			return actions.ResolveResult{}, temporalError(actions.ResolveApprovers, err)
		}
		members = slices.Clone(members)
		slices.Sort(members)
		out.Members[g] = slices.Compact(members)
	}
	return out, nil
}
