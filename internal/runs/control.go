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

// Send sends a signed statement to its run as the matching Update — decide (approve, deny), task-done or
// close — and returns the attempt as the run recorded it. The Update id is derived from what the statement
// says and its nonce: sending the same assertion again (a retry, a lost reply) is the same request to
// Temporal, while a statement with another nonce (a second click in Slack) is a second attempt the run
// records. The CLI signs without a nonce, so repeating a command is one request.
func Send(ctx context.Context, c client.Client, a approval.Assertion) (workflows.Answer, error) {
	st, err := a.Decode()
	if err != nil {
		return workflows.Answer{}, err
	}
	var name string
	var arg any
	switch st.Verb {
	case approval.Approve, approval.Deny:
		name, arg = workflows.UpdateDecide, workflows.DecideRequest{Approval: st.Subject, Assertion: a}
	case approval.Done:
		name, arg = workflows.UpdateTaskDone, workflows.TaskDoneRequest{Step: st.Subject, Assertion: a}
	case approval.Close:
		name, arg = workflows.UpdateClose, workflows.CloseRequest{Assertion: a}
	default:
		return workflows.Answer{}, fmt.Errorf("statement verb %q: want approve, deny, done or close", st.Verb)
	}
	id := UpdateID(st.Run, name, st.Subject, st.Actor.Kind, st.Actor.ID, st.Verb, st.Disposition, fmt.Sprint(st.Rollback), st.Nonce)
	return update(ctx, c, st.Run, name, id, arg)
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

// Final reads the result of a run whose workflow has ended; ok is false, with no error, while it runs or
// when whether it ended cannot be told. It is where a status query that failed goes next: a closed run
// answers from its history.
func Final(ctx context.Context, c client.Client, runID string) (res workflows.Result, ok bool, err error) {
	if closed, err := Closed(ctx, c, runID); err != nil || !closed {
		return res, false, nil
	}
	if err := c.GetWorkflow(ctx, runID, "").Get(ctx, &res); err != nil {
		return res, false, fmt.Errorf("read result of run %s: %w", runID, err)
	}
	return res, true, nil
}
