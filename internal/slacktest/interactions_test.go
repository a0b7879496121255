package slacktest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/parry-soc/parry/internal/slacktest"
)

// verifyingApp is an app's interaction endpoint as slack-go's documentation writes one: verify the
// signature, then parse the payload. It answers 401 for a bad signature and remembers what it parsed.
type verifyingApp struct {
	secret string
	got    chan slack.InteractionCallback
}

func (a *verifyingApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	sv, err := slack.NewSecretsVerifier(r.Header, a.secret)
	if err == nil {
		_, _ = sv.Write(body)
		err = sv.Ensure()
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	cb, err := slack.InteractionCallbackParse(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	a.got <- cb
}

func TestSignedInteractionsVerifyWithSlackGo(t *testing.T) {
	f := slacktest.New(t)
	app := &verifyingApp{secret: f.SigningSecret(), got: make(chan slack.InteractionCallback, 1)}
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	click := f.BlockActions(slacktest.Click{User: slacktest.UserLead1, Channel: slacktest.ChannelLeads, MessageTS: "1765000000.000100",
		ActionID: "parry.approve", BlockID: "approval", Value: `{"r":"run-1"}`})

	for _, tt := range []struct {
		name string
		opts []slacktest.PostOption
		want int
	}{
		{"signed", nil, http.StatusOK},
		{"forged signature", []slacktest.PostOption{slacktest.Forged()}, http.StatusUnauthorized},
		{"stale timestamp", []slacktest.PostOption{slacktest.Stale()}, http.StatusUnauthorized},
		{"no signature headers", []slacktest.PostOption{slacktest.Unsigned()}, http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := slacktest.PostInteraction(context.Background(), srv.URL, f.SigningSecret(), click, tt.opts...)
			if err != nil {
				t.Fatalf("post: %v", err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status: got %d (%s), want %d", resp.StatusCode, bytes.TrimSpace(msg), tt.want)
			}
		})
	}
	select {
	case cb := <-app.got:
		if cb.Type != slack.InteractionTypeBlockActions || cb.User.ID != slacktest.UserLead1 {
			t.Errorf("parsed: got type %q user %q, want block_actions from U0LEAD1", cb.Type, cb.User.ID)
		}
	default:
		t.Error("the signed request was not parsed")
	}
}

func TestSignMatchesSlacksExample(t *testing.T) {
	// The worked example of https://api.slack.com/authentication/verifying-requests-from-slack.
	secret := "8f742231b10e8888abcd99yyyzzz85a5"
	body := []byte("token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
	ts, sig := slacktest.Sign(secret, time.Unix(1531420618, 0), body)
	if ts != "1531420618" {
		t.Errorf("timestamp: got %q, want 1531420618", ts)
	}
	if want := "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"; sig != want {
		t.Errorf("signature: got %q, want %q", sig, want)
	}
}

func TestBlockActionsPayloadParsesAsSlacks(t *testing.T) {
	f := slacktest.New(t)
	api := client(f, f.BotToken())
	_, parent, err := api.PostMessage(slacktest.ChannelLeads, slack.MsgOptionText("run", false))
	if err != nil {
		t.Fatal(err)
	}
	_, request, err := api.PostMessage(slacktest.ChannelLeads, slack.MsgOptionText("approve isolation?", false), slack.MsgOptionTS(parent))
	if err != nil {
		t.Fatal(err)
	}
	p := f.BlockActions(slacktest.Click{User: slacktest.UserLead2, Channel: slacktest.ChannelLeads, MessageTS: request,
		ActionID: "parry.approve", BlockID: "approval", Value: `{"r":"run-1","a":"ap-1"}`, Label: "Approve"})
	js, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal(js, &cb); err != nil {
		t.Fatalf("slack-go cannot read the payload: %v\n%s", err, js)
	}
	for _, c := range []struct{ name, got, want string }{
		{"type", string(cb.Type), "block_actions"},
		{"user", cb.User.ID, slacktest.UserLead2},
		{"user name", cb.User.Name, "lead2"},
		{"team", cb.Team.ID, f.TeamID()},
		{"channel", cb.Channel.ID, slacktest.ChannelLeads},
		{"container ts", cb.Container.MessageTs, request},
		{"container thread", cb.Container.ThreadTs, parent},
		{"message ts", cb.Message.Timestamp, request},
		{"message text", cb.Message.Text, "approve isolation?"},
		{"action id", cb.ActionCallback.BlockActions[0].ActionID, "parry.approve"},
		{"block id", cb.ActionCallback.BlockActions[0].BlockID, "approval"},
		{"value", cb.ActionCallback.BlockActions[0].Value, `{"r":"run-1","a":"ap-1"}`},
		{"action type", string(cb.ActionCallback.BlockActions[0].Type), "button"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if cb.TriggerID == "" || cb.ResponseURL == "" || cb.ActionCallback.BlockActions[0].ActionTs == "" {
		t.Errorf("trigger %q, response_url %q, action_ts %q: want all set", cb.TriggerID, cb.ResponseURL, cb.ActionCallback.BlockActions[0].ActionTs)
	}
	// The click's trigger opens a modal once, as Slack's do.
	modal := slack.ModalViewRequest{Type: slack.VTModal, Title: slack.NewTextBlockObject(slack.PlainTextType, "Deny", false, false)}
	if _, err := api.OpenView(cb.TriggerID, modal); err != nil {
		t.Errorf("open a modal with the click's trigger: %v", err)
	}
	if _, err := api.OpenView(cb.TriggerID, modal); slackErrorCode(err) != "exchanged_trigger_id" {
		t.Errorf("open a second modal with it: got %v, want exchanged_trigger_id", err)
	}
}

func TestViewSubmissionCarriesTheModalsState(t *testing.T) {
	f := slacktest.New(t)
	api := client(f, f.BotToken())
	modal := slack.ModalViewRequest{
		Type:            slack.VTModal,
		Title:           slack.NewTextBlockObject(slack.PlainTextType, "Close run", false, false),
		CallbackID:      "parry.close_run",
		PrivateMetadata: `{"r":"run-1"}`,
		Blocks: slack.Blocks{BlockSet: []slack.Block{slack.NewInputBlock("reason",
			slack.NewTextBlockObject(slack.PlainTextType, "Reason", false, false), nil,
			slack.NewPlainTextInputBlockElement(nil, "reason_input"))}},
	}
	opened, err := api.OpenView(f.NewTriggerID(slacktest.UserLead1), modal)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	p := f.ViewSubmission(slacktest.Submission{
		User:   slacktest.UserLead1,
		ViewID: opened.ID,
		Values: map[string]map[string]slacktest.StateValue{
			"reason":      {"reason_input": slacktest.PlainText("false positive")},
			"disposition": {"disposition_select": slacktest.StaticSelect("benign", "Benign")},
			"rollback":    {"rollback_checkbox": slacktest.Checkboxes(slacktest.Choice{Value: "rollback", Text: "Roll back"})},
			"notes":       {"notes_input": slacktest.PlainText("")},
		},
	})
	js, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal(js, &cb); err != nil {
		t.Fatalf("slack-go cannot read the payload: %v\n%s", err, js)
	}
	values := cb.View.State.Values
	for _, c := range []struct{ name, got, want string }{
		{"type", string(cb.Type), "view_submission"},
		{"view id", cb.View.ID, opened.ID},
		{"callback id", cb.View.CallbackID, "parry.close_run"},
		{"private metadata", cb.View.PrivateMetadata, `{"r":"run-1"}`},
		{"hash", cb.View.Hash, opened.Hash},
		{"plain text", values["reason"]["reason_input"].Value, "false positive"},
		{"select", values["disposition"]["disposition_select"].SelectedOption.Value, "benign"},
		{"checkboxes", values["rollback"]["rollback_checkbox"].SelectedOptions[0].Value, "rollback"},
		{"empty input", values["notes"]["notes_input"].Value, ""},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if len(cb.View.Blocks.BlockSet) != 1 {
		t.Errorf("view blocks: got %d, want the modal's one input", len(cb.View.Blocks.BlockSet))
	}
	// An untouched input submits null, as Slack does.
	var raw struct {
		View struct {
			State struct {
				Values map[string]map[string]map[string]any `json:"values"`
			} `json:"state"`
		} `json:"view"`
	}
	if err := json.Unmarshal(js, &raw); err != nil {
		t.Fatal(err)
	}
	if v, ok := raw.View.State.Values["notes"]["notes_input"]["value"]; !ok || v != nil {
		t.Errorf("empty plain_text_input: got %v (present %v), want null", v, ok)
	}
}

func TestResponseURLPostsAreRecordedAndApplied(t *testing.T) {
	for _, tt := range []struct {
		name  string
		opt   func(url string) slack.MsgOption
		check func(t *testing.T, f *slacktest.Fake, ts string)
	}{
		{"ephemeral", func(u string) slack.MsgOption { return slack.MsgOptionResponseURL(u, slack.ResponseTypeEphemeral) },
			func(t *testing.T, f *slacktest.Fake, ts string) {
				e := f.EphemeralsTo(slacktest.UserRandom)
				if len(e) != 1 || e[0].Text != "only leads may approve" {
					t.Errorf("ephemerals: got %+v, want the reply to the clicker", e)
				}
			}},
		{"in channel", func(u string) slack.MsgOption { return slack.MsgOptionResponseURL(u, slack.ResponseTypeInChannel) },
			func(t *testing.T, f *slacktest.Fake, ts string) {
				if m := f.Messages(slacktest.ChannelLeads); len(m) != 2 || m[1].Text != "only leads may approve" {
					t.Errorf("messages: got %+v, want a new one in the channel", m)
				}
			}},
		{"replace original", slack.MsgOptionReplaceOriginal, func(t *testing.T, f *slacktest.Fake, ts string) {
			m, _ := f.Message(slacktest.ChannelLeads, ts)
			if m.Text != "only leads may approve" || m.Blocks != nil || len(f.Updates(slacktest.ChannelLeads, ts)) != 1 {
				t.Errorf("message: got %+v, want it replaced whole, blocks gone", m)
			}
		}},
		{"delete original", slack.MsgOptionDeleteOriginal, func(t *testing.T, f *slacktest.Fake, ts string) {
			if m := f.Messages(slacktest.ChannelLeads); len(m) != 0 {
				t.Errorf("messages: got %+v, want the original gone", m)
			}
			if m, ok := f.Message(slacktest.ChannelLeads, ts); !ok || !m.Deleted {
				t.Errorf("message: got %+v, want it kept as deleted", m)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := slacktest.New(t)
			api := client(f, f.BotToken())
			_, ts, err := api.PostMessage(slacktest.ChannelLeads, slack.MsgOptionText("approve?", false),
				slack.MsgOptionBlocks(slack.NewDividerBlock()))
			if err != nil {
				t.Fatal(err)
			}
			click := f.BlockActions(slacktest.Click{User: slacktest.UserRandom, Channel: slacktest.ChannelLeads, MessageTS: ts, ActionID: "parry.approve"})
			if _, _, err := api.PostMessage("", slack.MsgOptionText("only leads may approve", false), tt.opt(click.ResponseURL)); err != nil {
				t.Fatalf("post to response_url: %v", err)
			}
			posts := f.ResponsePosts()
			if len(posts) != 1 || posts[0].URL != click.ResponseURL || posts[0].User != slacktest.UserRandom || posts[0].MessageTS != ts {
				t.Fatalf("posts: got %+v, want one to the click's response_url", posts)
			}
			tt.check(t, f, ts)
		})
	}
}

func TestUnknownResponseURLIsRefused(t *testing.T) {
	f := slacktest.New(t)
	api := client(f, f.BotToken())
	_, _, err := api.PostMessage("", slack.MsgOptionText("x", false), slack.MsgOptionResponseURL(f.URL()+"/response/nope", slack.ResponseTypeEphemeral))
	var sc slack.StatusCodeError
	if !errors.As(err, &sc) || sc.Code != http.StatusNotFound {
		t.Errorf("got %v, want a 404", err)
	}
}
