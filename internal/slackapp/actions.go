// Package slackapp is Parry's Slack app as workers use it: the notifier that posts a run's parent message
// and threads its events, the approval, task and close buttons and what their values carry, and the
// approver directory (Slack user groups). Handling the clicks that come back is the front door's
// (internal/frontdoor), which keeps this package — imported by activities — free of workflow code. The name
// avoids shadowing github.com/slack-go/slack.
package slackapp

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Action ids of Parry's interactive elements. A click arrives as a block_actions interaction naming one of
// them; the deny reason and the close form come back as view_submission with the callback ids below.
const (
	ActionApprove  = "parry.approve"   // button on an approval request, with a confirm dialog
	ActionDeny     = "parry.deny"      // button on an approval request; opens the deny-reason modal
	ActionTaskDone = "parry.task_done" // "Mark done" on a manual task
	ActionClose    = "parry.close"     // "Close as…" on the run's parent message; opens the close modal

	CallbackDeny  = "parry.deny_reason" // the deny modal
	CallbackClose = "parry.close_run"   // the close modal

	// Block and action ids of the inputs in the modals.
	BlockReason       = "reason"
	InputReason       = "reason_input"
	BlockDisposition  = "disposition"
	InputDisposition  = "disposition_select"
	BlockRollback     = "rollback"
	InputRollback     = "rollback_checkbox"
	RollbackOptionVal = "rollback"
)

// ButtonValue is what a Parry button carries: which run, approval and step it is about. Never a secret:
// Slack shows it to anyone who inspects the message, so it only names things, and the workflow decides
// what a click by whom is worth.
type ButtonValue struct {
	Run      string `json:"r"`
	Approval string `json:"a,omitempty"`
	Step     string `json:"s,omitempty"`
}

// maxValueLen is Slack's limit on a button value (2,000 characters).
const maxValueLen = 2000

// Encode renders the value for a button's value field.
func (v ButtonValue) Encode() (string, error) {
	if v.Run == "" {
		return "", errors.New("button value without a run")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode button value: %w", err)
	}
	if len(b) > maxValueLen {
		return "", fmt.Errorf("button value is %d characters, Slack allows %d", len(b), maxValueLen)
	}
	return string(b), nil
}

// DecodeButtonValue reads a button's value.
func DecodeButtonValue(s string) (ButtonValue, error) {
	var v ButtonValue
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return v, fmt.Errorf("button value %q is not Parry's: %w", s, err)
	}
	if v.Run == "" {
		return v, fmt.Errorf("button value %q names no run", s)
	}
	return v, nil
}
