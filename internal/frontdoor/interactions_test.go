package frontdoor_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/parry-soc/parry/approval"
	"github.com/parry-soc/parry/internal/frontdoor"
	"github.com/parry-soc/parry/internal/slackapp"
	"github.com/parry-soc/parry/workflows"
)

// fakeSlack records the Web API calls the handler makes (views.open, chat.postEphemeral).
type fakeSlack struct {
	mu         sync.Mutex
	views      []openedView
	ephemerals []ephemeral
	openErr    error
}

type openedView struct {
	trigger string
	view    slack.ModalViewRequest
}

type ephemeral struct{ channel, user, thread, text string }

func (f *fakeSlack) OpenViewContext(ctx context.Context, triggerID string, view slack.ModalViewRequest) (*slack.ViewResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.openErr != nil {
		return nil, f.openErr
	}
	f.views = append(f.views, openedView{triggerID, view})
	return &slack.ViewResponse{}, nil
}

func (f *fakeSlack) PostEphemeralContext(ctx context.Context, channel, user string, opts ...slack.MsgOption) (string, error) {
	_, vals, err := slack.UnsafeApplyMsgOptions("", channel, "", opts...)
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ephemerals = append(f.ephemerals, ephemeral{channel, user, vals.Get("thread_ts"), vals.Get("text")})
	return "1765000999.000001", nil
}

func (f *fakeSlack) texts(user string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.ephemerals {
		if e.user == user {
			out = append(out, e.text)
		}
	}
	return out
}

func (f *fakeSlack) sentEphemerals() []ephemeral {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ephemeral(nil), f.ephemerals...)
}

func (f *fakeSlack) opened() []openedView {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]openedView(nil), f.views...)
}

// fakeRuns answers statements as a run would, through answer.
type fakeRuns struct {
	mu     sync.Mutex
	sent   []approval.Assertion
	answer func(n int, st approval.Statement) (workflows.Answer, error)
}

func (f *fakeRuns) Send(ctx context.Context, a approval.Assertion) (workflows.Answer, error) {
	st, err := a.Decode()
	if err != nil {
		return workflows.Answer{}, &frontdoor.RejectedError{Why: err.Error()}
	}
	f.mu.Lock()
	f.sent = append(f.sent, a)
	n := len(f.sent)
	answer := f.answer
	f.mu.Unlock()
	if answer == nil {
		return workflows.Answer{Outcome: workflows.OutcomeGranted, State: workflows.ApprovalApproved}, nil
	}
	return answer(n, st)
}

func (f *fakeRuns) statements(t *testing.T) []approval.Statement {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []approval.Statement
	for _, a := range f.sent {
		st, err := a.Decode()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, st)
	}
	return out
}

func (f *fakeRuns) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent)
}

// noWorker is what an Update looks like while no worker polls: the attempt's deadline passes.
var noWorker = fmt.Errorf("decide on run parry-x: %w", context.DeadlineExceeded)

type testHandler struct {
	*frontdoor.Handler
	slack *fakeSlack
	runs  *fakeRuns
	pub   ed25519.PublicKey
	logs  *bytes.Buffer
}

