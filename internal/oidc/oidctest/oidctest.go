// Package oidctest is a fake OpenID Connect issuer for tests: an HTTP server publishing a discovery
// document (OpenID Connect Discovery 1.0 §4: issuer, jwks_uri) and a JWKS (RFC 7517) with RSA and EC
// signing keys, and a signer of compact JWTs (RFC 7515 §7.1, RFC 7518 §3.3/§3.4 signatures) with the
// claims a test chooses. Keys can be rotated, and JWKS fetches are counted.
package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Issuer is a running fake issuer.
type Issuer struct {
	// URL is the issuer URL (the iss of its tokens).
	URL string

	t       testing.TB
	mu      sync.Mutex
	rsa     map[string]*rsa.PrivateKey
	ec      map[string]*ecdsa.PrivateKey
	fetches atomic.Int64
}

// New starts an issuer with one RSA key ("rsa-1") and one P-256 key ("ec-1"), stopped when the test ends.
func New(t testing.TB) *Issuer {
	t.Helper()
	iss := &Issuer{t: t, rsa: map[string]*rsa.PrivateKey{}, ec: map[string]*ecdsa.PrivateKey{}}
	iss.AddRSAKey("rsa-1")
	iss.AddECKey("ec-1")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                                iss.URL,
			"jwks_uri":                              iss.URL + "/keys",
			"authorization_endpoint":                iss.URL + "/authorize",
			"token_endpoint":                        iss.URL + "/token",
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		iss.fetches.Add(1)
		writeJSON(w, iss.jwks())
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss.URL = srv.URL
	return iss
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// JWKSURL is where the issuer publishes its keys.
func (iss *Issuer) JWKSURL() string { return iss.URL + "/keys" }

// Fetches counts the requests for the JWKS so far.
func (iss *Issuer) Fetches() int { return int(iss.fetches.Load()) }

// AddRSAKey publishes a new 2048-bit RSA key under kid.
func (iss *Issuer) AddRSAKey(kid string) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		iss.t.Fatal(err)
	}
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.rsa[kid] = k
}

// AddECKey publishes a new P-256 key under kid.
func (iss *Issuer) AddECKey(kid string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		iss.t.Fatal(err)
	}
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.ec[kid] = k
}

// RemoveKey stops publishing kid.
func (iss *Issuer) RemoveKey(kid string) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	delete(iss.rsa, kid)
	delete(iss.ec, kid)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (iss *Issuer) jwks() map[string]any {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	var keys []map[string]any
	for kid, k := range iss.rsa {
		keys = append(keys, map[string]any{
			"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
			"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes()),
		})
	}
	for kid, k := range iss.ec {
		pub, err := k.PublicKey.Bytes() // 0x04 ‖ X ‖ Y
		if err != nil {
			iss.t.Fatal(err)
		}
		keys = append(keys, map[string]any{
			"kty": "EC", "use": "sig", "alg": "ES256", "kid": kid, "crv": "P-256",
			"x": b64(pub[1:33]), "y": b64(pub[33:]),
		})
	}
	// A key a resource server must skip: an encryption key.
	keys = append(keys, map[string]any{"kty": "RSA", "use": "enc", "kid": "enc-1", "n": "AQAB", "e": "AQAB"})
	return map[string]any{"keys": keys}
}

// Claims are a token's claims; Token fills iss, sub, iat and exp when they are absent.
type Claims map[string]any

// Token signs claims with the key kid (RS256 for an RSA key, ES256 for an EC key). Unset iss, sub, exp and
// iat default to this issuer, "alice@example.com", now + 5 minutes and now.
func (iss *Issuer) Token(kid string, claims Claims) string {
	iss.t.Helper()
	full := Claims{"iss": iss.URL, "sub": "alice@example.com", "iat": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix()}
	for k, v := range claims {
		if v == nil {
			delete(full, k)
			continue
		}
		full[k] = v
	}
	iss.mu.Lock()
	rk, ek := iss.rsa[kid], iss.ec[kid]
	iss.mu.Unlock()
	alg := "RS256"
	if ek != nil {
		alg = "ES256"
	} else if rk == nil {
		iss.t.Fatalf("oidctest: no key %q", kid)
	}
	hdr, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT", "kid": kid})
	body, _ := json.Marshal(full)
	signed := b64(hdr) + "." + b64(body)
	sum := sha256.Sum256([]byte(signed))
	var sig []byte
	var err error
	if rk != nil {
		sig, err = rsa.SignPKCS1v15(rand.Reader, rk, crypto.SHA256, sum[:])
	} else {
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, ek, sum[:])
		if err == nil {
			sig = make([]byte, 64)
			r.FillBytes(sig[:32])
			s.FillBytes(sig[32:])
		}
	}
	if err != nil {
		iss.t.Fatal(err)
	}
	return signed + "." + b64(sig)
}

// Unsigned is a token with alg "none" and no signature.
func (iss *Issuer) Unsigned(claims Claims) string {
	hdr, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	full := Claims{"iss": iss.URL, "sub": "mallory", "exp": time.Now().Add(5 * time.Minute).Unix()}
	for k, v := range claims {
		full[k] = v
	}
	body, _ := json.Marshal(full)
	return fmt.Sprintf("%s.%s.", b64(hdr), b64(body))
}
