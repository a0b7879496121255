package slackapp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/parry-soc/parry/activities/provider"
	"github.com/parry-soc/parry/attack"
	"github.com/parry-soc/parry/notify"
)

var _ notify.Notifier = (*Notifier)(nil)

// DefaultAPIURL is Slack's Web API base.
const DefaultAPIURL = "https://slack.com/api/"

// Timeouts of Slack calls. The notify activity bounds a whole batch; one call that hangs should fail and
// be retried well before that. The permalink is a nicety of an escalation, so it gets little time.
const (
	callTimeout      = 30 * time.Second
	permalinkTimeout = 5 * time.Second
)

// Config configures the Slack notifier and directory.
type Config struct {
	// BotToken is the app's Bot User OAuth Token (xoxb-…), SLACK_BOT_TOKEN. It needs the scopes
	// chat:write (post and update messages) and usergroups:read (approver groups).
	BotToken string
	// APIURL is the Web API base, ending in /api/ (SLACK_API_URL; default https://slack.com/api/): a proxy,
	// or a fake Slack in tests. Method names are appended to it ("…/api/chat.postMessage").
	APIURL string
	// OncallGroup is the Slack user group id (S…) escalations mention when the playbook names none
	// (PARRY_ONCALL_GROUP).
	OncallGroup string
	// DefaultChannel is where a run's messages go when its playbook names no notify.channel
	// (PARRY_SLACK_CHANNEL): a channel id (C…) or name (#soc-incidents).
	DefaultChannel string
	// Logger receives the log lines of calls Slack refused (default slog.Default()).
	Logger *slog.Logger
	// HTTPClient makes the calls (default: a client with a 30 s timeout).
	HTTPClient *http.Client
}

// ConfigFromEnv reads SLACK_BOT_TOKEN, SLACK_API_URL, PARRY_ONCALL_GROUP and PARRY_SLACK_CHANNEL. Unset
// variables leave their fields empty; New applies the defaults.
func ConfigFromEnv(getenv func(string) string) Config {
	return Config{
		BotToken:       strings.TrimSpace(getenv("SLACK_BOT_TOKEN")),
		APIURL:         strings.TrimSpace(getenv("SLACK_API_URL")),
		OncallGroup:    strings.TrimSpace(getenv("PARRY_ONCALL_GROUP")),
		DefaultChannel: strings.TrimSpace(getenv("PARRY_SLACK_CHANNEL")),
	}
}

// client builds the slack-go client of a Config. Its own retries stay off: Temporal retries the
// activity, honouring Slack's Retry-After, so that a wait never holds a worker slot.
func (cfg Config) client() (*slack.Client, *slog.Logger, error) {
	if cfg.BotToken == "" {
		return nil, nil, errors.New("configure slack: no bot token (set SLACK_BOT_TOKEN)")
	}
	api := cfg.APIURL
	if api == "" {
		api = DefaultAPIURL
	}
	if !strings.HasSuffix(api, "/") {
		api += "/" // slack-go appends the method name to the base as is
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: callTimeout}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return slack.New(cfg.BotToken, slack.OptionAPIURL(api), slack.OptionHTTPClient(hc)), log, nil
}

// Notifier delivers a run's events to Slack: one parent message per run in the playbook's channel, every
// later event as a reply in its thread, approval and task requests with buttons that are updated in place
// once decided, and escalations in the escalation channel mentioning the on-call group.
//
// It keeps no state that a run needs: the workflow records the messages it posts (notify.Posted) and
// hands them back with later events (Event.Thread, Event.Target), so any worker can deliver any event.
// What it remembers, in memory and bounded, only saves work: which events it already delivered (a retried
// activity then does not post twice) and the requests it posted (so a decided request still shows what
// was asked).
type Notifier struct {
	api    *slack.Client
	log    *slog.Logger
	cfg    Config
	render renderer
	memo   memo
}

// New returns a Notifier for cfg.
func New(cfg Config) (*Notifier, error) {
	api, log, err := cfg.client()
	if err != nil {
		return nil, err
	}
	return &Notifier{api: api, log: log, cfg: cfg, render: renderer{catalog: attack.Default()}}, nil
}

