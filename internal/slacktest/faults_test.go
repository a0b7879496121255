package slacktest_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/parry-soc/parry/internal/slacktest"
)

func TestFailNextAnswersLikeSlacksFrontEnd(t *testing.T) {
	for _, tt := range []struct {
		name       string
		method     string
		status     int
		retryAfter time.Duration
		check      func(t *testing.T, err error)
		wantFault  slacktest.Fault
	}{
		{"rate limited", "chat.postMessage", http.StatusTooManyRequests, 7 * time.Second, func(t *testing.T, err error) {
			var rl *slack.RateLimitedError
			if !errors.As(err, &rl) {
				t.Fatalf("got %T %v, want *slack.RateLimitedError", err, err)
			}
			if rl.RetryAfter != 7*time.Second {
				t.Errorf("RetryAfter: got %v, want 7s", rl.RetryAfter)
			}
		}, slacktest.FaultRateLimited},
		{"retry after rounds up to whole seconds", "*", http.StatusTooManyRequests, 1500 * time.Millisecond, func(t *testing.T, err error) {
			var rl *slack.RateLimitedError
			if !errors.As(err, &rl) || rl.RetryAfter != 2*time.Second {
				t.Errorf("got %v, want a rate limit of 2s", err)
			}
		}, slacktest.FaultRateLimited},
		{"server error", "chat.postMessage", http.StatusServiceUnavailable, 0, func(t *testing.T, err error) {
			var sc slack.StatusCodeError
			if !errors.As(err, &sc) || sc.Code != http.StatusServiceUnavailable {
				t.Errorf("got %T %v, want slack.StatusCodeError 503", err, err)
			}
		}, slacktest.FaultStatus},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := slacktest.New(t)
			api := client(f, f.BotToken())
			f.FailNext(tt.method, 1, tt.status, tt.retryAfter)

			_, _, err := api.PostMessage(slacktest.ChannelIncidents, slack.MsgOptionText("first try", false))
			tt.check(t, err)
			if n := len(f.Messages(slacktest.ChannelIncidents)); n != 0 {
				t.Errorf("messages after the fault: got %d, want 0", n)
			}
			if _, _, err := api.PostMessage(slacktest.ChannelIncidents, slack.MsgOptionText("second try", false)); err != nil {
				t.Fatalf("second try: %v", err)
			}
			calls := f.Calls("chat.postMessage")
			if len(calls) != 2 {
				t.Fatalf("calls: got %d, want 2", len(calls))
			}
			if c := calls[0]; c.Status != tt.status || c.OK || c.Fault != tt.wantFault || c.Args["text"] != "first try" {
				t.Errorf("faulted call: got %+v, want status %d fault %q", c, tt.status, tt.wantFault)
			}
			if c := calls[1]; !c.OK || c.Fault != slacktest.FaultNone {
				t.Errorf("second call: got %+v, want ok", c)
			}
		})
	}
}

func TestFailNextCountsCallsOfItsMethodOnly(t *testing.T) {
	f := slacktest.New(t)
	api := client(f, f.BotToken())
	f.FailNext("chat.update", 2, http.StatusInternalServerError, 0)

	if _, err := api.AuthTest(); err != nil {
		t.Fatalf("auth.test is not chat.update: %v", err)
	}
	_, ts, err := api.PostMessage(slacktest.ChannelIncidents, slack.MsgOptionText("v1", false))
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	for i, wantErr := range []bool{true, true, false} {
		_, _, _, err := api.UpdateMessage(slacktest.ChannelIncidents, ts, slack.MsgOptionText("v2", false))
		if (err != nil) != wantErr {
			t.Errorf("update %d: got %v, want error %v", i+1, err, wantErr)
		}
	}
	if u := f.Updates(slacktest.ChannelIncidents, ts); len(u) != 1 {
		t.Errorf("updates: got %d, want 1: faulted calls change nothing", len(u))
	}
}

