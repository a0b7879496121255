package slackapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/slack-go/slack"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/activities/provider"
)

// slackErrors says what each error Slack answers with means for Parry: its provider error type (the
// non-retryable ones stop the notify activity) and what an operator should do about it. Codes come from
// each method's page (https://api.slack.com/methods/chat.postMessage#errors, chat.update,
// chat.getPermalink, usergroups.users.list) and the common errors of https://api.slack.com/web#errors.
// A code not listed is a refusal (VendorRejected): Slack lists the transient ones, and they are here.
var slackErrors = map[string]struct {
	typ  string
	hint string
}{
	// The token.
	"invalid_auth":           {actions.ErrUnauthorized, hintToken},
	"not_authed":             {actions.ErrUnauthorized, hintToken},
	"account_inactive":       {actions.ErrUnauthorized, hintToken},
	"token_revoked":          {actions.ErrUnauthorized, hintToken},
	"token_expired":          {actions.ErrUnauthorized, hintToken},
	"not_allowed_token_type": {actions.ErrUnauthorized, hintToken},
	"missing_scope":          {actions.ErrUnauthorized, "add the missing scope to the Slack app and reinstall it (scopes Parry needs: chat:write, usergroups:read)"},
	"no_permission":          {actions.ErrUnauthorized, "the app lacks a permission for this call: check its scopes (chat:write, usergroups:read)"},

	// Where Parry posts.
	"channel_not_found":       {actions.ErrNotFound, "check the playbook's notify.channel / notify.escalation (or PARRY_SLACK_CHANNEL); a private channel must invite the bot first"},
	"not_in_channel":          {actions.ErrVendorRejected, "invite the bot to the channel (/invite @parry), or give the app chat:write.public for public channels"},
	"is_archived":             {actions.ErrVendorRejected, "the channel is archived: unarchive it or name another channel in the playbook's notify section"},
	"restricted_action":       {actions.ErrVendorRejected, "a workspace setting stops the bot posting in this channel: ask a Slack admin"},
	"team_access_not_granted": {actions.ErrVendorRejected, "the app is not granted access to this workspace: ask a Slack admin"},
	"no_such_subteam":         {actions.ErrNotFound, "check the user group id (S…) in the playbook's approvers or notify.oncall (or PARRY_ONCALL_GROUP)"},
	"message_not_found":       {actions.ErrNotFound, "the message was deleted in Slack; the run's later events still go to its thread"},
	"thread_not_found":        {actions.ErrNotFound, "the run's parent message was deleted in Slack"},
	"cant_update_message":     {actions.ErrVendorRejected, "Slack does not let the bot edit this message"},
	"edit_window_closed":      {actions.ErrVendorRejected, "the workspace's edit window has closed for this message"},

	// What Parry sent: a bug in Parry's rendering, not something a retry fixes.
	"msg_too_long":          {actions.ErrInvalidInput, hintRender},
	"invalid_blocks":        {actions.ErrInvalidInput, hintRender},
	"invalid_blocks_format": {actions.ErrInvalidInput, hintRender},
	"invalid_arguments":     {actions.ErrInvalidInput, hintRender},
	"invalid_form_data":     {actions.ErrInvalidInput, hintRender},
	"no_text":               {actions.ErrInvalidInput, hintRender},
	"too_many_attachments":  {actions.ErrInvalidInput, hintRender},
	"invalid_ts_latest":     {actions.ErrInvalidInput, hintRender},

	// Slack's transient failures, retried.
	"ratelimited":         {provider.ErrRateLimited, ""},
	"internal_error":      {provider.ErrUnavailable, ""},
	"fatal_error":         {provider.ErrUnavailable, ""},
	"service_unavailable": {provider.ErrUnavailable, ""},
	"request_timeout":     {provider.ErrUnavailable, ""},
}

const (
	hintToken  = "check SLACK_BOT_TOKEN: it must be the Bot User OAuth Token (xoxb-…) of the installed app"
	hintRender = "Slack refused a message Parry rendered: please report this log line"
)

// classify maps what slack-go returned for one call to the typed provider error the activities turn into a
// Temporal error, and says what an operator should do when no retry can help. method is the Web API
// method, target the channel or group the call was about.
func classify(method, target string, err error) (*provider.Error, string) {
	where := "slack " + method
	if target != "" {
		where += " " + target
	}
	var (
		rate   *slack.RateLimitedError
		resp   slack.SlackErrorResponse
		status slack.StatusCodeError
	)
	switch {
	case errors.As(err, &rate):
		// Slack's Retry-After becomes the activity's next retry delay (activities.temporalError).
		return &provider.Error{Type: provider.ErrRateLimited, Msg: where + ": rate limited", RetryAfter: rate.RetryAfter, Err: err}, ""
	case errors.As(err, &resp):
		known, ok := slackErrors[resp.Err]
		if !ok {
			known.typ, known.hint = actions.ErrVendorRejected, "see https://api.slack.com/methods/"+method+"#errors"
		}
		hint := known.hint
		if resp.Err == "missing_scope" && resp.Needed != "" {
			hint = fmt.Sprintf("add the scope %s to the Slack app and reinstall it", resp.Needed)
		}
		msg := fmt.Sprintf("%s: %s", where, resp.Err)
		if hint != "" {
			msg += " (" + hint + ")"
		}
		return &provider.Error{Type: known.typ, Msg: msg, Err: err}, hint
	case errors.As(err, &status):
		if status.Code >= 500 || status.Code == http.StatusTooManyRequests {
			return provider.Unavailable(fmt.Sprintf("%s: HTTP %d", where, status.Code), 0), ""
		}
		hint := "check SLACK_API_URL: it is the Web API base, ending in /api/"
		return &provider.Error{Type: actions.ErrVendorRejected, Msg: fmt.Sprintf("%s: HTTP %d (%s)", where, status.Code, hint), Err: err}, hint
	}
	// Network errors, timeouts and answers that are not Slack's JSON (a proxy's error page): retried.
	return &provider.Error{Type: provider.ErrUnavailable, Msg: where, Err: err}, ""
}

// fail classifies err and, when no retry can fix it, logs what to do: the activity's error reaches the
// workflow's history, but whoever runs the worker reads its log.
func fail(ctx context.Context, log *slog.Logger, method, target string, err error) error {
	pe, hint := classify(method, target, err)
	if pe.NonRetryable() {
		code := err.Error()
		var resp slack.SlackErrorResponse
		if errors.As(err, &resp) {
			code = resp.Err
		}
		log.LogAttrs(ctx, slog.LevelError, "slack refused a call; retrying will not help",
			slog.String("method", method), slog.String("target", target), slog.String("slack_error", code),
			slog.String("error_type", pe.Type), slog.String("fix", hint))
	}
	return pe
}
