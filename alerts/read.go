package alerts

import (
	"encoding/json"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/parry-soc/parry/attack"
)

// This file holds what the vendor normalizers share: reading a decoded payload whatever types the vendor
// chose, and the rules every format applies the same way (which accounts are users, what a hash is, how
// ATT&CK names become ids, how times are written). Vendors disagree on types — Splunk sends every value as a
// string, CrowdStrike's ATT&CK ids come as lists, comma-separated strings or single scalars — so the
// readers take what a vendor plausibly sends and treat anything else as absent: an unknown or mistyped
// field is ignored, never fatal, and stays in Raw.

// values returns every value at a dot-separated path. A name that meets a list looks into each element, so
// "threat.technique.id" collects the ids of every technique of every threat. Keys that themselves contain
// dots (Elastic mixes flat "kibana.alert.uuid" keys with nested objects in one document) match too, and a
// document that has both a flat and a nested form gives the values of both. The empty path is v itself.
func values(v any, path string) []any {
	if path == "" {
		if v == nil {
			return nil
		}
		return []any{v}
	}
	var out []any
	collect(v, strings.Split(path, "."), &out)
	return out
}

func collect(v any, path []string, out *[]any) {
	if len(path) == 0 {
		if v != nil {
			*out = append(*out, v)
		}
		return
	}
	switch x := v.(type) {
	case map[string]any:
		for n := len(path); n >= 1; n-- {
			if child, ok := x[strings.Join(path[:n], ".")]; ok {
				collect(child, path[n:], out)
			}
		}
	case []any:
		for _, e := range x {
			collect(e, path, out)
		}
	}
}

// texts returns the strings and numbers at path, trimmed, blank ones dropped; a list at the path gives its
// elements.
func texts(v any, path string) []string {
	var out []string
	for _, x := range values(v, path) {
		out = append(out, scalars(x)...)
	}
	return out
}

