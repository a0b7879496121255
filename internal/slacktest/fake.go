package slacktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Ids of the default workspace: two channels the bot is a member of, two user groups and their members.
const (
	ChannelIncidents = "C0SOCINC"  // #soc-incidents
	ChannelLeads     = "C0SOCLEAD" // #soc-leads

	GroupLeads  = "S0SOCLEADS" // U0LEAD1, U0LEAD2
	GroupOnCall = "S0ONCALL"   // U0ONCALL

	UserLead1  = "U0LEAD1"
	UserLead2  = "U0LEAD2"
	UserOnCall = "U0ONCALL"
	UserRandom = "U0RANDOM" // in no group: someone who may click but may not approve
)

// Channel is a conversation the fake knows. Member says whether the bot is in it: Slack refuses to post
// to a channel the bot has not joined (not_in_channel, https://api.slack.com/methods/chat.postMessage).
type Channel struct {
	ID     string
	Name   string // without the leading '#'
	Member bool
	// Users, when set, are the only users in the channel: chat.postEphemeral to anyone else answers
	// user_not_in_channel (https://api.slack.com/methods/chat.postEphemeral). Empty means everyone.
	Users []string
}

// User is a workspace member as users.info returns it (https://api.slack.com/methods/users.info).
type User struct {
	ID       string
	Name     string // the handle, e.g. "lead1"
	RealName string
	IsBot    bool
}

// Config describes the fake workspace. Start fills empty fields with the defaults of DefaultConfig;
// nil Channels, Users or UserGroups take the default ones, while empty non-nil ones mean none.
type Config struct {
	BotToken          string // xoxb-…: every method but apps.connections.open
	AppToken          string // xapp-…: apps.connections.open only
	SigningSecret     string // signs interaction requests built by PostInteraction callers
	VerificationToken string // the deprecated "token" field of interaction payloads
	TeamID            string
	TeamDomain        string
	AppID             string
	BotUserID         string
	BotID             string

	Channels   []Channel
	Users      []User
	UserGroups map[string][]string // usergroup id → member user ids

	// TriggerTTL is how long a trigger_id can be exchanged for a modal: 3 s at Slack
	// (https://api.slack.com/interactivity/handling#modal_responses).
	TriggerTTL time.Duration
	// PingInterval is how often the fake pings each Socket Mode connection. slack-go's socketmode
	// client treats 30 s without a ping as a dead connection, so this must stay below its
	// OptionPingInterval.
	PingInterval time.Duration
	// DisconnectGrace is how long a connection stays open after a disconnect message before the fake
	// closes it, as Slack does when it refreshes a connection.
	DisconnectGrace time.Duration
}

// DefaultConfig is the Parry SOC workspace of the tests: #soc-incidents and #soc-leads with the bot in
// both, the leads and on-call user groups, their members and one user in no group.
func DefaultConfig() Config {
	return Config{
		BotToken:          "xoxb-0000000000-fake-parry-bot",
		AppToken:          "xapp-1-A0PARRY-0000-fake-parry-app",
		SigningSecret:     "fake-signing-secret-0123456789abcdef",
		VerificationToken: "fake-verification-token",
		TeamID:            "T0PARRY",
		TeamDomain:        "parry-soc",
		AppID:             "A0PARRY",
		BotUserID:         "U0PARRYBOT",
		BotID:             "B0PARRY",
		Channels: []Channel{
			{ID: ChannelIncidents, Name: "soc-incidents", Member: true},
			{ID: ChannelLeads, Name: "soc-leads", Member: true},
		},
		Users: []User{
			{ID: UserLead1, Name: "lead1", RealName: "Lead One"},
			{ID: UserLead2, Name: "lead2", RealName: "Lead Two"},
			{ID: UserOnCall, Name: "oncall", RealName: "On Call"},
			{ID: UserRandom, Name: "random", RealName: "Random Responder"},
		},
		UserGroups: map[string][]string{
			GroupLeads:  {UserLead1, UserLead2},
			GroupOnCall: {UserOnCall},
		},
		TriggerTTL:      3 * time.Second,
		PingInterval:    5 * time.Second,
		DisconnectGrace: 2 * time.Second,
	}
}

