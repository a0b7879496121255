package frontdoor

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// How senders authenticate to the intake: a bearer token, or an HMAC signature of the request.
//
//	Authorization: Bearer <PARRY_INTAKE_TOKEN>
//
//	X-Parry-Timestamp: <unix seconds>
//	X-Parry-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with PARRY_INTAKE_HMAC_SECRET>
//
// The timestamp must be within MaxSkew (5 minutes) of the front door's clock. Secrets are compared in
// constant time and never appear in answers or logs. A signed request replayed within the 5 minutes can
// only repeat its alert, which is then a duplicate of the run it started. A GET is signed over an empty body.
const (
	HeaderIntakeTimestamp = "X-Parry-Timestamp"
	HeaderIntakeSignature = "X-Parry-Signature"
	intakeSigPrefix       = "sha256="
	intakeRealm           = "parry-intake"
)

// SignIntake signs an intake request body as of t: the values of X-Parry-Timestamp and X-Parry-Signature.
func SignIntake(secret string, t time.Time, body []byte) (timestamp, signature string) {
	timestamp = strconv.FormatInt(t.Unix(), 10)
	return timestamp, intakeSigPrefix + hex.EncodeToString(intakeMAC(secret, timestamp, body))
}

func intakeMAC(secret, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// equalSecret compares a presented secret with the configured one in constant time, lengths included: both
// are hashed first, so neither their contents nor their lengths show in the timing.
func equalSecret(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return hmac.Equal(g[:], w[:])
}

// authenticated checks a request's credentials and returns its body (read for the signature check, and
// bounded by the server's MaxBody). On refusal it has answered: 401 with WWW-Authenticate naming the
// schemes configured, 403 for a non-loopback caller of the dev intake, or the body's 413/400.
func (in *Intake) authenticated(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	token, hmacSecret := in.cfg.Token, in.cfg.HMACSecret
	if token == "" && hmacSecret == "" {
		// The dev intake, like the dev codec: loopback callers, for a loopback host name (a page that rebinds
		// its own name to 127.0.0.1 reaches loopback too, under its own Host).
		if !loopbackRemote(r.RemoteAddr) || !loopbackHost(r.Host) {
			in.log.Warn("intake: refused a non-loopback caller of the dev intake", "remote", r.RemoteAddr, "host", r.Host)
			in.refuse(w, http.StatusForbidden, IntakeError{Error: fmt.Sprintf("the dev intake answers loopback callers only, not %s for %q: "+
				"set PARRY_INTAKE_TOKEN or PARRY_INTAKE_HMAC_SECRET to take alerts from other hosts", r.RemoteAddr, r.Host)})
			return nil, false
		}
		return in.readBody(w, r)
	}

	auth := r.Header.Get("Authorization")
	ts, sig := r.Header.Get(HeaderIntakeTimestamp), r.Header.Get(HeaderIntakeSignature)
	signed := ts != "" || sig != ""
	var reasons []string
	tokenOK := false
	if auth != "" {
		scheme, presented, _ := strings.Cut(auth, " ")
		switch {
		case token == "":
			reasons = append(reasons, "this front door takes no bearer token: sign the request with "+HeaderIntakeTimestamp+" and "+HeaderIntakeSignature)
		case !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(presented) == "":
			reasons = append(reasons, "the Authorization header is not a bearer token: send Authorization: Bearer <PARRY_INTAKE_TOKEN>")
		case equalSecret(strings.TrimSpace(presented), token):
			tokenOK = true
		default:
			reasons = append(reasons, "wrong bearer token: send the value of PARRY_INTAKE_TOKEN this front door was started with")
		}
	}
	if !tokenOK && !signed {
		if auth == "" {
			reasons = append(reasons, "no credentials: "+in.howToAuthenticate())
		}
		in.unauthorized(w, r, auth != "", reasons)
		return nil, false
	}
	body, ok := in.readBody(w, r)
	if !ok || tokenOK {
		return body, ok
	}
	if hmacSecret == "" {
		reasons = append(reasons, "this front door takes no signed requests: send Authorization: Bearer <PARRY_INTAKE_TOKEN>")
	} else if err := verifyIntake(ts, sig, body, hmacSecret, in.cfg.Now()); err != nil {
		reasons = append(reasons, err.Error())
	} else {
		return body, true
	}
	in.unauthorized(w, r, auth != "", reasons)
	return nil, false
}

func (in *Intake) howToAuthenticate() string {
	var ways []string
	if in.cfg.Token != "" {
		ways = append(ways, "send Authorization: Bearer <PARRY_INTAKE_TOKEN>")
	}
	if in.cfg.HMACSecret != "" {
		ways = append(ways, "sign the request: "+HeaderIntakeTimestamp+": <unix seconds> and "+HeaderIntakeSignature+
			`: sha256=<hex HMAC-SHA256 of the timestamp, ".", and the body, keyed with PARRY_INTAKE_HMAC_SECRET>`)
	}
	return strings.Join(ways, ", or ")
}

// unauthorized answers 401 with a challenge per scheme configured (RFC 9110 §11.6.1).
func (in *Intake) unauthorized(w http.ResponseWriter, r *http.Request, badToken bool, reasons []string) {
	in.stats.unauthorized.Add(1)
	if in.cfg.Token != "" {
		c := `Bearer realm="` + intakeRealm + `"`
		if badToken {
			c += `, error="invalid_token"`
		}
		w.Header().Add("WWW-Authenticate", c)
	}
	if in.cfg.HMACSecret != "" {
		w.Header().Add("WWW-Authenticate", `Parry-HMAC realm="`+intakeRealm+`", headers="`+HeaderIntakeTimestamp+` `+HeaderIntakeSignature+`"`)
	}
	msg := strings.Join(reasons, "; ")
	in.log.Warn("intake: refused an unauthenticated request", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", msg)
	in.refuse(w, http.StatusUnauthorized, IntakeError{Error: msg})
}

// verifyIntake checks a request signature: both headers, a timestamp within MaxSkew of now, and an HMAC of
// the timestamp and the raw body that matches, compared in constant time.
func verifyIntake(ts, sig string, body []byte, secret string, now time.Time) error {
	if ts == "" || sig == "" {
		missing := HeaderIntakeTimestamp
		if sig == "" {
			missing = HeaderIntakeSignature
		}
		return fmt.Errorf("bad signature: missing %s: send both %s and %s", missing, HeaderIntakeTimestamp, HeaderIntakeSignature)
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("bad signature: %s %q is not a Unix time in seconds", HeaderIntakeTimestamp, ts)
	}
	if skew := now.Sub(time.Unix(secs, 0)); skew > MaxSkew || skew < -MaxSkew {
		return fmt.Errorf("stale signature: %s is %s from the front door's clock, more than %s: sign each request when it is sent (and check the sender's clock)",
			HeaderIntakeTimestamp, skew.Round(time.Second), MaxSkew)
	}
	hexSig, ok := strings.CutPrefix(sig, intakeSigPrefix)
	if !ok {
		return fmt.Errorf("bad signature: %s must be sha256=<hex digest>", HeaderIntakeSignature)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || !hmac.Equal(got, intakeMAC(secret, ts, body)) {
		return fmt.Errorf(`bad signature: %s does not match: sign the timestamp, ".", and the exact body bytes with HMAC-SHA256 keyed with PARRY_INTAKE_HMAC_SECRET`, HeaderIntakeSignature)
	}
	return nil
}
