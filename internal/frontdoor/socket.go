package frontdoor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// SocketMode receives interactions over Slack's Socket Mode (https://api.slack.com/apis/connections/socket):
// the app opens a WebSocket with its app-level token (SLACK_APP_TOKEN), so no public URL is needed. What
// arrives there is authenticated by that connection, not by a request signature; it goes to the same
// Interactions as the HTTP endpoint.
type SocketMode struct {
	Client       *socketmode.Client
	Interactions Interactions
	Logger       *slog.Logger
}

// NewSocketModeClient makes the Socket Mode client for an app-level token, with the bot token for the
// Web API calls the handler makes and apiURL (ending in /api/; "" for Slack's) for both.
func NewSocketModeClient(botToken, appToken, apiURL string) *socketmode.Client {
	opts := []slack.Option{slack.OptionAppLevelToken(appToken)}
	if apiURL != "" {
		opts = append(opts, slack.OptionAPIURL(apiURL))
	}
	return socketmode.New(slack.New(botToken, opts...))
}

// Run connects and handles envelopes until ctx ends (nil) or the connection cannot be made at all, e.g. a
// revoked token (an error). The library reconnects on its own when Slack asks or the connection drops.
func (sm *SocketMode) Run(ctx context.Context) error {
	log := sm.Logger
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- sm.Client.RunContext(ctx) }()
	for {
		select {
		case err := <-errc:
			if ctx.Err() != nil || errors.Is(err, context.Canceled) {
				return nil
			}
			return fmt.Errorf("slack socket mode: %w (check SLACK_APP_TOKEN: an app-level token with connections:write)", err)
		case ev := <-sm.Client.Events:
			sm.event(ctx, log, ev)
		}
	}
}

func (sm *SocketMode) event(ctx context.Context, log *slog.Logger, ev socketmode.Event) {
	switch ev.Type {
	case socketmode.EventTypeConnecting:
		log.Info("slack socket mode: connecting")
	case socketmode.EventTypeConnected:
		log.Info("slack socket mode: connected")
	case socketmode.EventTypeHello:
		log.Debug("slack socket mode: hello")
	case socketmode.EventTypeConnectionError:
		if e, ok := ev.Data.(*slack.ConnectionErrorEvent); ok {
			log.Warn("slack socket mode: connection failed; retrying", "attempt", e.Attempt, "backoff", e.Backoff, "error", e.ErrorObj)
			return
		}
		log.Warn("slack socket mode: connection failed; retrying")
	case socketmode.EventTypeInvalidAuth:
		log.Error("slack socket mode: invalid auth: check SLACK_APP_TOKEN")
	case socketmode.EventTypeDisconnect:
		log.Info("slack socket mode: Slack asked to reconnect")
	case socketmode.EventTypeIncomingError, socketmode.EventTypeErrorBadMessage, socketmode.EventTypeErrorWriteFailed:
		log.Warn("slack socket mode: connection error", "type", ev.Type, "data", fmt.Sprint(ev.Data))
	case socketmode.EventTypeInteractive:
		ic, ok := ev.Data.(slack.InteractionCallback)
		if !ok || ev.Request == nil {
			log.Warn("slack socket mode: interactive envelope without an interaction")
			return
		}
		// Handle returns at once: the ack goes back well within Slack's 3 s.
		var payload any
		if b := sm.Interactions.Handle(ic).Body(); b != nil {
			payload = json.RawMessage(b)
		}
		sm.ack(ctx, log, ev.Request, payload)
	default:
		// Events API and slash commands are not Parry's: acknowledge so Slack does not redeliver.
		if ev.Request != nil && ev.Request.EnvelopeID != "" {
			sm.ack(ctx, log, ev.Request, nil)
		}
	}
}

func (sm *SocketMode) ack(ctx context.Context, log *slog.Logger, req *socketmode.Request, payload any) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := sm.Client.AckCtx(ctx, req.EnvelopeID, payload); err != nil {
		log.Warn("slack socket mode: ack failed; Slack will redeliver", "envelope", req.EnvelopeID, "error", err)
	}
}
