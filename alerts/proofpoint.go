package alerts

import (
	"fmt"
	"slices"
	"strings"
)

// SourceProofpoint is the source name of Proofpoint TAP messages (the SIEM API's messagesDelivered and
// messagesBlocked events).
const SourceProofpoint = "proofpoint"

var proofpointFormat = Format{
	Name:      SourceProofpoint,
	Detect:    func(doc map[string]any) bool { return isProofpointEnvelope(doc) || isProofpointMessage(doc) },
	Normalize: normalizeProofpoint,
}

// proofpointLists are the lists of a SIEM API response (GET /v2/siem/all and its siblings).
var proofpointLists = []string{"messagesDelivered", "messagesBlocked", "clicksPermitted", "clicksBlocked"}

func isProofpointEnvelope(doc map[string]any) bool {
	for _, l := range proofpointLists {
		if _, ok := doc[l].([]any); ok {
			return true
		}
	}
	return false
}

// isProofpointMessage recognises one message event: its GUID and threatsInfoMap.
func isProofpointMessage(doc map[string]any) bool {
	return scalar(getFold(doc, "GUID")) != "" && getFold(doc, "threatsInfoMap") != nil
}

// proofpointMessage returns the message in a payload and the list it came from ("" for a bare message).
// One payload is one alert: a SIEM API response must hold exactly one message and no clicks, since taking
// the first of several would drop the rest without a word. Senders split a response and post each message
// by itself (as a bare message, or in a response of one).
func proofpointMessage(doc map[string]any) (map[string]any, string, error) {
	if !isProofpointEnvelope(doc) {
		return doc, "", nil
	}
	var msg map[string]any
	var from string
	var counts []string
	total := 0
	for _, l := range proofpointLists {
		list, _ := doc[l].([]any)
		if len(list) == 0 {
			continue
		}
		total += len(list)
		counts = append(counts, fmt.Sprintf("%d in %s", len(list), l))
		if len(list) == 1 && strings.HasPrefix(l, "messages") {
			msg, from = asObject(list[0]), l
		}
	}
	if total != 1 || msg == nil {
		problem := "holds no message"
		if total > 0 {
			problem = "holds " + strings.Join(counts, ", ") + ", and one request is one message"
		}
		return nil, "", &PayloadError{
			Format:  SourceProofpoint,
			Problem: "the SIEM API response " + problem,
			Fix:     "post each message of messagesDelivered or messagesBlocked as a request of its own (click events are not taken)",
		}
	}
	return msg, from, nil
}

// proofpointThreat is one entry of threatsInfoMap that Parry acts on.
type proofpointThreat struct {
	kind           string // attachment, url or messagetext, lower-cased
	classification string // malware, phish, impostor, lower-cased
	id             string // threatID (the attachment's SHA-256 for an attachment threat)
	threat         string // the threat itself: the URL, or the attachment's SHA-256
}

// proofpointThreats reads threatsInfoMap, in the casing of either the real v2 API (threatID, threatType)
// or its documentation (threatId). Threats Proofpoint has since marked falsePositive, and spam, which is
// no attack technique, are left out.
func proofpointThreats(msg map[string]any) []proofpointThreat {
	var out []proofpointThreat
	list, _ := getFold(msg, "threatsInfoMap").([]any)
	for _, e := range list {
		m := asObject(e)
		if m == nil {
			continue
		}
		t := proofpointThreat{
			kind:           strings.ToLower(scalar(getFold(m, "threatType"))),
			classification: strings.ToLower(scalar(getFold(m, "classification"))),
			id:             scalar(getFold(m, "threatID")),
			threat:         scalar(getFold(m, "threat")),
		}
		if strings.EqualFold(scalar(getFold(m, "threatStatus")), "falsePositive") || t.classification == "spam" {
			continue
		}
		out = append(out, t)
	}
	return out
}

// proofpointTechniques maps a threat's type onto ATT&CK phishing: a malicious attachment is T1566.001
// (Spearphishing Attachment), a malicious URL T1566.002 (Spearphishing Link), and a threat in the message
// text itself (impostor / business e-mail compromise, with no link or file) T1566 (Phishing).
var proofpointTechniques = map[string]string{
	"attachment":  "T1566.001",
	"url":         "T1566.002",
	"messagetext": "T1566",
	"message":     "T1566",
}

// proofpointSeverity derives a severity, as Proofpoint gives none. A message carrying malware or phish (or
// an impostor, BEC) threat is high; one Proofpoint blocked (it never reached the mailbox) is a level lower.
// No critical: a message alone does not show that anything ran.
func proofpointSeverity(threats []proofpointThreat, from string) string {
	if len(threats) == 0 {
		return ""
	}
	if from == "messagesBlocked" {
		return SeverityMedium
	}
	return SeverityHigh
}

