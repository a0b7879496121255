package slacktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// tokenKind is the kind of token a method takes.
type tokenKind int

const (
	botToken tokenKind = iota
	appToken
)

// webMethod is one Web API method: the token it takes and what it does. handle runs with f.mu held
// and returns the fields of a successful answer, or a Slack error code.
type webMethod struct {
	token  tokenKind
	handle func(f *Fake, a args) (map[string]any, string)
}

// methods are the Web API methods the fake implements; anything else is unknown_method, as Slack answers
// (https://api.slack.com/web#responses).
var methods = map[string]webMethod{
	"auth.test":             {botToken, (*Fake).authTest},
	"chat.postMessage":      {botToken, (*Fake).chatPostMessage},
	"chat.update":           {botToken, (*Fake).chatUpdate},
	"chat.delete":           {botToken, (*Fake).chatDelete},
	"chat.postEphemeral":    {botToken, (*Fake).chatPostEphemeral},
	"chat.getPermalink":     {botToken, (*Fake).chatGetPermalink},
	"usergroups.users.list": {botToken, (*Fake).usergroupsUsersList},
	"users.info":            {botToken, (*Fake).usersInfo},
	"views.open":            {botToken, (*Fake).viewsOpen},
	"views.update":          {botToken, (*Fake).viewsUpdate},
	"apps.connections.open": {appToken, (*Fake).appsConnectionsOpen},
}

// serveAPI answers /api/<method>. The order of checks follows what Slack does: the method must exist,
// then the token must be valid for it; injected faults come first because they stand for the network
// and Slack's front end, which answer before any of that.
func (f *Fake) serveAPI(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/api/")
	if f.dropIfDown(w, name) {
		return
	}
	a, token, err := readArgs(r, name)
	call := Call{Method: name, Args: a.logged(), Time: time.Now()}

	f.mu.Lock()
	defer f.mu.Unlock()

	if rule := f.takeFailureLocked(name); rule != nil {
		call.Status = rule.status
		if rule.status == http.StatusTooManyRequests {
			// https://api.slack.com/docs/rate-limits: "HTTP 429 Too Many Requests … a Retry-After HTTP
			// header containing the number of seconds until you can retry", and the body names the error.
			call.Fault, call.Error = FaultRateLimited, "ratelimited"
			w.Header().Set("Retry-After", strconv.Itoa(int((rule.retryAfter+time.Second-1)/time.Second)))
			writeJSON(w, rule.status, map[string]any{"ok": false, "error": "ratelimited"})
		} else {
			// Slack sends an HTML page with its 5xx answers; clients do not parse it.
			call.Fault = FaultStatus
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(rule.status)
			_, _ = fmt.Fprintf(w, "<html><body>fake slack: injected %d</body></html>\n", rule.status)
		}
		f.logCallLocked(call)
		return
	}

	resp, slackErr, fault := f.answerLocked(name, a, token, err)
	call.Status, call.Fault = http.StatusOK, fault
	if slackErr != "" {
		call.Error = slackErr
		resp = map[string]any{"ok": false, "error": slackErr}
	} else {
		call.OK = true
		resp["ok"] = true
	}
	f.logCallLocked(call)
	writeJSON(w, http.StatusOK, resp)
}

// answerLocked runs a method after the checks every method shares.
func (f *Fake) answerLocked(name string, a args, token string, argsErr error) (map[string]any, string, Fault) {
	m, ok := methods[name]
	if !ok {
		return nil, "unknown_method", FaultNone
	}
	if argsErr != nil {
		// Slack's codes for a body it cannot read (https://api.slack.com/web#responses).
		return nil, argsErr.Error(), FaultNone
	}
	if e := f.checkTokenLocked(m.token, token); e != "" {
		return nil, e, FaultNone
	}
	for _, key := range []string{name, "*"} {
		if e := f.failMethod[key]; e != "" {
			return nil, e, FaultMethod
		}
	}
	resp, e := m.handle(f, a)
	return resp, e, FaultNone
}

// checkTokenLocked follows https://api.slack.com/authentication/token-types: no token is not_authed,
// a token Slack does not know is invalid_auth, and a real token of the wrong kind (the app token on
// chat.postMessage, the bot token on apps.connections.open) is not_allowed_token_type.
func (f *Fake) checkTokenLocked(want tokenKind, token string) string {
	switch {
	case token == "":
		return "not_authed"
	case want == botToken && token == f.cfg.BotToken, want == appToken && token == f.cfg.AppToken:
		return ""
	case token == f.cfg.BotToken, token == f.cfg.AppToken:
		return "not_allowed_token_type"
	default:
		return "invalid_auth"
	}
}

