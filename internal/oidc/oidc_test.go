package oidc_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/parry-soc/parry/internal/oidc"
	"github.com/parry-soc/parry/internal/oidc/oidctest"
)

func verifier(t *testing.T, cfg oidc.Config) *oidc.Verifier {
	t.Helper()
	v, err := oidc.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifyAcceptsTokensSignedByTheIssuer(t *testing.T) {
	iss := oidctest.New(t)
	v := verifier(t, oidc.Config{Issuer: iss.URL, Audience: "parry-codec"})
	for _, kid := range []string{"rsa-1", "ec-1"} {
		t.Run(kid, func(t *testing.T) {
			c, err := v.Verify(context.Background(), iss.Token(kid, oidctest.Claims{"aud": []string{"other", "parry-codec"}, "email": "alice@example.com"}))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Subject != "alice@example.com" || c.Issuer != iss.URL || c.Name() != "alice@example.com" {
				t.Errorf("claims = %+v", c)
			}
		})
	}
	if n := iss.Fetches(); n != 1 {
		t.Errorf("JWKS fetched %d times, want once (cached)", n)
	}
}

func TestVerifyRefusesBadTokens(t *testing.T) {
	iss := oidctest.New(t)
	other := oidctest.New(t) // another issuer, with its own keys under the same kids
	other.AddECKey("ec-other")
	v := verifier(t, oidc.Config{Issuer: iss.URL, Audience: "parry-codec", Require: map[string]string{"groups": "soc"}})
	ok := oidctest.Claims{"aud": "parry-codec", "groups": []string{"staff", "soc"}}
	with := func(extra oidctest.Claims) oidctest.Claims {
		c := oidctest.Claims{}
		for k, v := range ok {
			c[k] = v
		}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	good := iss.Token("rsa-1", ok)
	parts := strings.Split(good, ".")
	now := time.Now()
	for _, tt := range []struct {
		name, token, want string
	}{
		{"not a JWT", "abc", "not a JWT"},
		{"alg none", iss.Unsigned(ok), `algorithm "none" is not accepted`},
		{"HS256", hs256(iss.URL), `algorithm "HS256" is not accepted`},
		{"signed by another issuer's key with the same kid", other.Token("rsa-1", with(oidctest.Claims{"iss": iss.URL})), "bad signature"},
		{"claims altered after signing", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+iss.URL+`","aud":"parry-codec","groups":["soc"],"exp":9999999999}`)) + "." + parts[2], "bad signature"},
		{"signature truncated", good[:len(good)-4], "bad signature"},
		{"key the issuer does not publish", other.Token("ec-other", with(oidctest.Claims{"iss": iss.URL})), `signed with key "ec-other", which the issuer does not publish`},
		{"token from another issuer", other.Token("rsa-1", ok), "bad signature"},
		{"expired", iss.Token("rsa-1", with(oidctest.Claims{"exp": now.Add(-2 * time.Minute).Unix()})), "expired at"},
		{"not yet valid", iss.Token("ec-1", with(oidctest.Claims{"nbf": now.Add(2 * time.Minute).Unix()})), "not valid before"},
		{"no exp", iss.Token("rsa-1", with(oidctest.Claims{"exp": nil})), "no exp"},
		{"wrong audience", iss.Token("rsa-1", with(oidctest.Claims{"aud": "someone-else"})), `audience "someone-else" is not "parry-codec"`},
		{"no audience", iss.Token("rsa-1", with(oidctest.Claims{"aud": nil})), "audience"},
		{"missing required claim", iss.Token("rsa-1", with(oidctest.Claims{"groups": []string{"staff"}})), "claim groups does not hold"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tt.token)
			var refused *oidc.TokenError
			if !errors.As(err, &refused) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Verify = %v, want a TokenError containing %q", err, tt.want)
			}
		})
	}
	// The issuer claim is checked, not only the key: a token from this issuer's key naming another issuer.
	_, err := v.Verify(context.Background(), iss.Token("rsa-1", with(oidctest.Claims{"iss": "https://evil.example"})))
	if err == nil || !strings.Contains(err.Error(), `issued by "https://evil.example"`) {
		t.Errorf("wrong iss = %v", err)
	}
}

