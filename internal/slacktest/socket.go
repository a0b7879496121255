package slacktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// socketConn is one Socket Mode connection. gorilla/websocket allows one writer at a time, so writes
// take wmu; WriteControl and Close may run beside them.
type socketConn struct {
	id       int
	ws       *websocket.Conn
	wmu      sync.Mutex
	done     chan struct{}
	once     sync.Once
	ready    bool // hello sent: envelopes may follow
	draining bool // sent a disconnect: Slack sends nothing more on it
}

func (c *socketConn) close() {
	c.once.Do(func() {
		close(c.done)
		_ = c.ws.Close()
	})
}

func (c *socketConn) writeJSON(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeJSONLocked(v)
}

// writeJSONLocked writes with c.wmu held.
func (c *socketConn) writeJSONLocked(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode socket mode message: %w", err)
	}
	if err := c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return fmt.Errorf("write socket mode message: %w", err)
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return fmt.Errorf("write socket mode message: %w", err)
	}
	return nil
}

// upgrader accepts any Origin: slack-go's socketmode client sends "https://api.slack.com", which the
// default same-origin check would refuse, and Slack does not check it.
var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// serveSocket is the WebSocket end of Socket Mode (https://api.slack.com/apis/connections/socket): the
// URL from apps.connections.open works once, the fake greets with hello, pings regularly, and records
// every acknowledgement the app sends back.
func (f *Fake) serveSocket(w http.ResponseWriter, r *http.Request) {
	if f.dropIfDown(w, "") {
		return
	}
	ticket := r.URL.Query().Get("ticket")
	f.mu.Lock()
	valid := f.tickets[ticket] && !f.closed
	delete(f.tickets, ticket)
	f.mu.Unlock()
	if !valid {
		http.Error(w, "invalid or used socket mode ticket", http.StatusUnauthorized)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has already answered the client with an error
	}

	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		_ = ws.Close()
		return
	}
	f.opened++
	c := &socketConn{id: f.opened, ws: ws, done: make(chan struct{})}
	f.conns[c.id] = c
	live := 0
	for _, o := range f.conns {
		if !o.draining {
			live++
		}
	}
	f.wg.Add(2) // this handler and its pinger, which Close waits for
	f.mu.Unlock()
	defer f.wg.Done()
	go f.ping(c)

	// The hello Slack sends first on every connection (https://api.slack.com/apis/connections/socket).
	hello := map[string]any{
		"type":            "hello",
		"num_connections": live,
		"debug_info": map[string]any{
			"host":                        "fake-slack",
			"build_number":                1,
			"approximate_connection_time": 18060,
		},
		"connection_info": map[string]any{"app_id": f.cfg.AppID},
	}
	// The connection is ready for envelopes once the hello is on its way, and the write lock keeps any
	// envelope behind the hello: an app that has seen hello may be sent to at once.
	c.wmu.Lock()
	f.mu.Lock()
	c.ready = true
	f.changedLocked()
	f.mu.Unlock()
	err = c.writeJSONLocked(hello)
	c.wmu.Unlock()
	if err == nil {
		f.readAcks(c)
	}

	f.mu.Lock()
	delete(f.conns, c.id)
	f.changedLocked()
	f.mu.Unlock()
	c.close()
}

// ping pings a connection every Config.PingInterval, as Slack does; slack-go's client reconnects when
// pings stop.
func (f *Fake) ping(c *socketConn) {
	defer f.wg.Done()
	t := time.NewTicker(f.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if err := c.ws.WriteControl(websocket.PingMessage, []byte("fake-slack"), time.Now().Add(5*time.Second)); err != nil {
				c.close()
				return
			}
		}
	}
}

// Ack is an acknowledgement the app sent for an envelope: {"envelope_id": …} with an optional payload
// (https://api.slack.com/apis/connections/socket#acknowledge).
type Ack struct {
	EnvelopeID string
	Payload    json.RawMessage // nil when the ack carried none
	Conn       int             // the connection it came on, numbered from 1 in order of opening
	Time       time.Time
}

// readAcks reads what the app sends until the connection ends.
func (f *Fake) readAcks(c *socketConn) {
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		var msg struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(data, &msg) != nil || msg.EnvelopeID == "" {
			continue // Slack ignores anything but acks
		}
		if string(msg.Payload) == "null" {
			msg.Payload = nil
		}
		f.mu.Lock()
		if _, seen := f.acks[msg.EnvelopeID]; !seen {
			f.acks[msg.EnvelopeID] = Ack{EnvelopeID: msg.EnvelopeID, Payload: msg.Payload, Conn: c.id, Time: time.Now()}
			f.changedLocked()
		}
		f.mu.Unlock()
	}
}

// Envelope is a message the fake pushed to the app over Socket Mode.
type Envelope struct {
	ID                     string
	Type                   string // interactive, events_api or slash_commands
	Payload                json.RawMessage
	AcceptsResponsePayload bool
	Conn                   int
	Sent                   time.Time
}