func newTestHandler(t *testing.T, retry frontdoor.Retry, answer func(int, approval.Statement) (workflows.Answer, error)) *testHandler {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	fs, fr := &fakeSlack{}, &fakeRuns{answer: answer}
	var logs bytes.Buffer
	h, err := frontdoor.NewHandler(frontdoor.HandlerConfig{Slack: fs, Runs: fr, Key: priv, Retry: retry,
		Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Shutdown(context.Background()) })
	return &testHandler{Handler: h, slack: fs, runs: fr, pub: pub, logs: &logs}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

var fastRetry = frontdoor.Retry{Attempt: 50 * time.Millisecond, Backoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Total: 5 * time.Second}

// eventually waits for cond, failing the test after a few seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Payloads as Slack sends them: https://api.slack.com/reference/interaction-payloads/block-actions and
// https://api.slack.com/reference/interaction-payloads/views.

func click(t *testing.T, user, actionID string, value any, trigger string) slack.InteractionCallback {
	t.Helper()
	v, ok := value.(string)
	if !ok {
		b, _ := json.Marshal(value)
		v = string(b)
	}
	payload := map[string]any{
		"type":         "block_actions",
		"user":         map[string]any{"id": user, "username": strings.ToLower(user) + ".name", "name": strings.ToLower(user) + ".name", "team_id": "T0PARRY"},
		"api_app_id":   "A0PARRY",
		"team":         map[string]any{"id": "T0PARRY", "domain": "parry"},
		"trigger_id":   trigger,
		"response_url": "https://hooks.slack.invalid/actions/T0PARRY/1/x",
		"container":    map[string]any{"type": "message", "message_ts": "1765000000.000002", "thread_ts": "1765000000.000001", "channel_id": "C0SOC"},
		"channel":      map[string]any{"id": "C0SOC", "name": "soc-incidents"},
		"message":      map[string]any{"type": "message", "ts": "1765000000.000002", "thread_ts": "1765000000.000001", "text": "approval request"},
		"actions": []any{map[string]any{"type": "button", "action_id": actionID, "block_id": "parry.buttons", "value": v,
			"action_ts": "1765000100." + trigger}},
	}
	return decodeInteraction(t, payload)
}

func submission(t *testing.T, user, callback, metadata, trigger string, values map[string]map[string]any) slack.InteractionCallback {
	t.Helper()
	payload := map[string]any{
		"type":       "view_submission",
		"user":       map[string]any{"id": user, "username": strings.ToLower(user) + ".name", "name": strings.ToLower(user) + ".name", "team_id": "T0PARRY"},
		"team":       map[string]any{"id": "T0PARRY"},
		"api_app_id": "A0PARRY",
		"trigger_id": trigger,
		"view": map[string]any{"id": "V" + trigger, "type": "modal", "callback_id": callback, "private_metadata": metadata,
			"hash": "h" + trigger, "state": map[string]any{"values": values}},
	}
	return decodeInteraction(t, payload)
}

func decodeInteraction(t *testing.T, payload map[string]any) slack.InteractionCallback {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	var ic slack.InteractionCallback
	if err := json.Unmarshal(b, &ic); err != nil {
		t.Fatal(err)
	}
	return ic
}

func reasonValue(s string) map[string]map[string]any {
	return map[string]map[string]any{slackapp.BlockReason: {slackapp.InputReason: map[string]any{"type": "plain_text_input", "value": s}}}
}

const testRun = "parry-parry-demo-phish-0001"

// TestClickBecomesStatementSignedForTheVerifiedUser checks that an Approve click is sent as a statement the
// run can verify against the pinned front door key, about the Slack user who clicked — whatever the button
// value says — and that the clicker hears how the run recorded it.
func TestClickBecomesStatementSignedForTheVerifiedUser(t *testing.T) {
	h := newTestHandler(t, fastRetry, nil)
	// A crafted value may name a user; it names only what the click is about.
	value := map[string]string{"r": testRun, "a": "isolate-host", "s": "isolate-host", "u": "U0ADMIN"}
	if ack := h.Handle(click(t, "U0LEAD1", slackapp.ActionApprove, value, "t1")); ack.Body() != nil {
		t.Errorf("ack body = %s, want empty", ack.Body())
	}
	eventually(t, "the statement", func() bool { return h.runs.count() == 1 })

	pinned := []approval.Key{{ID: approval.KeyID(h.pub), Kind: approval.KeyFrontDoor, Name: "front door", PublicKey: h.pub}}
	h.runs.mu.Lock()
	first := h.runs.sent[0]
	h.runs.mu.Unlock()
	st, _, err := approval.Verify(pinned, first)
	if err != nil {
		t.Fatalf("statement does not verify against the front door key: %v", err)
	}
	want := approval.Actor{Kind: approval.ActorSlack, ID: "U0LEAD1", Name: "u0lead1.name"}
	if st.Run != testRun || st.Subject != "isolate-host" || st.Verb != approval.Approve || st.Actor != want || st.Nonce == "" {
		t.Errorf("statement = %+v, want approve of %s/isolate-host by %v with a nonce", st, testRun, want)
	}
	eventually(t, "the ephemeral", func() bool { return len(h.slack.texts("U0LEAD1")) == 1 })
	e := h.slack.sentEphemerals()[0]
	if e.channel != "C0SOC" || e.thread != "1765000000.000001" || !strings.Contains(e.text, "You approved isolate-host") {
		t.Errorf("ephemeral = %+v, want one in C0SOC's run thread saying it was approved", e)
	}
}

// TestClickerIsToldWhatCameOfTheClick covers each answer a run gives, and a rejection.
func TestClickerIsToldWhatCameOfTheClick(t *testing.T) {
	for _, tt := range []struct {
		name   string
		answer workflows.Answer
		err    error
		want   string
	}{
		{"refused: not an approver", workflows.Answer{Outcome: workflows.OutcomeRefused, Why: "slack:U0MALLORY (mallory) is not an approver of group containment", State: workflows.ApprovalOpen},
			nil, "Your approval of isolate-host was refused: slack:U0MALLORY (mallory) is not an approver of group containment. Nothing changed."},
		{"refused: same person twice", workflows.Answer{Outcome: workflows.OutcomeRefused, Why: "slack:U0LEAD1 (dana) already approved: one person counts once", State: workflows.ApprovalOpen},
			nil, "refused: slack:U0LEAD1 (dana) already approved: one person counts once. Nothing changed."},
		{"counted towards min", workflows.Answer{Outcome: workflows.OutcomeCounted, Why: "1 of 2 approvals", State: workflows.ApprovalOpen},
			nil, "Your approval of isolate-host is counted: 1 of 2 approvals."},
		{"rejected: already decided", workflows.Answer{}, &frontdoor.RejectedError{Why: `approval "isolate-host" is already approved`},
			`Parry did not record your approval of isolate-host: approval "isolate-host" is already approved.`},
		{"rejected: run ended", workflows.Answer{}, &frontdoor.RejectedError{Why: "run parry-x does not exist or has ended"},
			"Parry did not record your approval of isolate-host: run parry-x does not exist or has ended."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHandler(t, fastRetry, func(int, approval.Statement) (workflows.Answer, error) { return tt.answer, tt.err })
			h.Handle(click(t, "U0LEAD1", slackapp.ActionApprove, slackapp.ButtonValue{Run: testRun, Approval: "isolate-host"}, "t1"))
			eventually(t, "the ephemeral", func() bool { return len(h.slack.texts("U0LEAD1")) == 1 })
			if got := h.slack.texts("U0LEAD1")[0]; !strings.Contains(got, tt.want) {
				t.Errorf("ephemeral = %q, want it to contain %q", got, tt.want)
			}
			if n := h.runs.count(); n != 1 {
				t.Errorf("sent %d times, want once: answers and rejections are final", n)
			}
		})
	}
}

