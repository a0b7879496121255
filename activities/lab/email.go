package lab

import (
	"context"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/parry-soc/parry/activities/provider"
)

func (l *Lab) findMessage(id string) (*Message, error) {
	m := l.fx.message(id)
	if m == nil {
		return nil, provider.NotFound("message", id)
	}
	return m, nil
}

// PurgeMessage soft-deletes a message from every mailbox that still holds it and returns those mailboxes,
// sorted. A message already purged is removed from nothing.
func (l *Lab) PurgeMessage(_ context.Context, key, messageID string) ([]string, error) {
	m, err := l.findMessage(messageID)
	if err != nil {
		return nil, err
	}
	id := messageKey(m.MessageID)
	return effect(l, "email.purge_message", key, id, func(st *State, now time.Time) ([]string, error) {
		if _, done := st.PurgedMessages[id]; done {
			return []string{}, nil
		}
		boxes := slices.Clone(m.DeliveredTo)
		slices.Sort(boxes)
		st.PurgedMessages[id] = Purge{Mailboxes: boxes, Key: key, At: now}
		return boxes, nil
	})
}

// RestoreMessage puts a purged message back into the mailboxes it was removed from and returns how many.
func (l *Lab) RestoreMessage(_ context.Context, key, messageID string) (int, error) {
	m, err := l.findMessage(messageID)
	if err != nil {
		return 0, err
	}
	id := messageKey(m.MessageID)
	return effect(l, "email.restore_message", key, id, func(st *State, _ time.Time) (int, error) {
		n := len(st.PurgedMessages[id].Mailboxes)
		delete(st.PurgedMessages, id)
		return n, nil
	})
}

// BlockSender blocks a sender address at the mail gateway and returns the rule id; a sender already blocked
// keeps its rule.
func (l *Lab) BlockSender(_ context.Context, key, sender string) (string, error) {
	s, err := senderKey(sender)
	if err != nil {
		return "", err
	}
	return effect(l, "email.block_sender", key, s, func(st *State, now time.Time) (string, error) {
		if r, ok := st.BlockedSenders[s]; ok {
			return r.ID, nil
		}
		st.NextRule++
		r := Rule{ID: fmt.Sprintf("LAB-MAIL-%04d", st.NextRule), Key: key, At: now}
		st.BlockedSenders[s] = r
		return r.ID, nil
	})
}

// UnblockSender removes a sender block and reports whether there was one.
func (l *Lab) UnblockSender(_ context.Context, key, sender string) (bool, error) {
	s, err := senderKey(sender)
	if err != nil {
		return false, err
	}
	return effect(l, "email.unblock_sender", key, s, func(st *State, _ time.Time) (bool, error) {
		_, ok := st.BlockedSenders[s]
		delete(st.BlockedSenders, s)
		return ok, nil
	})
}

func senderKey(sender string) (string, error) {
	a, err := mail.ParseAddress(sender)
	if err != nil {
		return "", provider.InvalidInput("%q is not a mail address", sender)
	}
	return strings.ToLower(a.Address), nil
}