// withDefaults fills what the caller left empty.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	for _, f := range []struct{ dst, def *string }{
		{&c.BotToken, &d.BotToken}, {&c.AppToken, &d.AppToken}, {&c.SigningSecret, &d.SigningSecret},
		{&c.VerificationToken, &d.VerificationToken}, {&c.TeamID, &d.TeamID}, {&c.TeamDomain, &d.TeamDomain},
		{&c.AppID, &d.AppID}, {&c.BotUserID, &d.BotUserID}, {&c.BotID, &d.BotID},
	} {
		if *f.dst == "" {
			*f.dst = *f.def
		}
	}
	if c.Channels == nil {
		c.Channels = d.Channels
	}
	if c.Users == nil {
		c.Users = d.Users
	}
	if c.UserGroups == nil {
		c.UserGroups = d.UserGroups
	}
	if c.TriggerTTL <= 0 {
		c.TriggerTTL = d.TriggerTTL
	}
	if c.PingInterval <= 0 {
		c.PingInterval = d.PingInterval
	}
	if c.DisconnectGrace <= 0 {
		c.DisconnectGrace = d.DisconnectGrace
	}
	return c
}

// Option changes the configuration New starts the fake with.
type Option func(*Config)

// WithConfig replaces the whole configuration; later options still apply on top of it.
func WithConfig(cfg Config) Option { return func(c *Config) { *c = cfg } }

// WithBotToken sets the bot token (xoxb-…) the Web API accepts.
func WithBotToken(token string) Option { return func(c *Config) { c.BotToken = token } }

// WithAppToken sets the app-level token (xapp-…) apps.connections.open accepts.
func WithAppToken(token string) Option { return func(c *Config) { c.AppToken = token } }

// WithSigningSecret sets the secret Fake.SigningSecret reports for signing interactions.
func WithSigningSecret(secret string) Option { return func(c *Config) { c.SigningSecret = secret } }

// WithTeamID sets the workspace id.
func WithTeamID(id string) Option { return func(c *Config) { c.TeamID = id } }

// WithChannels replaces the default channels.
func WithChannels(chs ...Channel) Option {
	return func(c *Config) { c.Channels = slices.Clone(chs) }
}

// WithChannel adds a channel, or replaces the one with the same id.
func WithChannel(ch Channel) Option {
	return func(c *Config) {
		c.Channels = slices.DeleteFunc(slices.Clone(c.Channels), func(o Channel) bool { return o.ID == ch.ID })
		c.Channels = append(c.Channels, ch)
	}
}

// WithUser adds a user, or replaces the one with the same id.
func WithUser(u User) Option {
	return func(c *Config) {
		c.Users = slices.DeleteFunc(slices.Clone(c.Users), func(o User) bool { return o.ID == u.ID })
		c.Users = append(c.Users, u)
	}
}

// WithUserGroup sets the members of a user group, adding the group if it is new.
func WithUserGroup(id string, members ...string) Option {
	return func(c *Config) {
		groups := maps.Clone(c.UserGroups)
		if groups == nil {
			groups = map[string][]string{}
		}
		groups[id] = slices.Clone(members)
		c.UserGroups = groups
	}
}

// WithTriggerTTL sets how long trigger ids stay exchangeable (3 s at Slack), so a test can expire one
// without sleeping three seconds.
func WithTriggerTTL(d time.Duration) Option { return func(c *Config) { c.TriggerTTL = d } }

// WithPingInterval sets how often Socket Mode connections are pinged.
func WithPingInterval(d time.Duration) Option { return func(c *Config) { c.PingInterval = d } }

// WithDisconnectGrace sets how long a connection stays open after a disconnect message.
func WithDisconnectGrace(d time.Duration) Option { return func(c *Config) { c.DisconnectGrace = d } }

