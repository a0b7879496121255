package alerts

import (
	"fmt"
	"strings"
)

// SourceElastic is the source name of Elastic Security detection alerts: the documents Kibana writes to
// .alerts-security.alerts-<space>.
const SourceElastic = "elastic"

var elasticFormat = Format{
	Name:      SourceElastic,
	Detect:    detectElastic,
	Normalize: normalizeElastic,
}

// elasticMarkers are fields every Kibana security alert has (Elastic's alert schema, "kibana.alert.*").
var elasticMarkers = []string{"kibana.alert.uuid", "kibana.alert.rule.uuid", "kibana.alert.rule.rule_id", "kibana.alert.rule.name"}

func isElasticAlert(doc any) bool {
	for _, m := range elasticMarkers {
		if text(doc, m) != "" {
			return true
		}
	}
	return false
}

func detectElastic(doc map[string]any) bool {
	if isElasticAlert(doc) || isElasticAlert(doc["_source"]) {
		return true
	}
	// A search response with several alerts is still Elastic's: the normalizer says to send them one by one.
	for _, hit := range elasticHits(doc) {
		if m, ok := hit.(map[string]any); ok && isElasticAlert(m["_source"]) {
			return true
		}
	}
	return false
}

func elasticHits(doc map[string]any) []any {
	hits, _ := doc["hits"].(map[string]any)
	list, _ := hits["hits"].([]any)
	return list
}

// elasticDocument returns the alert document in a payload, and the id of the search hit that carried it.
// Kibana's alert documents come three ways: the document itself (what a Kibana webhook connector posts for
// each of {{context.alerts}}), one search hit ({"_id", "_index", "_source"}), or a search response. A
// response must hold exactly one hit: one payload is one alert, and taking the first of several would drop
// the others without a word.
func elasticDocument(doc map[string]any) (map[string]any, string, error) {
	if src, ok := doc["_source"].(map[string]any); ok {
		return src, text(doc, "_id"), nil
	}
	if _, ok := doc["hits"].(map[string]any); !ok {
		return doc, "", nil
	}
	hits := elasticHits(doc)
	if len(hits) != 1 {
		return nil, "", &PayloadError{
			Format:  SourceElastic,
			Field:   "hits.hits",
			Problem: fmt.Sprintf("holds %d alerts, and one request is one alert", len(hits)),
			Fix:     "post each hit's _source as a request of its own",
		}
	}
	hit, _ := hits[0].(map[string]any)
	src, ok := hit["_source"].(map[string]any)
	if !ok {
		return nil, "", &PayloadError{Format: SourceElastic, Field: "hits.hits[0]._source", Problem: "is missing or not an object",
			Fix: "post the alert document (the hit's _source)"}
	}
	return src, text(hit, "_id"), nil
}

func normalizeElastic(_ []byte, doc map[string]any) (Alert, error) {
	src, hitID, err := elasticDocument(doc)
	if err != nil {
		return Alert{}, err
	}
	if !isElasticAlert(src) {
		return Alert{}, shapeError(SourceElastic, "kibana.alert.uuid or other kibana.alert.rule fields",
			"post the alert document from .alerts-security.alerts-* (a search hit's _source)")
	}
	a := Alert{
		// The hit's _id is the alert document's id, which Kibana sets to kibana.alert.uuid.
		ID:         firstNonEmpty(text(src, "kibana.alert.uuid"), hitID),
		Title:      text(src, "kibana.alert.rule.name", "rule.name", "message"),
		Rule:       text(src, "kibana.alert.rule.name", "rule.name"),
		Severity:   elasticSeverity(src),
		Techniques: elasticTechniques(src),
		Host:       hostName(text(src, "host.name", "host.hostname")),
		User:       firstAccount(append(texts(src, "user.name"), texts(src, "process.user.name")...)...),
		SourceIP:   ipAddress(texts(src, "source.ip")...),
		Hashes:     elasticHashes(src),
		Email: Email{
			MessageID: text(src, "email.message_id"),
			Sender:    text(src, "email.from.address", "email.sender.address"),
			Recipient: text(src, "email.to.address"),
			Subject:   text(src, "email.subject"),
		},
		Time: vendorTime(text(src, "@timestamp"), 0),
	}
	if len(a.Techniques) == 0 {
		var tactics []string
		for _, p := range []string{"threat.tactic.id", "threat.tactic.name", "kibana.alert.rule.threat.tactic.id", "kibana.alert.rule.threat.tactic.name"} {
			tactics = append(tactics, texts(src, p)...)
		}
		a.Tactics = tacticNames(tactics)
	}
	return a, nil
}

