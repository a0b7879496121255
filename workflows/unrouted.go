package workflows

import (
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// UnroutedWorkflowName is the workflow that records an alert no playbook answers.
const UnroutedWorkflowName = "UnroutedAlert"

// Unrouted is an alert no playbook answers, as recorded: short, searchable like every run (its search
// attributes carry the alert id, techniques, severity and host), and complete the moment it starts.
type Unrouted struct {
	Alert  AlertRef `json:"alert"`
	Tactic []string `json:"tactics,omitempty"`
	Reason string   `json:"reason"`
}

// UnroutedID is the workflow ID of the record of an unrouted alert: like a run's, one per alert.
func UnroutedID(source, alertID string) string { return "parry-unrouted-" + source + "-" + alertID }

// UnroutedWorkflow records an unrouted alert and completes.
func UnroutedWorkflow(ctx workflow.Context, u Unrouted) (Unrouted, error) {
	updates := []temporal.SearchAttributeUpdate{AttrAlertID.ValueSet(u.Alert.ID), AttrPlaybook.ValueSet("(unrouted)")}
	if len(u.Alert.Techniques) > 0 {
		updates = append(updates, AttrTechniques.ValueSet(u.Alert.Techniques))
	}
	if u.Alert.Severity != "" {
		updates = append(updates, AttrSeverity.ValueSet(u.Alert.Severity))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		return u, fmt.Errorf("set search attributes: %w", err)
	}
	return u, nil
}
