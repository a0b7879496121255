package slacktest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/parry-soc/parry/internal/slacktest"
)

// client is slack-go's real client pointed at the fake.
func client(f *slacktest.Fake, token string) *slack.Client {
	return slack.New(token, slack.OptionAPIURL(f.APIURL()), slack.OptionAppLevelToken(f.AppToken()))
}

// slackErrorCode is the Slack error code of an error from slack-go, or "" when it is not one.
func slackErrorCode(err error) string {
	var e slack.SlackErrorResponse
	if errors.As(err, &e) {
		return e.Err
	}
	return ""
}

func TestPostUpdateAndThreadRoundTrip(t *testing.T) {
	f := slacktest.New(t)
	api := client(f, f.BotToken())
	blocks := slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "*T1566* phishing on host-7", false, false), nil, nil)

	channel, parent, err := api.PostMessage("#soc-incidents", slack.MsgOptionText("run started", false), slack.MsgOptionBlocks(blocks))
	if err != nil {
		t.Fatalf("post parent: %v", err)
	}
	if channel != slacktest.ChannelIncidents {
		t.Errorf("channel: got %q, want the id %q for a post by name", channel, slacktest.ChannelIncidents)
	}
	if parent != "1765000000.000100" {
		t.Errorf("first ts: got %q, want 1765000000.000100", parent)
	}
	_, reply, err := api.PostMessage(slacktest.ChannelIncidents, slack.MsgOptionText("host isolated", false),
		slack.MsgOptionTS(parent), slack.MsgOptionBroadcast())
	if err != nil {
		t.Fatalf("post reply: %v", err)
	}
	if reply <= parent {
		t.Errorf("ts not increasing: reply %q after parent %q", reply, parent)
	}
	_, _, text, err := api.UpdateMessage(slacktest.ChannelIncidents, parent, slack.MsgOptionText("run contained", false))
	if err != nil {
		t.Fatalf("update parent: %v", err)
	}
	if text != "run contained" {
		t.Errorf("update answer text: got %q, want %q", text, "run contained")
	}

	msgs := f.Messages("#soc-incidents")
	if got := len(msgs); got != 2 {
		t.Fatalf("messages: got %d, want 2", got)
	}
	thread := f.Thread(slacktest.ChannelIncidents, parent)
	if got, want := tsOf(thread), []string{parent, reply}; !slices.Equal(got, want) {
		t.Errorf("thread: got %v, want %v", got, want)
	}
	if !thread[1].ReplyBroadcast || thread[1].ThreadTS != parent {
		t.Errorf("reply: got thread_ts %q broadcast %v, want %q and true", thread[1].ThreadTS, thread[1].ReplyBroadcast, parent)
	}
	cur, ok := f.Message(slacktest.ChannelIncidents, parent)
	if !ok || cur.Text != "run contained" || cur.Edited.IsZero() {
		t.Errorf("parent now: got %+v, want the updated text and an edit time", cur)
	}
	// chat.update without blocks keeps the old ones (https://api.slack.com/methods/chat.update).
	var kept []map[string]any
	if err := json.Unmarshal(cur.Blocks, &kept); err != nil || len(kept) != 1 || kept[0]["type"] != "section" {
		t.Errorf("blocks after a text-only update: got %s, want the section kept", cur.Blocks)
	}
	updates := f.Updates(slacktest.ChannelIncidents, parent)
	if len(updates) != 1 || updates[0].Text != "run contained" {
		t.Errorf("updates: got %+v, want one with the new text", updates)
	}
	if v := f.Versions(slacktest.ChannelIncidents, parent); len(v) != 2 || v[0].Text != "run started" {
		t.Errorf("versions: got %+v, want the original then the update", v)
	}
}

func tsOf(msgs []slacktest.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.TS)
	}
	return out
}

