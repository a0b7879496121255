// Package slacktest is a fake Slack for tests: the Web API methods Parry calls, signed interaction
// requests, response URLs and Socket Mode over a real WebSocket, all on loopback.
//
// Slack is unreachable from tests, so every Slack test in Parry talks to this fake through the real
// github.com/slack-go/slack client, pointed at it with slack.OptionAPIURL(fake.APIURL()) (and
// slack.OptionAppLevelToken for Socket Mode). The fake follows Slack's documentation closely enough that
// the client works unmodified, and each behaviour names the page it follows:
//
//   - Responses, errors and tokens: https://api.slack.com/web#responses and
//     https://api.slack.com/methods/<method> for each method.
//   - Rate limits (HTTP 429 with Retry-After): https://api.slack.com/docs/rate-limits.
//   - Request signing: https://api.slack.com/authentication/verifying-requests-from-slack.
//   - Interaction payloads: https://api.slack.com/reference/interaction-payloads/block-actions and
//     https://api.slack.com/reference/interaction-payloads/views.
//   - Socket Mode: https://api.slack.com/apis/connections/socket.
//
// Everything the app sends is kept and can be queried (messages and their update history, ephemerals,
// views, response URL posts, Socket Mode acks, a log of every call), and faults can be injected: rate
// limits, server errors, persistent Slack errors and whole outages at the connection level.
//
// A typical test:
//
//	fake := slacktest.New(t)
//	api := slack.New(fake.BotToken(), slack.OptionAPIURL(fake.APIURL()))
//	_, ts, err := api.PostMessage("#soc-incidents", slack.MsgOptionText("hello", false))
//	…
//	msg, ok := fake.Message(slacktest.ChannelIncidents, ts)
package slacktest