// scalars returns v as a list of non-blank strings: a string or number is one, a list gives its elements.
// Vendors send one address as a string and several as a list (Proofpoint does both).
func scalars(v any) []string {
	var out []string
	for _, e := range asList(v) {
		if s := scalar(e); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// text returns the first string or number at any of the paths, in order; "" if none has one.
func text(v any, paths ...string) string {
	for _, p := range paths {
		if t := texts(v, p); len(t) > 0 {
			return t[0]
		}
	}
	return ""
}

// splitTexts is texts with every string also split at commas, semicolons and newlines: CrowdStrike XDR
// sends "T1566.001,T1203", and a Splunk search may mvjoin a multi-value field.
func splitTexts(v any, path string) []string {
	var out []string
	for _, s := range texts(v, path) {
		for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == '\n' }) {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// objects returns the JSON objects at path; a list at the path gives its object elements.
func objects(v any, path string) []map[string]any {
	var out []map[string]any
	for _, x := range values(v, path) {
		for _, e := range asList(x) {
			if m, ok := e.(map[string]any); ok {
				out = append(out, m)
			}
		}
	}
	return out
}

// has reports whether path holds a value other than null.
func has(v any, path string) bool { return len(values(v, path)) > 0 }

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case json.Number:
		return x.String()
	}
	return ""
}

// number reads a JSON number or a numeric string (Splunk sends numbers as strings).
func number(v any) (float64, bool) {
	s := scalar(v)
	if s == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// severityWords maps the severity words vendors write (Elastic, Splunk, Sentinel, Sigma, CrowdStrike's
// severity names) onto Parry's scale. Parry has no informational level: an alert that reached a playbook
// is at least worth a low.
var severityWords = map[string]string{
	"informational": SeverityLow,
	"info":          SeverityLow,
	"low":           SeverityLow,
	"medium":        SeverityMedium,
	"high":          SeverityHigh,
	"critical":      SeverityCritical,
}

func severityWord(s string) string { return severityWords[strings.ToLower(strings.TrimSpace(s))] }

// severityBand maps a score in [lowest, highest] onto Parry's scale by the scores at which medium, high
// and critical start; a score outside the range gives "".
func severityBand(score, lowest, highest, medium, high, critical float64) string {
	switch {
	case score < lowest || score > highest:
		return ""
	case score >= critical:
		return SeverityCritical
	case score >= high:
		return SeverityHigh
	case score >= medium:
		return SeverityMedium
	}
	return SeverityLow
}

// placeholders are what vendors write for "no value" in host and user fields (Splunk's CIM fills missing
// fields with "unknown", Windows logs write "-").
var placeholders = map[string]bool{"-": true, "unknown": true, "n/a": true, "none": true, "null": true}

// hostName returns a vendor's host name as sent, or "" for a placeholder.
func hostName(s string) string {
	s = strings.TrimSpace(s)
	if placeholders[strings.ToLower(s)] {
		return ""
	}
	return s
}

// builtinSIDs are Windows' service accounts (LocalSystem, LocalService, NetworkService).
var builtinSIDs = map[string]bool{"S-1-5-18": true, "S-1-5-19": true, "S-1-5-20": true}

// builtinAccounts are the same accounts by name, and root, Unix's equivalent of LocalSystem.
var builtinAccounts = map[string]bool{
	"system": true, "localsystem": true, "local system": true,
	"localservice": true, "local service": true,
	"networkservice": true, "network service": true,
	"root": true,
}

// accountName returns the user an alert is about, from an account name and (if the vendor gives one) its
// SID: the name without a DOMAIN\ prefix, or "" for the machine's own accounts. Vendors name LocalSystem,
// LocalService, NetworkService, root or a computer account (WS-0042$) as the user of system activity, but
// those are not accounts a playbook can disable or reset: the host is what to contain. Every normalizer
// reads users through this one rule.
func accountName(name, sid string) string {
	name = strings.TrimSpace(name)
	if i := strings.LastIndexByte(name, '\\'); i >= 0 {
		name = strings.TrimSpace(name[i+1:])
	}
	lower := strings.ToLower(name)
	if builtinSIDs[strings.ToUpper(strings.TrimSpace(sid))] || builtinAccounts[lower] || placeholders[lower] || strings.HasSuffix(name, "$") {
		return ""
	}
	return name
}

// firstAccount returns the first of names that accountName keeps.
func firstAccount(names ...string) string {
	for _, n := range names {
		if a := accountName(n, ""); a != "" {
			return a
		}
	}
	return ""
}

// ipAddress returns the first of values that is an IP address, as sent.
func ipAddress(values ...string) string {
	for _, v := range values {
		v = strings.TrimSpace(v)
		if _, err := netip.ParseAddr(v); err == nil {
			return v
		}
	}
	return ""
}

// fileHashes tidies the hashes of one file: lower-case hex of the right length, anything else dropped, so a
// playbook never sends a malformed or placeholder value to a blocklist. All-zero digests are CrowdStrike's
// "no hash" and are dropped too.
func fileHashes(sha256, sha1, md5 string) Hashes {
	return Hashes{SHA256: digest(sha256, 64), SHA1: digest(sha1, 40), MD5: digest(md5, 32)}
}

func digest(s string, size int) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if !isHex(s, size) || strings.Trim(s, "0") == "" {
		return ""
	}
	return s
}

// hashList reads the hashes of one file written as a list: "SHA1=…,MD5=…,SHA256=…,IMPHASH=…" (Sysmon's
// Hashes field, as Wazuh and Splunk carry it) or bare digests, told apart by length.
func hashList(list ...string) Hashes {
	var sha256, sha1, md5 string
	for _, s := range list {
		for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
			alg, hex, named := strings.Cut(part, "=")
			if !named {
				hex, alg = alg, ""
			}
			switch alg = strings.ToUpper(alg); {
			case alg == "SHA256" || alg == "" && len(hex) == 64:
				sha256 = firstNonEmpty(sha256, digest(hex, 64))
			case alg == "SHA1" || alg == "" && len(hex) == 40:
				sha1 = firstNonEmpty(sha1, digest(hex, 40))
			case alg == "MD5" || alg == "" && len(hex) == 32:
				md5 = firstNonEmpty(md5, digest(hex, 32))
			}
		}
	}
	return Hashes{SHA256: sha256, SHA1: sha1, MD5: md5}
}

// techniqueIDs keeps the values that are ATT&CK technique ids (T1059, T1059.001), upper-cased. Vendor-native
// ids that look nothing like them (CrowdStrike's CST0007, ATLAS's AML.T0051) are dropped. An id of the
// right form that the embedded catalog does not know is kept: the vendor may be on a newer ATT&CK release,
// and the playbook validator and routing judge ids against the catalog.
func techniqueIDs(list []string) []string {
	var out []string
	for _, v := range list {
		if id := attack.NormalizeID(v); attack.IsTechniqueID(id) {
			out = append(out, id)
		}
	}
	return out
}

// techniqueByName maps a technique name to its id through the ATT&CK catalog. Names are not unique
// ("Spearphishing Attachment" is T1566.001 under Initial Access and T1598.002 under Reconnaissance), so an
// ambiguous name resolves only when exactly one candidate belongs to one of the tactics the vendor gave
// with it; otherwise it is skipped rather than guessed. "Parent: Sub" names ("Phishing: Spearphishing
// Attachment", as ATT&CK writes them) are looked up among the parent's sub-techniques.
func techniqueByName(name string, tactics []string) (string, bool) {
	c := attack.Default()
	var candidates []attack.Technique
	if parent, sub, ok := strings.Cut(name, ":"); ok {
		for _, p := range c.TechniquesByName(parent) {
			for _, id := range c.SubTechniques(p.ID) {
				if t, ok := c.Technique(id); ok && t.Active() && strings.EqualFold(t.Name, strings.TrimSpace(sub)) {
					candidates = append(candidates, t)
				}
			}
		}
	} else {
		candidates = c.TechniquesByName(name)
	}
	if len(candidates) == 1 {
		return candidates[0].ID, true
	}
	want := map[string]bool{}
	for _, t := range tacticNames(tactics) {
		want[t] = true
	}
	var match []string
	for _, t := range candidates {
		for _, tc := range c.TacticsOf(t.ID) {
			if want[tc.ShortName] {
				match = append(match, t.ID)
				break
			}
		}
	}
	if len(match) == 1 {
		return match[0], true
	}
	return "", false
}

