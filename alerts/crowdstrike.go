package alerts

import (
	"fmt"
	"strings"
	"time"
)

// SourceCrowdStrike is the source name of CrowdStrike Falcon detections: detection summary events of the
// Event Streams API, and alerts of the Alerts API v2.
const SourceCrowdStrike = "crowdstrike"

var crowdstrikeFormat = Format{
	Name:      SourceCrowdStrike,
	Detect:    func(doc map[string]any) bool { return isFalconStreamEvent(doc) || isFalconAlert(doc) },
	Normalize: normalizeCrowdStrike,
}

// isFalconStreamEvent recognises an Event Streams event: metadata (eventType, eventCreationTime, offset,
// customerIDString) and the event itself.
func isFalconStreamEvent(doc map[string]any) bool {
	return text(doc, "metadata.eventType") != "" && asObject(doc["event"]) != nil
}

// isFalconAlert recognises an Alerts API v2 alert (GET /alerts/entities/alerts/v2): its composite_id and
// the customer id cid.
func isFalconAlert(doc map[string]any) bool {
	return text(doc, "composite_id") != "" && text(doc, "cid") != ""
}

func normalizeCrowdStrike(_ []byte, doc map[string]any) (Alert, error) {
	switch {
	case isFalconStreamEvent(doc):
		return falconStreamEvent(doc)
	case isFalconAlert(doc):
		return falconAlert(doc), nil
	}
	return Alert{}, shapeError(SourceCrowdStrike, "metadata.eventType with an event (Event Streams) nor composite_id and cid (Alerts API)",
		"post a detection summary event as the Event Streams API sends it, or an alert as GET /alerts/entities/alerts/v2 returns it")
}

// legacyDetection is the event type whose Severity is 1–5; the newer detection events (Epp…, Xdr…, Idp…)
// and the Alerts API count 0–100.
const legacyDetection = "DetectionSummaryEvent"

// falconSeverity maps a severity name (Informational, Low, Medium, High, Critical), which CrowdStrike sends
// beside the number, else the number: 1–5 in the legacy DetectionSummaryEvent (1 Informational, 2 Low,
// 3 Medium, 4 High, 5 Critical), 0–100 elsewhere, banded at CrowdStrike's named values (10 Informational,
// 20 Low, 50 Medium, 70 High, 90 Critical): below 50 low, then medium, high from 70, critical from 90.
func falconSeverity(score any, name string, scaleOf5 bool) string {
	if s := severityWord(name); s != "" {
		return s
	}
	n, ok := number(score)
	if !ok {
		return ""
	}
	if scaleOf5 {
		return map[float64]string{1: SeverityLow, 2: SeverityLow, 3: SeverityMedium, 4: SeverityHigh, 5: SeverityCritical}[n]
	}
	return severityBand(n, 0, 100, 50, 70, 90)
}

