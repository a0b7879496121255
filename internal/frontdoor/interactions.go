package frontdoor

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/parry-soc/parry/approval"
	"github.com/parry-soc/parry/internal/slackapp"
	"github.com/parry-soc/parry/workflows"
)

// Slack is the part of Slack's Web API the handler calls: views.open for the deny and close forms, and
// chat.postEphemeral to tell the clicker what came of a click. *slack.Client implements it.
type Slack interface {
	OpenViewContext(ctx context.Context, triggerID string, view slack.ModalViewRequest) (*slack.ViewResponse, error)
	PostEphemeralContext(ctx context.Context, channelID, userID string, options ...slack.MsgOption) (string, error)
}

var _ Slack = (*slack.Client)(nil)

// Updater sends a signed statement to its run as the matching Update (decide, task-done or close) and returns
// the attempt as the run recorded it. Sending the same assertion again must be the same request to Temporal
// (the same Update id), so a retry is never a second attempt. A request the run turned away, or a run that
// does not exist or has ended, is a *RejectedError; any other error is worth retrying.
type Updater interface {
	Send(ctx context.Context, a approval.Assertion) (workflows.Answer, error)
}

// RejectedError is a statement the run will never take: rejected by the Update's validator as malformed or
// stale (unknown approval, already decided), or sent to a run that does not exist or has ended.
type RejectedError struct {
	Why string
}

func (e *RejectedError) Error() string { return e.Why }

// Retry bounds how long a click keeps being sent while no worker takes it.
type Retry struct {
	Attempt    time.Duration // how long one attempt waits for the run's answer (default 10s)
	Backoff    time.Duration // the first pause between attempts, doubled after each (default 1s)
	MaxBackoff time.Duration // the longest pause (default 5s: a returning worker gets the click within seconds)
	Total      time.Duration // give up after this long, and tell the clicker (default 15m)
}

// DefaultRetry is the retry policy of the front door.
var DefaultRetry = Retry{Attempt: 10 * time.Second, Backoff: time.Second, MaxBackoff: 5 * time.Second, Total: 15 * time.Minute}

func (r Retry) withDefaults() Retry {
	if r.Attempt <= 0 {
		r.Attempt = DefaultRetry.Attempt
	}
	if r.Backoff <= 0 {
		r.Backoff = DefaultRetry.Backoff
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = max(DefaultRetry.MaxBackoff, r.Backoff)
	}
	if r.Total <= 0 {
		r.Total = DefaultRetry.Total
	}
	return r
}

// Ack is how to acknowledge an interaction: with nothing, or, for a submitted form, with errors to show
// next to its fields (the form stays open).
type Ack struct {
	Errors map[string]string // block id → message
}

// Body is the JSON to answer Slack with, or nil for an empty 200.
func (a Ack) Body() []byte {
	if len(a.Errors) == 0 {
		return nil
	}
	b, _ := json.Marshal(slack.NewErrorsViewSubmissionResponse(a.Errors)) // a map of strings always marshals
	return b
}

// HandlerConfig is what a Handler needs.
type HandlerConfig struct {
	Slack  Slack
	Runs   Updater
	Key    ed25519.PrivateKey // the front door's key, pinned in each run's input
	Retry  Retry
	Logger *slog.Logger
}

// Handler turns a verified interaction — a click on one of Parry's buttons, or a submitted deny or close
// form — into a statement signed with the front door's key and sends it to the run. It is the one code path
// for both transports: the HTTP front door calls Handle after checking Slack's request signature, Socket Mode
// after receiving the envelope on the app's own authenticated WebSocket.
//
// Handle returns at once with what to acknowledge (Slack wants an answer within 3 s); opening a modal and
// sending the Update happen in the background. The Update is retried with the same assertion — so the same
// Update id — until the run answers or rejects it, within Retry.Total: a click Slack saw acknowledged is not
// lost while workers restart. Every click is its own attempt (the statement's nonce names the click), so a
// second click by the same person is recorded by the run as refused, and one person still counts once.
//
// The button value only names the run, approval or step. Who clicked comes from the payload's user.id,
// which Slack's signature (or the Socket Mode connection) vouches for; whether that person may decide is the
// workflow's call, against the approvers it resolved when the approval opened.
type Handler struct {
	slack  Slack
	runs   Updater
	key    ed25519.PrivateKey
	retry  Retry
	logger *slog.Logger

	ctx    context.Context // background work; canceled when Shutdown gives up waiting
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	inflight map[string]bool // nonces of statements being sent
}

// NewHandler makes a Handler.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("slack interactions: the front door key is not an ed25519 private key")
	}
	if cfg.Slack == nil || cfg.Runs == nil {
		return nil, errors.New("slack interactions: need a Slack client and an Updater")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Handler{slack: cfg.Slack, runs: cfg.Runs, key: cfg.Key, retry: cfg.Retry.withDefaults(), logger: logger,
		ctx: ctx, cancel: cancel, inflight: map[string]bool{}}, nil
}