// elasticSeverity reads kibana.alert.severity (low, medium, high or critical: the rule's "Default severity",
// Elastic docs "Common rule settings"), else kibana.alert.risk_score (0–100) by the risk score Kibana pairs
// with each severity (21, 47, 73 and 99, as in the severity_mapping of Elastic's prebuilt rules): up to 21
// low, up to 47 medium, up to 73 high, above that critical.
func elasticSeverity(src map[string]any) string {
	if s := severityWord(text(src, "kibana.alert.severity")); s != "" {
		return s
	}
	if n, ok := number(text(src, "kibana.alert.risk_score")); ok {
		return severityBand(n, 0, 100, 22, 48, 74)
	}
	return ""
}

// elasticTechniques reads ECS threat (filled from the source event, as Elastic Defend's rules do) and the
// rule's own mapping kibana.alert.rule.threat; either may be empty. A technique or sub-technique without an
// id is looked up by name, preferring its entry's tactic. Entries of another framework (MITRE ATLAS) are
// skipped.
func elasticTechniques(src map[string]any) []string {
	var ids []string
	for _, root := range []string{"threat", "kibana.alert.rule.threat"} {
		for _, p := range []string{".technique.id", ".technique.subtechnique.id"} {
			ids = append(ids, techniqueIDs(texts(src, root+p))...)
		}
		for _, entry := range objects(src, root) {
			if fw := text(entry, "framework"); fw != "" && !strings.Contains(strings.ToUpper(fw), "ATT&CK") {
				continue
			}
			tactics := append(texts(entry, "tactic.id"), texts(entry, "tactic.name")...)
			for _, tech := range objects(entry, "technique") {
				parent := ""
				if id := techniqueIDs(texts(tech, "id")); len(id) > 0 {
					parent = id[0]
				} else if id, ok := techniqueByName(text(tech, "name"), tactics); ok {
					parent = id
					ids = append(ids, id)
				}
				for _, sub := range objects(tech, "subtechnique") {
					if len(techniqueIDs(texts(sub, "id"))) > 0 {
						continue // read above
					}
					name := text(sub, "name")
					if pn := attackName(parent); pn != "" {
						// ATT&CK's own "Parent: Sub" form, so that a sub-technique name shared by several
						// parents resolves to this parent's.
						name = pn + ": " + name
					}
					if id, ok := techniqueByName(name, tactics); ok {
						ids = append(ids, id)
					}
				}
			}
		}
	}
	return ids
}

// elasticHashes takes the hashes of the alert's process, else of its file, else of the first source event
// whose process has any. All come from one of these, never mixed.
func elasticHashes(src map[string]any) Hashes {
	for _, p := range []string{"process.hash", "file.hash"} {
		if h := fileHashes(text(src, p+".sha256"), text(src, p+".sha1"), text(src, p+".md5")); h != (Hashes{}) {
			return h
		}
	}
	for _, ev := range objects(src, "Events") {
		if h := fileHashes(text(ev, "process.hash.sha256"), text(ev, "process.hash.sha1"), text(ev, "process.hash.md5")); h != (Hashes{}) {
			return h
		}
	}
	return Hashes{}
}