// TestEveryClickIsItsOwnAttempt: two clicks by the same person are two statements (the run refuses the
// second), while one click delivered twice (a Socket Mode redelivery) is sent once.
func TestEveryClickIsItsOwnAttempt(t *testing.T) {
	release := make(chan struct{})
	h := newTestHandler(t, fastRetry, func(n int, _ approval.Statement) (workflows.Answer, error) {
		<-release
		return workflows.Answer{Outcome: workflows.OutcomeCounted, Why: "1 of 2 approvals"}, nil
	})
	v := slackapp.ButtonValue{Run: testRun, Approval: "isolate-host"}
	h.Handle(click(t, "U0LEAD1", slackapp.ActionApprove, v, "t1"))
	h.Handle(click(t, "U0LEAD1", slackapp.ActionApprove, v, "t1")) // the same envelope again
	h.Handle(click(t, "U0LEAD1", slackapp.ActionApprove, v, "t2")) // a second click
	close(release)
	eventually(t, "two ephemerals", func() bool { return len(h.slack.texts("U0LEAD1")) == 2 })
	sts := h.runs.statements(t)
	if len(sts) != 2 || sts[0].Nonce == sts[1].Nonce {
		t.Fatalf("sent %+v, want two statements with distinct nonces", sts)
	}
}

