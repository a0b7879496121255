package activities

import (
	"context"
	"fmt"

	"github.com/parry-soc/parry/actions"
)

// PurgeMessage implements email.purge_message.
func (a *Activities) PurgeMessage(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "email.purge_message", "email", a.Email, req)
	if err != nil {
		return actions.Result{}, err
	}
	id := param(req, "message_id")
	boxes, err := a.Email.PurgeMessage(ctx, req.IdempotencyKey, id)
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	if boxes == nil {
		boxes = []string{}
	}
	return c.result(map[string]any{"purged": len(boxes), "mailboxes": boxes},
		fmt.Sprintf("purged %s from %d mailbox(es)", id, len(boxes))), nil
}

// RestoreMessage implements email.restore_message.
func (a *Activities) RestoreMessage(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "email.restore_message", "email", a.Email, req)
	if err != nil {
		return actions.Result{}, err
	}
	id := param(req, "message_id")
	n, err := a.Email.RestoreMessage(ctx, req.IdempotencyKey, id)
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	return c.result(map[string]any{"restored": n}, fmt.Sprintf("restored %s to %d mailbox(es)", id, n)), nil
}

// BlockSender implements email.block_sender.
func (a *Activities) BlockSender(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "email.block_sender", "email", a.Email, req)
	if err != nil {
		return actions.Result{}, err
	}
	sender := param(req, "sender")
	rule, err := a.Email.BlockSender(ctx, req.IdempotencyKey, sender)
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	return c.result(map[string]any{"rule_id": rule}, fmt.Sprintf("blocked sender %s (rule %s)", sender, rule)), nil
}

// UnblockSender implements email.unblock_sender.
func (a *Activities) UnblockSender(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "email.unblock_sender", "email", a.Email, req)
	if err != nil {
		return actions.Result{}, err
	}
	sender := param(req, "sender")
	removed, err := a.Email.UnblockSender(ctx, req.IdempotencyKey, sender)
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	note := "unblocked sender " + sender
	if !removed {
		note = "sender " + sender + " was not blocked"
	}
	return c.result(map[string]any{"removed": removed}, note), nil
}
