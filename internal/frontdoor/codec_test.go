package frontdoor_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/parry-soc/parry/internal/codec"
	"github.com/parry-soc/parry/internal/frontdoor"
	"github.com/parry-soc/parry/internal/oidc"
	"github.com/parry-soc/parry/internal/oidc/oidctest"
)

const uiOrigin = "http://127.0.0.1:8233"

type alertInput struct {
	Host, User string
}

func testCodec(t *testing.T) *codec.Codec {
	t.Helper()
	key, err := codec.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := codec.ParseKeyring("k1:" + key)
	if err != nil {
		t.Fatal(err)
	}
	return codec.New(keys)
}

// encrypted is a payload as a worker would have stored it.
func encrypted(t *testing.T, c *codec.Codec) *commonpb.Payload {
	t.Helper()
	p, err := c.DataConverter().ToPayload(alertInput{Host: "WS-0042", User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func payloadsBody(t *testing.T, ps ...*commonpb.Payload) string {
	t.Helper()
	b, err := protojson.Marshal(&commonpb.Payloads{Payloads: ps})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// codecServer is a front door with the codec endpoints mounted.
func codecServer(t *testing.T, cfg frontdoor.CodecConfig) *frontdoor.Server {
	t.Helper()
	s := frontdoor.New(frontdoor.Config{Logger: quiet()})
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	h, err := frontdoor.NewCodec(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.Register(s)
	return s
}

func issuerVerifier(t *testing.T, iss *oidctest.Issuer) *oidc.Verifier {
	t.Helper()
	v, err := oidc.NewVerifier(oidc.Config{Issuer: iss.URL, Audience: "parry"})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type codecReq struct {
	method, path, body string
	remote, host       string
	header             map[string]string
}

func (rq codecReq) do(s http.Handler) *httptest.ResponseRecorder {
	if rq.method == "" {
		rq.method = http.MethodPost
	}
	req := httptest.NewRequest(rq.method, rq.path, strings.NewReader(rq.body))
	req.RemoteAddr = "127.0.0.1:50123"
	if rq.remote != "" {
		req.RemoteAddr = rq.remote
	}
	if rq.host != "" {
		req.Host = rq.host
	} else {
		req.Host = "127.0.0.1:8080"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "default")
	for k, v := range rq.header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func decodedAlert(t *testing.T, body []byte) alertInput {
	t.Helper()
	var out commonpb.Payloads
	if err := protojson.Unmarshal(body, &out); err != nil {
		t.Fatalf("response is not protojson Payloads: %v\n%s", err, body)
	}
	if len(out.Payloads) != 1 {
		t.Fatalf("response has %d payloads, want 1", len(out.Payloads))
	}
	var a alertInput
	if err := converter.GetDefaultDataConverter().FromPayload(out.Payloads[0], &a); err != nil {
		t.Fatalf("decoded payload: %v", err)
	}
	return a
}

func jsonError(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var e struct{ Error string }
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
		t.Errorf("refusal body is not {\"error\": ...}: %s", rec.Body)
	}
	return e.Error
}

// TestCodecDecodesForASignedInUser: in production, a request carrying an access token from the issuer
// (signed with RS256 or ES256, for the configured audience) is decoded, and encode round-trips.
func TestCodecDecodesForASignedInUser(t *testing.T) {
	iss := oidctest.New(t)
	c := testCodec(t)
	s := codecServer(t, frontdoor.CodecConfig{Codec: c, Tokens: issuerVerifier(t, iss), Namespace: "default"})
	for _, kid := range []string{"rsa-1", "ec-1"} {
		rec := codecReq{path: "/codec/decode", body: payloadsBody(t, encrypted(t, c)), header: map[string]string{
			"Authorization": "Bearer " + iss.Token(kid, oidctest.Claims{"aud": "parry"}),
			"Origin":        uiOrigin,
		}}.do(s)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: decode = %d %s", kid, rec.Code, rec.Body)
		}
		if got := decodedAlert(t, rec.Body.Bytes()); got.Host != "WS-0042" || got.User != "alice" {
			t.Errorf("%s: decoded %+v", kid, got)
		}
		if got := rec.Header().Get("Access-Control-Allow-Origin"); got != uiOrigin {
			t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, uiOrigin)
		}
	}

	plain, _ := converter.GetDefaultDataConverter().ToPayload(alertInput{Host: "WS-0042"})
	rec := codecReq{path: "/codec/encode", body: payloadsBody(t, plain), header: map[string]string{"Authorization": "Bearer " + iss.Token("rsa-1", oidctest.Claims{"aud": "parry"})}}.do(s)
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "WS-0042") || !strings.Contains(rec.Body.String(), "YmluYXJ5L2VuY3J5cHRlZA") /* base64 of binary/encrypted */ {
		t.Errorf("encode = %d %s", rec.Code, rec.Body)
	}
}

// TestCodecRefusesWithoutAValidToken: in production no token, a forged, expired, foreign or mistargeted
// token is answered 401 with a JSON reason, and nothing is decoded.
func TestCodecRefusesWithoutAValidToken(t *testing.T) {
	iss := oidctest.New(t)
	other := oidctest.New(t)
	c := testCodec(t)
	s := codecServer(t, frontdoor.CodecConfig{Codec: c, Tokens: issuerVerifier(t, iss)})
	body := payloadsBody(t, encrypted(t, c))
	good := iss.Token("rsa-1", oidctest.Claims{"aud": "parry"})
	for _, tt := range []struct {
		name, auth, want string
	}{
		{"no token", "", "no bearer token"},
		{"not bearer", "Basic YWxpY2U6c2VjcmV0", "not a bearer token"},
		{"garbage", "Bearer abc.def", "not a JWT"},
		{"bad signature", "Bearer " + good[:len(good)-6] + "AAAAAA", "bad signature"},
		{"unsigned", "Bearer " + iss.Unsigned(oidctest.Claims{"aud": "parry"}), `algorithm "none"`},
		{"expired", "Bearer " + iss.Token("rsa-1", oidctest.Claims{"aud": "parry", "exp": time.Now().Add(-time.Hour).Unix()}), "expired"},
		{"wrong issuer", "Bearer " + other.Token("rsa-1", oidctest.Claims{"aud": "parry"}), "bad signature"},
		{"issuer's key, another iss", "Bearer " + iss.Token("rsa-1", oidctest.Claims{"aud": "parry", "iss": other.URL}), "issued by"},
		{"wrong audience", "Bearer " + iss.Token("ec-1", oidctest.Claims{"aud": "grafana"}), "audience"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, op := range []string{"decode", "encode"} {
				rec := codecReq{path: "/codec/" + op, body: body, header: map[string]string{"Authorization": tt.auth, "Origin": uiOrigin}}.do(s)
				if rec.Code != http.StatusUnauthorized {
					t.Fatalf("%s = %d %s, want 401", op, rec.Code, rec.Body)
				}
				if msg := jsonError(t, rec); !strings.Contains(msg, tt.want) {
					t.Errorf("%s error = %q, want it to contain %q", op, msg, tt.want)
				}
				if strings.Contains(rec.Body.String(), "WS-0042") {
					t.Errorf("%s refusal leaks plaintext", op)
				}
				if rec.Header().Get("WWW-Authenticate") == "" {
					t.Errorf("%s: no WWW-Authenticate", op)
				}
				// The UI can read the refusal (and show it) rather than see a CORS failure.
				if rec.Header().Get("Access-Control-Allow-Origin") != uiOrigin {
					t.Errorf("%s: refusal without CORS headers", op)
				}
			}
		})
	}
}

// TestCodecWhenTheIssuerIsDown answers 503: the token could not be checked, which is not the caller's
// fault.
func TestCodecWhenTheIssuerIsDown(t *testing.T) {
	iss := oidctest.New(t)
	down := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(down.Close)
	v, err := oidc.NewVerifier(oidc.Config{Issuer: iss.URL, JWKSURL: down.URL + "/keys"})
	if err != nil {
		t.Fatal(err)
	}
	c := testCodec(t)
	s := codecServer(t, frontdoor.CodecConfig{Codec: c, Tokens: v})
	rec := codecReq{path: "/codec/decode", body: payloadsBody(t, encrypted(t, c)), header: map[string]string{"Authorization": "Bearer " + iss.Token("rsa-1", nil)}}.do(s)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(jsonError(t, rec), "cannot check tokens") {
		t.Errorf("decode with the issuer down = %d %s, want 503", rec.Code, rec.Body)
	}
}

// TestDevCodecAnswersLoopbackOnly: in --dev no token is needed, but the caller must be on loopback and
// the request addressed to a loopback host (a DNS-rebound page reaches loopback under its own name).
func TestDevCodecAnswersLoopbackOnly(t *testing.T) {
	c := testCodec(t)
	s := codecServer(t, frontdoor.CodecConfig{Codec: c, Dev: true})
	body := payloadsBody(t, encrypted(t, c))
	for _, tt := range []struct {
		name, remote, host string
		want               int
	}{
		{"127.0.0.1", "127.0.0.1:50123", "127.0.0.1:8080", http.StatusOK},
		{"::1", "[::1]:50123", "localhost:8080", http.StatusOK},
		{"v4-mapped loopback", "[::ffff:127.0.0.1]:50123", "[::1]:8080", http.StatusOK},
		{"LAN address", "192.168.1.20:50123", "127.0.0.1:8080", http.StatusForbidden},
		{"documentation address", "203.0.113.9:443", "127.0.0.1:8080", http.StatusForbidden},
		{"loopback, rebound host name", "127.0.0.1:50123", "evil.example:8080", http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := codecReq{path: "/codec/decode", body: body, remote: tt.remote, host: tt.host}.do(s)
			if rec.Code != tt.want {
				t.Fatalf("decode from %s to %s = %d %s, want %d", tt.remote, tt.host, rec.Code, rec.Body, tt.want)
			}
			if tt.want == http.StatusOK {
				if got := decodedAlert(t, rec.Body.Bytes()); got.Host != "WS-0042" {
					t.Errorf("decoded %+v", got)
				}
			} else if strings.Contains(rec.Body.String(), "WS-0042") {
				t.Error("refusal leaks plaintext")
			}
		})
	}

	// Over a real socket, with the SDK's own remote codec client (what `temporal --codec-endpoint` uses).
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	remote := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{Endpoint: ts.URL + frontdoor.CodecPath})
	out, err := remote.Decode([]*commonpb.Payload{encrypted(t, c)})
	if err != nil {
		t.Fatalf("SDK remote codec: %v", err)
	}
	var a alertInput
	if err := converter.GetDefaultDataConverter().FromPayload(out[0], &a); err != nil || a.User != "alice" {
		t.Errorf("SDK remote codec decoded %+v, %v", a, err)
	}
}