func TestEphemeralPermalinkAndDirectory(t *testing.T) {
	f := slacktest.New(t)
	api := client(f, f.BotToken())
	_, parent, err := api.PostMessage(slacktest.ChannelLeads, slack.MsgOptionText("approval needed", false))
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	_, reply, err := api.PostMessage(slacktest.ChannelLeads, slack.MsgOptionText("approved", false), slack.MsgOptionTS(parent))
	if err != nil {
		t.Fatalf("post reply: %v", err)
	}

	msgTS, err := api.PostEphemeral(slacktest.ChannelLeads, slacktest.UserRandom,
		slack.MsgOptionText("you may not approve", false), slack.MsgOptionTS(parent))
	if err != nil {
		t.Fatalf("post ephemeral: %v", err)
	}
	eph := f.EphemeralsTo(slacktest.UserRandom)
	if len(eph) != 1 || eph[0].MessageTS != msgTS || eph[0].ThreadTS != parent || eph[0].Text != "you may not approve" {
		t.Errorf("ephemerals: got %+v, want one in the thread with message_ts %s", eph, msgTS)
	}
	if n := len(f.Messages(slacktest.ChannelLeads)); n != 2 {
		t.Errorf("channel messages: got %d, want 2: an ephemeral is not one", n)
	}

	for _, tt := range []struct {
		name string
		ts   string
		want string
	}{
		{"top-level", parent, "https://fake.slack.test/archives/C0SOCLEAD/p1765000000000100"},
		{"reply", reply, "https://fake.slack.test/archives/C0SOCLEAD/p1765000000000200?thread_ts=1765000000.000100&cid=C0SOCLEAD"},
	} {
		t.Run("permalink/"+tt.name, func(t *testing.T) {
			got, err := api.GetPermalink(&slack.PermalinkParameters{Channel: slacktest.ChannelLeads, Ts: tt.ts})
			if err != nil {
				t.Fatalf("permalink: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("usergroups", func(t *testing.T) {
		got, err := api.GetUserGroupMembers(slacktest.GroupLeads)
		if err != nil {
			t.Fatalf("usergroup members: %v", err)
		}
		if want := []string{slacktest.UserLead1, slacktest.UserLead2}; !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
		f.SetUserGroup(slacktest.GroupLeads, slacktest.UserLead2)
		got, err = api.GetUserGroupMembers(slacktest.GroupLeads)
		if err != nil || !slices.Equal(got, []string{slacktest.UserLead2}) {
			t.Errorf("after a roster change: got %v, %v, want [U0LEAD2]", got, err)
		}
	})

	t.Run("users", func(t *testing.T) {
		u, err := api.GetUserInfo(slacktest.UserOnCall)
		if err != nil {
			t.Fatalf("user info: %v", err)
		}
		if u.ID != slacktest.UserOnCall || u.Name != "oncall" || u.RealName != "On Call" {
			t.Errorf("got %+v, want U0ONCALL oncall On Call", u)
		}
		resp, err := api.AuthTest()
		if err != nil || resp.UserID != f.BotUserID() || resp.TeamID != f.TeamID() {
			t.Errorf("auth.test: got %+v, %v, want the bot user and team", resp, err)
		}
	})
}

func TestWebAPIErrorsAreSlacks(t *testing.T) {
	f := slacktest.New(t, slacktest.WithChannel(slacktest.Channel{ID: "C0OTHER", Name: "general", Member: false}),
		slacktest.WithChannel(slacktest.Channel{ID: "C0PRIV", Name: "private", Member: true, Users: []string{slacktest.UserLead1}}))
	for _, tt := range []struct {
		name  string
		token string
		call  func(api *slack.Client) error
		want  string
	}{
		{"wrong token", "xoxb-not-ours", postTo(slacktest.ChannelIncidents), "invalid_auth"},
		{"no token", "", postTo(slacktest.ChannelIncidents), "not_authed"},
		{"app token on a bot method", f.AppToken(), postTo(slacktest.ChannelIncidents), "not_allowed_token_type"},
		{"unknown channel", f.BotToken(), postTo("#nowhere"), "channel_not_found"},
		{"channel the bot is not in", f.BotToken(), postTo("#general"), "not_in_channel"},
		{"nothing to post", f.BotToken(), func(api *slack.Client) error {
			_, _, err := api.PostMessage(slacktest.ChannelIncidents)
			return err
		}, "no_text"},
		{"update of an unknown ts", f.BotToken(), func(api *slack.Client) error {
			_, _, _, err := api.UpdateMessage(slacktest.ChannelIncidents, "1.000001", slack.MsgOptionText("x", false))
			return err
		}, "message_not_found"},
		{"update by channel name", f.BotToken(), func(api *slack.Client) error {
			_, _, _, err := api.UpdateMessage("#soc-incidents", "1.000001", slack.MsgOptionText("x", false))
			return err
		}, "channel_not_found"},
		{"ephemeral to a user outside the channel", f.BotToken(), func(api *slack.Client) error {
			_, err := api.PostEphemeral("C0PRIV", slacktest.UserLead2, slack.MsgOptionText("x", false))
			return err
		}, "user_not_in_channel"},
		{"permalink of an unknown message", f.BotToken(), func(api *slack.Client) error {
			_, err := api.GetPermalink(&slack.PermalinkParameters{Channel: slacktest.ChannelIncidents, Ts: "1.000001"})
			return err
		}, "message_not_found"},
		{"unknown usergroup", f.BotToken(), func(api *slack.Client) error {
			_, err := api.GetUserGroupMembers("S0NOPE")
			return err
		}, "no_such_subteam"},
		{"unknown user", f.BotToken(), func(api *slack.Client) error {
			_, err := api.GetUserInfo("U0NOBODY")
			return err
		}, "user_not_found"},
		{"bot token on apps.connections.open", f.BotToken(), func(api *slack.Client) error {
			_, _, err := slack.New(f.BotToken(), slack.OptionAPIURL(f.APIURL()), slack.OptionAppLevelToken(f.BotToken())).
				StartSocketModeContext(context.Background())
			return err
		}, "not_allowed_token_type"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(client(f, tt.token))
			if got := slackErrorCode(err); got != tt.want {
				t.Errorf("got %v (code %q), want %q", err, got, tt.want)
			}
		})
	}
	if n := len(f.Messages(slacktest.ChannelIncidents)); n != 0 {
		t.Errorf("messages after failed calls: got %d, want 0", n)
	}
	for _, c := range f.Calls("chat.postMessage") {
		if c.OK || c.Status != http.StatusOK {
			t.Errorf("call %+v: want HTTP 200 with ok false, as Slack answers errors", c)
		}
		if _, leaked := c.Args["token"]; leaked {
			t.Errorf("call %+v: the log keeps the token", c)
		}
	}
}

func postTo(channel string) func(api *slack.Client) error {
	return func(api *slack.Client) error {
		_, _, err := api.PostMessage(channel, slack.MsgOptionText("x", false))
		return err
	}
}

// TestRawRequestsAreJudgedAsSlackDoes covers what slack-go never sends: unknown methods, tokens in the
// query string and JSON bodies.
func TestRawRequestsAreJudgedAsSlackDoes(t *testing.T) {
	f := slacktest.New(t)
	bearer := "Bearer " + f.BotToken()
	for _, tt := range []struct {
		name   string
		method string
		query  string
		ctype  string
		auth   string
		body   string
		want   string // error code, or "" for ok
	}{
		{"unknown method", "chat.nope", "", "application/x-www-form-urlencoded", bearer, "", "unknown_method"},
		{"token in the query string", "auth.test", "token=" + f.BotToken(), "", "", "", "not_authed"},
		{"token in a form body", "auth.test", "", "application/x-www-form-urlencoded", "", "token=" + f.BotToken(), ""},
		{"token in a JSON body", "auth.test", "", "application/json", "", `{"token":"` + f.BotToken() + `"}`, "not_authed"},
		{"JSON post with blocks", "chat.postMessage", "", "application/json", bearer,
			`{"channel":"C0SOCINC","text":"hi","blocks":[{"type":"divider"}]}`, ""},
		{"broken JSON", "chat.postMessage", "", "application/json", bearer, `{"channel":`, "invalid_json"},
		{"blocks that are not an array", "chat.postMessage", "", "application/x-www-form-urlencoded", bearer,
			"channel=C0SOCINC&blocks=" + url.QueryEscape(`{"type":"divider"}`), "invalid_blocks"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			target := f.APIURL() + tt.method
			if tt.query != "" {
				target += "?" + tt.query
			}
			req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("post: %v", err)
			}
			defer resp.Body.Close()
			var got struct {
				OK    bool   `json:"ok"`
				Error string `json:"error"`
			}
			b, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("answer %q is not JSON: %v", b, err)
			}
			if resp.StatusCode != http.StatusOK || got.OK != (tt.want == "") || got.Error != tt.want {
				t.Errorf("got %d %s, want 200 with error %q", resp.StatusCode, b, tt.want)
			}
		})
	}
	if m := f.Messages(slacktest.ChannelIncidents); len(m) != 1 || string(m[0].Blocks) != `[{"type":"divider"}]` {
		t.Errorf("JSON-posted message: got %+v, want its blocks kept as sent", m)
	}
}

