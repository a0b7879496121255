package alerts

// SourceWazuh is the source name of Wazuh alerts.
const SourceWazuh = "wazuh"

var wazuhFormat = Format{
	Name:      SourceWazuh,
	Detect:    func(doc map[string]any) bool { return wazuhAlert(doc) != nil },
	Normalize: normalizeWazuh,
}

// wazuhAlert returns the alert in a payload: an alert as the manager writes it to alerts.json (a rule with
// its level and id, and the agent or manager that raised it), or a Wazuh indexer hit whose _source is one.
func wazuhAlert(doc map[string]any) map[string]any {
	for _, m := range []map[string]any{doc, asObject(doc["_source"])} {
		rule := asObject(m["rule"])
		if rule != nil && has(rule, "level") && has(rule, "id") && (asObject(m["agent"]) != nil || asObject(m["manager"]) != nil) {
			return m
		}
	}
	return nil
}

// wazuhSeverity maps rule.level, 0–16, by Wazuh's rule classification (Wazuh docs, "Rules
// classification"): 0–6 run from "ignored" to "low relevance attack" and are low; 7–11 ("bad word"
// matching to integrity checking warning) medium; 12–14, from "high importance event" (also Wazuh's
// default email_alert_level) to "high importance security event", high; 15 "severe attack" and above
// critical.
func wazuhSeverity(rule map[string]any) string {
	n, ok := number(text(rule, "level"))
	if !ok {
		return ""
	}
	return severityBand(n, 0, 16, 7, 12, 15)
}

func normalizeWazuh(_ []byte, doc map[string]any) (Alert, error) {
	w := wazuhAlert(doc)
	if w == nil {
		return Alert{}, shapeError(SourceWazuh, "rule.level and rule.id with the agent or manager that raised it",
			"post the alert as the Wazuh manager writes it to alerts.json (an integration's alert_file)")
	}
	rule := asObject(w["rule"])
	a := Alert{
		// id is the manager's alert id; _id the indexer's document id.
		ID:    firstNonEmpty(text(w, "id"), text(w, "_id"), text(doc, "_id")),
		Title: text(rule, "description"),
		// rule.id, not the description: descriptions may interpolate event fields ($(win.system.message)),
		// which would split one rule into many.
		Rule:     text(rule, "id"),
		Severity: wazuhSeverity(rule),
		SourceIP: ipAddress(text(w, "data.srcip", "data.win.eventdata.ipAddress", "data.win.eventdata.sourceIp")),
		Time:     firstNonEmpty(vendorTime(text(w, "timestamp"), 0), vendorTime(text(w, "@timestamp"), 0)),
	}
	// rule.mitre.id lists ids, rule.mitre.technique and rule.mitre.tactic the same techniques' names.
	attackMapping(&a, splitTexts(rule, "mitre.id"), texts(rule, "mitre.technique"), texts(rule, "mitre.tactic"))

	// Agent 000 is the manager itself: for a log it received over syslog from an agentless device, the
	// device is the host the log line names.
	a.Host = hostName(text(w, "agent.name"))
	if h := hostName(text(w, "predecoder.hostname")); h != "" && (a.Host == "" || text(w, "agent.id") == "000") {
		a.Host = h
	}

	// Decoders name users srcuser and dstuser (sshd: the account tried; su: who ran it and whom it became);
	// Windows event channel alerts carry them in data.win.eventdata.
	a.User = firstAccount(text(w, "data.srcuser"), text(w, "data.dstuser"), text(w, "data.win.eventdata.targetUserName"),
		text(w, "data.win.eventdata.subjectUserName"), text(w, "data.win.eventdata.user"))

	// File integrity monitoring gives the file's hashes after the change; Sysmon events their Hashes list.
	a.Hashes = fileHashes(text(w, "syscheck.sha256_after"), text(w, "syscheck.sha1_after"), text(w, "syscheck.md5_after"))
	if a.Hashes == (Hashes{}) {
		a.Hashes = hashList(text(w, "data.win.eventdata.hashes"))
	}
	return a, nil
}