// TestClickIsRetriedUntilAWorkerAnswers: while no worker answers, the same assertion (so the same Update id)
// is sent again; the clicker is told it is waiting, then what came of it.
func TestClickIsRetriedUntilAWorkerAnswers(t *testing.T) {
	h := newTestHandler(t, fastRetry, func(n int, _ approval.Statement) (workflows.Answer, error) {
		if n < 4 {
			return workflows.Answer{}, noWorker
		}
		return workflows.Answer{Outcome: workflows.OutcomeGranted, State: workflows.ApprovalApproved}, nil
	})
	h.Handle(click(t, "U0LEAD1", slackapp.ActionApprove, slackapp.ButtonValue{Run: testRun, Approval: "isolate-host"}, "t1"))
	eventually(t, "the outcome", func() bool { return len(h.slack.texts("U0LEAD1")) == 2 })
	h.runs.mu.Lock()
	sent := append([]approval.Assertion(nil), h.runs.sent...)
	h.runs.mu.Unlock()
	if len(sent) != 4 {
		t.Fatalf("sent %d times, want 4", len(sent))
	}
	for i, a := range sent[1:] {
		if !bytes.Equal(a.Payload, sent[0].Payload) || !bytes.Equal(a.Signature, sent[0].Signature) {
			t.Errorf("attempt %d sent a different assertion: a retry must be the same request", i+2)
		}
	}
	texts := h.slack.texts("U0LEAD1")
	if !strings.Contains(texts[0], "no worker has taken it yet") || !strings.Contains(texts[1], "You approved isolate-host") {
		t.Errorf("ephemerals = %q, want a waiting notice, then the outcome", texts)
	}
	if n := strings.Count(h.logs.String(), "retrying with the same update id"); n != 3 {
		t.Errorf("logged %d retries, want 3:\n%s", n, h.logs)
	}
}

// TestRetryIsBounded: a click no worker takes within Retry.Total is given up, logged, and the clicker told
// it was not recorded.
func TestRetryIsBounded(t *testing.T) {
	retry := fastRetry
	retry.Total = 150 * time.Millisecond
	h := newTestHandler(t, retry, func(int, approval.Statement) (workflows.Answer, error) { return workflows.Answer{}, noWorker })
	h.Handle(click(t, "U0LEAD1", slackapp.ActionApprove, slackapp.ButtonValue{Run: testRun, Approval: "isolate-host"}, "t1"))
	eventually(t, "giving up", func() bool { return len(h.slack.texts("U0LEAD1")) == 2 })
	if got := h.slack.texts("U0LEAD1")[1]; !strings.Contains(got, "it was NOT recorded") {
		t.Errorf("last ephemeral = %q, want it to say the click was not recorded", got)
	}
	if h.runs.count() < 2 || !strings.Contains(h.logs.String(), "gave up sending a click") {
		t.Errorf("sent %d times; logs:\n%s", h.runs.count(), h.logs)
	}
}