// Fake is a running fake Slack. All its methods are safe for concurrent use.
type Fake struct {
	cfg  Config
	base string // http://127.0.0.1:PORT
	srv  *http.Server
	wg   sync.WaitGroup // handlers and goroutines that outlive a request: sockets, pingers

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change, for WaitFor
	closed  bool

	channels   map[string]*Channel // by id
	users      map[string]User
	userGroups map[string][]string

	seq        int64                       // ts and id counter
	messages   map[string][]*storedMessage // channel id → in posting order
	ephemerals []Ephemeral
	views      []*View
	triggers   map[string]*trigger
	responses  map[string]*responseURL
	posts      []ResponsePost
	calls      []Call

	failNext   []*failRule
	failMethod map[string]string
	down       bool
	downUntil  time.Time

	tickets   map[string]bool // Socket Mode tickets handed out and not yet used
	conns     map[int]*socketConn
	opened    int // connections accepted so far
	envelopes []Envelope
	acks      map[string]Ack
}

// New starts a fake with DefaultConfig changed by opts, and closes it when the test ends.
func New(tb testing.TB, opts ...Option) *Fake {
	tb.Helper()
	cfg := DefaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	f, err := Start(cfg)
	if err != nil {
		tb.Fatalf("start fake slack: %v", err)
		return nil
	}
	tb.Cleanup(f.Close)
	return f
}

// Start starts a fake on a loopback port. The caller must Close it.
func Start(cfg Config) (*Fake, error) {
	cfg = cfg.withDefaults()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	f := &Fake{
		cfg:        cfg,
		base:       "http://" + ln.Addr().String(),
		changed:    make(chan struct{}),
		channels:   map[string]*Channel{},
		users:      map[string]User{},
		userGroups: map[string][]string{},
		messages:   map[string][]*storedMessage{},
		triggers:   map[string]*trigger{},
		responses:  map[string]*responseURL{},
		failMethod: map[string]string{},
		tickets:    map[string]bool{},
		conns:      map[int]*socketConn{},
		acks:       map[string]Ack{},
	}
	for _, ch := range cfg.Channels {
		ch.Name = strings.TrimPrefix(ch.Name, "#")
		ch.Users = slices.Clone(ch.Users)
		f.channels[ch.ID] = &ch
	}
	for _, u := range cfg.Users {
		f.users[u.ID] = u
	}
	f.users[cfg.BotUserID] = User{ID: cfg.BotUserID, Name: "parry", RealName: "Parry", IsBot: true}
	for id, members := range cfg.UserGroups {
		f.userGroups[id] = slices.Clone(members)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/api/", f.serveAPI)
	mux.HandleFunc("/response/", f.serveResponseURL)
	mux.HandleFunc("/socket", f.serveSocket)
	f.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		// Serve returns ErrServerClosed after Close; anything else has already failed every request.
		_ = f.srv.Serve(ln)
	}()
	return f, nil
}

// Close stops the fake: open Socket Mode connections are closed, then the server. State stays
// queryable.
func (f *Fake) Close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	conns := slices.Collect(maps.Values(f.conns))
	f.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	_ = f.srv.Close()
	f.wg.Wait()
}

// URL is the fake's root, e.g. http://127.0.0.1:PORT.
func (f *Fake) URL() string { return f.base }

// APIURL is the Web API root to pass to slack.OptionAPIURL, e.g. http://127.0.0.1:PORT/api/.
func (f *Fake) APIURL() string { return f.base + "/api/" }

// BotToken is the bot token the Web API accepts.
func (f *Fake) BotToken() string { return f.cfg.BotToken }

// AppToken is the app-level token apps.connections.open accepts.
func (f *Fake) AppToken() string { return f.cfg.AppToken }

// SigningSecret is the secret interactions for this workspace are signed with.
func (f *Fake) SigningSecret() string { return f.cfg.SigningSecret }

// TeamID is the workspace id.
func (f *Fake) TeamID() string { return f.cfg.TeamID }