// Handle takes one verified interaction and returns how to acknowledge it. It does not wait for Slack or
// Temporal.
func (h *Handler) Handle(ic slack.InteractionCallback) Ack {
	switch ic.Type {
	case slack.InteractionTypeBlockActions:
		for _, act := range ic.ActionCallback.BlockActions {
			h.blockAction(ic, act)
		}
	case slack.InteractionTypeViewSubmission:
		switch ic.View.CallbackID {
		case slackapp.CallbackDeny:
			return h.denySubmitted(ic)
		case slackapp.CallbackClose:
			return h.closeSubmitted(ic)
		}
		h.logger.Info("slack: ignored a form that is not Parry's", "callback_id", ic.View.CallbackID, "user", ic.User.ID)
	default:
		h.logger.Debug("slack: ignored interaction", "type", ic.Type, "user", ic.User.ID)
	}
	return Ack{}
}

// Shutdown stops taking interactions and waits for background work to finish. When ctx ends first it
// cancels what is left — each abandoned click is logged and its clicker told it was not recorded — and
// returns an error.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		h.cancel()
		return nil
	case <-ctx.Done():
	}
	h.cancel()
	<-done
	return fmt.Errorf("slack interactions: shutdown abandoned clicks still waiting for a worker: %w", ctx.Err())
}

// spawn runs f in the background unless the handler is shut down.
func (h *Handler) spawn(f func(ctx context.Context)) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		f(h.ctx)
	}()
	return true
}

// replyTo is where the clicker is answered: an ephemeral message in the channel (and thread) of the message
// they clicked, which works for buttons and forms alike, over HTTP and Socket Mode, with no response_url
// expiry (30 minutes, 5 uses) to outlast a retry.
type replyTo struct {
	User    string
	Channel string
	Thread  string
}

// formMetadata is a modal's private_metadata: the button's value, and where to answer.
type formMetadata struct {
	slackapp.ButtonValue
	Channel string `json:"c,omitempty"`
	Thread  string `json:"t,omitempty"`
}

func (h *Handler) blockAction(ic slack.InteractionCallback, act *slack.BlockAction) {
	if act == nil || !strings.HasPrefix(act.ActionID, "parry.") {
		return
	}
	log := h.logger.With("action", act.ActionID, "user", ic.User.ID)
	to := replyTo{User: ic.User.ID, Channel: cmp.Or(ic.Channel.ID, ic.Container.ChannelID),
		Thread: cmp.Or(ic.Container.ThreadTs, ic.Message.ThreadTimestamp)}
	if ic.User.ID == "" {
		log.Warn("slack: ignored a click without a user id")
		return
	}
	v, err := slackapp.DecodeButtonValue(act.Value)
	if err != nil {
		log.Warn("slack: ignored a click", "error", err)
		h.spawn(func(ctx context.Context) { h.reply(ctx, to, "Parry could not read this button: "+err.Error()) })
		return
	}
	st := approval.Statement{Run: v.Run, Actor: clickActor(ic), Nonce: clickNonce(ic.TriggerID, act.ActionTs, act.ActionID)}
	switch act.ActionID {
	case slackapp.ActionApprove:
		st.Subject, st.Verb = v.Approval, approval.Approve
	case slackapp.ActionTaskDone:
		st.Subject, st.Verb = v.Step, approval.Done
	case slackapp.ActionDeny:
		h.openForm(ic, to, denyForm(formMetadata{ButtonValue: v, Channel: to.Channel, Thread: to.Thread}))
		return
	case slackapp.ActionClose:
		h.openForm(ic, to, closeForm(formMetadata{ButtonValue: v, Channel: to.Channel, Thread: to.Thread}))
		return
	default:
		log.Info("slack: ignored an unknown Parry action")
		return
	}
	if st.Subject == "" {
		log.Warn("slack: ignored a click whose button names no approval or step", "value", act.Value)
		h.spawn(func(ctx context.Context) {
			h.reply(ctx, to, "Parry could not tell what this button is about; nothing was sent.")
		})
		return
	}
	h.submit(st, to)
}

// openForm opens a modal with the interaction's trigger_id, which Slack honours for 3 seconds only: it is
// sent at once, in the background so the acknowledgement does not wait for it.
func (h *Handler) openForm(ic slack.InteractionCallback, to replyTo, view slack.ModalViewRequest) {
	h.spawn(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if _, err := h.slack.OpenViewContext(ctx, ic.TriggerID, view); err != nil {
			h.logger.Error("slack: views.open failed", "callback_id", view.CallbackID, "user", to.User, "error", err)
			h.reply(ctx, to, "Parry could not open the form ("+err.Error()+"); nothing was sent. Try again.")
		}
	})
}

