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
	"net/netip"
	"slices"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/parry-soc/parry/internal/oidc"
)

// CodecPath is where the codec endpoints are mounted: the URL to give the Temporal Web UI (its codec
// endpoint setting) or `temporal --codec-endpoint` is the front door's base URL followed by CodecPath.
// Clients append /encode or /decode.
const CodecPath = "/codec"

// DefaultCodecOrigins are the origins of the dev server's Web UI, allowed by default.
var DefaultCodecOrigins = []string{"http://127.0.0.1:8233", "http://localhost:8233"}

// codecAllowHeaders are the request headers the Web UI sends: X-Namespace always, Authorization with
// "pass access token", Authorization-Extras when it also has an ID token (ui-server v2.54 codec client).
const codecAllowHeaders = "Content-Type, X-Namespace, Authorization, Authorization-Extras"

// TokenVerifier verifies a bearer token; *oidc.Verifier is Parry's. A *oidc.TokenError means the token is
// refused; other errors mean it could not be checked.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (oidc.Claims, error)
}

var _ TokenVerifier = (*oidc.Verifier)(nil)

// CodecConfig configures the codec endpoints.
type CodecConfig struct {
	// Codec encodes and decodes payloads (Parry's *codec.Codec).
	Codec converter.PayloadCodec
	// Dev answers callers on loopback only and checks no token: the dev server's Web UI passes none over
	// plain http. Otherwise Tokens must be set.
	Dev bool
	// Tokens verifies the OIDC access token the Web UI passes (Authorization: Bearer). Every request needs
	// one outside Dev: decoding is what reveals the data, and encoding under Parry's key is what forges it.
	Tokens TokenVerifier
	// Origins are the browser origins (the Web UI's scheme://host:port) allowed to call the endpoints
	// (default DefaultCodecOrigins). A request carrying another Origin is refused.
	Origins []string
	// Namespace, when set, refuses requests whose X-Namespace names another namespace.
	Namespace string
	Logger    *slog.Logger
}

// Codec serves the Temporal remote codec protocol (POST …/encode and …/decode, protojson
// temporal.api.common.v1.Payloads in and out, X-Namespace naming the namespace) with CORS for the Web UI.
type Codec struct {
	cfg CodecConfig
	log *slog.Logger
}

// NewCodec checks the configuration: outside Dev, a token verifier is required.
func NewCodec(cfg CodecConfig) (*Codec, error) {
	if cfg.Codec == nil {
		return nil, errors.New("codec endpoints: no payload codec (set PARRY_PAYLOAD_KEYS)")
	}
	if !cfg.Dev && cfg.Tokens == nil {
		return nil, errors.New("codec endpoints: no token verifier: outside --dev the endpoints need PARRY_CODEC_OIDC_ISSUER so that only signed-in users can decode")
	}
	origins := cfg.Origins
	if len(origins) == 0 {
		origins = DefaultCodecOrigins
	}
	cfg.Origins = make([]string, len(origins)) // the caller's list is left as it was given
	for i, o := range origins {
		cfg.Origins[i] = strings.TrimSuffix(o, "/")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Codec{cfg: cfg, log: cfg.Logger}, nil
}

// Register mounts the endpoints and their CORS preflights under CodecPath, and under
// CodecPath/{namespace} for clients that put the namespace in the URL (the Temporal CLI's
// --codec-endpoint 'https://…/codec/{namespace}'); any other method is answered 405 by the mux.
func (c *Codec) Register(s *Server) {
	for _, op := range []string{"encode", "decode"} {
		for _, path := range []string{CodecPath + "/" + op, CodecPath + "/{namespace}/" + op} {
			s.Handle("POST "+path, c.handler(op))
			s.Handle("OPTIONS "+path, http.HandlerFunc(c.preflight))
		}
	}
}

// codecError is the JSON body of a refusal.
type codecError struct {
	Error string `json:"error"`
}

func (c *Codec) fail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(codecError{Error: msg})
}

// cors sets the CORS answer for an allowed Origin and reports whether the origin (if any) is allowed.
func (c *Codec) cors(w http.ResponseWriter, r *http.Request) bool {
	w.Header().Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser's cross-origin request (the temporal CLI, curl)
	}
	if !slices.Contains(c.cfg.Origins, origin) {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	return true
}