func TestFailMethodIsPersistentUntilCleared(t *testing.T) {
	f := slacktest.New(t)
	api := client(f, f.BotToken())
	f.FailMethod("chat.postMessage", "fatal_error")
	for i := range 2 {
		if _, _, err := api.PostMessage(slacktest.ChannelIncidents, slack.MsgOptionText("x", false)); slackErrorCode(err) != "fatal_error" {
			t.Errorf("call %d: got %v, want fatal_error", i+1, err)
		}
	}
	// An invalid token still fails as invalid_auth: the injected error comes after authentication.
	if _, _, err := client(f, "xoxb-wrong").PostMessage(slacktest.ChannelIncidents, slack.MsgOptionText("x", false)); slackErrorCode(err) != "invalid_auth" {
		t.Errorf("wrong token: got %v, want invalid_auth", err)
	}
	f.FailMethod("chat.postMessage", "")
	if _, _, err := api.PostMessage(slacktest.ChannelIncidents, slack.MsgOptionText("x", false)); err != nil {
		t.Errorf("after clearing: %v", err)
	}
	calls := f.Calls("chat.postMessage")
	if len(calls) != 4 || calls[0].Fault != slacktest.FaultMethod || calls[2].Fault != slacktest.FaultNone {
		t.Errorf("calls: got %+v, want two method faults, an auth failure and a success", calls)
	}
	if n := len(f.Messages(slacktest.ChannelIncidents)); n != 1 {
		t.Errorf("messages: got %d, want 1", n)
	}
}

func TestDownDropsConnectionsAndKeepsState(t *testing.T) {
	for _, tt := range []struct {
		name string
		down func(f *slacktest.Fake)
		rise func(f *slacktest.Fake)
	}{
		{"for a while", func(f *slacktest.Fake) { f.Down(150 * time.Millisecond) }, func(f *slacktest.Fake) {
			time.Sleep(200 * time.Millisecond)
		}},
		{"until told", func(f *slacktest.Fake) { f.SetDown(true) }, func(f *slacktest.Fake) { f.SetDown(false) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := slacktest.New(t)
			api := client(f, f.BotToken())
			_, before, err := api.PostMessage(slacktest.ChannelIncidents, slack.MsgOptionText("before", false))
			if err != nil {
				t.Fatalf("post before: %v", err)
			}
			tt.down(f)
			if !f.IsDown() {
				t.Fatal("IsDown: got false right after going down")
			}
			_, _, err = api.PostMessage(slacktest.ChannelIncidents, slack.MsgOptionText("during", false))
			if err == nil {
				t.Fatal("post while down: got no error")
			}
			var sc slack.StatusCodeError
			if slackErrorCode(err) != "" || errors.As(err, &sc) {
				t.Errorf("post while down: got %v, want a network error, not an answer", err)
			}
			if _, err := api.GetPermalink(&slack.PermalinkParameters{Channel: slacktest.ChannelIncidents, Ts: before}); err == nil {
				t.Error("permalink while down: got no error")
			}

			tt.rise(f)
			if f.IsDown() {
				t.Fatal("IsDown: still down")
			}
			if _, _, err := api.PostMessage(slacktest.ChannelIncidents, slack.MsgOptionText("after", false)); err != nil {
				t.Fatalf("post after: %v", err)
			}
			var texts []string
			for _, m := range f.Messages(slacktest.ChannelIncidents) {
				texts = append(texts, m.Text)
			}
			if len(texts) != 2 || texts[0] != "before" || texts[1] != "after" {
				t.Errorf("messages: got %q, want before and after", texts)
			}
			var dropped int
			for _, c := range f.Calls("") {
				if c.Fault == slacktest.FaultDown {
					dropped++
					if c.Status != 0 || c.OK {
						t.Errorf("dropped call %+v: want status 0 and not ok", c)
					}
				}
			}
			if dropped < 2 {
				t.Errorf("dropped calls logged: got %d, want at least 2", dropped)
			}
		})
	}
}

func TestWaitForWakesOnChange(t *testing.T) {
	f := slacktest.New(t)
	api := client(f, f.BotToken())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		time.Sleep(20 * time.Millisecond)
		_, _, _ = api.PostMessage(slacktest.ChannelLeads, slack.MsgOptionText("late", false))
	}()
	err := f.WaitFor(ctx, func(f *slacktest.Fake) bool { return len(f.Messages(slacktest.ChannelLeads)) == 1 })
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancelShort()
	if err := f.WaitFor(short, func(*slacktest.Fake) bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait that cannot hold: got %v, want context.DeadlineExceeded", err)
	}
}
