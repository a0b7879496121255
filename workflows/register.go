package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/parry-soc/parry/attack"
	"github.com/parry-soc/parry/expr"
)

// Registry is the part of a Temporal worker that registers workflows.
type Registry interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}

// Register registers Parry's workflows on a worker.
func Register(r Registry) {
	// Build the CEL environment and load the ATT&CK catalog (incidents rank groups with it) now: either's
	// first construction takes long enough on a busy machine to trip the workflow deadlock detector (1 s) if
	// it happened inside a workflow task.
	_, _ = expr.Env()
	_ = attack.Default()
	r.RegisterWorkflowWithOptions(PlaybookWorkflow, workflow.RegisterOptions{Name: WorkflowName})
	r.RegisterWorkflowWithOptions(IncidentWorkflow, workflow.RegisterOptions{Name: IncidentWorkflowName})
	r.RegisterWorkflowWithOptions(UnroutedWorkflow, workflow.RegisterOptions{Name: UnroutedWorkflowName})
}
