package slacktest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/parry-soc/parry/internal/slacktest"
)

// socketApp runs slack-go's socketmode client against the fake, the way an app does: it acks every
// interactive request (with a payload from ackPayload, if set) and reports hellos and interactions.
type socketApp struct {
	hellos       chan socketmode.Request
	interactions chan slack.InteractionCallback
	ackPayload   func(slack.InteractionCallback) any
}

func startSocketApp(t *testing.T, f *slacktest.Fake, ackPayload func(slack.InteractionCallback) any, opts ...socketmode.Option) *socketApp {
	t.Helper()
	api := slack.New(f.BotToken(), slack.OptionAPIURL(f.APIURL()), slack.OptionAppLevelToken(f.AppToken()))
	sm := socketmode.New(api, opts...)
	app := &socketApp{
		hellos:       make(chan socketmode.Request, 10),
		interactions: make(chan slack.InteractionCallback, 10),
		ackPayload:   ackPayload,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		_ = sm.RunContext(ctx) // returns context.Canceled when the test ends
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-sm.Events:
				switch evt.Type {
				case socketmode.EventTypeHello:
					app.hellos <- *evt.Request
				case socketmode.EventTypeInteractive:
					cb, _ := evt.Data.(slack.InteractionCallback)
					var payload []any
					if app.ackPayload != nil {
						payload = append(payload, app.ackPayload(cb))
					}
					if err := sm.Ack(*evt.Request, payload...); err != nil {
						t.Errorf("ack: %v", err)
					}
					app.interactions <- cb
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
	})
	return app
}

func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		var zero T
		t.Fatalf("no %s within 5s", what)
		return zero
	}
}

