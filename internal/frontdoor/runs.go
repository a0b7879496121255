package frontdoor

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/parry-soc/parry/approval"
	"github.com/parry-soc/parry/internal/runs"
	"github.com/parry-soc/parry/workflows"
)

// Runs sends the front door's statements to runs as Temporal Updates.
type Runs struct {
	Client client.Client
}

var _ Updater = Runs{}

// Send sends a signed statement with runs.Send and waits for the run's answer. The front door's statements
// carry a nonce naming the click: every retry of one click is the same Update to Temporal (the server
// deduplicates it, accepted or still waiting for a worker), while a second click is a second attempt the
// run records — refused when the same person already approved.
func (r Runs) Send(ctx context.Context, a approval.Assertion) (workflows.Answer, error) {
	st, err := a.Decode()
	if err != nil {
		return workflows.Answer{}, &RejectedError{Why: "malformed statement: " + err.Error()}
	}
	ans, err := runs.Send(ctx, r.Client, a)
	if err != nil {
		return ans, final(st.Run, st.Verb, err)
	}
	return ans, nil
}

// final turns the errors no retry can fix into *RejectedError: the validator's rejection (an
// application error), a run that does not exist or has ended, a request Temporal calls invalid. Anything
// else — no worker yet, a timeout, the server unavailable — is returned as is, to be retried.
func final(run, name string, err error) error {
	var app *temporal.ApplicationError
	var notFound *serviceerror.NotFound
	var invalid *serviceerror.InvalidArgument
	switch {
	case errors.As(err, &app):
		return &RejectedError{Why: app.Message()}
	case errors.As(err, &notFound):
		return &RejectedError{Why: fmt.Sprintf("run %s does not exist or has ended", run)}
	case errors.As(err, &invalid):
		return &RejectedError{Why: fmt.Sprintf("Temporal refused the %s request: %s", name, invalid.Message)}
	}
	return fmt.Errorf("%s on run %s: %w", name, run, err)
}
