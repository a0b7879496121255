package bench

import (
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/parry-soc/parry/actions"
)

// handWritten is the T1566.001 response written directly as a Temporal workflow: the same activities, in the
// same order, with the same inputs and retry policies as the interpreter runs for overheadPlaybook, and
// nothing else — no notifications, budgets, search attributes or approvals.
func handWritten(ctx workflow.Context, runID string) error {
	call := func(ctx workflow.Context, step, action string, with map[string]any) workflow.Future {
		a, _ := actions.Lookup(action)
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			ActivityID:          step,
			StartToCloseTimeout: a.Timeout,
			HeartbeatTimeout:    a.Heartbeat,
			RetryPolicy: &temporal.RetryPolicy{InitialInterval: a.Retry.InitialInterval, BackoffCoefficient: a.Retry.BackoffCoefficient,
				MaximumInterval: a.Retry.MaximumInterval, MaximumAttempts: a.Retry.MaximumAttempts, NonRetryableErrorTypes: actions.NonRetryable},
		})
		return workflow.ExecuteActivity(ctx, action, actions.Request{RunID: runID, StepID: step, IdempotencyKey: actions.IdempotencyKey(runID, step), With: with})
	}
	seq := func(step, action string, with map[string]any) error {
		return call(ctx, step, action, with).Get(ctx, nil)
	}
	host, user := map[string]any{"host": "WS-0042"}, map[string]any{"user": "alice"}
	msg := map[string]any{"message_id": "<20261122085901.4711@mail.example.net>"}
	sha := map[string]any{"sha256": "4f1c6a5e2d9b8c7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0f9e"}
	if err := seq("isolate-host", "edr.isolate_host", host); err != nil {
		return err
	}
	if err := seq("disable-user", "identity.disable_user", user); err != nil {
		return err
	}
	futures := []workflow.Future{
		call(ctx, "memory-dump", "evidence.memory_dump", host),
		call(ctx, "email-headers", "evidence.email_headers", msg),
		call(ctx, "pcap", "evidence.network_capture", map[string]any{"host": "WS-0042", "duration": "5m"}),
	}
	for _, f := range futures {
		if err := f.Get(ctx, nil); err != nil {
			return err
		}
	}
	for _, s := range []struct {
		step, action string
		with         map[string]any
	}{
		{"hash-intel", "intel.lookup_hash", sha},
		{"purge-message", "email.purge_message", msg},
		{"block-sender", "email.block_sender", map[string]any{"sender": "billing@invoices.example.net"}},
		{"scan-host", "edr.scan_host", host},
		{"release-host", "edr.release_host", host},
		{"reset-password", "identity.reset_password", user},
		{"enable-user", "identity.enable_user", user},
	} {
		if err := seq(s.step, s.action, s.with); err != nil {
			return err
		}
	}
	return nil
}

// overheadPlaybook is the playbook the interpreter runs against handWritten: the T1566.001 library
// response's activities without its approvals and manual tasks, which a hand-written workflow would not have.
const overheadPlaybook = `
apiVersion: parry/v1
kind: Playbook
id: bench-overhead
name: T1566.001 activities without people
version: 1
techniques: [T1566.001]
severity: high
inputs:
  host: {from: alert.host, required: true}
  user: {from: alert.user, required: true}
  sha256: {from: alert.hashes.sha256}
  message_id: {from: alert.email.message_id}
  sender: {from: alert.email.sender}
notify: {channel: "#soc-incidents", escalation: "#soc-leads", oncall: S0ONCALL}
approvers:
  containment: {slack_groups: [S0SOCLEADS], min: 1}
rollback: {approval: {by: containment}}
phases:
  - id: immediate
    budget: 15m
    steps:
      - {id: isolate-host, action: edr.isolate_host, with: {host: "${{ inputs.host }}"}}
      - {id: disable-user, action: identity.disable_user, with: {user: "${{ inputs.user }}"}}
      - parallel:
          - {id: memory-dump, action: evidence.memory_dump, with: {host: "${{ inputs.host }}"}}
          - {id: email-headers, action: evidence.email_headers, with: {message_id: "${{ inputs.message_id }}"}}
          - {id: pcap, action: evidence.network_capture, with: {host: "${{ inputs.host }}", duration: 5m}}
  - id: investigation
    budget: 45m
    steps:
      - {id: hash-intel, action: intel.lookup_hash, with: {sha256: "${{ inputs.sha256 }}"}}
      - {id: purge-message, action: email.purge_message, with: {message_id: "${{ inputs.message_id }}"}}
      - {id: block-sender, action: email.block_sender, with: {sender: "${{ inputs.sender }}"}}
  - id: recovery
    steps:
      - {id: scan-host, action: edr.scan_host, with: {host: "${{ inputs.host }}"}}
      - {id: release-host, action: edr.release_host, with: {host: "${{ inputs.host }}"}}
      - {id: reset-password, action: identity.reset_password, with: {user: "${{ inputs.user }}"}}
      - {id: enable-user, action: identity.enable_user, with: {user: "${{ inputs.user }}"}}
`
