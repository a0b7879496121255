// Package oidc verifies OpenID Connect access tokens (JWTs) the way a resource server does: the signature
// against the issuer's published keys (JWKS, found through OIDC discovery or configured directly), then
// the issuer, the expiry and not-before times with a small leeway, and optionally the audience and other
// claims. It is the front door's check of the bearer token the Temporal Web UI passes to the codec
// endpoint.
//
// Signatures: RS256/384/512, PS256/384/512 (RSA keys of 2048 bits or more) and ES256/384/512. "none" and
// the HMAC algorithms are refused: a resource server holds no shared secret with the issuer.
//
// Keys are fetched on first use and cached; a token signed by a key id the cache does not know triggers
// a refetch (at most once per Config.MinRefresh), so the issuer's key rotation needs no restart. The cache
// is also refreshed after Config.MaxAge.
//
// Standard library only (crypto/rsa, crypto/ecdsa, encoding/json): the token formats are RFC 7515
// (JWS compact serialization), RFC 7517/7518 (JWK, algorithms), RFC 7519 (JWT claims) and OpenID Connect
// Discovery 1.0.
package oidc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults applied by NewVerifier.
const (
	DefaultLeeway     = 30 * time.Second
	DefaultMinRefresh = 30 * time.Second
	DefaultMaxAge     = time.Hour
	// maxDocument bounds a discovery document or a JWKS.
	maxDocument = 1 << 20
	// maxToken bounds a token: real ones are a few kilobytes.
	maxToken = 16 << 10
)

// Config says whose tokens a Verifier accepts.
type Config struct {
	// Issuer is the OIDC issuer URL; a token's iss must equal it exactly. Required.
	Issuer string
	// JWKSURL is where the issuer publishes its keys. Empty: the jwks_uri of the issuer's discovery
	// document (Issuer + "/.well-known/openid-configuration").
	JWKSURL string
	// Audience, when set, must be one of the token's aud values.
	Audience string
	// Require lists further claims the token must carry: a string claim equal to the value, or an array
	// claim containing it (e.g. groups=soc-responders).
	Require map[string]string
	// Leeway tolerates clock skew in exp and nbf (default DefaultLeeway).
	Leeway time.Duration
	// MinRefresh bounds how often an unknown key id makes the keys be fetched again (default
	// DefaultMinRefresh), so a stream of forged key ids cannot turn into a stream of fetches.
	MinRefresh time.Duration
	// MaxAge is how long fetched keys are used before they are fetched again (default DefaultMaxAge).
	MaxAge time.Duration
	// HTTPClient fetches discovery and keys (default: a client with a 10 s timeout).
	HTTPClient *http.Client
	// Now is the clock tokens are checked against (default time.Now).
	Now func() time.Time
}

// Claims are the verified claims of a token.
type Claims struct {
	Issuer   string
	Subject  string
	Audience []string
	Expiry   time.Time
	// Raw holds every claim as decoded JSON.
	Raw map[string]any
}

// Name is who the token speaks for, for logs: its email or preferred_username when present, else subject.
func (c Claims) Name() string {
	for _, k := range []string{"email", "preferred_username"} {
		if s, ok := c.Raw[k].(string); ok && s != "" {
			return s
		}
	}
	return c.Subject
}

// TokenError is a token that is not accepted: malformed, badly signed, expired, or for someone else. Its
// message says why without echoing the token.
type TokenError struct{ Reason string }

func (e *TokenError) Error() string { return "token refused: " + e.Reason }

func refuse(format string, args ...any) error {
	return &TokenError{Reason: fmt.Sprintf(format, args...)}
}

// Verifier verifies tokens from one issuer. It is safe for concurrent use.
type Verifier struct {
	cfg Config

	mu       sync.Mutex
	jwksURL  string
	keys     map[string]jwk // by kid
	anon     []jwk          // keys without a kid
	fetched  time.Time
	lastTry  time.Time
	fetchErr error
}