// Notify delivers one event. run.started, or any event of a run whose parent message is not posted yet
// (Thread zero: an earlier post failed), posts the parent; every other event posts a reply in the run's
// thread, updates the request it resolves (Target), and updates the parent when the run's phase or state
// changed. Noise (step.started) posts nothing.
func (n *Notifier) Notify(ctx context.Context, e notify.Event) (notify.Posted, error) {
	d := n.memo.delivery(e.Run.ID, e.Seq)
	if d.done {
		return d.posted, nil
	}
	// Each part is recorded as it succeeds, so a retry after a rate limit resumes where it stopped.
	save := func() { n.memo.record(e.Run.ID, e.Seq, d) }
	thread := e.Thread
	if thread.IsZero() {
		thread = d.posted.Parent
	}
	if thread.IsZero() {
		m, err := n.parentMessage(e)
		if err != nil {
			return notify.Posted{}, err
		}
		ref, err := n.post(ctx, n.channel(e.Run.Channel), "", m, metadata(e, "parent"))
		if err != nil {
			return notify.Posted{}, err
		}
		thread, d.posted.Parent, d.parentFresh = ref, ref, true
		save()
	}

	if !d.replied {
		m, ok, err := n.eventMessage(e)
		if err != nil {
			return d.posted, err
		}
		if ok {
			ref, err := n.post(ctx, thread.Channel, thread.TS, m, metadata(e, "reply"))
			if err != nil {
				return d.posted, err
			}
			if e.Kind == notify.ApprovalRequested || e.Kind == notify.TaskRequested {
				d.posted.Message = ref
				n.memo.request(e.Run.ID, requestKey(e), e)
			}
		}
		d.replied = true
		save()
	}

	if err := n.updateTarget(ctx, e); err != nil {
		return d.posted, err
	}
	if updatesParent(e.Kind) && !d.parentFresh {
		m, err := n.parentMessage(e)
		if err != nil {
			return d.posted, err
		}
		if err := n.updateInPlace(ctx, thread, m); err != nil {
			return d.posted, err
		}
	}
	d.done = true
	save()
	return d.posted, nil
}

// eventMessage renders what an event posts in the thread.
func (n *Notifier) eventMessage(e notify.Event) (message, bool, error) {
	switch {
	case e.Kind == notify.RunStarted:
		return message{}, false, nil // the parent message is its post
	case e.Kind == notify.ApprovalRequested && e.Approval != nil:
		m, err := n.render.approvalRequest(e)
		if err != nil {
			return m, false, provider.InvalidInput("render approval %s of run %s: %v", e.Approval.ID, e.Run.ID, err)
		}
		return m, true, nil
	case e.Kind == notify.TaskRequested:
		m, err := n.render.taskRequest(e)
		if err != nil {
			return m, false, provider.InvalidInput("render task %s of run %s: %v", e.Step, e.Run.ID, err)
		}
		return m, true, nil
	}
	m, ok := n.render.reply(e)
	return m, ok, nil
}

// updateTarget closes the request an approval.decided or task.done event resolves: outcome shown,
// buttons gone.
func (n *Notifier) updateTarget(ctx context.Context, e notify.Event) error {
	if e.Target.IsZero() {
		return nil
	}
	req, _ := n.memo.requested(e.Run.ID, requestKey(e))
	var m message
	switch e.Kind {
	case notify.ApprovalDecided:
		m = n.render.approvalClosed(req, e)
	case notify.TaskDone:
		m = n.render.taskClosed(req, e)
	default:
		return nil
	}
	return n.updateInPlace(ctx, e.Target, m)
}

// updatesParent reports whether an event changes what the parent message shows.
func updatesParent(kind string) bool {
	switch kind {
	case notify.PhaseStarted, notify.PhaseFinished, notify.BudgetBreached,
		notify.RunCompleted, notify.RunFailed, notify.RunClosed:
		return true
	}
	return false
}

// requestKey names the request an event opens or resolves within its run.
func requestKey(e notify.Event) string {
	if e.Approval != nil && (e.Kind == notify.ApprovalRequested || e.Kind == notify.ApprovalDecided) {
		return "approval:" + e.Approval.ID
	}
	return "task:" + e.Step
}

