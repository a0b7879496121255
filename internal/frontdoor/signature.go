package frontdoor

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Slack's request signing: https://api.slack.com/authentication/verifying-requests-from-slack
const (
	headerSignature = "X-Slack-Signature"
	headerTimestamp = "X-Slack-Request-Timestamp"
	signaturePrefix = "v0="
	// MaxSkew is how far a request's timestamp may be from the front door's clock, either way. Slack
	// recommends five minutes; an older request may be a replay.
	MaxSkew = 5 * time.Minute
)

func mac(secret, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "v0:%s:", timestamp)
	m.Write(body)
	return m.Sum(nil)
}

// verify checks that a request comes from Slack: both headers present, a timestamp within MaxSkew of now,
// and a signature that matches the raw body, compared in constant time.
func verify(h http.Header, body []byte, secret string, now time.Time) error {
	if secret == "" {
		return errors.New("no signing secret configured")
	}
	sig, ts := h.Get(headerSignature), h.Get(headerTimestamp)
	if sig == "" || ts == "" {
		return fmt.Errorf("missing %s or %s header", headerSignature, headerTimestamp)
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%s %q is not a Unix time", headerTimestamp, ts)
	}
	if skew := now.Sub(time.Unix(secs, 0)); skew > MaxSkew || skew < -MaxSkew {
		return fmt.Errorf("%s is %s from now, more than %s: a stale or replayed request", headerTimestamp, skew.Round(time.Second), MaxSkew)
	}
	hexSig, ok := strings.CutPrefix(sig, signaturePrefix)
	if !ok {
		return fmt.Errorf("%s is not a v0 signature", headerSignature)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || !hmac.Equal(got, mac(secret, ts, body)) {
		return fmt.Errorf("%s does not match the body", headerSignature)
	}
	return nil
}