func TestSocketModeDeliversInteractionsAndAcks(t *testing.T) {
	f := slacktest.New(t)
	app := startSocketApp(t, f, func(cb slack.InteractionCallback) any {
		if cb.Type == slack.InteractionTypeViewSubmission {
			return slack.NewErrorsViewSubmissionResponse(map[string]string{"reason": "say why"})
		}
		return nil
	})
	hello := receive(t, app.hellos, "hello")
	if hello.NumConnections != 1 || hello.ConnectionInfo.AppID != f.Config().AppID {
		t.Errorf("hello: got %+v, want one connection of app %s", hello, f.Config().AppID)
	}

	for _, tt := range []struct {
		name        string
		payload     any
		wantType    slack.InteractionType
		wantAccepts bool
		wantAck     string // the ack's payload, "" for none
	}{
		{"button click", f.BlockActions(slacktest.Click{User: slacktest.UserLead1, Channel: slacktest.ChannelLeads,
			MessageTS: "1765000000.000100", ActionID: "parry.approve"}), slack.InteractionTypeBlockActions, false, ""},
		{"modal submission", f.ViewSubmission(slacktest.Submission{User: slacktest.UserLead1, CallbackID: "parry.deny_reason",
			Values: map[string]map[string]slacktest.StateValue{"reason": {"reason_input": slacktest.PlainText("")}}}),
			slack.InteractionTypeViewSubmission, true, `{"response_action":"errors","errors":{"reason":"say why"}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, err := f.SendInteractive(tt.payload)
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			cb := receive(t, app.interactions, "interaction")
			if cb.Type != tt.wantType || cb.User.ID != slacktest.UserLead1 {
				t.Errorf("app got type %q from %q, want %q from U0LEAD1", cb.Type, cb.User.ID, tt.wantType)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ack, err := f.WaitAck(ctx, id)
			if err != nil {
				t.Fatalf("wait for ack: %v", err)
			}
			if got := string(ack.Payload); got != tt.wantAck {
				t.Errorf("ack payload: got %s, want %s", got, tt.wantAck)
			}
			env := f.Envelopes()
			if last := env[len(env)-1]; last.ID != id || last.Type != "interactive" || last.AcceptsResponsePayload != tt.wantAccepts {
				t.Errorf("envelope: got %+v, want interactive with accepts_response_payload %v", last, tt.wantAccepts)
			}
		})
	}
}

func TestSocketModeReconnectsAfterDisconnect(t *testing.T) {
	f := slacktest.New(t, slacktest.WithDisconnectGrace(5*time.Second))
	app := startSocketApp(t, f, nil)
	receive(t, app.hellos, "first hello")

	if err := f.Disconnect("refresh_requested"); err != nil {
		t.Fatalf("disconnect: %v", err)
	}
	receive(t, app.hellos, "hello on the new connection")
	if got := f.ConnectionsOpened(); got != 2 {
		t.Errorf("connections opened: got %d, want 2", got)
	}
	if opens := f.Calls("apps.connections.open"); len(opens) != 2 {
		t.Errorf("apps.connections.open calls: got %d, want 2", len(opens))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The client closes the refreshed connection itself, well before the grace ends.
	if err := f.WaitFor(ctx, func(f *slacktest.Fake) bool { return f.Connections() == 1 }); err != nil {
		t.Fatalf("wait for one connection: %v", err)
	}

	id, err := f.SendInteractive(f.BlockActions(slacktest.Click{User: slacktest.UserLead2, Channel: slacktest.ChannelLeads, ActionID: "parry.task_done"}))
	if err != nil {
		t.Fatalf("send after reconnect: %v", err)
	}
	ack, err := f.WaitAck(ctx, id)
	if err != nil {
		t.Fatalf("ack after reconnect: %v", err)
	}
	if ack.Conn != 2 {
		t.Errorf("ack came on connection %d, want 2", ack.Conn)
	}
}

func TestSocketModeServesSeveralConnections(t *testing.T) {
	f := slacktest.New(t)
	first := startSocketApp(t, f, nil)
	receive(t, first.hellos, "first hello")
	second := startSocketApp(t, f, nil)
	if h := receive(t, second.hellos, "second hello"); h.NumConnections != 2 {
		t.Errorf("second hello: got num_connections %d, want 2", h.NumConnections)
	}
	if n := f.Connections(); n != 2 {
		t.Errorf("connections: got %d, want 2", n)
	}
	id, err := f.SendInteractive(f.BlockActions(slacktest.Click{User: slacktest.UserLead1, ActionID: "parry.close"}))
	if err != nil {
		t.Fatal(err)
	}
	receive(t, second.interactions, "interaction on the newest connection")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := f.WaitAck(ctx, id); err != nil {
		t.Fatal(err)
	}
}

func TestSocketModeTicketsWorkOnce(t *testing.T) {
	f := slacktest.New(t)
	api := slack.New(f.BotToken(), slack.OptionAPIURL(f.APIURL()), slack.OptionAppLevelToken(f.AppToken()))
	_, wsURL, err := api.StartSocketModeContext(context.Background())
	if err != nil {
		t.Fatalf("apps.connections.open: %v", err)
	}
	for _, tt := range []struct {
		name       string
		wantStatus int
	}{
		{"first use", http.StatusSwitchingProtocols},
		{"second use", http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, resp, err := websocket.DefaultDialer.Dial(wsURL, nil)
			if resp == nil {
				t.Fatalf("dial: %v", err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status: got %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if conn == nil {
				return
			}
			defer conn.Close()
			var hello map[string]any
			if err := conn.ReadJSON(&hello); err != nil || hello["type"] != "hello" {
				t.Errorf("first message: got %v, %v, want a hello", hello, err)
			}
		})
	}
}

func TestSocketModeWithoutConnectionFails(t *testing.T) {
	f := slacktest.New(t)
	if _, err := f.SendInteractive(json.RawMessage(`{"type":"block_actions"}`)); !errors.Is(err, slacktest.ErrNoConnection) {
		t.Errorf("send: got %v, want ErrNoConnection", err)
	}
	if err := f.Disconnect("warning"); !errors.Is(err, slacktest.ErrNoConnection) {
		t.Errorf("disconnect: got %v, want ErrNoConnection", err)
	}
}

func TestSocketModeSurvivesAnOutage(t *testing.T) {
	f := slacktest.New(t)
	app := startSocketApp(t, f, nil)
	receive(t, app.hellos, "first hello")
	f.Down(100 * time.Millisecond)
	// The client sees its connection drop and reconnects with backoff once the fake is back.
	receive(t, app.hellos, "hello after the outage")
	id, err := f.SendInteractive(f.BlockActions(slacktest.Click{User: slacktest.UserOnCall, ActionID: "parry.task_done"}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := f.WaitAck(ctx, id); err != nil {
		t.Fatal(err)
	}
}

func TestSocketModePingsKeepTheConnection(t *testing.T) {
	// slack-go drops a connection that has not been pinged within its ping interval; the fake pings
	// faster, so the first connection must last several of those intervals.
	f := slacktest.New(t, slacktest.WithPingInterval(40*time.Millisecond))
	app := startSocketApp(t, f, nil, socketmode.OptionPingInterval(200*time.Millisecond))
	receive(t, app.hellos, "hello")
	time.Sleep(700 * time.Millisecond)
	if got := f.ConnectionsOpened(); got != 1 {
		t.Errorf("connections opened: got %d, want 1: the client timed out waiting for pings", got)
	}
}