// argsError is a Slack error code for a request body the fake cannot read.
type argsError string

func (e argsError) Error() string { return string(e) }

// readArgs reads a method's arguments and token. Slack takes arguments from the query string and a
// form-encoded or JSON body, and the token from an Authorization: Bearer header or, for form posts,
// a token parameter; tokens in the query string have been refused since 2021
// (https://api.slack.com/changelog/2020-11-no-more-tokens-in-querystrings-for-newly-created-apps), and a
// JSON body cannot carry one (https://api.slack.com/web#posting_json). apps.connections.open takes its
// app token from the header only (https://api.slack.com/methods/apps.connections.open).
func readArgs(r *http.Request, method string) (args, string, error) {
	a := args{}
	for k, vs := range r.URL.Query() {
		if k != "token" && len(vs) > 0 {
			a.setString(k, vs[0])
		}
	}
	token := ""
	if auth := r.Header.Get("Authorization"); auth != "" {
		token, _ = strings.CutPrefix(auth, "Bearer ")
	}
	if r.Body == nil || r.Method == http.MethodGet {
		return a, token, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return a, token, argsError("invalid_form_data")
	}
	ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case ctype == "application/json":
		if len(bytes.TrimSpace(body)) == 0 || bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
			return a, token, nil // apps.connections.open is posted with an empty JSON body
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			return a, token, argsError("invalid_json")
		}
		for k, v := range obj {
			if k != "token" {
				a[k] = v
			}
		}
	case ctype == "application/x-www-form-urlencoded", ctype == "":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return a, token, argsError("invalid_form_data")
		}
		for k, vs := range form {
			if len(vs) == 0 {
				continue
			}
			if k == "token" {
				if token == "" && method != "apps.connections.open" {
					token = vs[0]
				}
				continue
			}
			a.setString(k, vs[0])
		}
	default:
		return a, token, argsError("invalid_post_type")
	}
	return a, token, nil
}

// args are a method's arguments, each as JSON: a form value is a JSON string, a JSON body keeps its
// values as sent.
type args map[string]json.RawMessage

func (a args) setString(k, v string) {
	b, _ := json.Marshal(v) // a string always marshals
	a[k] = b
}

// str is an argument as text: a string unquoted, a number or boolean as written.
func (a args) str(k string) string {
	v, ok := a[k]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	if string(v) == "null" {
		return ""
	}
	return string(v)
}

// has reports whether an argument was sent at all, even empty.
func (a args) has(k string) bool {
	_, ok := a[k]
	return ok
}

// boolean reads a flag the way Slack does: true, "true" or "1".
func (a args) boolean(k string) bool {
	switch a.str(k) {
	case "true", "1":
		return true
	}
	return false
}

// json is a JSON-valued argument (blocks, view): form posts send it as a JSON-encoded string
// ("A JSON-based array of structured blocks, presented as a URL-encoded string"), JSON posts as the
// value itself. ok is false when absent or empty.
func (a args) json(k string) (json.RawMessage, bool) {
	v, present := a[k]
	if !present {
		return nil, false
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		if s == "" {
			return nil, false
		}
		return json.RawMessage(s), true
	}
	if string(v) == "null" {
		return nil, false
	}
	return v, true
}

