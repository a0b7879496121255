// Package frontdoor is Parry's HTTP front door, served by `trigger serve`: Slack's interactivity endpoint
// (POST /slack/interactions), a health check (GET /healthz), and the mux the alert intake adds its routes
// to. It also runs Slack's Socket Mode, the other way interactions arrive, through the same handler.
//
// A Slack request is verified before anything is done with it: its signature (HMAC-SHA256 of the raw body
// with SLACK_SIGNING_SECRET) must match and its timestamp be within five minutes; otherwise the answer is
// 401 and nothing else happens. A verified interaction is acknowledged at once — Slack gives an app 3 s —
// and the work (a modal, the Update to the run) continues in the background.
//
// Handler (interactions.go) turns a verified click into a signed statement and sends it to the run as an
// Update, retrying with the same Update id until a worker answers; the forms (deny reason, close) are
// modals it opens.
//
// The front door vouches for Slack users with its own ed25519 key (PARRY_FRONTDOOR_KEY; the dev default
// creates PARRY_HOME/keys/frontdoor.key): every run pins the public half in its input, and the workflow
// checks that the front door key speaks only for Slack users.
package frontdoor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/slack-go/slack"
)

// Interactions handles verified Slack interactions; *Handler is Parry's.
type Interactions interface {
	Handle(ic slack.InteractionCallback) Ack
}

var _ Interactions = (*Handler)(nil)

// DefaultMaxBody bounds a request body. Slack's interaction payloads carry the clicked message or the
// submitted view: tens of kilobytes at most.
const DefaultMaxBody = 1 << 20

// Config configures a Server.
type Config struct {
	// SigningSecret is the Slack app's signing secret. Empty: POST /slack/interactions is not served
	// (interactions come over Socket Mode only).
	SigningSecret string
	// Interactions handles what a verified request carries.
	Interactions Interactions
	// MaxBody bounds request bodies (default DefaultMaxBody).
	MaxBody int64
	Logger  *slog.Logger
	// Now is the clock signatures are checked against (default time.Now).
	Now func() time.Time
}

// Server is the front door's HTTP server. It is an http.Handler; further routes are added with Handle.
type Server struct {
	cfg Config
	mux *http.ServeMux
	log *slog.Logger
}

// New makes a Server with its routes.
func New(cfg Config) *Server {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), log: cfg.Logger}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	if cfg.SigningSecret != "" && cfg.Interactions != nil {
		s.mux.HandleFunc("POST /slack/interactions", s.interactions)
	}
	return s
}

// Handle adds a route, in net/http's pattern syntax with a method ("POST /v1/alerts"): a request for the
// path with another method is answered 405 by the mux.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// ServeHTTP serves a request, its body bounded by Config.MaxBody.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
	s.mux.ServeHTTP(w, r)
}

// Serve serves on ln until ctx ends, then shuts down gracefully: it stops accepting connections and waits
// up to grace for requests in flight. It returns nil after a graceful shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("front door on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("front door shutdown: requests still in flight after %s: %w", grace, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("front door on %s: %w", ln.Addr(), err)
	}
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n")
}

// interactions is Slack's interactivity request URL: a form with one field, payload, holding the
// interaction's JSON (https://api.slack.com/interactivity/handling#payloads).
func (s *Server) interactions(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, fmt.Sprintf("request body over %d bytes", tooBig.Limit), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "read request body", http.StatusBadRequest)
		return
	}
	if err := verify(r.Header, body, s.cfg.SigningSecret, s.cfg.Now()); err != nil {
		s.log.Warn("front door: refused an unverified Slack request", "remote", r.RemoteAddr, "reason", err)
		http.Error(w, "request not verified as Slack's", http.StatusUnauthorized)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		http.Error(w, "want a form with a payload field", http.StatusBadRequest)
		return
	}
	var ic slack.InteractionCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &ic); err != nil {
		s.log.Warn("front door: malformed interaction payload", "error", err)
		http.Error(w, "payload is not a Slack interaction", http.StatusBadRequest)
		return
	}
	ack := s.cfg.Interactions.Handle(ic)
	if b := ack.Body(); b != nil {
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
		return
	}
	w.WriteHeader(http.StatusOK)
}