// Escalate posts an escalation in the run's escalation channel (else its channel), mentioning the
// on-call group and linking to the run's thread. The link is best effort: when Slack will not give one,
// the escalation goes out with the run id instead.
func (n *Notifier) Escalate(ctx context.Context, x notify.Escalation) error {
	e := x.Event
	if n.memo.escalated(e.Run.ID, e.Seq) {
		return nil
	}
	ch := n.channel(cmp.Or(e.Run.Escalation, e.Run.Channel))
	link := ""
	if !e.Thread.IsZero() {
		lctx, cancel := context.WithTimeout(ctx, permalinkTimeout)
		l, err := n.api.GetPermalinkContext(lctx, &slack.PermalinkParameters{Channel: e.Thread.Channel, Ts: e.Thread.TS})
		cancel()
		if err != nil {
			pe, _ := classify("chat.getPermalink", e.Thread.Channel, err)
			n.log.WarnContext(ctx, "escalating without a link to the run's thread", "run", e.Run.ID, "error", pe)
		} else {
			link = l
		}
	}
	m := n.render.escalation(x, cmp.Or(e.Run.Oncall, n.cfg.OncallGroup), link)
	if _, err := n.post(ctx, ch, "", m, metadata(e, "escalation")); err != nil {
		return err
	}
	n.memo.markEscalated(e.Run.ID, e.Seq)
	return nil
}

// channel is where a run's messages go: the playbook's channel, else the configured default.
func (n *Notifier) channel(ch string) string {
	return cmp.Or(ch, n.cfg.DefaultChannel)
}

// metadata tags a message with the run event it shows (Slack message metadata, event type
// parry_run_event): tools reading the channel — and tests proving each event arrived exactly once — can
// tell which run, event and part a message is without parsing its text.
func metadata(e notify.Event, part string) slack.SlackMetadata {
	return slack.SlackMetadata{EventType: "parry_run_event", EventPayload: map[string]any{
		"run": e.Run.ID, "seq": e.Seq, "kind": e.Kind, "part": part,
	}}
}

// post posts m in channel, as a reply in thread ts when ts is set.
func (n *Notifier) post(ctx context.Context, channel, ts string, m message, meta slack.SlackMetadata) (notify.MessageRef, error) {
	if channel == "" {
		return notify.MessageRef{}, provider.InvalidInput("no Slack channel: set notify.channel in the playbook or PARRY_SLACK_CHANNEL")
	}
	opts := []slack.MsgOption{
		slack.MsgOptionText(m.Text, false), // already escaped
		slack.MsgOptionBlocks(m.Blocks...),
		// A technique link or an evidence URL unfurled into a preview would bury the thread.
		slack.MsgOptionDisableLinkUnfurl(),
		slack.MsgOptionDisableMediaUnfurl(),
		slack.MsgOptionMetadata(meta),
	}
	if ts != "" {
		opts = append(opts, slack.MsgOptionTS(ts))
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	gotChannel, gotTS, err := n.api.PostMessageContext(cctx, channel, opts...)
	if err != nil {
		return notify.MessageRef{}, fail(ctx, n.log, "chat.postMessage", channel, err)
	}
	// Slack answers with the channel's id even when given its name; chat.update needs the id.
	return notify.MessageRef{Channel: cmp.Or(gotChannel, channel), TS: gotTS}, nil
}

// updateInPlace replaces the message at ref with m. A message Slack will not let Parry edit (deleted,
// too old) is logged and left: the event's reply already told the thread, and failing would drop the
// rest of the batch. Transient failures are returned, to be retried.
func (n *Notifier) updateInPlace(ctx context.Context, ref notify.MessageRef, m message) error {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, _, _, err := n.api.UpdateMessageContext(cctx, ref.Channel, ref.TS,
		slack.MsgOptionText(m.Text, false), slack.MsgOptionBlocks(m.Blocks...))
	if err == nil {
		return nil
	}
	err = fail(ctx, n.log, "chat.update", ref.Channel, err)
	if pe, ok := provider.AsError(err); ok && pe.NonRetryable() {
		return nil
	}
	return fmt.Errorf("update message %s in %s: %w", ref.TS, ref.Channel, err)
}

// parentMessage renders the run's parent message; a failure is the event's fault, not Slack's.
func (n *Notifier) parentMessage(e notify.Event) (message, error) {
	m, err := n.render.parent(e)
	if err != nil {
		return m, provider.InvalidInput("render the parent message of run %s: %v", e.Run.ID, err)
	}
	return m, nil
}
