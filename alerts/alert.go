package alerts

import (
	"encoding/json"
	"strings"
)

// Severity levels of a normalized alert, lowest first.
const (
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

// Severities lists the severity levels, lowest first.
var Severities = []string{SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

// SeverityRank orders severities: 1 for low … 4 for critical, 0 for anything else.
func SeverityRank(s string) int {
	for i, v := range Severities {
		if v == s {
			return i + 1
		}
	}
	return 0
}

// Hashes are the file hashes an alert carries.
type Hashes struct {
	SHA256 string `json:"sha256,omitempty"`
	SHA1   string `json:"sha1,omitempty"`
	MD5    string `json:"md5,omitempty"`
}

// Email is the message an alert is about.
type Email struct {
	MessageID string `json:"message_id,omitempty"`
	Sender    string `json:"sender,omitempty"`
	Recipient string `json:"recipient,omitempty"`
	Subject   string `json:"subject,omitempty"`
}

// Alert is the normalized alert: every intake format becomes one, and it is the `alert` variable of playbook
// expressions. A field the vendor did not give is empty, never invented.
type Alert struct {
	ID         string   `json:"id"`
	Source     string   `json:"source"` // elastic, splunk, defender, sentinel, wazuh, crowdstrike, proofpoint, sigma, parry
	Title      string   `json:"title,omitempty"`
	Severity   string   `json:"severity,omitempty"`
	Techniques []string `json:"techniques,omitempty"` // ATT&CK ids, sub-techniques kept, sorted
	Tactics    []string `json:"tactics,omitempty"`    // ATT&CK tactic short names, when the vendor gives tactics only
	Host       string   `json:"host,omitempty"`
	User       string   `json:"user,omitempty"`
	SourceIP   string   `json:"source_ip,omitempty"`
	Hashes     Hashes   `json:"hashes,omitzero"`
	Email      Email    `json:"email,omitzero"`
	Time       string   `json:"time,omitempty"` // RFC 3339
	// Rule names the detection that fired (the vendor's rule name or id), for false-positive rates by rule.
	Rule string `json:"rule,omitempty"`
	// Raw is the original payload, kept for audit; never in search attributes.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// HostKey is the key incidents correlate on: the lowercased short host name (WS-0042.corp.example.com →
// ws-0042); with no host, the user; with neither, "".
func (a Alert) HostKey() string {
	if a.Host != "" {
		h := strings.ToLower(a.Host)
		if i := strings.IndexByte(h, '.'); i > 0 && !isIP(h) {
			h = h[:i]
		}
		return h
	}
	return strings.ToLower(a.User)
}

func isIP(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && c != '.' {
			return strings.Contains(s, ":")
		}
	}
	return true
}
