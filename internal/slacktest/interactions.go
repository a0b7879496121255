package slacktest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// trigger is a trigger_id handed out with an interaction: views.open may exchange it once, within
// Config.TriggerTTL (https://api.slack.com/interactivity/handling#modal_responses).
type trigger struct {
	user    string
	expires time.Time
	used    bool
}

// NewTriggerID issues a trigger id for a user, as Slack attaches one to every interaction payload.
func (f *Fake) NewTriggerID(user string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.newTriggerLocked(user)
}

// ExpireTriggers makes every trigger id issued so far expired, as if their 3 s had passed, so a test
// of a slow modal does not have to wait.
func (f *Fake) ExpireTriggers() {
	f.mu.Lock()
	defer f.mu.Unlock()
	past := time.Now().Add(-time.Second)
	for _, tr := range f.triggers {
		tr.expires = past
	}
}

func (f *Fake) newTriggerLocked(user string) string {
	f.seq++
	id := fmt.Sprintf("%d.%d.%s", time.Now().Unix(), f.seq, randomHex(16))
	f.triggers[id] = &trigger{user: user, expires: time.Now().Add(f.cfg.TriggerTTL)}
	return id
}

func randomHex(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// Text is a text object (https://api.slack.com/reference/block-kit/composition-objects#text).
type Text struct {
	Type  string `json:"type"` // plain_text or mrkdwn
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// PayloadUser is the user of an interaction payload.
type PayloadUser struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	TeamID   string `json:"team_id"`
}

// PayloadTeam is the workspace of an interaction payload.
type PayloadTeam struct {
	ID     string `json:"id"`
	Domain string `json:"domain"`
}

// PayloadChannel is the channel of a block_actions payload from a message.
type PayloadChannel struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Container says where the clicked element was: a message (channel, ts, thread) or a view.
type Container struct {
	Type        string `json:"type"` // message or view
	MessageTS   string `json:"message_ts,omitempty"`
	ThreadTS    string `json:"thread_ts,omitempty"`
	ChannelID   string `json:"channel_id,omitempty"`
	IsEphemeral bool   `json:"is_ephemeral"`
	ViewID      string `json:"view_id,omitempty"`
}

// Action is one element of a block_actions payload's actions.
type Action struct {
	ActionID string `json:"action_id"`
	BlockID  string `json:"block_id"`
	Text     *Text  `json:"text,omitempty"`
	Value    string `json:"value,omitempty"`
	Type     string `json:"type"`
	ActionTS string `json:"action_ts"`
}

// BlockActionsPayload is a block_actions interaction as Slack sends it when someone clicks a button
// in a message (https://api.slack.com/reference/interaction-payloads/block-actions).
type BlockActionsPayload struct {
	Type                string          `json:"type"` // block_actions
	User                PayloadUser     `json:"user"`
	APIAppID            string          `json:"api_app_id"`
	Token               string          `json:"token"`
	Container           Container       `json:"container"`
	TriggerID           string          `json:"trigger_id"`
	Team                PayloadTeam     `json:"team"`
	Enterprise          *struct{}       `json:"enterprise"`
	IsEnterpriseInstall bool            `json:"is_enterprise_install"`
	Channel             *PayloadChannel `json:"channel,omitempty"`
	Message             map[string]any  `json:"message,omitempty"`
	State               map[string]any  `json:"state"`
	ResponseURL         string          `json:"response_url,omitempty"`
	Actions             []Action        `json:"actions"`
}

// Click describes a button click for BlockActions.
type Click struct {
	User      string // who clicked
	Channel   string // the message's channel id
	MessageTS string // the message holding the button
	ActionID  string
	BlockID   string
	Value     string
	Label     string // the button's text; optional
	// Ephemeral says the button was on an ephemeral message, which has no stored copy.
	Ephemeral bool
}

// BlockActions builds the block_actions payload Slack would send for a click. Its trigger_id is
// registered so views.open can exchange it once before Config.TriggerTTL, and its response_url points
// at the fake, which records and applies what the app posts there. When the message is one the app
// posted, the payload carries it and its thread, as Slack's does.
func (f *Fake) BlockActions(c Click) BlockActionsPayload {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := BlockActionsPayload{
		Type:      "block_actions",
		User:      f.payloadUserLocked(c.User),
		APIAppID:  f.cfg.AppID,
		Token:     f.cfg.VerificationToken,
		Container: Container{Type: "message", MessageTS: c.MessageTS, ChannelID: c.Channel, IsEphemeral: c.Ephemeral},
		TriggerID: f.newTriggerLocked(c.User),
		Team:      PayloadTeam{ID: f.cfg.TeamID, Domain: f.cfg.TeamDomain},
		State:     map[string]any{"values": map[string]any{}},
		Actions: []Action{{
			ActionID: c.ActionID,
			BlockID:  c.BlockID,
			Value:    c.Value,
			Type:     "button",
			ActionTS: actionTS(time.Now()),
		}},
	}
	if c.Label != "" {
		p.Actions[0].Text = &Text{Type: "plain_text", Text: c.Label, Emoji: true}
	}
	if ch, ok := f.channels[c.Channel]; ok {
		p.Channel = &PayloadChannel{ID: ch.ID, Name: ch.Name}
	}
	if sm := f.findMessageLocked(c.Channel, c.MessageTS); sm != nil && !c.Ephemeral {
		p.Container.ThreadTS = sm.cur.ThreadTS
		p.Message = f.messageJSON(sm.cur)
	}
	p.ResponseURL = f.newResponseURLLocked(c.User, c.Channel, c.MessageTS, c.Ephemeral)
	return p
}

func (f *Fake) payloadUserLocked(id string) PayloadUser {
	u := f.users[id]
	return PayloadUser{ID: id, Username: u.Name, Name: u.Name, TeamID: f.cfg.TeamID}
}

// actionTS renders a time as Slack's action_ts, seconds and microseconds.
func actionTS(t time.Time) string {
	return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)
}