func TestCodecCORS(t *testing.T) {
	c := testCodec(t)
	s := codecServer(t, frontdoor.CodecConfig{Codec: c, Dev: true, Origins: []string{"https://temporal.example.com/", uiOrigin}})
	preflight := func(origin string, extra map[string]string) *httptest.ResponseRecorder {
		h := map[string]string{"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-namespace,authorization"}
		for k, v := range extra {
			h[k] = v
		}
		return codecReq{method: http.MethodOptions, path: "/codec/decode", header: h}.do(s)
	}
	rec := preflight("https://temporal.example.com", map[string]string{"Access-Control-Request-Private-Network": "true"})
	if rec.Code != http.StatusNoContent {
		t.Fatalf("preflight = %d %s", rec.Code, rec.Body)
	}
	for k, want := range map[string]string{
		"Access-Control-Allow-Origin":          "https://temporal.example.com",
		"Access-Control-Allow-Credentials":     "true",
		"Access-Control-Allow-Methods":         "POST, OPTIONS",
		"Access-Control-Allow-Private-Network": "true",
	} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	allowed := rec.Header().Get("Access-Control-Allow-Headers")
	for _, h := range []string{"Content-Type", "X-Namespace", "Authorization", "Authorization-Extras"} {
		if !strings.Contains(allowed, h) {
			t.Errorf("Access-Control-Allow-Headers = %q, missing %s", allowed, h)
		}
	}
	if rec := preflight("https://evil.example", nil); rec.Code != http.StatusForbidden || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from an origin not allowed = %d, ACAO %q", rec.Code, rec.Header().Get("Access-Control-Allow-Origin"))
	}
	// A "simple" cross-site POST skips the preflight; its Origin still refuses it.
	rec = codecReq{path: "/codec/decode", body: payloadsBody(t, encrypted(t, c)), header: map[string]string{"Origin": "https://evil.example", "Content-Type": "text/plain"}}.do(s)
	if rec.Code != http.StatusForbidden || strings.Contains(rec.Body.String(), "WS-0042") {
		t.Errorf("POST from an origin not allowed = %d %s", rec.Code, rec.Body)
	}
}