// preflight answers the browser's CORS preflight for an allowed origin.
func (c *Codec) preflight(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Origin") == "" || !c.cors(w, r) {
		c.log.Warn("codec: refused a preflight from an origin not allowed", "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
		c.fail(w, http.StatusForbidden, fmt.Sprintf("origin %q may not call the codec endpoints (allowed: %s; set PARRY_CODEC_CORS_ORIGINS)",
			r.Header.Get("Origin"), strings.Join(c.cfg.Origins, ", ")))
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", codecAllowHeaders)
	h.Set("Access-Control-Max-Age", "600")
	// Chrome's Private Network Access: a UI on a public origin calling a codec server on a private address.
	if r.Header.Get("Access-Control-Request-Private-Network") == "true" {
		h.Set("Access-Control-Allow-Private-Network", "true")
	}
	w.WriteHeader(http.StatusNoContent)
}

func (c *Codec) handler(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !c.cors(w, r) {
			c.log.Warn("codec: refused a request from an origin not allowed", "op", op, "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
			c.fail(w, http.StatusForbidden, fmt.Sprintf("origin %q may not call the codec endpoints", r.Header.Get("Origin")))
			return
		}
		who, status, err := c.authorize(r)
		if err != nil {
			c.log.Warn("codec: refused", "op", op, "remote", r.RemoteAddr, "status", status, "reason", err)
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="parry-codec", error="invalid_token"`)
			}
			c.fail(w, status, err.Error())
			return
		}
		// The namespace is named by the X-Namespace header (the Web UI) or the path (CLI templating); either
		// naming another namespace than the one served is refused.
		ns := r.Header.Get("X-Namespace")
		for _, n := range []string{ns, r.PathValue("namespace")} {
			if c.cfg.Namespace != "" && n != "" && n != c.cfg.Namespace {
				c.log.Warn("codec: refused another namespace", "op", op, "namespace", n, "caller", who)
				c.fail(w, http.StatusForbidden, fmt.Sprintf("this codec serves namespace %s, not %s", c.cfg.Namespace, n))
				return
			}
		}
		if ns == "" {
			ns = r.PathValue("namespace")
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				c.fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", tooBig.Limit))
				return
			}
			c.fail(w, http.StatusBadRequest, "read request body")
			return
		}
		var in commonpb.Payloads
		if err := protojson.Unmarshal(body, &in); err != nil {
			c.fail(w, http.StatusBadRequest, `want {"payloads": [...]}: temporal.api.common.v1.Payloads as protobuf JSON`)
			return
		}
		var out []*commonpb.Payload
		if op == "encode" {
			out, err = c.cfg.Codec.Encode(in.Payloads)
		} else {
			out, err = c.cfg.Codec.Decode(in.Payloads)
		}
		if err != nil {
			// The codec's errors name key ids, never key material or plaintext.
			c.log.Warn("codec: "+op+" failed", "caller", who, "namespace", ns, "error", err)
			c.fail(w, http.StatusBadRequest, err.Error())
			return
		}
		resp, err := protojson.Marshal(&commonpb.Payloads{Payloads: out})
		if err != nil {
			c.fail(w, http.StatusInternalServerError, "encode the response")
			return
		}
		// Who decoded what is the access log of the plaintext.
		c.log.Info("codec: "+op, "caller", who, "namespace", ns, "payloads", len(out), "remote", r.RemoteAddr)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(resp)
	}
}

// authorize returns who the caller is, or the status and reason of a refusal.
func (c *Codec) authorize(r *http.Request) (string, int, error) {
	if c.cfg.Dev {
		if !loopbackRemote(r.RemoteAddr) {
			return "", http.StatusForbidden, fmt.Errorf("the dev codec answers loopback callers only, not %s", r.RemoteAddr)
		}
		// A page that rebinds its own name to 127.0.0.1 reaches loopback too, under its own Host.
		if !loopbackHost(r.Host) {
			return "", http.StatusForbidden, fmt.Errorf("the dev codec answers requests for a loopback host only, not %q", r.Host)
		}
		return "loopback (dev)", 0, nil
	}
	auth := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(auth, " ")
	if auth == "" {
		return "", http.StatusUnauthorized, errors.New("no bearer token: sign in to the Web UI and enable its codec setting \"pass access token\" (the UI passes it to https endpoints only)")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", http.StatusUnauthorized, errors.New("the Authorization header is not a bearer token")
	}
	claims, err := c.cfg.Tokens.Verify(r.Context(), strings.TrimSpace(token))
	if err != nil {
		var refused *oidc.TokenError
		if errors.As(err, &refused) {
			return "", http.StatusUnauthorized, err
		}
		return "", http.StatusServiceUnavailable, fmt.Errorf("cannot check tokens now: %w", err)
	}
	return claims.Name(), 0, nil
}

func loopbackRemote(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