// Choice is an option of a select or checkbox group.
type Choice struct {
	Value string
	Text  string
}

// StateValue is what one input holds in a submitted view's state.values
// (https://api.slack.com/reference/interaction-payloads/views#view_submission).
type StateValue struct {
	kind     string
	value    string
	selected []Choice
}

// PlainText is a plain_text_input's value; empty submits null, as Slack does for an untouched input.
func PlainText(value string) StateValue { return StateValue{kind: "plain_text_input", value: value} }

// StaticSelect is a static_select's selected option; an empty value submits null.
func StaticSelect(value, text string) StateValue {
	if value == "" {
		return StateValue{kind: "static_select"}
	}
	return StateValue{kind: "static_select", selected: []Choice{{Value: value, Text: text}}}
}

// Checkboxes are a checkbox group's selected options; none submits an empty list.
func Checkboxes(selected ...Choice) StateValue {
	return StateValue{kind: "checkboxes", selected: selected}
}

type optionJSON struct {
	Text  Text   `json:"text"`
	Value string `json:"value"`
}

func toOptionJSON(o Choice) optionJSON {
	return optionJSON{Text: Text{Type: "plain_text", Text: o.Text, Emoji: true}, Value: o.Value}
}

// MarshalJSON renders the value in the shape of its element type.
func (v StateValue) MarshalJSON() ([]byte, error) {
	out := map[string]any{"type": v.kind}
	switch v.kind {
	case "plain_text_input":
		if v.value == "" {
			out["value"] = nil
		} else {
			out["value"] = v.value
		}
	case "static_select":
		if len(v.selected) == 0 {
			out["selected_option"] = nil
		} else {
			out["selected_option"] = toOptionJSON(v.selected[0])
		}
	case "checkboxes":
		opts := make([]optionJSON, 0, len(v.selected))
		for _, o := range v.selected {
			opts = append(opts, toOptionJSON(o))
		}
		out["selected_options"] = opts
	}
	return json.Marshal(out)
}

// SubmittedView is the view of a view_submission payload.
type SubmittedView struct {
	ID                 string                           `json:"id"`
	TeamID             string                           `json:"team_id"`
	Type               string                           `json:"type"`
	Blocks             json.RawMessage                  `json:"blocks"`
	PrivateMetadata    string                           `json:"private_metadata"`
	CallbackID         string                           `json:"callback_id"`
	State              map[string]map[string]StateValue `json:"-"`
	Hash               string                           `json:"hash"`
	Title              json.RawMessage                  `json:"title,omitempty"`
	ClearOnClose       bool                             `json:"clear_on_close"`
	NotifyOnClose      bool                             `json:"notify_on_close"`
	RootViewID         string                           `json:"root_view_id"`
	PreviousViewID     *string                          `json:"previous_view_id"`
	AppID              string                           `json:"app_id"`
	ExternalID         string                           `json:"external_id"`
	AppInstalledTeamID string                           `json:"app_installed_team_id"`
	BotID              string                           `json:"bot_id"`
}

// MarshalJSON adds state.values, which always holds an object.
func (v SubmittedView) MarshalJSON() ([]byte, error) {
	type plain SubmittedView
	values := v.State
	if values == nil {
		values = map[string]map[string]StateValue{}
	}
	return json.Marshal(struct {
		plain
		State map[string]any `json:"state"`
	}{plain(v), map[string]any{"values": values}})
}