// NewVerifier checks the configuration; it fetches nothing until the first token.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("no OIDC issuer: tokens' iss is checked against it")
	}
	if err := checkURL("issuer", cfg.Issuer); err != nil {
		return nil, err
	}
	if cfg.JWKSURL != "" {
		if err := checkURL("JWKS URL", cfg.JWKSURL); err != nil {
			return nil, err
		}
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.MinRefresh <= 0 {
		cfg.MinRefresh = DefaultMinRefresh
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Verifier{cfg: cfg, jwksURL: cfg.JWKSURL}, nil
}

// checkURL wants https, except on loopback (a local issuer in development and tests).
func checkURL(what, s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("OIDC %s %q is not an absolute URL", what, s)
	}
	if u.Scheme == "https" {
		return nil
	}
	if u.Scheme == "http" && isLoopbackHost(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("OIDC %s %q must be https (plain http only on loopback): keys fetched in the clear could be swapped", what, s)
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// header is a JWS protected header.
type header struct {
	Alg  string `json:"alg"`
	Kid  string `json:"kid"`
	Typ  string `json:"typ"`
	Crit []any  `json:"crit"`
}

// Verify checks a compact JWT and returns its claims. A *TokenError says the token is not accepted; any
// other error means the issuer's keys could not be had, and nothing is known about the token.
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	if len(token) > maxToken {
		return Claims{}, refuse("over %d bytes", maxToken)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Claims{}, refuse("not a JWT (want three dot-separated parts)")
	}
	var h header
	if err := decodeSegment(parts[0], &h); err != nil {
		return Claims{}, refuse("header: %v", err)
	}
	alg, ok := algorithms[h.Alg]
	if !ok {
		return Claims{}, refuse("signature algorithm %q is not accepted (want RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or ES512)", h.Alg)
	}
	if len(h.Crit) > 0 {
		return Claims{}, refuse("header names critical extensions this verifier does not know")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return Claims{}, refuse("signature is not base64url")
	}
	keys, err := v.keysFor(ctx, h.Kid)
	if err != nil {
		return Claims{}, err
	}
	signed := []byte(parts[0] + "." + parts[1])
	verified := false
	for _, k := range keys {
		if k.Alg != "" && k.Alg != h.Alg {
			continue
		}
		if alg.verify(k, signed, sig) {
			verified = true
			break
		}
	}
	if !verified {
		if h.Kid != "" && len(keys) == 0 {
			return Claims{}, refuse("signed with key %q, which the issuer does not publish", truncate(h.Kid))
		}
		return Claims{}, refuse("bad signature")
	}
	var raw map[string]any
	dec := json.NewDecoder(strings.NewReader(mustSegment(parts[1])))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return Claims{}, refuse("claims are not a JSON object")
	}
	return v.checkClaims(raw)
}

func (v *Verifier) checkClaims(raw map[string]any) (Claims, error) {
	c := Claims{Raw: raw}
	c.Issuer, _ = raw["iss"].(string)
	c.Subject, _ = raw["sub"].(string)
	if c.Issuer != v.cfg.Issuer {
		return c, refuse("issued by %q, not %q", truncate(c.Issuer), v.cfg.Issuer)
	}
	now := v.cfg.Now()
	exp, ok, err := numericDate(raw, "exp")
	if err != nil {
		return c, err
	}
	if !ok {
		return c, refuse("no exp: tokens without an expiry are not accepted")
	}
	c.Expiry = exp
	if now.After(exp.Add(v.cfg.Leeway)) {
		return c, refuse("expired at %s", exp.UTC().Format(time.RFC3339))
	}
	nbf, ok, err := numericDate(raw, "nbf")
	if err != nil {
		return c, err
	}
	if ok && now.Add(v.cfg.Leeway).Before(nbf) {
		return c, refuse("not valid before %s", nbf.UTC().Format(time.RFC3339))
	}
	switch a := raw["aud"].(type) {
	case string:
		c.Audience = []string{a}
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok {
				c.Audience = append(c.Audience, s)
			}
		}
	}
	if v.cfg.Audience != "" && !slices.Contains(c.Audience, v.cfg.Audience) {
		return c, refuse("audience %q is not %q", truncate(strings.Join(c.Audience, ",")), v.cfg.Audience)
	}
	for name, want := range v.cfg.Require {
		if !claimHas(raw[name], want) {
			return c, refuse("claim %s does not hold %q", name, want)
		}
	}
	return c, nil
}

