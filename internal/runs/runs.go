// Package runs starts playbook runs: it turns an alert payload into a normalized alert, routes it to a
// playbook, checks the playbook's required inputs and starts the interpreter workflow with the deterministic
// run ID, so the same alert seen again is reported as a duplicate of its run. The CLI and the HTTP front door
// both start runs through it.
package runs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/parry-soc/parry/alerts"
	"github.com/parry-soc/parry/alerts/routing"
	"github.com/parry-soc/parry/approval"
	"github.com/parry-soc/parry/attack"
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
	// IncidentWindow and IncidentThreshold configure new incidents (zero: the workflows' defaults).
	IncidentWindow    time.Duration
	IncidentThreshold float64
	// Now is the clock for alerts without a time (default time.Now).
	Now func() time.Time
}

// Start starts the run of a plan. The workflow ID is derived from the alert, with conflict policy FAIL and
// reuse policy REJECT_DUPLICATE, and the SDK told to return the already-started error instead of quietly
// handing back the running execution: a duplicate is recognised by that error, running or closed.
func (s *Starter) Start(ctx context.Context, p Plan) (Started, error) {
	in := workflows.Input{Playbook: *p.Playbook, Alert: p.Alert, Route: p.Route, Keys: s.Keys}
	id := workflows.RunID(p.Alert.Source, p.Alert.ID)
	opts := oncePerAlert(id)
	opts.TypedSearchAttributes = workflows.StartAttributes(in)
	opts.StaticSummary = fmt.Sprintf("%s: %s", p.Playbook.ID, p.Alert.Title)
	// The host's incident first, so it exists to count the run's containment from its first step.
	if err := s.linkIncident(ctx, p, id); err != nil {
		return Started{}, err
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

// oncePerAlert are the options that make an alert's workflow start at most once: conflict policy FAIL,
// reuse policy REJECT_DUPLICATE, and the SDK told to return the already-started error (IsDuplicate)
// instead of quietly handing back the running execution.
func oncePerAlert(id string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                workflows.TaskQueue,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}
}

// IsDuplicate reports whether a start failed because the run already exists (running or closed).
func IsDuplicate(err error) bool {
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	return errors.As(err, &already) || temporal.IsWorkflowExecutionAlreadyStartedError(err)
}

// linkIncident tells the alert's host incident about it with signal-with-start: the incident workflow is
// started if the host has none running. A duplicate alert is told again; the incident drops repeats.
func (s *Starter) linkIncident(ctx context.Context, p Plan, runID string) error {
	key := p.Alert.HostKey()
	if key == "" {
		return nil
	}
	ref := IncidentAlert(p.Alert, runID, p.Playbook, s.now())
	id := workflows.IncidentID(key)
	opts := client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: workflows.TaskQueue,
		// A host whose incident ended (a quiet day) starts a new one.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.AttrHost.ValueSet(key)),
		StaticSummary:         "incident on " + key,
	}
	in := workflows.IncidentInput{Key: key, Window: s.IncidentWindow, Threshold: s.IncidentThreshold}
	if _, err := s.Client.SignalWithStartWorkflow(ctx, id, workflows.SignalAlert, ref, opts, workflows.IncidentWorkflowName, in); err != nil {
		return fmt.Errorf("link alert %s to incident %s: %w", p.Alert.ID, id, err)
	}
	return nil
}

func (s *Starter) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// IncidentAlert is the reference an incident keeps of an alert: ids, techniques with their tactics,
// severity and time — never the raw payload. pb may be nil for an alert no playbook answers.
func IncidentAlert(a alerts.Alert, runID string, pb *playbooks.Playbook, now time.Time) workflows.IncidentAlert {
	ref := workflows.IncidentAlert{AlertID: a.ID, Source: a.Source, RunID: runID, Title: a.Title, Severity: a.Severity,
		Host: a.Host, User: a.User, Techniques: a.Techniques, Time: now.UTC()}
	if t, err := time.Parse(time.RFC3339, a.Time); err == nil {
		ref.Time = t.UTC()
	}
	if pb != nil {
		ref.Playbook, ref.Channel, ref.Escalation, ref.Oncall = pb.ID, pb.Notify.Channel, pb.Notify.Escalation, pb.Notify.Oncall
	}
	cat := attack.Default()
	seen := map[string]bool{}
	add := func(t string) {
		if !seen[t] {
			seen[t] = true
			ref.Tactics = append(ref.Tactics, t)
		}
	}
	for _, id := range a.Techniques {
		for _, tc := range cat.TacticsOf(id) {
			add(tc.ShortName)
		}
	}
	for _, t := range a.Tactics {
		if tc, ok := cat.Tactic(t); ok {
			add(tc.ShortName)
		}
	}
	sort.SliceStable(ref.Tactics, func(i, j int) bool { return cat.TacticOrder(ref.Tactics[i]) < cat.TacticOrder(ref.Tactics[j]) })
	return ref
}

// RecordUnrouted records an alert no playbook answers as a short, completed UnroutedAlert workflow, so it
// is searchable like every run; the same alert again is reported as a duplicate of its record.
func (s *Starter) RecordUnrouted(ctx context.Context, a alerts.Alert, reason string) (Started, error) {
	id := workflows.UnroutedID(a.Source, a.ID)
	u := workflows.Unrouted{Alert: workflows.RefOf(a), Tactic: a.Tactics, Reason: reason}
	opts := oncePerAlert(id)
	opts.StaticSummary = "unrouted: " + a.Title
	if key := a.HostKey(); key != "" && a.Host != "" {
		opts.TypedSearchAttributes = temporal.NewSearchAttributes(workflows.AttrHost.ValueSet(key))
	}
	if _, err := s.Client.ExecuteWorkflow(ctx, opts, workflows.UnroutedWorkflowName, u); err != nil {
		if IsDuplicate(err) {
			return Started{RunID: id, Duplicate: true}, nil
		}
		return Started{}, fmt.Errorf("record unrouted alert %s: %w", a.ID, err)
	}
	// The host's incident hears of it too: an alert nobody answers can still be part of a chain.
	if key := a.HostKey(); key != "" {
		if err := s.linkIncident(ctx, Plan{Alert: a}, ""); err != nil {
			return Started{RunID: id}, err
		}
	}
	return Started{RunID: id}, nil
}