// logged is the arguments as the call log keeps them.
func (a args) logged() map[string]string {
	out := make(map[string]string, len(a))
	for k := range a {
		if k == "blocks" || k == "view" || k == "attachments" {
			if raw, ok := a.json(k); ok {
				out[k] = string(raw)
				continue
			}
		}
		out[k] = a.str(k)
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"ok":false,"error":"fatal_error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// authTest follows https://api.slack.com/methods/auth.test.
func (f *Fake) authTest(args) (map[string]any, string) {
	return map[string]any{
		"url":                   "https://" + f.cfg.TeamDomain + ".slack.test/",
		"team":                  "Parry SOC (fake)",
		"user":                  "parry",
		"team_id":               f.cfg.TeamID,
		"user_id":               f.cfg.BotUserID,
		"bot_id":                f.cfg.BotID,
		"is_enterprise_install": false,
	}, ""
}

// messageContent reads text and blocks, which chat.postMessage, chat.update and chat.postEphemeral
// share: one of text, blocks or attachments is required (no_text), and blocks must be a JSON array
// (invalid_blocks, https://api.slack.com/methods/chat.postMessage#errors).
func messageContent(a args) (text string, blocks json.RawMessage, errCode string) {
	text = a.str("text")
	blocks, hasBlocks := a.json("blocks")
	if hasBlocks {
		var list []json.RawMessage
		if json.Unmarshal(blocks, &list) != nil {
			return "", nil, "invalid_blocks"
		}
	}
	_, hasAttachments := a.json("attachments")
	if text == "" && !hasBlocks && !hasAttachments {
		return "", nil, "no_text"
	}
	return text, blocks, ""
}

// chatPostMessage follows https://api.slack.com/methods/chat.postMessage: the channel may be an id or a
// name and the answer names it by id; the bot must be a member.
func (f *Fake) chatPostMessage(a args) (map[string]any, string) {
	ch := f.resolveChannelLocked(a.str("channel"))
	if ch == nil {
		return nil, "channel_not_found"
	}
	if !ch.Member {
		return nil, "not_in_channel"
	}
	text, blocks, e := messageContent(a)
	if e != "" {
		return nil, e
	}
	m := f.postLocked(ch.ID, a.str("thread_ts"), text, blocks, a.boolean("reply_broadcast"))
	return map[string]any{"channel": ch.ID, "ts": m.TS, "message": f.messageJSON(m)}, ""
}

// postLocked stores a new message from the bot.
func (f *Fake) postLocked(channel, threadTS, text string, blocks json.RawMessage, broadcast bool) Message {
	m := Message{
		Channel:        channel,
		TS:             f.nextTSLocked(),
		ThreadTS:       threadTS,
		User:           f.cfg.BotUserID,
		Text:           text,
		Blocks:         blocks,
		ReplyBroadcast: broadcast && threadTS != "",
		Posted:         time.Now(),
	}
	f.messages[channel] = append(f.messages[channel], &storedMessage{cur: m, versions: []Message{m}})
	f.changedLocked()
	return m
}

// messageJSON renders a message as Slack's answers carry it: the message object of chat.postMessage
// and chat.update.
func (f *Fake) messageJSON(m Message) map[string]any {
	out := map[string]any{
		"type":    "message",
		"user":    m.User,
		"bot_id":  f.cfg.BotID,
		"app_id":  f.cfg.AppID,
		"team":    f.cfg.TeamID,
		"text":    m.Text,
		"ts":      m.TS,
		"channel": m.Channel,
	}
	if m.Blocks != nil {
		out["blocks"] = m.Blocks
	}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
		out["parent_user_id"] = m.User
	}
	if !m.Edited.IsZero() {
		out["edited"] = map[string]string{"user": m.User, "ts": fmt.Sprintf("%d.000000", m.Edited.Unix())}
	}
	return out
}

// chatUpdate follows https://api.slack.com/methods/chat.update: the channel is the id of the message's
// channel (a name is channel_not_found), an unknown ts is message_not_found, and fields left out keep
// their previous value ("If you don't include this field, the message's previous blocks will be
// retained").
func (f *Fake) chatUpdate(a args) (map[string]any, string) {
	ch, ok := f.channels[a.str("channel")]
	if !ok {
		return nil, "channel_not_found"
	}
	sm := f.findMessageLocked(ch.ID, a.str("ts"))
	if sm == nil || sm.cur.Deleted {
		return nil, "message_not_found"
	}
	text, blocks, e := messageContent(a)
	if e != "" {
		return nil, e
	}
	m := sm.cur
	if a.has("text") {
		m.Text = text
	}
	if blocks != nil {
		m.Blocks = blocks
	}
	f.updateLocked(sm, m)
	return map[string]any{"channel": ch.ID, "ts": m.TS, "text": sm.cur.Text, "message": f.messageJSON(sm.cur)}, ""
}

// updateLocked records a new version of a message.
func (f *Fake) updateLocked(sm *storedMessage, m Message) {
	m.Edited = time.Now()
	sm.cur = m
	sm.versions = append(sm.versions, m)
	f.changedLocked()
}

// chatDelete follows https://api.slack.com/methods/chat.delete.
func (f *Fake) chatDelete(a args) (map[string]any, string) {
	ch, ok := f.channels[a.str("channel")]
	if !ok {
		return nil, "channel_not_found"
	}
	sm := f.findMessageLocked(ch.ID, a.str("ts"))
	if sm == nil || sm.cur.Deleted {
		return nil, "message_not_found"
	}
	sm.cur.Deleted = true
	f.changedLocked()
	return map[string]any{"channel": ch.ID, "ts": sm.cur.TS}, ""
}

// chatPostEphemeral follows https://api.slack.com/methods/chat.postEphemeral: the user must be in the
// channel (user_not_in_channel), and the answer carries message_ts.
func (f *Fake) chatPostEphemeral(a args) (map[string]any, string) {
	ch := f.resolveChannelLocked(a.str("channel"))
	if ch == nil {
		return nil, "channel_not_found"
	}
	if !ch.Member {
		return nil, "not_in_channel"
	}
	user := a.str("user")
	if _, known := f.users[user]; !known || (len(ch.Users) > 0 && !slices.Contains(ch.Users, user)) {
		return nil, "user_not_in_channel"
	}
	text, blocks, e := messageContent(a)
	if e != "" {
		return nil, e
	}
	ts := f.nextTSLocked()
	f.ephemerals = append(f.ephemerals, Ephemeral{
		Channel: ch.ID, User: user, Text: text, Blocks: blocks, ThreadTS: a.str("thread_ts"), MessageTS: ts, Posted: time.Now(),
	})
	f.changedLocked()
	return map[string]any{"message_ts": ts}, ""
}

// chatGetPermalink follows https://api.slack.com/methods/chat.getPermalink, including its format for
// replies: "?thread_ts=<parent>&cid=<channel>".
func (f *Fake) chatGetPermalink(a args) (map[string]any, string) {
	ch, ok := f.channels[a.str("channel")]
	if !ok {
		return nil, "channel_not_found"
	}
	sm := f.findMessageLocked(ch.ID, a.str("message_ts"))
	if sm == nil || sm.cur.Deleted {
		return nil, "message_not_found"
	}
	return map[string]any{"channel": ch.ID, "permalink": Permalink(ch.ID, sm.cur.TS, sm.cur.ThreadTS)}, ""
}

// Permalink is the link chat.getPermalink gives for a message; threadTS is the parent's ts for a reply
// and empty otherwise.
func Permalink(channel, ts, threadTS string) string {
	link := "https://fake.slack.test/archives/" + channel + "/p" + strings.ReplaceAll(ts, ".", "")
	if threadTS != "" && threadTS != ts {
		link += "?thread_ts=" + threadTS + "&cid=" + channel
	}
	return link
}

// usergroupsUsersList follows https://api.slack.com/methods/usergroups.users.list.
func (f *Fake) usergroupsUsersList(a args) (map[string]any, string) {
	id := a.str("usergroup")
	if id == "" {
		return nil, "invalid_arguments"
	}
	members, ok := f.userGroups[id]
	if !ok {
		return nil, "no_such_subteam"
	}
	users := append([]string{}, members...) // [] rather than null for an empty group, as Slack answers
	return map[string]any{"users": users}, ""
}

// usersInfo follows https://api.slack.com/methods/users.info.
func (f *Fake) usersInfo(a args) (map[string]any, string) {
	u, ok := f.users[a.str("user")]
	if !ok {
		return nil, "user_not_found"
	}
	return map[string]any{"user": map[string]any{
		"id":        u.ID,
		"team_id":   f.cfg.TeamID,
		"name":      u.Name,
		"real_name": u.RealName,
		"deleted":   false,
		"is_bot":    u.IsBot,
		"profile": map[string]any{
			"real_name":    u.RealName,
			"display_name": u.Name,
			"team":         f.cfg.TeamID,
		},
	}}, ""
}

// triggerPattern is the documented form of a trigger id, "12345.98765.abcd2358fdea"
// (https://api.slack.com/methods/views.open).
var triggerPattern = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9a-f]+$`)

// viewsOpen follows https://api.slack.com/methods/views.open and its trigger errors: a trigger id not
// of the documented form is invalid_trigger_id, one already exchanged is exchanged_trigger_id, and one
// past its 3 s (or one the fake never issued, which Slack could not tell apart from an old one) is
// expired_trigger_id.
func (f *Fake) viewsOpen(a args) (map[string]any, string) {
	id := a.str("trigger_id")
	if id == "" {
		id = a.str("interactivity_pointer")
	}
	def, ok := a.json("view")
	if id == "" || !ok {
		return nil, "invalid_arguments"
	}
	if !triggerPattern.MatchString(id) {
		return nil, "invalid_trigger_id"
	}
	tr, known := f.triggers[id]
	switch {
	case known && tr.used:
		return nil, "exchanged_trigger_id"
	case !known || time.Now().After(tr.expires):
		return nil, "expired_trigger_id"
	}
	fields, e := viewFields(def)
	if e != "" {
		return nil, e
	}
	tr.used = true
	v := &View{
		ID:         f.nextIDLocked("V"),
		TeamID:     f.cfg.TeamID,
		User:       tr.user,
		TriggerID:  id,
		Definition: def,
		Opened:     time.Now(),
	}
	v.setFields(fields)
	v.Hash = f.viewHashLocked()
	f.views = append(f.views, v)
	f.changedLocked()
	return map[string]any{"view": f.viewJSON(v)}, ""
}

// viewsUpdate follows https://api.slack.com/methods/views.update: the view is named by view_id or
// external_id (not_found otherwise), and a hash that no longer matches is hash_conflict.
func (f *Fake) viewsUpdate(a args) (map[string]any, string) {
	def, ok := a.json("view")
	if !ok {
		return nil, "invalid_arguments"
	}
	id, ext := a.str("view_id"), a.str("external_id")
	if id == "" && ext == "" {
		return nil, "invalid_arguments"
	}
	var v *View
	for _, cand := range f.views {
		if (id != "" && cand.ID == id) || (id == "" && ext != "" && cand.ExternalID == ext) {
			v = cand
		}
	}
	if v == nil {
		return nil, "not_found"
	}
	if h := a.str("hash"); h != "" && h != v.Hash {
		return nil, "hash_conflict"
	}
	fields, e := viewFields(def)
	if e != "" {
		return nil, e
	}
	v.Definition = def
	v.setFields(fields)
	v.Hash = f.viewHashLocked()
	v.Updates++
	f.changedLocked()
	return map[string]any{"view": f.viewJSON(v)}, ""
}

// viewFields reads a view object; a view that is not an object with a type is invalid_arguments.
func viewFields(def json.RawMessage) (map[string]json.RawMessage, string) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(def, &fields) != nil || fields == nil {
		return nil, "invalid_arguments"
	}
	if _, ok := fields["type"]; !ok {
		return nil, "invalid_arguments"
	}
	return fields, ""
}

func (v *View) setFields(fields map[string]json.RawMessage) {
	str := func(k string) string {
		var s string
		_ = json.Unmarshal(fields[k], &s) // absent or not a string reads as empty
		return s
	}
	v.Type = str("type")
	v.CallbackID = str("callback_id")
	v.PrivateMetadata = str("private_metadata")
	v.ExternalID = str("external_id")
}

// viewHashLocked is a new view hash; Slack changes it on every update so that stale updates conflict.
func (f *Fake) viewHashLocked() string {
	f.seq++
	return fmt.Sprintf("1765000000.%08x", f.seq)
}

// viewJSON renders a view as views.open and views.update answer: the app's definition with the fields
// Slack adds (id, team_id, state, hash, root_view_id, app_id, bot_id).
func (f *Fake) viewJSON(v *View) map[string]any {
	out := map[string]any{}
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(v.Definition, &fields) // checked by viewFields when stored
	for k, val := range fields {
		out[k] = val
	}
	for k, def := range map[string]any{
		"private_metadata": "", "callback_id": "", "external_id": "", "clear_on_close": false,
		"notify_on_close": false, "blocks": []any{},
	} {
		if _, ok := out[k]; !ok {
			out[k] = def
		}
	}
	out["id"] = v.ID
	out["team_id"] = v.TeamID
	out["state"] = map[string]any{"values": map[string]any{}}
	out["hash"] = v.Hash
	out["root_view_id"] = v.ID
	out["previous_view_id"] = nil
	out["app_id"] = f.cfg.AppID
	out["app_installed_team_id"] = f.cfg.TeamID
	out["bot_id"] = f.cfg.BotID
	return out
}

// appsConnectionsOpen follows https://api.slack.com/methods/apps.connections.open: it hands out a
// WebSocket URL with a one-time ticket.
func (f *Fake) appsConnectionsOpen(args) (map[string]any, string) {
	ticket := f.nextIDLocked("ticket-")
	f.tickets[ticket] = true
	u := "ws" + strings.TrimPrefix(f.base, "http") + "/socket?ticket=" + ticket + "&app_id=" + f.cfg.AppID
	return map[string]any{"url": u}, ""
}
