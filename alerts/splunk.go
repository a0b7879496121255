package alerts

import (
	"strings"
	"time"
)

// SourceSplunk is the source name of Splunk alerts: the webhook alert action's payload, or a Splunk
// Enterprise Security notable event.
const SourceSplunk = "splunk"

var splunkFormat = Format{
	Name:      SourceSplunk,
	Detect:    func(doc map[string]any) bool { return isSplunkWebhook(doc) || isSplunkNotable(doc) },
	Normalize: normalizeSplunk,
}

// isSplunkWebhook recognises the webhook alert action's fixed payload: sid, search_name, app, owner,
// results_link and result (Splunk Alerting Manual, "Use a webhook alert action").
func isSplunkWebhook(doc map[string]any) bool {
	_, ok := doc["result"].(map[string]any)
	return ok && text(doc, "sid") != ""
}

// isSplunkNotable recognises an ES notable event (index=notable): its event_id with the fields ES adds to
// every notable.
func isSplunkNotable(doc map[string]any) bool {
	if text(doc, "event_id") == "" {
		return false
	}
	return has(doc, "urgency") || has(doc, "notable_type") || text(doc, "index") == "notable"
}

// splunkSeverity maps ES urgency (informational, low, medium, high, critical), else the CIM severity field
// (the same words, and unknown).
func splunkSeverity(row map[string]any) string {
	if s := severityWord(text(row, "urgency")); s != "" {
		return s
	}
	return severityWord(text(row, "severity"))
}

func normalizeSplunk(_ []byte, doc map[string]any) (Alert, error) {
	row, webhook := doc, isSplunkWebhook(doc)
	if webhook {
		// The webhook carries only the search's first result row; every alert field is whatever the
		// search put in it, under CIM names when the search follows the Common Information Model.
		row = doc["result"].(map[string]any)
	} else if !isSplunkNotable(doc) {
		return Alert{}, shapeError(SourceSplunk, "sid and result (a webhook alert action) nor event_id and urgency (an ES notable event)",
			"post the webhook alert action's payload as Splunk sends it, or a notable event from index=notable")
	}

	a := Alert{
		// A notable's event_id is one per notable. The webhook's sid is not an alert id: it names the
		// search job, and an alert that triggers "for each result" posts every result with the same sid, so
		// without an event_id in the row the id is the payload's hash.
		ID:       text(row, "event_id"),
		Title:    text(row, "rule_title", "rule_name", "search_name"),
		Severity: splunkSeverity(row),
		SourceIP: ipAddress(append(texts(row, "src_ip"), texts(row, "src")...)...),
		Time:     vendorTime(text(row, "_time"), time.Second),
	}
	// The rule is the search that alerted: the webhook's search_name, or the notable's rule_name (the
	// correlation search's name without ES's " - Rule" suffix), else its search_name.
	a.Rule = text(row, "rule_name", "search_name")
	if webhook {
		a.Title = firstNonEmpty(text(doc, "search_name"), a.Title)
		a.Rule = firstNonEmpty(text(doc, "search_name"), a.Rule)
	}

	attackMapping(&a,
		append(append(splitTexts(row, "annotations.mitre_attack"), splitTexts(row, "annotations.mitre_attack.mitre_technique_id")...), splitTexts(row, "mitre_technique_id")...),
		splitTexts(row, "annotations.mitre_attack.mitre_technique"),
		append(splitTexts(row, "annotations.mitre_attack.mitre_tactic_id"), splitTexts(row, "annotations.mitre_attack.mitre_tactic")...))

	// CIM names the affected machine dest (dest_dns and dest_nt_host when resolved). In a raw search row
	// host is the machine that logged the event; in a notable it is the ES search head, so the notable's
	// orig_host (the original event's host) stands in for it.
	eventHost := "host"
	if !webhook {
		eventHost = "orig_host"
	}
	for _, f := range []string{"dest_dns", "dest_nt_host", "dest", eventHost, "dest_ip"} {
		if a.Host = firstHost(texts(row, f)); a.Host != "" {
			break
		}
	}

	// CIM Email: message_id, src_user (the sender), recipient, subject. The user of an e-mail alert is
	// its recipient; elsewhere CIM's user, else src_user (who started a privilege escalation to user).
	if id := text(row, "message_id", "internet_message_id"); id != "" {
		a.Email = Email{MessageID: id, Sender: text(row, "src_user", "sender"), Recipient: text(row, "recipient"), Subject: text(row, "subject")}
		a.User = firstAccount(append(texts(row, "user"), texts(row, "recipient")...)...)
	} else {
		a.User = firstAccount(append(texts(row, "user"), texts(row, "src_user")...)...)
	}

	for _, f := range []string{"file_hash", "process_hash", "hashes", "Hashes"} {
		if a.Hashes = hashList(texts(row, f)...); a.Hashes != (Hashes{}) {
			break
		}
	}
	if a.Hashes == (Hashes{}) {
		a.Hashes = fileHashes(text(row, "sha256", "file_sha256"), text(row, "sha1", "file_sha1"), text(row, "md5", "file_md5"))
	}
	return a, nil
}

// firstHost returns the first value that is a host name rather than a placeholder or a description (a value
// with spaces in it).
func firstHost(list []string) string {
	for _, v := range list {
		if h := hostName(v); h != "" && !strings.ContainsAny(h, " \t") {
			return h
		}
	}
	return ""
}