// TestShutdownExplainsAbandonedClicks: clicks still waiting when the front door stops are not silently lost.
func TestShutdownExplainsAbandonedClicks(t *testing.T) {
	h := newTestHandler(t, fastRetry, func(int, approval.Statement) (workflows.Answer, error) { return workflows.Answer{}, noWorker })
	h.Handle(click(t, "U0LEAD1", slackapp.ActionApprove, slackapp.ButtonValue{Run: testRun, Approval: "isolate-host"}, "t1"))
	eventually(t, "a first attempt", func() bool { return h.runs.count() > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.Shutdown(ctx); err == nil {
		t.Error("Shutdown = nil, want an error naming abandoned clicks")
	}
	texts := h.slack.texts("U0LEAD1")
	if len(texts) == 0 || !strings.Contains(texts[len(texts)-1], "shut down before a worker took your approval") {
		t.Errorf("ephemerals = %q, want the last to say the click was abandoned", texts)
	}
	n := h.runs.count()
	h.Handle(click(t, "U0LEAD1", slackapp.ActionApprove, slackapp.ButtonValue{Run: testRun, Approval: "isolate-host"}, "t2"))
	time.Sleep(50 * time.Millisecond)
	if h.runs.count() != n {
		t.Error("a click after Shutdown was sent")
	}
}

// TestDenyAsksForAReason: Deny opens the reason form with the click's trigger_id; the submitted reason is
// sent as a denial by the submitter; an empty reason keeps the form open with an error and sends nothing.
func TestDenyAsksForAReason(t *testing.T) {
	h := newTestHandler(t, fastRetry, nil)
	h.Handle(click(t, "U0LEAD2", slackapp.ActionDeny, slackapp.ButtonValue{Run: testRun, Approval: "disable-user", Step: "disable-user"}, "t1"))
	eventually(t, "views.open", func() bool { return len(h.slack.opened()) == 1 })
	v := h.slack.opened()[0]
	if v.trigger != "t1" || v.view.CallbackID != slackapp.CallbackDeny {
		t.Fatalf("views.open(%q, %s), want the click's trigger and the deny form", v.trigger, v.view.CallbackID)
	}
	var meta struct {
		Run      string `json:"r"`
		Approval string `json:"a"`
		Channel  string `json:"c"`
	}
	err := json.Unmarshal([]byte(v.view.PrivateMetadata), &meta)
	if err != nil || meta.Run != testRun || meta.Approval != "disable-user" || meta.Channel != "C0SOC" {
		t.Fatalf("private_metadata %q = %+v, %v", v.view.PrivateMetadata, meta, err)
	}
	if h.runs.count() != 0 {
		t.Fatal("a Deny click was sent before the form was submitted")
	}

	ack := h.Handle(submission(t, "U0LEAD2", slackapp.CallbackDeny, v.view.PrivateMetadata, "t2", reasonValue("  ")))
	if !strings.Contains(string(ack.Body()), `"response_action":"errors"`) || !strings.Contains(string(ack.Body()), slackapp.BlockReason) {
		t.Errorf("ack of an empty reason = %s, want errors on %s", ack.Body(), slackapp.BlockReason)
	}
	ack = h.Handle(submission(t, "U0LEAD2", slackapp.CallbackDeny, v.view.PrivateMetadata, "t3", reasonValue("alice presents to the board")))
	if ack.Body() != nil {
		t.Errorf("ack = %s, want empty (the form closes)", ack.Body())
	}
	eventually(t, "the denial", func() bool { return h.runs.count() == 1 })
	st := h.runs.statements(t)[0]
	if st.Verb != approval.Deny || st.Subject != "disable-user" || st.Reason != "alice presents to the board" || st.Actor.ID != "U0LEAD2" {
		t.Errorf("statement = %+v", st)
	}
	eventually(t, "the ephemeral", func() bool { return len(h.slack.texts("U0LEAD2")) == 1 })
	if e := h.slack.sentEphemerals()[0]; e.channel != "C0SOC" || e.thread != "1765000000.000001" {
		t.Errorf("ephemeral in %s/%s, want the run's thread (from the form's metadata)", e.channel, e.thread)
	}
}

// TestCloseAsksForADisposition: Close opens the close form; its submission is a close statement with the
// disposition and rollback chosen.
func TestCloseAsksForADisposition(t *testing.T) {
	h := newTestHandler(t, fastRetry, nil)
	h.Handle(click(t, "U0LEAD1", slackapp.ActionClose, slackapp.ButtonValue{Run: testRun}, "t1"))
	eventually(t, "views.open", func() bool { return len(h.slack.opened()) == 1 })
	v := h.slack.opened()[0].view
	if v.CallbackID != slackapp.CallbackClose {
		t.Fatalf("opened %s, want the close form", v.CallbackID)
	}
	body, _ := json.Marshal(v)
	for _, want := range append([]string{slackapp.InputDisposition, slackapp.InputRollback, slackapp.RollbackOptionVal, "its own approval"}, workflows.Dispositions...) {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("close form lacks %q", want)
		}
	}

	for _, tt := range []struct {
		name     string
		values   map[string]map[string]any
		wantErr  bool
		rollback bool
	}{
		{"no disposition", map[string]map[string]any{}, true, false},
		{"unknown disposition", map[string]map[string]any{slackapp.BlockDisposition: {slackapp.InputDisposition: map[string]any{"type": "static_select", "selected_option": map[string]any{"value": "oops"}}}}, true, false},
		{"false positive with rollback", map[string]map[string]any{
			slackapp.BlockDisposition: {slackapp.InputDisposition: map[string]any{"type": "static_select", "selected_option": map[string]any{"value": workflows.FalsePositive}}},
			slackapp.BlockRollback:    {slackapp.InputRollback: map[string]any{"type": "checkboxes", "selected_options": []any{map[string]any{"value": slackapp.RollbackOptionVal}}}},
			slackapp.BlockReason:      {slackapp.InputReason: map[string]any{"type": "plain_text_input", "value": "IT's phishing drill"}},
		}, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := h.runs.count()
			ack := h.Handle(submission(t, "U0LEAD1", slackapp.CallbackClose, v.PrivateMetadata, "t-"+tt.name, tt.values))
			if tt.wantErr {
				if !strings.Contains(string(ack.Body()), slackapp.BlockDisposition) {
					t.Errorf("ack = %s, want an error on %s", ack.Body(), slackapp.BlockDisposition)
				}
				time.Sleep(20 * time.Millisecond)
				if h.runs.count() != before {
					t.Error("an invalid form was sent")
				}
				return
			}
			eventually(t, "the close", func() bool { return h.runs.count() == before+1 })
			st := h.runs.statements(t)[before]
			if st.Verb != approval.Close || st.Subject != workflows.CloseSubject || st.Disposition != workflows.FalsePositive ||
				st.Rollback != tt.rollback || st.Reason != "IT's phishing drill" || st.Actor.ID != "U0LEAD1" {
				t.Errorf("statement = %+v", st)
			}
		})
	}
}