func normalizeProofpoint(_ []byte, doc map[string]any) (Alert, error) {
	msg, from, err := proofpointMessage(doc)
	if err != nil {
		return Alert{}, err
	}
	if !isProofpointMessage(msg) {
		return Alert{}, shapeError(SourceProofpoint, "GUID and threatsInfoMap (a message event)",
			"post one message of the SIEM API's messagesDelivered or messagesBlocked")
	}
	threats := proofpointThreats(msg)
	// Addresses are lists in the v2 API and plain strings in its documentation.
	recipient := firstNonEmpty(append(scalars(getFold(msg, "recipient")), scalars(getFold(msg, "toAddresses"))...)...)
	a := Alert{
		ID:       scalar(getFold(msg, "GUID")),
		Title:    proofpointTitle(threats, from),
		Rule:     proofpointRule(threats),
		Severity: proofpointSeverity(threats, from),
		User:     firstAccount(recipient),
		SourceIP: ipAddress(scalar(getFold(msg, "senderIP"))),
		Hashes:   proofpointHashes(msg, threats),
		Email: Email{
			MessageID: scalar(getFold(msg, "messageID")),
			// sender is the envelope sender (MAIL FROM), as Defender's P1 sender; fromAddress the header's.
			Sender:    firstNonEmpty(scalar(getFold(msg, "sender")), firstNonEmpty(scalars(getFold(msg, "fromAddress"))...)),
			Recipient: recipient,
			Subject:   scalar(getFold(msg, "subject")),
		},
		Time: vendorTime(scalar(getFold(msg, "messageTime")), 0),
	}
	for _, t := range threats {
		if id, ok := proofpointTechniques[t.kind]; ok {
			a.Techniques = append(a.Techniques, id)
		}
	}
	return a, nil
}

// proofpointHashes returns the malicious attachment's hashes: for an attachment threat, Proofpoint's
// threatID (and threat) is the attachment's SHA-256, with its MD5 from the message part of that SHA-256;
// without a usable threat id (the documentation's mock has "threat_num"), the message part the sandbox
// convicted (sandboxStatus "threat"). A message whose threats are only URLs has no hash: its parts are the
// body and harmless attachments, and blocking them would be wrong.
func proofpointHashes(msg map[string]any, threats []proofpointThreat) Hashes {
	attachment := false
	parts := objects(getFold(msg, "messageParts"), "")
	for _, t := range threats {
		if t.kind != "attachment" {
			continue
		}
		attachment = true
		sha := firstNonEmpty(digest(t.id, 64), digest(t.threat, 64))
		if sha == "" {
			continue
		}
		for _, p := range parts {
			if digest(scalar(getFold(p, "sha256")), 64) == sha {
				return fileHashes(sha, "", scalar(getFold(p, "md5")))
			}
		}
		return fileHashes(sha, "", "")
	}
	if !attachment {
		return Hashes{}
	}
	for _, p := range parts {
		if strings.EqualFold(scalar(getFold(p, "sandboxStatus")), "threat") {
			return fileHashes(scalar(getFold(p, "sha256")), "", scalar(getFold(p, "md5")))
		}
	}
	return Hashes{}
}

// proofpointRule names what detected the message: Proofpoint has no rules, so its threat classifications
// (malware, phish, impostor), in the order of the threats, stand in for one.
func proofpointRule(threats []proofpointThreat) string {
	var out []string
	for _, t := range threats {
		if t.classification != "" && !slices.Contains(out, t.classification) {
			out = append(out, t.classification)
		}
	}
	return strings.Join(out, ", ")
}

// proofpointTitle says what the message carried, as Proofpoint gives no title ("Proofpoint TAP: delivered
// message with malware attachment, phish URL"); the subject is the sender's words, not the alert's.
func proofpointTitle(threats []proofpointThreat, from string) string {
	seen := map[string]bool{}
	var kinds []string
	for _, t := range threats {
		kind := map[string]string{"url": "URL", "messagetext": "message text", "message": "message text"}[t.kind]
		if kind == "" {
			kind = t.kind
		}
		k := strings.TrimSpace(t.classification + " " + kind)
		if k != "" && !seen[k] {
			seen[k] = true
			kinds = append(kinds, k)
		}
	}
	what := "message"
	switch from {
	case "messagesDelivered":
		what = "delivered message"
	case "messagesBlocked":
		what = "blocked message"
	}
	if len(kinds) == 0 {
		return "Proofpoint TAP: " + what
	}
	return "Proofpoint TAP: " + what + " with " + strings.Join(kinds, ", ")
}
