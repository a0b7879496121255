package slackapp

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/activities/provider"
	"github.com/parry-soc/parry/internal/slacktest"
)

func TestSlackFailuresMapToProviderErrors(t *testing.T) {
	for _, tt := range []struct {
		name           string
		status         int           // an HTTP status to answer with, or
		slackError     string        // a Slack error to answer with
		retryAfter     time.Duration // with status 429
		wantType       string
		wantRetryAfter time.Duration
		wantNonRetry   bool
		wantHint       string // in the log line of a non-retryable failure
	}{
		{name: "429 with Retry-After", status: http.StatusTooManyRequests, retryAfter: 7 * time.Second, wantType: provider.ErrRateLimited, wantRetryAfter: 7 * time.Second},
		{name: "500", status: http.StatusInternalServerError, wantType: provider.ErrUnavailable},
		{name: "503", status: http.StatusServiceUnavailable, wantType: provider.ErrUnavailable},
		{name: "404 at a wrong API URL", status: http.StatusNotFound, wantType: actions.ErrVendorRejected, wantNonRetry: true, wantHint: "SLACK_API_URL"},
		{name: "invalid_auth", slackError: "invalid_auth", wantType: actions.ErrUnauthorized, wantNonRetry: true, wantHint: "SLACK_BOT_TOKEN"},
		{name: "not_authed", slackError: "not_authed", wantType: actions.ErrUnauthorized, wantNonRetry: true, wantHint: "SLACK_BOT_TOKEN"},
		{name: "account_inactive", slackError: "account_inactive", wantType: actions.ErrUnauthorized, wantNonRetry: true, wantHint: "SLACK_BOT_TOKEN"},
		{name: "token_revoked", slackError: "token_revoked", wantType: actions.ErrUnauthorized, wantNonRetry: true, wantHint: "SLACK_BOT_TOKEN"},
		{name: "missing_scope", slackError: "missing_scope", wantType: actions.ErrUnauthorized, wantNonRetry: true, wantHint: "scope"},
		{name: "channel_not_found", slackError: "channel_not_found", wantType: actions.ErrNotFound, wantNonRetry: true, wantHint: "invite the bot"},
		{name: "not_in_channel", slackError: "not_in_channel", wantType: actions.ErrVendorRejected, wantNonRetry: true, wantHint: "/invite"},
		{name: "is_archived", slackError: "is_archived", wantType: actions.ErrVendorRejected, wantNonRetry: true, wantHint: "archived"},
		{name: "msg_too_long", slackError: "msg_too_long", wantType: actions.ErrInvalidInput, wantNonRetry: true, wantHint: "report"},
		{name: "invalid_blocks", slackError: "invalid_blocks", wantType: actions.ErrInvalidInput, wantNonRetry: true, wantHint: "report"},
		{name: "ratelimited in the body", slackError: "ratelimited", wantType: provider.ErrRateLimited},
		{name: "internal_error", slackError: "internal_error", wantType: provider.ErrUnavailable},
		{name: "an error Slack added later", slackError: "some_new_refusal", wantType: actions.ErrVendorRejected, wantNonRetry: true, wantHint: "api.slack.com/methods/chat.postMessage"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := slacktest.New(t)
			var logs bytes.Buffer
			s := newSim(t, newTestNotifier(t, f, &logs))
			if tt.status != 0 {
				f.FailNext("chat.postMessage", 1, tt.status, tt.retryAfter)
			} else {
				f.FailMethod("chat.postMessage", tt.slackError)
			}
			_, err := s.n.Notify(context.Background(), s.stamp(evRunStarted))
			pe, ok := provider.AsError(err)
			if !ok {
				t.Fatalf("Notify = %v, want a provider error", err)
			}
			if pe.Type != tt.wantType || pe.NonRetryable() != tt.wantNonRetry || pe.RetryAfter != tt.wantRetryAfter {
				t.Errorf("error type %s non-retryable %t retry after %s, want %s %t %s",
					pe.Type, pe.NonRetryable(), pe.RetryAfter, tt.wantType, tt.wantNonRetry, tt.wantRetryAfter)
			}
			if !strings.Contains(pe.Error(), "chat.postMessage #soc-incidents") {
				t.Errorf("error %q does not say which call failed where", pe.Error())
			}
			logged := logs.String()
			if !tt.wantNonRetry {
				if logged != "" {
					t.Errorf("a retryable failure logged an error line:\n%s", logged)
				}
				return
			}
			for _, want := range []string{`"method":"chat.postMessage"`, `"target":"#soc-incidents"`, tt.wantHint} {
				if !strings.Contains(logged, want) {
					t.Errorf("log line lacks %q:\n%s", want, logged)
				}
			}
			if strings.Contains(logged, f.BotToken()) {
				t.Errorf("log line shows the token:\n%s", logged)
			}
		})
	}
}

func TestNetworkErrorsAreRetryable(t *testing.T) {
	f := slacktest.New(t)
	f.SetDown(true)
	n, err := New(Config{BotToken: f.BotToken(), APIURL: f.APIURL(), DefaultChannel: "#soc-incidents"})
	if err != nil {
		t.Fatal(err)
	}
	s := newSim(t, n)
	_, err = n.Notify(context.Background(), s.stamp(evRunStarted))
	if pe, ok := provider.AsError(err); !ok || pe.NonRetryable() {
		t.Errorf("Notify with Slack unreachable = %v, want a retryable provider error", err)
	}
}

func TestClassifyKeepsSlacksError(t *testing.T) {
	pe, _ := classify("chat.update", slacktest.ChannelIncidents, slack.SlackErrorResponse{Err: "message_not_found"})
	var resp slack.SlackErrorResponse
	if !errors.As(pe, &resp) || resp.Err != "message_not_found" {
		t.Errorf("classify lost Slack's error: %v", pe)
	}
	if pe.Type != actions.ErrNotFound {
		t.Errorf("message_not_found is %s, want %s", pe.Type, actions.ErrNotFound)
	}
}
