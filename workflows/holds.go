package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Containment is counted where the contained thing lives, not where the alert came from. A host is counted
// by that host's incident; an account, a blocked IP, hash or sender, a quarantined message by a ledger of
// its own — an incident workflow keyed by the kind and a digest of the target that sees no alerts, only
// holds and releases — because two runs on two hosts may disable the same account or block the same sender,
// and the first to recover must not undo what the second still needs.
//
// Runs started before this existed counted everything in their alert's incident; replaying them still
// does (the change is behind a GetVersion marker).
const versionHoldsByTarget = "holds-by-target"

// LedgerID is the workflow id of the incident that counts holds of one thing: the host's incident for a
// host, else a ledger for the kind and target. A ledger's id carries a SHA-256 digest of the target, not the
// target: workflow ids are stored and listed in the clear even when payloads are encrypted, and an account
// name or a sender address must not be (a host key already is, in search attributes). The digest is not
// keyed, so it hides a name from a reader, not from someone confirming a guess.
func LedgerID(kind, target string) string {
	t := normTarget(kind, target)
	if t == "" {
		return ""
	}
	if kind == "host" {
		return IncidentID(t)
	}
	sum := sha256.Sum256([]byte(kind + ":" + t))
	return IncidentID(kind + ":" + hex.EncodeToString(sum[:16]))
}

// ledgerFor is where this run counts holds of a kind and target: the alert's incident when that is the
// ledger (the common case: the alert's own host), else the target's ledger.
func (r *run) ledgerFor(ctx workflow.Context, kind, target string) string {
	id := LedgerID(kind, target)
	if id == "" || id == r.incident {
		return r.incident
	}
	// The SDK keeps the first answer for the run: later calls return it and record nothing.
	if workflow.GetVersion(ctx, versionHoldsByTarget, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return r.incident
	}
	return id
}

// hold tells the ledger of what a step contained that this run holds it. The run goes on at once: the
// ledger is told in the background (starting it, with the hold, when it is not running), and a release or
// the run's end waits for every hold still being told, so a ledger always hears of a hold before its release.
func (r *run) hold(ctx workflow.Context, h Hold) {
	id := r.ledgerFor(ctx, h.Kind, h.Target)
	switch {
	case id == "":
		return
	case id == r.incident:
		r.tellIncident(ctx, SignalHold, h)
		return
	}
	r.holdsTelling++
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { r.holdsTelling-- }()
		if err := tellLedger(ctx, id, h); err != nil {
			workflow.GetLogger(ctx).Warn("hold not counted", "ledger", id, "error", err)
			r.escalate(ctx, fmt.Sprintf("%s %s is contained but its ledger %s could not count it (%v): another run may release it while this one still needs it", h.Kind, h.Target, id, err), "", "")
			return
		}
		if !slices.Contains(r.ledgers, id) {
			r.ledgers = append(r.ledgers, id)
		}
	})
}

// heldTold waits until every hold of this run has reached its ledger.
func (r *run) heldTold(ctx workflow.Context) {
	_ = workflow.Await(ctx, func() bool { return r.holdsTelling == 0 })
}

// tellLedger starts a ledger as an abandoned child (it outlives this run) counting the hold, or, when it is
// running, signals the hold to it. A ledger that ended between the two (it had held nothing for a day) is
// started again.
func tellLedger(ctx workflow.Context, id string, h Hold) error {
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            id,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	})
	in := IncidentInput{Key: id[len(IncidentID("")):], Hold: &h}
	var err error
	for range 3 {
		err = workflow.ExecuteChildWorkflow(cctx, IncidentWorkflowName, in).GetChildWorkflowExecution().Get(ctx, nil)
		if err == nil {
			return nil // started, counting the hold
		}
		if !temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			return fmt.Errorf("start the %s ledger %s: %w", h.Kind, id, err)
		}
		if err = workflow.SignalExternalWorkflow(ctx, id, "", SignalHold, h).Get(ctx, nil); err == nil {
			return nil
		}
	}
	return err
}

// runEnded tells the run's incident and every ledger it held something in that it closed, all at once:
// its holds go.
func (r *run) runEnded(ctx workflow.Context) {
	r.heldTold(ctx)
	ended := RunEnded{Run: r.res.RunID}
	ids := slices.DeleteFunc(append([]string{r.incident}, r.ledgers...), func(id string) bool { return id == "" })
	sent := make([]workflow.Future, len(ids))
	for i, id := range ids {
		sent[i] = workflow.SignalExternalWorkflow(ctx, id, "", SignalRunEnded, ended)
	}
	for i, f := range sent {
		if err := f.Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("not told the run ended", "incident", ids[i], "error", err)
		}
	}
}