// Falcon's own ids (CST0007, CSTA0006) are not ATT&CK and are dropped by attackMapping, and so are Falcon
// detection-method values in the ATT&CK fields of legacy events (Tactic "Malware", Technique "Ransomware"),
// which name no ATT&CK tactic or technique.
func falconStreamEvent(doc map[string]any) (Alert, error) {
	eventType := text(doc, "metadata.eventType")
	if !strings.HasSuffix(strings.ToLower(eventType), strings.ToLower(legacyDetection)) {
		return Alert{}, &PayloadError{
			Format:  SourceCrowdStrike,
			Field:   "metadata.eventType",
			Problem: fmt.Sprintf("%q is not a detection", eventType),
			Fix:     "post detection summary events (DetectionSummaryEvent, EppDetectionSummaryEvent, XdrDetectionSummaryEvent, …): other stream events are not alerts",
		}
	}
	ev := asObject(doc["event"])
	a := Alert{
		// CompositeId is the id the newer events and the Alerts API share; legacy events have DetectId.
		ID:       text(ev, "CompositeId", "DetectId"),
		Title:    text(ev, "DetectName", "Name", "DetectDescription", "Description"),
		Severity: falconSeverity(text(ev, "Severity"), text(ev, "SeverityName"), eventType == legacyDetection),
		// EppDetectionSummaryEvent renamed ComputerName to Hostname; XDR lists its hosts comma-separated,
		// and the first is the alert's; identity detections name the endpoint the account came from.
		Host: firstHost(append(append(texts(ev, "ComputerName"), texts(ev, "Hostname")...),
			append(splitTexts(ev, "HostNames"), texts(ev, "SourceEndpointHostName")...)...)),
		User: firstAccount(append(append(texts(ev, "UserName"), splitTexts(ev, "UserNames")...), texts(ev, "SourceAccountName")...)...),
		// LocalIP is the sensor host's own address; only identity detections name a source.
		SourceIP: ipAddress(text(ev, "SourceEndpointIpAddress")),
		Hashes:   fileHashes(text(ev, "SHA256String"), text(ev, "SHA1String"), text(ev, "MD5String")),
		// Event Streams count time in milliseconds (eventCreationTime), nanoseconds (XDR's StartTimeEpoch)
		// and seconds (ProcessStartTime), all in one event.
		Time: firstNonEmpty(vendorTime(text(doc, "metadata.eventCreationTime"), time.Millisecond),
			vendorTime(text(ev, "StartTimeEpoch"), time.Nanosecond), vendorTime(text(ev, "ProcessStartTime"), time.Second)),
	}
	ids := append(splitTexts(ev, "TechniqueIds"), splitTexts(ev, "TechniqueId")...)
	ids = append(ids, append(texts(ev, "MitreAttack.TechniqueID"), texts(ev, "MitreAttack.TechniqueId")...)...)
	names := append(append(texts(ev, "Technique"), splitTexts(ev, "Techniques")...), texts(ev, "MitreAttack.Technique")...)
	var tactics []string
	for _, f := range []string{"Tactic", "Tactics", "TacticIds", "TacticId", "MitreAttack.Tactic", "MitreAttack.TacticID", "MitreAttack.TacticId"} {
		tactics = append(tactics, splitTexts(ev, f)...)
	}
	attackMapping(&a, ids, names, tactics)
	a.Rule = falconStreamRule(ev)
	return a, nil
}

// falconStreamRule names the detection of a stream event: the newer events' Name (the indicator of attack
// that fired); in a legacy event, its tactic and technique as the Falcon console names the detection
// ("Malware via Ransomware"), else its DetectName.
func falconStreamRule(ev map[string]any) string {
	if n := text(ev, "Name"); n != "" {
		return n
	}
	tactic, technique := text(ev, "Tactic"), text(ev, "Technique")
	if tactic != "" && technique != "" {
		return tactic + " via " + technique
	}
	return text(ev, "DetectName")
}

func falconAlert(doc map[string]any) Alert {
	a := Alert{
		ID:       text(doc, "composite_id"),
		Title:    text(doc, "display_name", "name", "description"),
		Rule:     text(doc, "display_name", "name"),
		Severity: falconSeverity(text(doc, "severity"), text(doc, "severity_name"), false),
		// An endpoint alert names its device; an identity alert the endpoint the account came from and the
		// one it targeted. The target is never the host: it is typically a domain controller, and a playbook
		// that isolates it takes the domain down.
		Host:     firstHost(append(texts(doc, "device.hostname"), texts(doc, "source_endpoint_host_name")...)),
		User:     firstAccount(text(doc, "user_name"), text(doc, "source_account_name"), text(doc, "source_account_upn")),
		SourceIP: ipAddress(text(doc, "source_endpoint_ip_address"), text(doc, "source_endpoint_address_ip4")),
		Hashes:   fileHashes(text(doc, "sha256"), text(doc, "sha1"), text(doc, "md5")),
		Time:     firstNonEmpty(vendorTime(text(doc, "timestamp"), 0), vendorTime(text(doc, "created_timestamp"), 0)),
	}
	// The Alerts API gives one tactic and technique per alert, as single values.
	attackMapping(&a, splitTexts(doc, "technique_id"), texts(doc, "technique"), append(texts(doc, "tactic_id"), texts(doc, "tactic")...))
	return a
}
