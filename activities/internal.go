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

// NotifyEvent implements notify.event: it delivers a batch of run events through the Notifier, in order.
// After each event it records how many it delivered as the heartbeat details, so a retry resumes after the
// last event delivered. The SDK throttles heartbeats (and sends the last one with a failure), so a retry
// after a crash may deliver the last few events again: the Notifier drops what it already delivered.
func (a *Activities) NotifyEvent(ctx context.Context, b notify.Batch) error {
	if a.Notifier == nil {
		return notConfigured(actions.NotifyEvent, "notifier")
	}
	done := 0
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &done); err != nil {
			done = 0 // deliver the batch again; the notifier drops duplicates
		}
	}
	for i := max(done, 0); i < len(b.Events); i++ {
		if err := a.Notifier.Notify(ctx, b.Events[i]); err != nil {
			return temporalError(actions.NotifyEvent, fmt.Errorf("event %d (%s) of run %s: %w", b.Events[i].Seq, b.Events[i].Kind, b.Events[i].Run.ID, err))
		}
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, i+1)
		}
	}
	return nil
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