// attackName is the catalog's name of a technique id, "" for an id it does not know.
func attackName(id string) string {
	t, _ := attack.Default().Technique(id)
	return t.Name
}

// attackMapping sets an alert's techniques from ATT&CK ids; without any, from the technique names mapped
// through the catalog with the tactics as hints; without techniques, its tactics. Values that name no
// ATT&CK technique or tactic are dropped.
func attackMapping(a *Alert, ids, names, tactics []string) {
	a.Techniques = techniqueIDs(ids)
	if len(a.Techniques) == 0 {
		a.Techniques = techniquesByName(names, tactics)
	}
	if len(a.Techniques) == 0 {
		a.Tactics = tacticNames(tactics)
	}
}

// techniquesByName maps each name through techniqueByName, dropping names that do not resolve.
func techniquesByName(names, tactics []string) []string {
	var out []string
	for _, n := range names {
		if id, ok := techniqueByName(n, tactics); ok {
			out = append(out, id)
		}
	}
	return out
}

// tacticNames maps tactic ids and names (TA0001, Initial Access, InitialAccess, initial_access) to ATT&CK
// short names in matrix order, dropping what ATT&CK does not know (CrowdStrike's Falcon-method "Malware",
// its CSTA ids).
func tacticNames(keys []string) []string {
	var out []string
	for _, k := range keys {
		short, ok := tacticShortName(k)
		if !ok {
			short, ok = tacticShortName(strings.ReplaceAll(k, "_", "-"))
		}
		if ok {
			out = append(out, short)
		}
	}
	return sortTactics(out)
}

// timeLayouts are the time formats vendors write besides RFC 3339: Wazuh's offset without a colon
// (2023-05-22T10:40:43.395+0000), and the zone-less, space-separated UTC times that SIEM parsers make of
// CrowdStrike's epoch fields (2024-12-03 19:54:30.000000000).
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
}

// vendorTime renders a vendor's time in UTC RFC 3339, or "" when it is not a time. Strings are read with
// timeLayouts (zone-less ones as UTC); numbers and numeric strings are epoch times counted in unit
// (time.Second, time.Millisecond or time.Nanosecond: CrowdStrike uses all three), and unit 0 refuses them.
// Epoch 0 is CrowdStrike's "not set" and gives "".
func vendorTime(v any, unit time.Duration) string {
	s := scalar(v)
	if s == "" {
		return ""
	}
	if t, ok := epoch(s, unit); ok {
		return formatTime(t)
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return formatTime(t)
		}
	}
	return ""
}

// epoch reads a decimal count of units since 1970 ("1717578914.332298000" seconds, as Splunk writes them).
func epoch(s string, unit time.Duration) (time.Time, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if unit <= 0 || unit > time.Second || !allDigits(whole) || (frac != "" && !allDigits(frac)) {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || n == 0 {
		return time.Time{}, false
	}
	perSecond := int64(time.Second / unit)
	sec, nsec := n/perSecond, (n%perSecond)*int64(unit)
	if sec > maxUnixSecond {
		return time.Time{}, false
	}
	if len(frac) > 9 {
		frac = frac[:9]
	}
	if frac != "" {
		f, _ := strconv.ParseInt(frac, 10, 64)
		nsec += f * int64(unit) / int64(math.Pow10(len(frac)))
	}
	return time.Unix(sec, nsec), true
}

// maxUnixSecond is 9999-12-31T23:59:59Z, the last second RFC 3339 can write.
const maxUnixSecond = 253402300799

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// formatTime writes t in UTC RFC 3339, or "" for a year RFC 3339 cannot write.
func formatTime(t time.Time) string {
	t = t.UTC()
	if t.Year() < 1 || t.Year() > 9999 {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

// getFold returns the value of key in m, matched case-insensitively when there is no exact match
// (Proofpoint's API writes threatID where its documentation writes threatId).
func getFold(m map[string]any, key string) any {
	if v, ok := m[key]; ok {
		return v
	}
	var keys []string
	for k := range m {
		if strings.EqualFold(k, key) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	sort.Strings(keys) // several spellings of one key: the same one every time
	return m[keys[0]]
}

// shapeError is the error of a payload named as a format it does not have.
func shapeError(format, missing, fix string) error {
	return &PayloadError{
		Format:  format,
		Problem: "has no " + missing + ", so it is not in the " + format + " format",
		Fix:     fix + ", or name its real source (or none, to detect it)",
	}
}