func numericDate(raw map[string]any, name string) (time.Time, bool, error) {
	v, ok := raw[name]
	if !ok {
		return time.Time{}, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false, refuse("%s is not a number", name)
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, false, refuse("%s is not a number", name)
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true, nil
}

func claimHas(v any, want string) bool {
	switch x := v.(type) {
	case string:
		return x == want
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok && s == want {
				return true
			}
		}
	}
	return false
}

// truncate keeps attacker-chosen strings short in messages and logs.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return errors.New("not base64url")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errors.New("not a JSON object")
	}
	return nil
}

func mustSegment(seg string) string {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return ""
	}
	return string(b)
}

// algorithm verifies one JWS algorithm.
type algorithm struct {
	hash crypto.Hash
	kind string // "RSA", "PSS" or "EC"
	crv  elliptic.Curve
}

var algorithms = map[string]algorithm{
	"RS256": {crypto.SHA256, "RSA", nil},
	"RS384": {crypto.SHA384, "RSA", nil},
	"RS512": {crypto.SHA512, "RSA", nil},
	"PS256": {crypto.SHA256, "PSS", nil},
	"PS384": {crypto.SHA384, "PSS", nil},
	"PS512": {crypto.SHA512, "PSS", nil},
	"ES256": {crypto.SHA256, "EC", elliptic.P256()},
	"ES384": {crypto.SHA384, "EC", elliptic.P384()},
	"ES512": {crypto.SHA512, "EC", elliptic.P521()},
}