func TestCodecRequests(t *testing.T) {
	c := testCodec(t)
	s := codecServer(t, frontdoor.CodecConfig{Codec: c, Dev: true, Namespace: "default"})
	other, err := codec.ParseKeyring("k7:" + mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	foreign := encrypted(t, codec.New(other))
	for _, tt := range []struct {
		name string
		rq   codecReq
		want int
		msg  string
	}{
		{"GET", codecReq{method: http.MethodGet, path: "/codec/decode"}, http.StatusMethodNotAllowed, ""},
		{"not JSON", codecReq{path: "/codec/decode", body: "payloads"}, http.StatusBadRequest, "protobuf JSON"},
		{"unknown key", codecReq{path: "/codec/decode", body: payloadsBody(t, foreign)}, http.StatusBadRequest, "payload encrypted with key k7, which PARRY_PAYLOAD_KEYS does not hold"},
		{"another namespace", codecReq{path: "/codec/decode", body: payloadsBody(t, encrypted(t, c)), header: map[string]string{"X-Namespace": "payments"}}, http.StatusForbidden, "serves namespace default, not payments"},
		{"no namespace header (temporal CLI)", codecReq{path: "/codec/decode", body: payloadsBody(t, encrypted(t, c)), header: map[string]string{"X-Namespace": ""}}, http.StatusOK, ""},
		{"namespace in the path", codecReq{path: "/codec/default/decode", body: payloadsBody(t, encrypted(t, c)), header: map[string]string{"X-Namespace": ""}}, http.StatusOK, ""},
		{"another namespace in the path", codecReq{path: "/codec/payments/decode", body: payloadsBody(t, encrypted(t, c))}, http.StatusForbidden, "serves namespace default, not payments"},
		{"unencrypted passes through", codecReq{path: "/codec/decode", body: `{"payloads":[{"metadata":{"encoding":"anNvbi9wbGFpbg=="},"data":"eyJIb3N0IjoiV1MtMDA0MiJ9"}]}`}, http.StatusOK, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.rq.do(s)
			if rec.Code != tt.want {
				t.Fatalf("= %d %s, want %d", rec.Code, rec.Body, tt.want)
			}
			if tt.msg != "" {
				if got := jsonError(t, rec); !strings.Contains(got, tt.msg) {
					t.Errorf("error %q, want it to contain %q", got, tt.msg)
				}
			}
		})
	}
	if _, err := frontdoor.NewCodec(frontdoor.CodecConfig{Codec: c}); err == nil || !strings.Contains(err.Error(), "PARRY_CODEC_OIDC_ISSUER") {
		t.Errorf("NewCodec outside dev without a verifier = %v, want an error naming PARRY_CODEC_OIDC_ISSUER", err)
	}
}

func mustKey(t *testing.T) string {
	k, err := codec.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