func (h *Handler) denySubmitted(ic slack.InteractionCallback) Ack {
	meta, err := readFormMetadata(ic.View.PrivateMetadata)
	if err != nil {
		h.logger.Warn("slack: ignored a deny form", "user", ic.User.ID, "error", err)
		return Ack{}
	}
	reason := strings.TrimSpace(formInput(ic.View.State, slackapp.BlockReason, slackapp.InputReason).Value)
	if reason == "" {
		return Ack{Errors: map[string]string{slackapp.BlockReason: "Say why: the reason goes in the run's approval log."}}
	}
	if meta.Approval == "" {
		h.logger.Warn("slack: ignored a deny form that names no approval", "user", ic.User.ID, "run", meta.Run)
		return Ack{}
	}
	h.submit(approval.Statement{Run: meta.Run, Subject: meta.Approval, Verb: approval.Deny, Actor: clickActor(ic), Reason: reason,
		Nonce: clickNonce(ic.TriggerID, ic.View.ID, ic.View.Hash)}, formReply(ic, meta))
	return Ack{}
}

func (h *Handler) closeSubmitted(ic slack.InteractionCallback) Ack {
	meta, err := readFormMetadata(ic.View.PrivateMetadata)
	if err != nil {
		h.logger.Warn("slack: ignored a close form", "user", ic.User.ID, "error", err)
		return Ack{}
	}
	disposition := formInput(ic.View.State, slackapp.BlockDisposition, slackapp.InputDisposition).SelectedOption.Value
	if !slices.Contains(workflows.Dispositions, disposition) {
		return Ack{Errors: map[string]string{slackapp.BlockDisposition: "Pick a disposition: " + strings.Join(workflows.Dispositions, ", ") + "."}}
	}
	rollback := false
	for _, o := range formInput(ic.View.State, slackapp.BlockRollback, slackapp.InputRollback).SelectedOptions {
		rollback = rollback || o.Value == slackapp.RollbackOptionVal
	}
	reason := strings.TrimSpace(formInput(ic.View.State, slackapp.BlockReason, slackapp.InputReason).Value)
	h.submit(approval.Statement{Run: meta.Run, Subject: workflows.CloseSubject, Verb: approval.Close, Actor: clickActor(ic),
		Reason: reason, Disposition: disposition, Rollback: rollback,
		Nonce: clickNonce(ic.TriggerID, ic.View.ID, ic.View.Hash)}, formReply(ic, meta))
	return Ack{}
}

func formReply(ic slack.InteractionCallback, meta formMetadata) replyTo {
	return replyTo{User: ic.User.ID, Channel: meta.Channel, Thread: meta.Thread}
}

func readFormMetadata(s string) (formMetadata, error) {
	var m formMetadata
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return m, fmt.Errorf("private_metadata %q is not Parry's: %w", s, err)
	}
	if m.Run == "" {
		return m, fmt.Errorf("private_metadata %q names no run", s)
	}
	return m, nil
}

func formInput(state *slack.ViewState, block, action string) slack.BlockAction {
	if state == nil {
		return slack.BlockAction{}
	}
	return state.Values[block][action]
}

// clickActor is the person who clicked, as Slack's verified payload names them.
func clickActor(ic slack.InteractionCallback) approval.Actor {
	return approval.Actor{Kind: approval.ActorSlack, ID: ic.User.ID, Name: cmp.Or(ic.User.Username, ic.User.Name)}
}

// clickNonce names one click. Slack gives every interaction its own trigger_id (and a button click its
// action_ts), so a redelivered Socket Mode envelope is the same click, and a second click is another.
func clickNonce(parts ...string) string {
	if strings.Join(parts, "") == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b) // crypto/rand.Read never fails
		return hex.EncodeToString(b)
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:12])
}

// submit signs a statement and sends it to its run in the background, once per click.
func (h *Handler) submit(st approval.Statement, to replyTo) {
	st.IssuedAt = time.Now().UTC()
	log := h.logger.With("run", st.Run, "subject", st.Subject, "verb", st.Verb, "user", st.Actor.ID)
	a, err := approval.Sign(h.key, st)
	if err != nil {
		log.Error("slack: sign statement", "error", err)
		return
	}
	h.mu.Lock()
	dup := h.inflight[st.Nonce]
	if !dup {
		h.inflight[st.Nonce] = true
	}
	h.mu.Unlock()
	if dup {
		log.Info("slack: this click is already being sent (redelivered)")
		return
	}
	started := h.spawn(func(ctx context.Context) {
		defer func() {
			h.mu.Lock()
			delete(h.inflight, st.Nonce)
			h.mu.Unlock()
		}()
		h.send(ctx, log, st, a, to)
	})
	if !started {
		log.Warn("slack: click arrived while shutting down; not sent")
	}
}