// BotUserID is the bot's user id: the author of every message the app posts.
func (f *Fake) BotUserID() string { return f.cfg.BotUserID }

// Config is the configuration the fake runs with, defaults filled in.
func (f *Fake) Config() Config { return f.cfg }

// changedLocked wakes everyone waiting in WaitFor. f.mu must be held.
func (f *Fake) changedLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// WaitFor blocks until cond holds or ctx ends. cond runs without the fake's lock, so it may call any
// query method; it is checked again after every change to the fake's state.
func (f *Fake) WaitFor(ctx context.Context, cond func(*Fake) bool) error {
	for {
		f.mu.Lock()
		changed := f.changed
		f.mu.Unlock()
		if cond(f) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("wait for fake slack state: %w", ctx.Err())
		}
	}
}

// SetUserGroup changes a user group's members while the fake runs, as an admin editing the roster
// would; an empty list leaves the group with no members.
func (f *Fake) SetUserGroup(id string, members ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.userGroups[id] = slices.Clone(members)
	f.changedLocked()
}

// SetMember makes the bot join or leave a channel.
func (f *Fake) SetMember(channel string, member bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := f.resolveChannelLocked(channel)
	if ch == nil {
		return fmt.Errorf("set membership of %s: %w", channel, errUnknownChannel)
	}
	ch.Member = member
	f.changedLocked()
	return nil
}

var errUnknownChannel = errors.New("unknown channel")

// resolveChannelLocked finds a channel by id, "#name" or "name", as chat.postMessage accepts
// (https://api.slack.com/methods/chat.postMessage#channels). f.mu must be held.
func (f *Fake) resolveChannelLocked(s string) *Channel {
	if ch, ok := f.channels[s]; ok {
		return ch
	}
	name := strings.TrimPrefix(s, "#")
	for _, ch := range f.channels {
		if ch.Name == name {
			return ch
		}
	}
	return nil
}

// nextTSLocked returns a new message timestamp. Slack's ts is seconds and microseconds and unique per
// channel; the fake's only ever grow, so tests can order and predict them: the first is
// 1765000000.000100. f.mu must be held.
func (f *Fake) nextTSLocked() string {
	f.seq++
	micros := int64(1765000000)*1_000_000 + f.seq*100
	return fmt.Sprintf("%d.%06d", micros/1_000_000, micros%1_000_000)
}

// nextIDLocked returns a new id with a prefix, e.g. V0000000007 for a view. f.mu must be held.
func (f *Fake) nextIDLocked(prefix string) string {
	f.seq++
	return fmt.Sprintf("%s%010d", prefix, f.seq)
}

// Message is a message the app posted, as it currently reads.
type Message struct {
	Channel  string // channel id
	TS       string
	ThreadTS string // the parent's ts for a reply; empty for a top-level message
	User     string // the bot user that posted it
	Text     string
	// Blocks are the blocks exactly as the app sent them (a JSON array), nil when it sent none.
	Blocks         json.RawMessage
	ReplyBroadcast bool
	Deleted        bool
	Posted         time.Time
	Edited         time.Time // zero until chat.update or a response_url replaced it
}

type storedMessage struct {
	cur      Message
	versions []Message // versions[0] as posted, then one per update
}

// Messages returns a channel's messages (top-level and replies, not deleted ones) in posting order.
// channel is an id or a name.
func (f *Fake) Messages(channel string) []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Message
	if ch := f.resolveChannelLocked(channel); ch != nil {
		for _, m := range f.messages[ch.ID] {
			if !m.cur.Deleted {
				out = append(out, m.cur)
			}
		}
	}
	return out
}

// Thread returns a thread: its parent first, then the replies in posting order, as
// conversations.replies would (https://api.slack.com/methods/conversations.replies).
func (f *Fake) Thread(channel, ts string) []Message {
	var out []Message
	for _, m := range f.Messages(channel) {
		if m.TS == ts || m.ThreadTS == ts {
			out = append(out, m)
		}
	}
	return out
}