// ErrNoConnection is returned when there is no Socket Mode connection to send on.
var ErrNoConnection = errors.New("no socket mode connection")

// SendInteractive pushes an interaction (a BlockActionsPayload, a ViewSubmissionPayload or any JSON)
// to the newest connection as an "interactive" envelope, and returns its envelope id for WaitAck.
// accepts_response_payload is true for view_submission, whose ack may carry a response_action, and
// false otherwise (https://api.slack.com/apis/connections/socket#modals).
func (f *Fake) SendInteractive(payload any) (string, error) {
	js, err := payloadJSON(payload)
	if err != nil {
		return "", fmt.Errorf("encode interactive payload: %w", err)
	}
	var head struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(js, &head) // a payload without a type just does not accept a response
	accepts := head.Type == "view_submission" || head.Type == "block_suggestion"
	return f.SendEnvelope("interactive", json.RawMessage(js), accepts)
}

// SendEnvelope pushes any envelope type (interactive, events_api, slash_commands) to the newest
// connection that Slack would still use, one not told to disconnect.
func (f *Fake) SendEnvelope(typ string, payload any, acceptsResponsePayload bool) (string, error) {
	js, err := payloadJSON(payload)
	if err != nil {
		return "", fmt.Errorf("encode %s payload: %w", typ, err)
	}
	f.mu.Lock()
	var c *socketConn
	for _, o := range f.conns {
		if o.ready && !o.draining && (c == nil || o.id > c.id) {
			c = o
		}
	}
	f.mu.Unlock()
	if c == nil {
		return "", fmt.Errorf("send %s envelope: %w", typ, ErrNoConnection)
	}
	id := newEnvelopeID()
	err = c.writeJSON(map[string]any{
		"envelope_id":              id,
		"type":                     typ,
		"accepts_response_payload": acceptsResponsePayload,
		"payload":                  json.RawMessage(js),
		"retry_attempt":            0,
		"retry_reason":             "",
	})
	if err != nil {
		return "", fmt.Errorf("send %s envelope on connection %d: %w", typ, c.id, err)
	}
	f.mu.Lock()
	f.envelopes = append(f.envelopes, Envelope{
		ID: id, Type: typ, Payload: js, AcceptsResponsePayload: acceptsResponsePayload, Conn: c.id, Sent: time.Now(),
	})
	f.changedLocked()
	f.mu.Unlock()
	return id, nil
}

// newEnvelopeID makes an id in the UUID form Slack's envelope ids take.
func newEnvelopeID() string {
	h := randomHex(32)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// WaitAck waits until the app acknowledges an envelope and returns the ack.
func (f *Fake) WaitAck(ctx context.Context, envelopeID string) (Ack, error) {
	var ack Ack
	err := f.WaitFor(ctx, func(f *Fake) bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		a, ok := f.acks[envelopeID]
		ack = a
		return ok
	})
	if err != nil {
		return Ack{}, fmt.Errorf("wait for ack of envelope %s: %w", envelopeID, err)
	}
	return ack, nil
}

// Acks returns every acknowledgement received, in no particular order.
func (f *Fake) Acks() []Ack {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Ack, 0, len(f.acks))
	for _, a := range f.acks {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Ack) int { return a.Time.Compare(b.Time) })
	return out
}

// Envelopes returns every envelope sent, in order.
func (f *Fake) Envelopes() []Envelope {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.envelopes)
}

// Disconnect sends {"type":"disconnect","reason":reason} on every open connection, as Slack does before
// it refreshes one (reason "refresh_requested") or takes it away ("warning", "link_disabled"), and
// closes each after Config.DisconnectGrace unless the app closed it first
// (https://api.slack.com/apis/connections/socket#disconnect).
func (f *Fake) Disconnect(reason string) error {
	f.mu.Lock()
	var conns []*socketConn
	for _, c := range f.conns {
		if c.ready && !c.draining {
			c.draining = true
			conns = append(conns, c)
		}
	}
	f.changedLocked()
	f.mu.Unlock()
	if len(conns) == 0 {
		return fmt.Errorf("disconnect: %w", ErrNoConnection)
	}
	var errs []error
	for _, c := range conns {
		msg := map[string]any{"type": "disconnect", "reason": reason, "debug_info": map[string]any{"host": "fake-slack"}}
		if err := c.writeJSON(msg); err != nil {
			errs = append(errs, err)
		}
		time.AfterFunc(f.cfg.DisconnectGrace, c.close)
	}
	return errors.Join(errs...)
}

// Connections is the number of open Socket Mode connections that have been greeted and not told to
// disconnect: those an envelope can go to.
func (f *Fake) Connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.conns {
		if c.ready && !c.draining {
			n++
		}
	}
	return n
}

// ConnectionsOpened is the number of Socket Mode connections accepted so far, closed ones included:
// it grows by one on every reconnection.
func (f *Fake) ConnectionsOpened() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opened
}