// send delivers one signed statement, retrying with the same assertion (the same Update id) while no worker
// answers, and tells the clicker what came of it.
func (h *Handler) send(ctx context.Context, log *slog.Logger, st approval.Statement, a approval.Assertion, to replyTo) {
	start := time.Now()
	backoff := h.retry.Backoff
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, h.retry.Attempt)
		ans, err := h.runs.Send(actx, a)
		cancel()
		if err == nil {
			log.Info("slack: statement recorded", "outcome", ans.Outcome, "why", ans.Why, "state", ans.State, "attempts", attempt)
			h.reply(ctx, to, outcomeText(st, ans))
			return
		}
		var rejected *RejectedError
		if errors.As(err, &rejected) {
			log.Info("slack: statement rejected by the run", "why", rejected.Why, "attempts", attempt)
			h.reply(ctx, to, fmt.Sprintf("Parry did not record your %s: %s.", describeStatement(st), strings.TrimSuffix(rejected.Why, ".")))
			return
		}
		if ctx.Err() != nil {
			log.Error("slack: abandoned a click at shutdown: it was not recorded", "attempts", attempt, "error", err)
			h.reply(ctx, to, fmt.Sprintf("Parry's front door shut down before a worker took your %s: it was NOT recorded. Please click again.", describeStatement(st)))
			return
		}
		left := h.retry.Total - time.Since(start)
		if left <= 0 {
			log.Error("slack: gave up sending a click: it was not recorded", "attempts", attempt, "after", time.Since(start).Round(time.Second), "error", err)
			h.reply(ctx, to, fmt.Sprintf("No Parry worker took your %s within %s: it was NOT recorded. Please click again, or ask an operator to use the trigger CLI.", describeStatement(st), h.retry.Total))
			return
		}
		wait := min(backoff, left)
		log.Warn("slack: no answer from the run yet; retrying with the same update id", "attempt", attempt, "retry_in", wait, "error", err)
		if attempt == 1 {
			h.reply(ctx, to, fmt.Sprintf("Parry has your %s, but no worker has taken it yet. It will be recorded as soon as one is back (retrying for up to %s).", describeStatement(st), h.retry.Total))
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		backoff = min(backoff*2, h.retry.MaxBackoff)
	}
}

// reply sends the clicker an ephemeral message. It outlives a canceled ctx briefly, so a click abandoned at
// shutdown is still explained.
func (h *Handler) reply(ctx context.Context, to replyTo, text string) {
	if to.Channel == "" || to.User == "" {
		h.logger.Warn("slack: cannot tell the clicker: no channel", "user", to.User, "text", text)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	opts := []slack.MsgOption{slack.MsgOptionText(text, false)}
	if to.Thread != "" {
		opts = append(opts, slack.MsgOptionTS(to.Thread))
	}
	if _, err := h.slack.PostEphemeralContext(ctx, to.Channel, to.User, opts...); err != nil {
		h.logger.Warn("slack: chat.postEphemeral failed", "channel", to.Channel, "user", to.User, "error", err)
	}
}

// describeStatement names a statement for the person who made it: "approval of isolate-host".
func describeStatement(st approval.Statement) string {
	switch st.Verb {
	case approval.Approve:
		return "approval of " + st.Subject
	case approval.Deny:
		return "denial of " + st.Subject
	case approval.Done:
		return "“done” for " + st.Subject
	case approval.Close:
		return "request to close the run as " + st.Disposition
	}
	return st.Verb + " of " + st.Subject
}

// outcomeText tells the clicker how the run recorded their click.
func outcomeText(st approval.Statement, ans workflows.Answer) string {
	why := strings.TrimSuffix(ans.Why, ".")
	switch ans.Outcome {
	case workflows.OutcomeRefused:
		return fmt.Sprintf("Your %s was refused: %s. Nothing changed.", describeStatement(st), why)
	case workflows.OutcomeCounted:
		return fmt.Sprintf("Your %s is counted: %s.", describeStatement(st), why)
	}
	switch st.Verb {
	case approval.Approve:
		return fmt.Sprintf("You approved %s: the approval is now %s.", st.Subject, ans.State)
	case approval.Deny:
		return fmt.Sprintf("You denied %s: %s will not run.", st.Subject, st.Subject)
	case approval.Done:
		return fmt.Sprintf("You marked %s done.", st.Subject)
	case approval.Close:
		msg := fmt.Sprintf("The run is closing as %s.", st.Disposition)
		if st.Rollback {
			msg += " The rollback you asked for waits for its own approval before anything is released."
		}
		return msg
	}
	return fmt.Sprintf("Your %s was %s.", describeStatement(st), ans.Outcome)
}
