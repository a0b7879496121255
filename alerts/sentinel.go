package alerts

import "strings"

// SourceSentinel is the source name of Microsoft Sentinel incidents.
const SourceSentinel = "sentinel"

const sentinelIncidentType = "Microsoft.SecurityInsights/incidents"

var sentinelFormat = Format{
	Name:      SourceSentinel,
	Detect:    func(doc map[string]any) bool { return sentinelIncident(doc) != nil },
	Normalize: normalizeSentinel,
}

// sentinelIncident returns the incident resource in a payload: the resource itself, as the REST API returns
// it (GET …/providers/Microsoft.SecurityInsights/incidents/{id}), or the object of the incident trigger's
// body that an automation rule posts to a playbook. It returns nil for anything else.
func sentinelIncident(doc map[string]any) map[string]any {
	for _, m := range []map[string]any{doc, asObject(doc["object"])} {
		if m == nil {
			continue
		}
		if strings.EqualFold(text(m, "type"), sentinelIncidentType) {
			return m
		}
		if props := asObject(m["properties"]); props != nil && has(props, "incidentNumber") && has(props, "severity") {
			return m
		}
	}
	return nil
}

func asObject(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func normalizeSentinel(_ []byte, doc map[string]any) (Alert, error) {
	inc := sentinelIncident(doc)
	props := asObject(inc["properties"])
	if props == nil {
		return Alert{}, shapeError(SourceSentinel, "properties with the incident's incidentNumber and severity",
			"post the incident as the Microsoft.SecurityInsights/incidents REST API returns it")
	}
	a := Alert{
		// name is the incident's GUID; id is its full ARM resource path.
		ID:    firstNonEmpty(text(inc, "name"), text(inc, "id")),
		Title: text(props, "title"),
		// An incident is titled after the analytics rule that created it (unless the rule overrides it).
		Rule:     text(props, "title"),
		Severity: severityWord(text(props, "severity")),
		// Recent API versions list technique ids beside the tactics; older ones give tactics only.
		Techniques: techniqueIDs(texts(props, "additionalData.techniques")),
		Time:       vendorTime(text(props, "createdTimeUtc"), 0),
	}
	if len(a.Techniques) == 0 {
		// Tactic names in PascalCase (InitialAccess): the catalog knows them without their spaces.
		a.Tactics = tacticNames(texts(props, "additionalData.tactics"))
	}
	// The incident resource names no host or user (properties.owner is the analyst it is assigned to, not
	// the subject). The incident trigger's body carries the entities: the first host, account, address and
	// file hash among them are the alert's.
	for _, e := range objects(props, "relatedEntities") {
		ep := asObject(e["properties"])
		switch strings.ToLower(text(e, "kind")) {
		case "host":
			a.Host = firstNonEmpty(a.Host, hostName(text(ep, "hostName")))
		case "account":
			a.User = firstNonEmpty(a.User, accountName(text(ep, "accountName"), text(ep, "sid")))
		case "ip":
			a.SourceIP = firstNonEmpty(a.SourceIP, ipAddress(text(ep, "address")))
		case "filehash":
			if a.Hashes == (Hashes{}) {
				a.Hashes = sentinelHash(text(ep, "algorithm"), text(ep, "hashValue"))
			}
		}
	}
	return a, nil
}

// sentinelHash reads a FileHash entity: its algorithm (SHA256, SHA1, MD5, …) and value.
func sentinelHash(algorithm, value string) Hashes {
	switch strings.ToUpper(algorithm) {
	case "SHA256":
		return fileHashes(value, "", "")
	case "SHA1":
		return fileHashes("", value, "")
	case "MD5":
		return fileHashes("", "", value)
	}
	return Hashes{}
}