// hs256 is a token "signed" with a shared secret: a resource server must never accept one (the classic
// attack uses the issuer's public key as the HMAC secret).
func hs256(iss string) string {
	b := base64.RawURLEncoding.EncodeToString
	return b([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + b([]byte(`{"iss":"`+iss+`","exp":9999999999}`)) + "." + b([]byte("sig"))
}

func TestVerifyToleratesSmallClockSkew(t *testing.T) {
	iss := oidctest.New(t)
	v := verifier(t, oidc.Config{Issuer: iss.URL})
	now := time.Now()
	for _, c := range []oidctest.Claims{
		{"exp": now.Add(-10 * time.Second).Unix()},
		{"nbf": now.Add(10 * time.Second).Unix()},
	} {
		if _, err := v.Verify(context.Background(), iss.Token("rsa-1", c)); err != nil {
			t.Errorf("Verify(%v) = %v, want accepted within the leeway", c, err)
		}
	}
}

// TestVerifyRefetchesKeysForANewKid: the issuer rotates its key; a token under the new kid makes the
// verifier fetch the keys again, but unknown kids do not make it fetch on every request.
func TestVerifyRefetchesKeysForANewKid(t *testing.T) {
	iss := oidctest.New(t)
	now := time.Now()
	clock := func() time.Time { return now }
	v := verifier(t, oidc.Config{Issuer: iss.URL, MinRefresh: time.Minute, Now: clock})
	ctx := context.Background()
	if _, err := v.Verify(ctx, iss.Token("rsa-1", nil)); err != nil {
		t.Fatal(err)
	}
	iss.AddRSAKey("rsa-2")
	iss.RemoveKey("rsa-1")
	// Within MinRefresh of the first fetch: not fetched again, refused.
	if _, err := v.Verify(ctx, iss.Token("rsa-2", nil)); err == nil || !strings.Contains(err.Error(), `signed with key "rsa-2", which the issuer does not publish`) {
		t.Errorf("new kid within MinRefresh = %v", err)
	}
	if n := iss.Fetches(); n != 1 {
		t.Errorf("fetches = %d, want 1", n)
	}
	now = now.Add(2 * time.Minute)
	if _, err := v.Verify(ctx, iss.Token("rsa-2", nil)); err != nil {
		t.Errorf("new kid after MinRefresh = %v, want accepted after a refetch", err)
	}
	// A stream of forged kids: no fetch until MinRefresh has passed again.
	for range 5 {
		if _, err := v.Verify(ctx, withKid(iss.Token("rsa-2", nil), "forged")); err == nil {
			t.Error("a token under a forged kid was accepted")
		}
	}
	if n := iss.Fetches(); n != 2 {
		t.Errorf("fetches = %d after repeated unknown kids, want 2 (the first, and the one for rsa-2)", n)
	}
}

func withKid(token, kid string) string {
	parts := strings.Split(token, ".")
	parts[0] = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT","kid":"` + kid + `"}`))
	return strings.Join(parts, ".")
}

func TestVerifierConfiguration(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  oidc.Config
		want string
	}{
		{"no issuer", oidc.Config{}, "no OIDC issuer"},
		{"plain http off loopback", oidc.Config{Issuer: "http://idp.example.com"}, "must be https"},
		{"JWKS over plain http off loopback", oidc.Config{Issuer: "https://idp.example.com", JWKSURL: "http://idp.example.com/keys"}, "must be https"},
		{"relative", oidc.Config{Issuer: "idp.example.com"}, "not an absolute URL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := oidc.NewVerifier(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewVerifier = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestVerifyWithoutTheIssuersKeys: when the keys cannot be had, the error is not a TokenError (the
// front door answers 503, not 401), and a discovery document for another issuer is not trusted.
func TestVerifyWithoutTheIssuersKeys(t *testing.T) {
	iss := oidctest.New(t)
	down := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(down.Close)
	// An impostor whose discovery document claims to be iss, to have its keys trusted for iss's name.
	impostor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"issuer":"` + iss.URL + `","jwks_uri":"` + iss.JWKSURL() + `"}`))
	}))
	t.Cleanup(impostor.Close)
	for _, tt := range []struct {
		name string
		cfg  oidc.Config
		want string
	}{
		{"no discovery document", oidc.Config{Issuer: down.URL}, "OIDC discovery"},
		{"discovery names another issuer", oidc.Config{Issuer: impostor.URL}, "names issuer"},
		{"JWKS missing", oidc.Config{Issuer: iss.URL, JWKSURL: down.URL + "/keys"}, "fetch the issuer's keys"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := verifier(t, tt.cfg).Verify(context.Background(), iss.Token("rsa-1", oidctest.Claims{"iss": tt.cfg.Issuer}))
			var refused *oidc.TokenError
			if err == nil || errors.As(err, &refused) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Verify = %v, want a non-token error containing %q", err, tt.want)
			}
		})
	}
	// The JWKS given directly, skipping discovery.
	if _, err := verifier(t, oidc.Config{Issuer: iss.URL, JWKSURL: iss.JWKSURL()}).Verify(context.Background(), iss.Token("ec-1", nil)); err != nil {
		t.Errorf("Verify with JWKSURL = %v", err)
	}
}