// ViewSubmissionPayload is a view_submission interaction as Slack sends it when someone submits a
// modal (https://api.slack.com/reference/interaction-payloads/views#view_submission).
type ViewSubmissionPayload struct {
	Type                string        `json:"type"` // view_submission
	Team                PayloadTeam   `json:"team"`
	User                PayloadUser   `json:"user"`
	APIAppID            string        `json:"api_app_id"`
	Token               string        `json:"token"`
	TriggerID           string        `json:"trigger_id"`
	View                SubmittedView `json:"view"`
	ResponseURLs        []any         `json:"response_urls"`
	Enterprise          *struct{}     `json:"enterprise"`
	IsEnterpriseInstall bool          `json:"is_enterprise_install"`
}

// Submission describes a modal submission for ViewSubmission.
type Submission struct {
	User string
	// ViewID names a view the app opened with views.open: its callback_id, private_metadata, blocks and
	// hash fill the payload. CallbackID and PrivateMetadata, when set, override them.
	ViewID          string
	CallbackID      string
	PrivateMetadata string
	// Values are the inputs' state, block id → action id → value.
	Values map[string]map[string]StateValue
}

// ViewSubmission builds the view_submission payload Slack would send when a modal is submitted.
func (f *Fake) ViewSubmission(s Submission) ViewSubmissionPayload {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := SubmittedView{
		ID:                 s.ViewID,
		TeamID:             f.cfg.TeamID,
		Type:               "modal",
		Blocks:             json.RawMessage("[]"),
		State:              s.Values,
		RootViewID:         s.ViewID,
		AppID:              f.cfg.AppID,
		AppInstalledTeamID: f.cfg.TeamID,
		BotID:              f.cfg.BotID,
	}
	for _, opened := range f.views {
		if opened.ID != s.ViewID {
			continue
		}
		var fields map[string]json.RawMessage
		_ = json.Unmarshal(opened.Definition, &fields) // checked when stored
		if b, ok := fields["blocks"]; ok {
			v.Blocks = b
		}
		v.Title = fields["title"]
		v.CallbackID, v.PrivateMetadata, v.ExternalID, v.Hash = opened.CallbackID, opened.PrivateMetadata, opened.ExternalID, opened.Hash
	}
	if s.CallbackID != "" {
		v.CallbackID = s.CallbackID
	}
	if s.PrivateMetadata != "" {
		v.PrivateMetadata = s.PrivateMetadata
	}
	return ViewSubmissionPayload{
		Type:         "view_submission",
		Team:         PayloadTeam{ID: f.cfg.TeamID, Domain: f.cfg.TeamDomain},
		User:         f.payloadUserLocked(s.User),
		APIAppID:     f.cfg.AppID,
		Token:        f.cfg.VerificationToken,
		TriggerID:    f.newTriggerLocked(s.User),
		View:         v,
		ResponseURLs: []any{},
	}
}

// Sign signs a request body as Slack does: the hex HMAC-SHA256, keyed by the signing secret, of
// "v0:" + timestamp + ":" + body, sent as X-Slack-Signature "v0=<hex>" beside
// X-Slack-Request-Timestamp (https://api.slack.com/authentication/verifying-requests-from-slack).
func Sign(secret string, ts time.Time, body []byte) (timestampHeader, signatureHeader string) {
	timestampHeader = strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	_, _ = fmt.Fprintf(mac, "v0:%s:", timestampHeader) // a hash never fails to write
	_, _ = mac.Write(body)
	return timestampHeader, "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// PostOption changes how PostInteraction sends a request, for negative tests.
type PostOption func(*postConfig)

type postConfig struct {
	at       time.Time
	secret   *string
	unsigned bool
	client   *http.Client
}

// Forged signs with a secret other than the app's, as an attacker without it would.
func Forged() PostOption {
	return func(c *postConfig) {
		s := "forged-" + randomHex(16)
		c.secret = &s
	}
}

// Stale signs correctly but ten minutes ago, outside the five minutes Slack tells apps to accept, as a
// replayed request would be.
func Stale() PostOption { return SignedAt(time.Now().Add(-10 * time.Minute)) }

// SignedAt signs with a given timestamp.
func SignedAt(t time.Time) PostOption { return func(c *postConfig) { c.at = t } }

// Unsigned sends neither X-Slack-Request-Timestamp nor X-Slack-Signature.
func Unsigned() PostOption { return func(c *postConfig) { c.unsigned = true } }

// WithHTTPClient sends with a given client instead of http.DefaultClient.
func WithHTTPClient(hc *http.Client) PostOption { return func(c *postConfig) { c.client = hc } }

// PostInteraction sends an interaction to an app's request URL as Slack does: a POST of
// application/x-www-form-urlencoded "payload=<json>", signed with secret
// (https://api.slack.com/interactivity/handling#payloads). payload is marshalled to JSON unless it is
// already []byte, json.RawMessage or a string.
func PostInteraction(ctx context.Context, requestURL, secret string, payload any, opts ...PostOption) (*http.Response, error) {
	cfg := postConfig{at: time.Now(), client: http.DefaultClient}
	for _, o := range opts {
		o(&cfg)
	}
	js, err := payloadJSON(payload)
	if err != nil {
		return nil, fmt.Errorf("encode interaction payload: %w", err)
	}
	body := []byte(url.Values{"payload": {string(js)}}.Encode())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, requestURL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build interaction request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if !cfg.unsigned {
		if cfg.secret != nil {
			secret = *cfg.secret
		}
		ts, sig := Sign(secret, cfg.at, body)
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", sig)
	}
	resp, err := cfg.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("post interaction to %s: %w", requestURL, err)
	}
	return resp, nil
}