func TestViewsOpenExchangesATriggerOnce(t *testing.T) {
	f := slacktest.New(t, slacktest.WithTriggerTTL(50*time.Millisecond))
	api := client(f, f.BotToken())
	modal := slack.ModalViewRequest{
		Type:            slack.VTModal,
		Title:           slack.NewTextBlockObject(slack.PlainTextType, "Deny", false, false),
		CallbackID:      "parry.deny_reason",
		PrivateMetadata: `{"r":"run-1"}`,
	}
	expired := f.NewTriggerID(slacktest.UserLead1)
	time.Sleep(60 * time.Millisecond)
	fresh := f.NewTriggerID(slacktest.UserLead1)

	var opened *slack.ViewResponse
	for _, tt := range []struct {
		name    string
		trigger string
		want    string
	}{
		{"fresh trigger", fresh, ""},
		{"same trigger again", fresh, "exchanged_trigger_id"},
		{"trigger past its ttl", expired, "expired_trigger_id"},
		{"trigger never issued", "1765000000.42.abcdef", "expired_trigger_id"},
		{"malformed trigger", "not-a-trigger", "invalid_trigger_id"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := api.OpenView(tt.trigger, modal)
			if got := slackErrorCode(err); got != tt.want {
				t.Fatalf("got %v (code %q), want %q", err, got, tt.want)
			}
			if tt.want == "" {
				opened = resp
			}
		})
	}
	if opened == nil {
		t.Fatal("no view opened")
	}
	if opened.ID == "" || opened.CallbackID != "parry.deny_reason" || opened.PrivateMetadata != `{"r":"run-1"}` || opened.Hash == "" {
		t.Errorf("opened view: got %+v, want an id, hash and the app's callback id and metadata", opened.View)
	}
	views := f.Views()
	if len(views) != 1 || views[0].User != slacktest.UserLead1 || views[0].ID != opened.ID {
		t.Errorf("views: got %+v, want one opened for U0LEAD1", views)
	}

	modal.Title = slack.NewTextBlockObject(slack.PlainTextType, "Denied", false, false)
	if _, err := api.UpdateView(modal, "", "stale-hash", opened.ID); slackErrorCode(err) != "hash_conflict" {
		t.Errorf("update with a stale hash: got %v, want hash_conflict", err)
	}
	updated, err := api.UpdateView(modal, "", opened.Hash, opened.ID)
	if err != nil {
		t.Fatalf("update view: %v", err)
	}
	if updated.Hash == opened.Hash || updated.Title.Text != "Denied" {
		t.Errorf("updated view: got hash %q title %q, want a new hash and the new title", updated.Hash, updated.Title.Text)
	}
	if v, _ := f.View(opened.ID); v.Updates != 1 {
		t.Errorf("view updates: got %d, want 1", v.Updates)
	}
	if _, err := api.UpdateView(modal, "", "", "V0NOPE"); slackErrorCode(err) != "not_found" {
		t.Errorf("update of an unknown view: got %v, want not_found", err)
	}
}

func TestExpireTriggersExpiresIssuedOnesOnly(t *testing.T) {
	f := slacktest.New(t)
	api := client(f, f.BotToken())
	modal := slack.ModalViewRequest{Type: slack.VTModal, Title: slack.NewTextBlockObject(slack.PlainTextType, "Close", false, false)}
	old := f.NewTriggerID(slacktest.UserLead1)
	f.ExpireTriggers()
	fresh := f.NewTriggerID(slacktest.UserLead1)
	for _, tt := range []struct {
		name    string
		trigger string
		want    string
	}{
		{"issued before", old, "expired_trigger_id"},
		{"issued after", fresh, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := api.OpenView(tt.trigger, modal); slackErrorCode(err) != tt.want {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}
