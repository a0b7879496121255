package runs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/parry-soc/parry/approval"
	"github.com/parry-soc/parry/workflows"
)

// Status asks a run for its state.
func Status(ctx context.Context, c client.Client, runID string) (workflows.Result, error) {
	var res workflows.Result
	v, err := c.QueryWorkflow(ctx, runID, "", workflows.QueryStatus)
	if err != nil {
		return res, fmt.Errorf("query run %s: %w", runID, explain(err))
	}
	if err := v.Get(&res); err != nil {
		return res, fmt.Errorf("read status of run %s: %w", runID, err)
	}
	return res, nil
}

// UpdateID derives an Update's id from what it says, so sending the same statement twice (a double click, a
// retry after a lost reply) is one request to Temporal.
func UpdateID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:16])
}

// Decide sends an approval decision and returns how the run recorded it.
func Decide(ctx context.Context, c client.Client, runID, approvalID string, a approval.Assertion) (workflows.Answer, error) {
	st, err := a.Decode()
	if err != nil {
		return workflows.Answer{}, err
	}
	id := UpdateID(runID, approvalID, st.Actor.Kind, st.Actor.ID, st.Verb)
	return update(ctx, c, runID, workflows.UpdateDecide, id, workflows.DecideRequest{Approval: approvalID, Assertion: a})
}

// TaskDone marks a manual task done.
func TaskDone(ctx context.Context, c client.Client, runID, step string, a approval.Assertion) (workflows.Answer, error) {
	st, err := a.Decode()
	if err != nil {
		return workflows.Answer{}, err
	}
	id := UpdateID(runID, "task", step, st.Actor.Kind, st.Actor.ID)
	return update(ctx, c, runID, workflows.UpdateTaskDone, id, workflows.TaskDoneRequest{Step: step, Assertion: a})
}

// Close closes a run with a disposition, optionally asking for a rollback.
func Close(ctx context.Context, c client.Client, runID string, a approval.Assertion) (workflows.Answer, error) {
	st, err := a.Decode()
	if err != nil {
		return workflows.Answer{}, err
	}
	id := UpdateID(runID, "close", st.Actor.Kind, st.Actor.ID, st.Disposition, fmt.Sprint(st.Rollback))
	return update(ctx, c, runID, workflows.UpdateClose, id, workflows.CloseRequest{Assertion: a})
}

func update(ctx context.Context, c client.Client, runID, name, id string, arg any) (workflows.Answer, error) {
	var ans workflows.Answer
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   runID,
		UpdateName:   name,
		UpdateID:     id,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return ans, fmt.Errorf("%s on run %s: %w", name, runID, explain(err))
	}
	if err := h.Get(ctx, &ans); err != nil {
		return ans, fmt.Errorf("%s on run %s: %w", name, runID, explain(err))
	}
	return ans, nil
}

// explain turns Temporal's errors into what an operator can act on.
func explain(err error) error {
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return fmt.Errorf("no such run, or it has already ended (%w)", err)
	}
	return err
}

// Closed reports whether a run's workflow has ended (completed, failed, terminated or timed out). A failed
// Parry run stays open until a person closes it, so its status says "failed" while this says false.
func Closed(ctx context.Context, c client.Client, runID string) (bool, error) {
	d, err := c.DescribeWorkflowExecution(ctx, runID, "")
	if err != nil {
		return false, fmt.Errorf("describe run %s: %w", runID, explain(err))
	}
	return d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, nil
}