// TestMarkDoneIsADoneStatement: "Mark done" on a manual task is a done statement for the step.
func TestMarkDoneIsADoneStatement(t *testing.T) {
	h := newTestHandler(t, fastRetry, func(int, approval.Statement) (workflows.Answer, error) {
		return workflows.Answer{Outcome: workflows.OutcomeGranted}, nil
	})
	h.Handle(click(t, "U0LEAD2", slackapp.ActionTaskDone, slackapp.ButtonValue{Run: testRun, Step: "reimage"}, "t1"))
	eventually(t, "the statement", func() bool { return h.runs.count() == 1 })
	if st := h.runs.statements(t)[0]; st.Verb != approval.Done || st.Subject != "reimage" || st.Actor.ID != "U0LEAD2" {
		t.Errorf("statement = %+v", st)
	}
	eventually(t, "the ephemeral", func() bool { return len(h.slack.texts("U0LEAD2")) == 1 })
	if got := h.slack.texts("U0LEAD2")[0]; got != "You marked reimage done." {
		t.Errorf("ephemeral = %q", got)
	}
}

// TestIgnoresWhatIsNotParrys: other apps' actions, unreadable values and unknown forms send nothing.
func TestIgnoresWhatIsNotParrys(t *testing.T) {
	h := newTestHandler(t, fastRetry, nil)
	h.Handle(click(t, "U0LEAD1", "other.app", slackapp.ButtonValue{Run: testRun, Approval: "isolate-host"}, "t1"))
	h.Handle(click(t, "U0LEAD1", slackapp.ActionApprove, "not json", "t2"))
	h.Handle(click(t, "U0LEAD1", slackapp.ActionApprove, slackapp.ButtonValue{Run: testRun}, "t3")) // names no approval
	h.Handle(submission(t, "U0LEAD1", "other.form", `{"r":"x"}`, "t4", reasonValue("x")))
	h.Handle(submission(t, "U0LEAD1", slackapp.CallbackDeny, "not json", "t5", reasonValue("x")))
	eventually(t, "two explanations", func() bool { return len(h.slack.texts("U0LEAD1")) == 2 })
	time.Sleep(20 * time.Millisecond)
	if n := h.runs.count(); n != 0 {
		t.Errorf("sent %d statements, want none", n)
	}
}

// TestFormThatCannotOpenIsExplained: when views.open fails (the trigger expired), the clicker is told.
func TestFormThatCannotOpenIsExplained(t *testing.T) {
	h := newTestHandler(t, fastRetry, nil)
	h.slack.openErr = errors.New("expired_trigger_id")
	h.Handle(click(t, "U0LEAD1", slackapp.ActionDeny, slackapp.ButtonValue{Run: testRun, Approval: "isolate-host"}, "t1"))
	eventually(t, "the explanation", func() bool { return len(h.slack.texts("U0LEAD1")) == 1 })
	if got := h.slack.texts("U0LEAD1")[0]; !strings.Contains(got, "expired_trigger_id") {
		t.Errorf("ephemeral = %q", got)
	}
}
