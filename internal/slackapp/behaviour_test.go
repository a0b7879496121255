package slackapp

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parry-soc/parry/activities/provider"
	"github.com/parry-soc/parry/internal/slacktest"
	"github.com/parry-soc/parry/notify"
)

// mrkdwnTexts returns every text a message shows as mrkdwn: the text argument and each mrkdwn text object
// in its blocks.
func mrkdwnTexts(t *testing.T, args map[string]string) []string {
	t.Helper()
	out := []string{args["text"]}
	if args["blocks"] == "" {
		return out
	}
	var blocks any
	if err := json.Unmarshal([]byte(args["blocks"]), &blocks); err != nil {
		t.Fatalf("blocks are not JSON: %v", err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["type"] == "mrkdwn" {
				if s, ok := v["text"].(string); ok {
					out = append(out, s)
				}
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(blocks)
	return out
}

// hasActions reports whether a message version carries any interactive block.
func hasActions(t *testing.T, m slacktest.Message) bool {
	t.Helper()
	var blocks []map[string]any
	if err := json.Unmarshal(m.Blocks, &blocks); err != nil {
		t.Fatalf("blocks are not JSON: %v", err)
	}
	for _, b := range blocks {
		if b["type"] == "actions" {
			return true
		}
	}
	return false
}

func TestNotifyThreadsARunAndUpdatesMessagesInPlace(t *testing.T) {
	f := slacktest.New(t)
	s := newSim(t, newTestNotifier(t, f, nil))

	parent := s.deliver(evRunStarted).Parent
	if parent.Channel != slacktest.ChannelIncidents || parent.TS == "" {
		t.Fatalf("run.started posted parent %+v, want a message in %s (the channel's id, not its name)", parent, slacktest.ChannelIncidents)
	}
	s.deliver(evPhaseStarted)
	if p := s.deliver(evStepStarted); p != (notify.Posted{}) {
		t.Errorf("step.started posted %+v, want nothing", p)
	}
	s.deliver(evStepFinished)
	request := s.deliver(evApprovalAsked).Message
	if request.IsZero() {
		t.Fatal("approval.requested returned no message to update later")
	}
	s.deliver(evApproved)
	s.deliver(evPhaseDone)
	s.deliver(evRunCompleted)

	var top []string
	for _, m := range f.Messages(slacktest.ChannelIncidents) {
		if m.ThreadTS == "" {
			top = append(top, m.TS)
		}
	}
	if len(top) != 1 || top[0] != parent.TS {
		t.Errorf("top-level messages %v, want only the parent %s", top, parent.TS)
	}
	for _, c := range f.Calls("") {
		if c.Method == "chat.postMessage" && c.Args["ts"] != "" {
			t.Errorf("chat.postMessage with ts %q: posts never edit", c.Args["ts"])
		}
		if c.Method == "chat.postMessage" && c.Args["thread_ts"] == "" && strings.Contains(c.Args["text"], "Phase") {
			t.Errorf("an event reply was posted outside the thread: %q", c.Args["text"])
		}
	}
	replies := 0
	for _, c := range f.Calls("") {
		if c.Method == "chat.postMessage" && c.Args["thread_ts"] == parent.TS {
			replies++
		}
	}
	// phase.started, step.finished, approval request, approval decided, phase.finished, run.completed.
	if replies != 6 {
		t.Errorf("%d replies in the run's thread, want 6", replies)
	}

	versions := f.Versions(slacktest.ChannelIncidents, parent.TS)
	if got, want := len(versions), 1+3; got != want { // posted, then phase.started, phase.finished, run.completed
		t.Errorf("parent has %d versions, want %d (posted + one per phase or run state change)", got, want)
	}
	if !hasActions(t, versions[0]) {
		t.Error("the parent of an open run has no Close as… button")
	}
	last := versions[len(versions)-1]
	if hasActions(t, last) {
		t.Error("the parent of a completed run still offers Close as…")
	}
	if !strings.Contains(last.Text, "Completed") {
		t.Errorf("parent's last text %q does not say the run completed", last.Text)
	}

	versions = f.Versions(request.Channel, request.TS)
	if len(versions) != 2 {
		t.Fatalf("approval request has %d versions, want posted then decided", len(versions))
	}
	if !hasActions(t, versions[0]) || hasActions(t, versions[1]) {
		t.Errorf("approval request buttons: posted %t, decided %t; want them on the request and gone once decided",
			hasActions(t, versions[0]), hasActions(t, versions[1]))
	}
	if versions[0].ThreadTS != parent.TS {
		t.Errorf("approval request is in thread %q, want the run's %q", versions[0].ThreadTS, parent.TS)
	}
	if decided := versions[1].Text; !strings.Contains(decided, "approved by <@U0LEAD1>") {
		t.Errorf("decided request says %q, want who approved", decided)
	}
}

func TestAlertTitleIsEscapedForMrkdwn(t *testing.T) {
	f := slacktest.New(t)
	s := newSim(t, newTestNotifier(t, f, nil))
	s.run.Title = "<!channel> Invoice & <https://evil.example/login|Approve here> > urgent"
	s.run.Host = "<@U0EVIL>"
	s.deliver(evRunStarted)
	s.deliver(evApprovalAsked)
	s.deliver(notify.Event{Kind: notify.StepFailed, Step: "detonate", Action: "sandbox.detonate", Error: "vendor said <!here> & left"})
	if err := s.escalate("run failed: <!everyone>"); err != nil {
		t.Fatal(err)
	}
	var seen bool
	for _, c := range f.Calls("") {
		if c.Method != "chat.postMessage" {
			continue
		}
		for _, txt := range mrkdwnTexts(t, c.Args) {
			for _, raw := range []string{"<!channel>", "<https://evil", "<!here>", "<!everyone>", "<@U0EVIL>", "& <", "> urgent"} {
				if strings.Contains(txt, raw) {
					t.Errorf("%s shows %q unescaped in %q", c.Method, raw, txt)
				}
			}
			seen = seen || strings.Contains(txt, "&lt;!channel&gt; Invoice &amp; &lt;https://evil.example/login|Approve here&gt; &gt; urgent")
		}
	}
	if !seen {
		t.Error("no message shows the escaped title")
	}
}

func TestNotifyDoesNotPostAnEventTwice(t *testing.T) {
	f := slacktest.New(t)
	n := newTestNotifier(t, f, nil)
	s := newSim(t, n)
	first := s.deliver(evRunStarted)
	again, err := n.Notify(context.Background(), notify.Event{Run: s.run, Seq: 1, Kind: notify.RunStarted})
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Errorf("re-Notify returned %+v, want the remembered %+v", again, first)
	}
	req := s.stamp(evApprovalAsked)
	p1, err := n.Notify(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := n.Notify(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if p1 != p2 {
		t.Errorf("re-Notify of the request returned %+v, want %+v", p2, p1)
	}
	if posts := len(f.Calls("")); posts != 2 {
		t.Errorf("%d calls, want 2 (the parent and the request, once each)", posts)
	}
}

func TestNotifyResumesAfterARateLimitWithoutPostingTwice(t *testing.T) {
	f := slacktest.New(t)
	n := newTestNotifier(t, f, nil)
	s := newSim(t, n)
	parent := s.deliver(evRunStarted).Parent
	f.FailNext("chat.update", 1, http.StatusTooManyRequests, 3*time.Second)

	e := s.stamp(evPhaseStarted)
	_, err := n.Notify(context.Background(), e)
	pe, ok := provider.AsError(err)
	if !ok || pe.Type != provider.ErrRateLimited || pe.RetryAfter != 3*time.Second {
		t.Fatalf("Notify with chat.update rate limited = %v, want a RateLimited provider error with RetryAfter 3s", err)
	}
	if _, err := n.Notify(context.Background(), e); err != nil {
		t.Fatalf("retried Notify: %v", err)
	}
	var replies, updates int
	for _, c := range f.Calls("") {
		switch {
		case c.Method == "chat.postMessage" && c.Args["thread_ts"] == parent.TS:
			replies++
		case c.Method == "chat.update":
			updates++
		}
	}
	if replies != 1 || updates != 2 {
		t.Errorf("%d replies and %d update attempts, want the reply once and the update retried (1, 2)", replies, updates)
	}
}

func TestNotifyPostsTheParentForAnEventOfARunWithoutOne(t *testing.T) {
	f := slacktest.New(t)
	s := newSim(t, newTestNotifier(t, f, nil))
	p := s.deliver(evApprovalAsked) // run.started failed to post earlier: no thread
	if p.Parent.IsZero() || p.Message.IsZero() {
		t.Fatalf("Notify = %+v, want the parent it posted and the request", p)
	}
	if m, _ := f.Message(p.Message.Channel, p.Message.TS); m.ThreadTS != p.Parent.TS {
		t.Errorf("request in thread %q, want the new parent %q", m.ThreadTS, p.Parent.TS)
	}
}

func TestUpdateOfAMessageSlackWillNotEditDoesNotFailTheEvent(t *testing.T) {
	f := slacktest.New(t)
	var logs bytes.Buffer
	s := newSim(t, newTestNotifier(t, f, &logs))
	s.deliver(evRunStarted)
	s.deliver(evApprovalAsked)
	f.FailMethod("chat.update", "cant_update_message")
	s.deliver(evApproved) // fails the test if Notify fails
	if !strings.Contains(logs.String(), `"slack_error":"cant_update_message"`) {
		t.Errorf("no log line names the refused update:\n%s", logs.String())
	}
}

func TestEscalation(t *testing.T) {
	for _, tt := range []struct {
		name        string
		oncall      string // the playbook's notify.oncall
		escalation  string // the playbook's notify.escalation
		noPermalink bool
		wantMention string
		wantChannel string
		wantLink    bool
	}{
		{"playbook on-call group, thread linked", slacktest.GroupOnCall, "#soc-leads", false, "<!subteam^S0ONCALL>", "#soc-leads", true},
		{"configured on-call group when the playbook names none", "", "#soc-leads", false, "<!subteam^S0DEFAULT>", "#soc-leads", true},
		{"run's channel without an escalation channel", slacktest.GroupOnCall, "", false, "<!subteam^S0ONCALL>", "#soc-incidents", true},
		{"still escalates when the permalink fails", slacktest.GroupOnCall, "#soc-leads", true, "<!subteam^S0ONCALL>", "#soc-leads", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := slacktest.New(t)
			s := newSim(t, newTestNotifier(t, f, nil))
			s.run.Oncall, s.run.Escalation = tt.oncall, tt.escalation
			s.deliver(evRunStarted)
			if tt.noPermalink {
				f.FailNext("chat.getPermalink", 1, http.StatusInternalServerError, 0)
			}
			if err := s.escalate("approval isolate-host timed out"); err != nil {
				t.Fatalf("Escalate: %v", err)
			}
			calls := f.Calls("")
			post := calls[len(calls)-1]
			if post.Method != "chat.postMessage" || post.Args["channel"] != tt.wantChannel || post.Args["thread_ts"] != "" {
				t.Fatalf("last call %s in %q (thread %q), want a new message in %s", post.Method, post.Args["channel"], post.Args["thread_ts"], tt.wantChannel)
			}
			texts := mrkdwnTexts(t, post.Args)
			shown := strings.Join(texts[1:], "\n")
			if !strings.Contains(texts[0], tt.wantMention) || !strings.Contains(shown, tt.wantMention) {
				t.Errorf("escalation does not mention %s: %s", tt.wantMention, texts)
			}
			link := strings.Contains(shown, "<"+slacktest.Permalink(slacktest.ChannelIncidents, s.parent.TS, "")+"|")
			if link != tt.wantLink {
				t.Errorf("escalation links the thread: %t, want %t", link, tt.wantLink)
			}
			if !strings.Contains(shown, s.run.ID) {
				t.Errorf("escalation does not name run %s", s.run.ID)
			}
		})
	}
}

func TestEscalateDoesNotPostTwice(t *testing.T) {
	f := slacktest.New(t)
	n := newTestNotifier(t, f, nil)
	e := notify.Escalation{Event: notify.Event{Run: sampleRun(), Seq: 9, Kind: "escalation"}, Reason: "run failed"}
	for range 2 {
		if err := n.Escalate(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(f.Calls("")); got != 1 {
		t.Errorf("%d calls for one escalation delivered twice, want 1", got)
	}
}

func TestNotifyWithoutAChannelIsInvalidInput(t *testing.T) {
	f := slacktest.New(t)
	s := newSim(t, newTestNotifier(t, f, nil))
	s.run.Channel = ""
	_, err := s.n.Notify(context.Background(), s.stamp(evRunStarted))
	if pe, ok := provider.AsError(err); !ok || pe.Type != "InvalidInput" || !strings.Contains(pe.Msg, "PARRY_SLACK_CHANNEL") {
		t.Errorf("Notify without a channel = %v, want InvalidInput naming PARRY_SLACK_CHANNEL", err)
	}

	n, err := New(Config{BotToken: f.BotToken(), APIURL: f.APIURL(), DefaultChannel: "#soc-leads"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := n.Notify(context.Background(), s.stamp(evRunStarted))
	if err != nil || p.Parent.Channel != slacktest.ChannelLeads {
		t.Errorf("Notify with PARRY_SLACK_CHANNEL = %+v, %v; want the parent in %s", p, err, slacktest.ChannelLeads)
	}
}
