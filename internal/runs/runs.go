// Package runs starts playbook runs: it turns an alert payload into a normalized alert, routes it to a
// playbook, checks the playbook's required inputs and starts the interpreter workflow with the deterministic
// run ID, so the same alert seen again is reported as a duplicate of its run. The CLI and the HTTP front door
// both start runs through it.
package runs

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/parry-soc/parry/alerts"
	"github.com/parry-soc/parry/alerts/routing"
	"github.com/parry-soc/parry/approval"
	"github.com/parry-soc/parry/playbooks"
	"github.com/parry-soc/parry/workflows"
)

// Plan is what a run will be: the alert, the chosen playbook and why.
type Plan struct {
	Alert    alerts.Alert
	Playbook *playbooks.Playbook
	Route    workflows.RouteInfo
}

// Prepare normalizes an alert payload and picks its playbook: the one given (an explicit choice), or the
// routing decision over the library. It fails when a required input is missing, naming the field.
func Prepare(payload []byte, source string, library []*playbooks.Playbook, explicit *playbooks.Playbook) (Plan, error) {
	a, err := alerts.Normalize(payload, source)
	if err != nil {
		return Plan{}, err
	}
	return PlanFor(a, library, explicit)
}

// PlanFor routes a normalized alert.
func PlanFor(a alerts.Alert, library []*playbooks.Playbook, explicit *playbooks.Playbook) (Plan, error) {
	p := Plan{Alert: a}
	if explicit != nil {
		p.Playbook, p.Route = explicit, workflows.RouteInfo{Specificity: "explicit"}
	} else {
		rt, err := routing.Route(a, library)
		if err != nil {
			return Plan{}, err
		}
		p.Playbook = rt.Playbook
		p.Route = workflows.RouteInfo{Specificity: rt.Specificity, Technique: rt.Technique}
		for _, o := range rt.Others {
			p.Route.Others = append(p.Route.Others, o.ID)
		}
	}
	if _, err := routing.ResolveInputs(p.Playbook, a); err != nil {
		return Plan{}, err
	}
	return p, nil
}

// Started is a started (or already running) run.
type Started struct {
	RunID     string
	Playbook  string
	Duplicate bool // the alert was seen before: RunID is its existing run
}

// Starter starts runs on a Temporal client.
type Starter struct {
	Client client.Client
	// Keys are pinned in every run it starts: whose assertions the run will accept.
	Keys []approval.Key
}

// Start starts the run of a plan. The workflow ID is derived from the alert, with conflict policy FAIL and
// reuse policy REJECT_DUPLICATE, and the SDK told to return the already-started error instead of quietly
// handing back the running execution: a duplicate is recognised by that error, running or closed.
func (s *Starter) Start(ctx context.Context, p Plan) (Started, error) {
	in := workflows.Input{Playbook: *p.Playbook, Alert: p.Alert, Route: p.Route, Keys: s.Keys}
	id := workflows.RunID(p.Alert.Source, p.Alert.ID)
	opts := client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                workflows.TaskQueue,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes:                    workflows.StartAttributes(in),
		StaticSummary:                            fmt.Sprintf("%s: %s", p.Playbook.ID, p.Alert.Title),
	}
	_, err := s.Client.ExecuteWorkflow(ctx, opts, workflows.WorkflowName, in)
	if err == nil {
		return Started{RunID: id, Playbook: p.Playbook.ID}, nil
	}
	if IsDuplicate(err) {
		return Started{RunID: id, Playbook: p.Playbook.ID, Duplicate: true}, nil
	}
	return Started{}, fmt.Errorf("start run %s: %w", id, err)
}

// IsDuplicate reports whether a start failed because the run already exists (running or closed).
func IsDuplicate(err error) bool {
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	return errors.As(err, &already) || temporal.IsWorkflowExecutionAlreadyStartedError(err)
}