func (a algorithm) verify(k jwk, signed, sig []byte) bool {
	digest := digest(a.hash, signed)
	switch a.kind {
	case "RSA", "PSS":
		if k.rsa == nil {
			return false
		}
		if a.kind == "RSA" {
			return rsa.VerifyPKCS1v15(k.rsa, a.hash, digest, sig) == nil
		}
		return rsa.VerifyPSS(k.rsa, a.hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	case "EC":
		if k.ec == nil || k.ec.Curve != a.crv {
			return false
		}
		// JWS ECDSA signatures are R ‖ S, each the curve's size in bytes (RFC 7518 §3.4), not ASN.1.
		size := (a.crv.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(k.ec, digest, r, s)
	}
	return false
}

func digest(h crypto.Hash, b []byte) []byte {
	switch h {
	case crypto.SHA384:
		d := sha512.Sum384(b)
		return d[:]
	case crypto.SHA512:
		d := sha512.Sum512(b)
		return d[:]
	default:
		d := sha256.Sum256(b)
		return d[:]
	}
}

// jwk is a usable verification key from a JWKS.
type jwk struct {
	Kid string
	Alg string
	rsa *rsa.PublicKey
	ec  *ecdsa.PublicKey
}

// keysFor returns the keys that may have signed a token with kid: the one with that id, or with no kid
// every key. An unknown kid refetches the keys, at most once per MinRefresh.
func (v *Verifier) keysFor(ctx context.Context, kid string) ([]jwk, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.cfg.Now()
	stale := v.keys == nil || now.Sub(v.fetched) > v.cfg.MaxAge
	_, known := v.keys[kid]
	if stale || (kid != "" && !known && now.Sub(v.lastTry) >= v.cfg.MinRefresh) {
		if err := v.fetch(ctx, now); err != nil && v.keys == nil {
			return nil, err
		}
	}
	if kid != "" {
		if k, ok := v.keys[kid]; ok {
			return []jwk{k}, nil
		}
		return nil, nil
	}
	all := append([]jwk(nil), v.anon...)
	for _, k := range v.keys {
		all = append(all, k)
	}
	return all, nil
}

// fetch reads the keys (finding the JWKS through discovery the first time). Called with v.mu held; on
// failure the keys fetched before stay in use.
func (v *Verifier) fetch(ctx context.Context, now time.Time) error {
	if v.keys == nil && v.fetchErr != nil && now.Sub(v.lastTry) < time.Second {
		return v.fetchErr // an unreachable issuer is not hammered by every request
	}
	v.lastTry = now
	err := v.fetchKeys(ctx)
	v.fetchErr = err
	if err == nil {
		v.fetched = now
	}
	return err
}

func (v *Verifier) fetchKeys(ctx context.Context) error {
	if v.jwksURL == "" {
		u, err := v.discover(ctx)
		if err != nil {
			return err
		}
		v.jwksURL = u
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := v.getJSON(ctx, v.jwksURL, &set); err != nil {
		return fmt.Errorf("fetch the issuer's keys: %w", err)
	}
	keys, anon := map[string]jwk{}, []jwk(nil)
	for _, raw := range set.Keys {
		k, ok := parseJWK(raw)
		if !ok {
			continue
		}
		if k.Kid == "" {
			anon = append(anon, k)
		} else {
			keys[k.Kid] = k
		}
	}
	if len(keys) == 0 && len(anon) == 0 {
		return fmt.Errorf("fetch the issuer's keys: %s holds no RSA or EC signing key", v.jwksURL)
	}
	v.keys, v.anon = keys, anon
	return nil
}

func (v *Verifier) discover(ctx context.Context) (string, error) {
	u := strings.TrimSuffix(v.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := v.getJSON(ctx, u, &doc); err != nil {
		return "", fmt.Errorf("OIDC discovery: %w", err)
	}
	// OpenID Connect Discovery 1.0 §4.3: the document's issuer must be the one asked for.
	if doc.Issuer != v.cfg.Issuer {
		return "", fmt.Errorf("OIDC discovery: %s names issuer %q, not %q", u, truncate(doc.Issuer), v.cfg.Issuer)
	}
	if doc.JWKSURI == "" {
		return "", fmt.Errorf("OIDC discovery: %s has no jwks_uri", u)
	}
	if err := checkURL("jwks_uri", doc.JWKSURI); err != nil {
		return "", fmt.Errorf("OIDC discovery: %w", err)
	}
	return doc.JWKSURI, nil
}

func (v *Verifier) getJSON(ctx context.Context, u string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if len(b) > maxDocument {
		return fmt.Errorf("GET %s: over %d bytes", u, maxDocument)
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return fmt.Errorf("GET %s: not JSON: %w", u, err)
	}
	return nil
}

// parseJWK reads an RSA or EC public key meant for signatures; other keys are skipped.
func parseJWK(raw json.RawMessage) (jwk, bool) {
	var k struct {
		Kty string `json:"kty"`
		Use string `json:"use"`
		Kid string `json:"kid"`
		Alg string `json:"alg"`
		N   string `json:"n"`
		E   string `json:"e"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Y   string `json:"y"`
	}
	if json.Unmarshal(raw, &k) != nil || (k.Use != "" && k.Use != "sig") {
		return jwk{}, false
	}
	out := jwk{Kid: k.Kid, Alg: k.Alg}
	b := func(s string) *big.Int {
		d, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
		if err != nil || len(d) == 0 {
			return nil
		}
		return new(big.Int).SetBytes(d)
	}
	switch k.Kty {
	case "RSA":
		n, e := b(k.N), b(k.E)
		if n == nil || e == nil || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || n.BitLen() < 2048 {
			return jwk{}, false
		}
		out.rsa = &rsa.PublicKey{N: n, E: int(e.Int64())}
	case "EC":
		var crv elliptic.Curve
		switch k.Crv {
		case "P-256":
			crv = elliptic.P256()
		case "P-384":
			crv = elliptic.P384()
		case "P-521":
			crv = elliptic.P521()
		default:
			return jwk{}, false
		}
		// The uncompressed point 0x04 ‖ X ‖ Y, each coordinate the curve's size; parsing checks that it
		// is on the curve.
		size := (crv.Params().BitSize + 7) / 8
		x, errX := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.X, "="))
		y, errY := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.Y, "="))
		if errX != nil || errY != nil || len(x) != size || len(y) != size {
			return jwk{}, false
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(crv, append(append([]byte{4}, x...), y...))
		if err != nil {
			return jwk{}, false
		}
		out.ec = pub
	default:
		return jwk{}, false
	}
	return out, true
}
