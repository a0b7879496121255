package frontdoor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/parry-soc/parry/internal/runs"
	"github.com/parry-soc/parry/workflows"
)

// RunReader reads a run for GET /v1/runs/{id}; TemporalRuns is Parry's.
type RunReader interface {
	// Run returns the run's state: its status query while it runs, its result once closed. An id that
	// names no run (or another kind of workflow) is ErrNoRun.
	Run(ctx context.Context, id string) (RunView, error)
}

// ErrNoRun is a run id Temporal does not know (or no longer keeps).
var ErrNoRun = errors.New("no such run")

// RunView is what GET /v1/runs/{id} answers: the run as `trigger status --json` shows it, and Temporal's
// status of its workflow (running, completed, terminated, …; a failed Parry run stays running until a
// person closes it).
type RunView struct {
	workflows.Result
	WorkflowStatus string `json:"workflow_status"`
}

// TemporalRuns reads runs from Temporal.
type TemporalRuns struct {
	Client client.Client
}

var _ RunReader = TemporalRuns{}

// Run describes the workflow, then asks a running one for its status or reads a closed one's result.
func (t TemporalRuns) Run(ctx context.Context, id string) (RunView, error) {
	d, err := t.Client.DescribeWorkflowExecution(ctx, id, "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return RunView{}, ErrNoRun
	}
	if err != nil {
		return RunView{}, fmt.Errorf("describe run %s: %w", id, err)
	}
	info := d.GetWorkflowExecutionInfo()
	if info.GetType().GetName() != workflows.WorkflowName {
		return RunView{}, ErrNoRun
	}
	v := RunView{WorkflowStatus: statusName(info.GetStatus())}
	if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		v.Result, err = runs.Status(ctx, t.Client, id)
		if err != nil {
			return v, fmt.Errorf("no worker answered the status query of run %s (%w)", id, err)
		}
		return v, nil
	}
	if err := t.Client.GetWorkflow(ctx, id, "").Get(ctx, &v.Result); err != nil {
		// Terminated or timed out: there is no result, only the status.
		v.Result = workflows.Result{RunID: id, Failure: err.Error()}
	}
	return v, nil
}

// Exists reports whether a workflow id has an execution, running or closed (within retention).
func (t TemporalRuns) Exists(ctx context.Context, id string) (bool, error) {
	_, err := t.Client.DescribeWorkflowExecution(ctx, id, "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("describe run %s: %w", id, err)
	}
	return true, nil
}

func statusName(s enumspb.WorkflowExecutionStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_"))
}

// runQueryTimeout bounds GET /v1/runs/{id}: a running run answers its status query through a worker, and
// with none running the query would wait.
const runQueryTimeout = 5 * time.Second

func (in *Intake) getRun(w http.ResponseWriter, r *http.Request) {
	if _, ok := in.authenticated(w, r); !ok {
		return
	}
	id := r.PathValue("id")
	ctx, cancel := context.WithTimeout(r.Context(), runQueryTimeout)
	defer cancel()
	v, err := in.cfg.Runs.Run(ctx, id)
	switch {
	case errors.Is(err, ErrNoRun):
		in.refuse(w, http.StatusNotFound, IntakeError{Error: fmt.Sprintf("no run %q: run ids are parry-<source>-<alert id>, as the intake answered when it took the alert (runs older than the namespace's retention are gone)", id)})
	case err != nil:
		in.log.Warn("intake: read run failed", "run", id, "error", err)
		w.Header().Set("Retry-After", "1")
		in.refuse(w, http.StatusServiceUnavailable, IntakeError{Error: err.Error() + "; retry shortly"})
	default:
		in.writeJSON(w, http.StatusOK, v)
	}
}