func payloadJSON(payload any) ([]byte, error) {
	switch p := payload.(type) {
	case []byte:
		return p, nil
	case json.RawMessage:
		return p, nil
	case string:
		return []byte(p), nil
	default:
		return json.Marshal(payload)
	}
}

// responseURL is a response_url handed out with an interaction.
type responseURL struct {
	id        string
	user      string
	channel   string
	messageTS string
	ephemeral bool
}

func (f *Fake) newResponseURLLocked(user, channel, messageTS string, ephemeral bool) string {
	f.seq++
	id := fmt.Sprintf("%d-%s", f.seq, randomHex(8))
	f.responses[id] = &responseURL{id: id, user: user, channel: channel, messageTS: messageTS, ephemeral: ephemeral}
	return f.base + "/response/" + id
}

// ResponsePost is what an app posted to a response_url.
type ResponsePost struct {
	URL             string // the response_url
	User            string // who clicked
	Channel         string
	MessageTS       string // the message the click came from
	Text            string
	Blocks          json.RawMessage
	ThreadTS        string
	ResponseType    string // ephemeral (the default) or in_channel
	ReplaceOriginal bool
	DeleteOriginal  bool
	Body            json.RawMessage // the whole JSON body
	Time            time.Time
}

// ResponsePosts returns every post to a response_url in order.
func (f *Fake) ResponsePosts() []ResponsePost {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ResponsePost(nil), f.posts...)
}

// serveResponseURL records and applies a post to a response_url as
// https://api.slack.com/interactivity/handling#message_responses describes: replace_original replaces
// the message the click came from, delete_original deletes it, and otherwise a new message is posted,
// ephemeral to the clicking user unless response_type is in_channel.
func (f *Fake) serveResponseURL(w http.ResponseWriter, r *http.Request) {
	if f.dropIfDown(w, "") {
		return
	}
	id := strings.TrimPrefix(r.URL.Path, "/response/")
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil || r.Method != http.MethodPost {
		writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": "invalid_request"})
		return
	}
	var msg struct {
		Text            string          `json:"text"`
		Blocks          json.RawMessage `json:"blocks"`
		ThreadTS        string          `json:"thread_ts"`
		ResponseType    string          `json:"response_type"`
		ReplaceOriginal bool            `json:"replace_original"`
		DeleteOriginal  bool            `json:"delete_original"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": "invalid_payload"})
		return
	}
	if string(msg.Blocks) == "null" {
		msg.Blocks = nil
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	ru, ok := f.responses[id]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"ok": false, "error": "expired_url"})
		return
	}
	if msg.ResponseType == "" {
		msg.ResponseType = "ephemeral"
	}
	f.posts = append(f.posts, ResponsePost{
		URL: f.base + r.URL.Path, User: ru.user, Channel: ru.channel, MessageTS: ru.messageTS,
		Text: msg.Text, Blocks: msg.Blocks, ThreadTS: msg.ThreadTS, ResponseType: msg.ResponseType,
		ReplaceOriginal: msg.ReplaceOriginal, DeleteOriginal: msg.DeleteOriginal, Body: body, Time: time.Now(),
	})
	sm := f.findMessageLocked(ru.channel, ru.messageTS)
	switch {
	case msg.DeleteOriginal:
		if sm != nil && !ru.ephemeral {
			sm.cur.Deleted = true
		}
	case msg.ReplaceOriginal:
		if sm != nil && !ru.ephemeral {
			// The post replaces the message whole: blocks it leaves out are gone.
			m := sm.cur
			m.Text, m.Blocks = msg.Text, msg.Blocks
			f.updateLocked(sm, m)
		}
	case msg.ResponseType == "in_channel":
		if _, known := f.channels[ru.channel]; known {
			f.postLocked(ru.channel, msg.ThreadTS, msg.Text, msg.Blocks, false)
		}
	default:
		f.ephemerals = append(f.ephemerals, Ephemeral{
			Channel: ru.channel, User: ru.user, Text: msg.Text, Blocks: msg.Blocks, ThreadTS: msg.ThreadTS,
			MessageTS: f.nextTSLocked(), Posted: time.Now(),
		})
	}
	f.changedLocked()
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}
