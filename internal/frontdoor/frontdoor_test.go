package frontdoor_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/parry-soc/parry/internal/frontdoor"
	"github.com/parry-soc/parry/internal/slackapp"
	"github.com/parry-soc/parry/internal/slacktest"
)

// recorder is an Interactions that records what reaches it: the test's proof that nothing was done.
type recorder struct {
	mu   sync.Mutex
	got  []slack.InteractionCallback
	ack  frontdoor.Ack
	wait time.Duration
}

func (r *recorder) Handle(ic slack.InteractionCallback) frontdoor.Ack {
	time.Sleep(r.wait)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, ic)
	return r.ack
}

func (r *recorder) calls() []slack.InteractionCallback {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]slack.InteractionCallback(nil), r.got...)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newFrontDoor serves a front door with the fake workspace's signing secret on a loopback test server.
func newFrontDoor(t *testing.T, fake *slacktest.Fake, rec *recorder) (*frontdoor.Server, string) {
	t.Helper()
	s := frontdoor.New(frontdoor.Config{SigningSecret: fake.SigningSecret(), Interactions: rec, Logger: quiet(), MaxBody: 64 << 10})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts.URL
}

func approveClick(fake *slacktest.Fake, user string) slacktest.BlockActionsPayload {
	v, _ := slackapp.ButtonValue{Run: "parry-parry-demo-phish-0001", Approval: "isolate-host"}.Encode()
	return fake.BlockActions(slacktest.Click{User: user, Channel: slacktest.ChannelIncidents, MessageTS: "1765000000.000002",
		ActionID: slackapp.ActionApprove, BlockID: "parry.approval", Value: v, Label: "Approve"})
}

// TestUnverifiedRequestsAreRefused: a request Slack did not sign, or signed more than five minutes from
// now, is answered 401 and never reaches the handler.
func TestUnverifiedRequestsAreRefused(t *testing.T) {
	fake := slacktest.New(t)
	rec := &recorder{}
	_, base := newFrontDoor(t, fake, rec)
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		opts []slacktest.PostOption
	}{
		{"forged signature", []slacktest.PostOption{slacktest.Forged()}},
		{"stale timestamp, 6 minutes old", []slacktest.PostOption{slacktest.SignedAt(time.Now().Add(-6 * time.Minute))}},
		{"timestamp 6 minutes in the future", []slacktest.PostOption{slacktest.SignedAt(time.Now().Add(6 * time.Minute))}},
		{"unsigned", []slacktest.PostOption{slacktest.Unsigned()}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := slacktest.PostInteraction(ctx, base+"/slack/interactions", fake.SigningSecret(), approveClick(fake, slacktest.UserLead1), tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", resp.StatusCode)
			}
		})
	}

	// Headers tampered with one by one, on an otherwise well-signed request.
	body := "payload=" + `{"type":"block_actions"}`
	ts, sig := slacktest.Sign(fake.SigningSecret(), time.Now(), []byte(body))
	for _, tt := range []struct {
		name    string
		headers map[string]string
	}{
		{"missing signature", map[string]string{"X-Slack-Request-Timestamp": ts}},
		{"missing timestamp", map[string]string{"X-Slack-Signature": sig}},
		{"timestamp not a number", map[string]string{"X-Slack-Request-Timestamp": "yesterday", "X-Slack-Signature": sig}},
		{"signature of another timestamp", map[string]string{"X-Slack-Request-Timestamp": ts + "1", "X-Slack-Signature": sig}},
		{"signature without v0=", map[string]string{"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": strings.TrimPrefix(sig, "v0=")}},
		{"signature not hex", map[string]string{"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=zz"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, base+"/slack/interactions", strings.NewReader(body))
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", resp.StatusCode)
			}
		})
	}
	if n := len(rec.calls()); n != 0 {
		t.Errorf("%d unverified requests reached the handler, want none", n)
	}
}