// Message returns one message as it currently reads, deleted ones included.
func (f *Fake) Message(channel, ts string) (Message, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.findMessageLocked(channel, ts)
	if m == nil {
		return Message{}, false
	}
	return m.cur, true
}

// Updates returns the versions chat.update (or a response_url replace_original) wrote, oldest first;
// empty when the message was never updated.
func (f *Fake) Updates(channel, ts string) []Message {
	v := f.Versions(channel, ts)
	if len(v) == 0 {
		return nil
	}
	return v[1:]
}

// Versions returns every version of a message: as posted, then each update.
func (f *Fake) Versions(channel, ts string) []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.findMessageLocked(channel, ts)
	if m == nil {
		return nil
	}
	return slices.Clone(m.versions)
}

func (f *Fake) findMessageLocked(channel, ts string) *storedMessage {
	ch := f.resolveChannelLocked(channel)
	if ch == nil {
		return nil
	}
	for _, m := range f.messages[ch.ID] {
		if m.cur.TS == ts {
			return m
		}
	}
	return nil
}

// Ephemeral is a message only one user sees: chat.postEphemeral, or an ephemeral response_url post.
type Ephemeral struct {
	Channel   string
	User      string // who sees it
	Text      string
	Blocks    json.RawMessage
	ThreadTS  string
	MessageTS string
	Posted    time.Time
}

// Ephemerals returns every ephemeral message in posting order.
func (f *Fake) Ephemerals() []Ephemeral {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ephemerals)
}

// EphemeralsTo returns the ephemeral messages one user was shown.
func (f *Fake) EphemeralsTo(user string) []Ephemeral {
	return slices.DeleteFunc(f.Ephemerals(), func(e Ephemeral) bool { return e.User != user })
}

// View is a modal opened with views.open, as it currently reads.
type View struct {
	ID              string
	TeamID          string
	User            string // who the trigger belonged to
	TriggerID       string
	Type            string
	CallbackID      string
	PrivateMetadata string
	ExternalID      string
	Hash            string
	// Definition is the view object as the app last sent it.
	Definition json.RawMessage
	Opened     time.Time
	Updates    int
}

// Views returns the views opened so far in opening order.
func (f *Fake) Views() []View {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]View, 0, len(f.views))
	for _, v := range f.views {
		out = append(out, *v)
	}
	return out
}

// View returns one view by id.
func (f *Fake) View(id string) (View, bool) {
	for _, v := range f.Views() {
		if v.ID == id {
			return v, true
		}
	}
	return View{}, false
}

// UserGroup returns a user group's current members.
func (f *Fake) UserGroup(id string) ([]string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.userGroups[id]
	return slices.Clone(m), ok
}

// Call is one Web API request as the fake answered it.
type Call struct {
	Method string
	// Args are the arguments without the token: strings as sent, JSON values (blocks, view) as JSON text.
	Args   map[string]string
	Status int    // HTTP status; 0 when the fake was down and dropped the connection
	OK     bool   // the "ok" of the answer
	Error  string // Slack's error code when not OK, e.g. channel_not_found or ratelimited
	Fault  Fault  // which injected fault answered, if any
	Time   time.Time
}

// Fault says which injected fault answered a call.
type Fault string

// Faults a call can meet.
const (
	FaultNone        Fault = ""
	FaultRateLimited Fault = "ratelimited" // FailNext with 429
	FaultStatus      Fault = "status"      // FailNext with another status
	FaultMethod      Fault = "method"      // FailMethod
	FaultDown        Fault = "down"        // Down or SetDown: the connection was dropped
)

// Calls returns the calls of one method in order, or every call for "" or "*".
func (f *Fake) Calls(method string) []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	if method == "" || method == "*" {
		return slices.Clone(f.calls)
	}
	var out []Call
	for _, c := range f.calls {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

func (f *Fake) logCallLocked(c Call) {
	f.calls = append(f.calls, c)
	f.changedLocked()
}
