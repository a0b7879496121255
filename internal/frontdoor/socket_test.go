package frontdoor_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/parry-soc/parry/internal/frontdoor"
	"github.com/parry-soc/parry/internal/slackapp"
	"github.com/parry-soc/parry/internal/slacktest"
)

// TestSocketModeHandsInteractionsToTheSameHandler: over Socket Mode an interactive envelope reaches the
// same Interactions and is acknowledged with its envelope id — with the form errors, for a submission.
func TestSocketModeHandsInteractionsToTheSameHandler(t *testing.T) {
	fake := slacktest.New(t)
	rec := &recorder{}
	sm := &frontdoor.SocketMode{Client: frontdoor.NewSocketModeClient(fake.BotToken(), fake.AppToken(), fake.APIURL()), Interactions: rec, Logger: quiet()}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sm.Run(runCtx) }()
	if err := fake.WaitFor(ctx, func(f *slacktest.Fake) bool { return f.Connections() == 1 }); err != nil {
		t.Fatalf("no Socket Mode connection: %v", err)
	}

	env, err := fake.SendInteractive(approveClick(fake, slacktest.UserLead2))
	if err != nil {
		t.Fatal(err)
	}
	ack, err := fake.WaitAck(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if ack.Payload != nil {
		t.Errorf("ack payload %s, want none for a click", ack.Payload)
	}
	calls := rec.calls()
	if len(calls) != 1 || calls[0].User.ID != slacktest.UserLead2 || calls[0].ActionCallback.BlockActions[0].ActionID != slackapp.ActionApprove {
		t.Fatalf("handler got %+v, want UserLead2's approve click", calls)
	}

	rec.ack = frontdoor.Ack{Errors: map[string]string{slackapp.BlockDisposition: "Pick a disposition"}}
	env, err = fake.SendInteractive(fake.ViewSubmission(slacktest.Submission{User: slacktest.UserLead1, CallbackID: slackapp.CallbackClose, PrivateMetadata: `{"r":"x"}`}))
	if err != nil {
		t.Fatal(err)
	}
	if ack, err = fake.WaitAck(ctx, env); err != nil {
		t.Fatal(err)
	}
	var payload struct {
		ResponseAction string            `json:"response_action"`
		Errors         map[string]string `json:"errors"`
	}
	if err := json.Unmarshal(ack.Payload, &payload); err != nil || payload.ResponseAction != "errors" || payload.Errors[slackapp.BlockDisposition] == "" {
		t.Errorf("ack payload %s, want response_action errors", ack.Payload)
	}

	// Slack refreshes connections: the client reconnects and envelopes keep arriving.
	if err := fake.Disconnect("refresh_requested"); err != nil {
		t.Fatal(err)
	}
	if err := fake.WaitFor(ctx, func(f *slacktest.Fake) bool { return f.ConnectionsOpened() == 2 && f.Connections() == 1 }); err != nil {
		t.Fatalf("no reconnection: %v", err)
	}
	if env, err = fake.SendInteractive(approveClick(fake, slacktest.UserLead1)); err != nil {
		t.Fatal(err)
	}
	if _, err := fake.WaitAck(ctx, env); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("Run = %v after ctx ended, want nil", err)
	}
}

// TestSocketModeRefusesABadToken: a token Slack rejects stops Run with an error naming SLACK_APP_TOKEN.
func TestSocketModeRefusesABadToken(t *testing.T) {
	fake := slacktest.New(t)
	sm := &frontdoor.SocketMode{Client: frontdoor.NewSocketModeClient(fake.BotToken(), "xapp-wrong", fake.APIURL()), Interactions: &recorder{}, Logger: quiet()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := sm.Run(ctx)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Run = %v (ctx %v), want an error before the deadline", err, ctx.Err())
	}
	if want := "SLACK_APP_TOKEN"; !contains(err.Error(), want) {
		t.Errorf("error %q does not say how to fix it (%s)", err, want)
	}
}