// TestVerifiedClickIsAckedAtOnce: a signed click reaches the handler as Slack's payload and is answered 200
// with an empty body; a form with errors is answered with response_action errors.
func TestVerifiedClickIsAckedAtOnce(t *testing.T) {
	fake := slacktest.New(t)
	rec := &recorder{}
	_, base := newFrontDoor(t, fake, rec)
	ctx := context.Background()

	start := time.Now()
	resp, err := slacktest.PostInteraction(ctx, base+"/slack/interactions", fake.SigningSecret(), approveClick(fake, slacktest.UserLead1))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(body) != 0 || time.Since(start) > time.Second {
		t.Errorf("status %d body %q after %s, want an empty 200 at once", resp.StatusCode, body, time.Since(start))
	}
	calls := rec.calls()
	if len(calls) != 1 {
		t.Fatalf("handler called %d times, want once", len(calls))
	}
	ic := calls[0]
	if ic.Type != slack.InteractionTypeBlockActions || ic.User.ID != slacktest.UserLead1 || len(ic.ActionCallback.BlockActions) != 1 ||
		ic.ActionCallback.BlockActions[0].ActionID != slackapp.ActionApprove {
		t.Errorf("handler got %+v, want UserLead1's approve click", ic)
	}

	rec.ack = frontdoor.Ack{Errors: map[string]string{slackapp.BlockReason: "Say why"}}
	sub := fake.ViewSubmission(slacktest.Submission{User: slacktest.UserLead1, CallbackID: slackapp.CallbackDeny, PrivateMetadata: `{"r":"x"}`})
	resp, err = slacktest.PostInteraction(ctx, base+"/slack/interactions", fake.SigningSecret(), sub)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got slack.ViewSubmissionResponse
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || got.ResponseAction != slack.RAErrors || got.Errors[slackapp.BlockReason] != "Say why" {
		t.Errorf("answer %+v (%v), want response_action errors on %s", got, err, slackapp.BlockReason)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
}

// TestRoutes covers the mux: methods, the health check, the body limit, a malformed payload, a route added
// by another package, and a front door without a signing secret.
func TestRoutes(t *testing.T) {
	fake := slacktest.New(t)
	rec := &recorder{}
	s, base := newFrontDoor(t, fake, rec)
	s.Handle("POST /v1/alerts", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	big := strings.Repeat("x", 65<<10)
	signed := func(body string) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, base+"/slack/interactions", strings.NewReader(body))
		ts, sig := slacktest.Sign(fake.SigningSecret(), time.Now(), []byte(body))
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", sig)
		return req
	}
	req := func(method, path, body string) *http.Request {
		r, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		return r
	}
	for _, tt := range []struct {
		name string
		req  *http.Request
		want int
	}{
		{"health check", req(http.MethodGet, "/healthz", ""), http.StatusOK},
		{"health check is GET only", req(http.MethodPost, "/healthz", ""), http.StatusMethodNotAllowed},
		{"interactions are POST only", req(http.MethodGet, "/slack/interactions", ""), http.StatusMethodNotAllowed},
		{"unknown path", req(http.MethodGet, "/nope", ""), http.StatusNotFound},
		{"body over the limit", signed("payload=" + big), http.StatusRequestEntityTooLarge},
		{"signed but no payload", signed("foo=bar"), http.StatusBadRequest},
		{"signed but payload not JSON", signed("payload=%7Bnope"), http.StatusBadRequest},
		{"added route", req(http.MethodPost, "/v1/alerts", "{}"), http.StatusAccepted},
		{"added route is method-checked", req(http.MethodGet, "/v1/alerts", ""), http.StatusMethodNotAllowed},
		{"added route has the body limit", req(http.MethodPost, "/v1/alerts", big), http.StatusRequestEntityTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.DefaultClient.Do(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	if n := len(rec.calls()); n != 0 {
		t.Errorf("handler called %d times, want none", n)
	}

	socketOnly := httptest.NewServer(frontdoor.New(frontdoor.Config{Interactions: rec, Logger: quiet()}))
	defer socketOnly.Close()
	resp, err := slacktest.PostInteraction(context.Background(), socketOnly.URL+"/slack/interactions", "", approveClick(fake, slacktest.UserLead1))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || len(rec.calls()) != 0 {
		t.Errorf("without a signing secret: status %d, want 404 and nothing handled", resp.StatusCode)
	}
}

// TestServeDrainsRequestsInFlight: when the context ends, Serve stops accepting and lets a request in
// flight finish before it returns.
func TestServeDrainsRequestsInFlight(t *testing.T) {
	fake := slacktest.New(t)
	rec := &recorder{wait: 300 * time.Millisecond}
	s := frontdoor.New(frontdoor.Config{SigningSecret: fake.SigningSecret(), Interactions: rec, Logger: quiet()})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln, 5*time.Second) }()

	status := make(chan int, 1)
	go func() {
		resp, err := slacktest.PostInteraction(context.Background(), "http://"+ln.Addr().String()+"/slack/interactions", fake.SigningSecret(), approveClick(fake, slacktest.UserLead1))
		if err != nil {
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	time.Sleep(100 * time.Millisecond) // the request is in the handler
	cancel()
	if got := <-status; got != http.StatusOK {
		t.Errorf("request in flight at shutdown: status %d, want 200", got)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want nil after a graceful shutdown", err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("still accepting connections after shutdown")
	}
}
