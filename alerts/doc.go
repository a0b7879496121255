// Package alerts turns vendor alert payloads into Parry's normalized Alert and routes an alert to the
// playbook that answers it.
//
// # Intake
//
// Normalize decodes a payload once, picks its format (the one the sender named, or the first whose
// detector recognises the payload's shape) and runs that format's normalizer. Every format yields the same
// Alert: ATT&CK technique ids upper-cased, trimmed, deduplicated and sorted; tactics as ATT&CK short names in
// matrix order; hashes in lower-case hex; times in UTC RFC 3339; Raw the original payload, compacted. A
// value the vendor did not send stays empty: nothing is guessed. Where a format has no per-alert id (or a
// Parry alert leaves it out), the id is the hex SHA-256 of the canonical payload: keys sorted, no
// whitespace, strings and numbers as sent.
//
// Formats, in detection order (add a vendor to formats in normalize.go):
//
//	name         detected by                                         id
//	defender     "@odata.type": "#microsoft.graph.security.alert",   id (else providerAlertId)
//	             or mitreTechniques + evidence + providerAlertId
//	elastic      kibana.alert.uuid, .rule.uuid, .rule.rule_id or     kibana.alert.uuid (else the hit's _id)
//	             .rule.name, flat or nested: in the document, its
//	             _source, or a search response's hits
//	splunk       sid + a result object (webhook alert action), or    event_id (else SHA-256 of the payload:
//	             event_id + urgency, notable_type or index           a webhook's sid names the search job)
//	             "notable" (ES notable event)
//	sentinel     type "Microsoft.SecurityInsights/incidents", or     name (the incident's GUID)
//	             properties with incidentNumber + severity: itself
//	             or as the incident trigger's object
//	wazuh        rule.level + rule.id, and an agent or manager       id (else the indexer's _id)
//	             object: itself or as an indexer hit's _source
//	crowdstrike  metadata.eventType + an event object (Event         event.CompositeId, else event.DetectId;
//	             Streams), or composite_id + cid (Alerts API v2)     composite_id
//	proofpoint   a SIEM API response (a messagesDelivered,           GUID
//	             messagesBlocked, clicksPermitted or clicksBlocked
//	             list), or one message: GUID + threatsInfoMap
//	sigma        a logsource object and a detection object with a    SHA-256 of the payload (a rule's id
//	             condition (a Sigma rule)                            names the rule, not the match)
//	parry        "source": "parry", or a top-level techniques or     id (else SHA-256 of the payload)
//	             tactics list
//
// Detection looks at shape only, and each format's detector is specific enough that no sample Parry is
// tested with matches two. A named source skips detection; a payload that lacks what that format always
// has is refused with the missing fields named.
//
// Where a vendor gives ATT&CK ids, they are kept if they have the form of one (T1059, T1059.001) and
// vendor-native ids are dropped (CrowdStrike's CST0007). Where it gives only technique names, they are
// mapped through the embedded ATT&CK catalog; a name that several techniques share (Spearphishing
// Attachment is T1566.001 and T1598.002) resolves only if exactly one of them belongs to a tactic the
// vendor named with it, and is skipped otherwise. Tactics fill Alert.Tactics only when the alert has no
// technique, as routing needs them only then.
//
// Bad payloads give a *PayloadError that says what is wrong, where (a JSON byte offset, or the field) and
// how to fix it, so an intake endpoint can hand it to the sender as is.
//
// # Severity
//
// Alert.Severity is low, medium, high or critical. Each vendor's scale maps onto it as follows; a value
// missing from the table leaves the severity empty rather than inventing one.
//
//	format       vendor value                                  Alert.Severity
//	parry        low, medium, high, critical                   the same (any other value is refused)
//	defender     severity informational, low, medium, high     low, low, medium, high
//	defender     unknown, unknownFutureValue, absent           empty
//	elastic      kibana.alert.severity low, medium, high,      the same
//	             critical
//	elastic      without one, kibana.alert.risk_score 0–21,    low, medium, high, critical
//	             22–47, 48–73, 74–100
//	splunk       urgency (ES), else severity (CIM):            low, low, medium, high, critical
//	             informational, low, medium, high, critical
//	splunk       unknown, absent                               empty
//	sentinel     properties.severity Informational, Low,       low, low, medium, high
//	             Medium, High
//	wazuh        rule.level 0–6, 7–11, 12–14, 15–16            low, medium, high, critical
//	crowdstrike  SeverityName / severity_name Informational,   low, low, medium, high, critical
//	             Low, Medium, High, Critical (decides when
//	             sent)
//	crowdstrike  else DetectionSummaryEvent Severity 1, 2, 3,  low, low, medium, high, critical
//	             4, 5
//	crowdstrike  else Severity / severity 0–100 (other         low, medium, high, critical
//	             events, Alerts API): 0–49, 50–69, 70–89,
//	             90–100
//	proofpoint   none; derived: a malware, phish or impostor   high
//	             threat in a delivered message (or one not
//	             known to be blocked)
//	proofpoint   the same in a message from messagesBlocked    medium
//	proofpoint   spam or false-positive threats only           empty
//	sigma        level informational, low, medium, high,       low, low, medium, high, critical
//	             critical
//
// Parry has no informational level: an alert that reached a playbook is worth at least a low. Microsoft
// Graph and Sentinel (IncidentSeverity) have no critical, so their alerts never map to it. The vendors'
// scales: Elastic's rule severities are its four levels (Elastic docs, "Common rule settings"), and the
// risk score bands put each score Kibana pairs with a severity (21, 47, 73, 99, as in the prebuilt rules'
// severity_mapping) in that severity; Splunk ES urgency and CIM severity share the five words; Wazuh's
// bands follow its rule classification (Wazuh docs, "Rules classification": 0 ignored to 6 low relevance
// attack, 7 to 11 errors and warnings worth a look, 12 "high importance event", 15 "severe attack");
// CrowdStrike names its 0–100 values 10 Informational, 20 Low, 50 Medium, 70 High, 90 Critical and its
// legacy 1–5 the same five names; Sigma's levels are the Sigma specification's.
//
// # Defender (Microsoft Graph security alert v2)
//
// Fields come from the alert and its evidence list (Graph "alert" and "alertEvidence" resource types).
// Evidence is searched in the order the vendor sent it, with evidence whose verdict is malicious first and
// suspicious next, so the file Defender convicted wins over a benign parent process:
//
//	Alert field   Graph source
//	id            id, else providerAlertId
//	title         title
//	techniques    mitreTechniques
//	tactics       category, only when mitreTechniques is empty and the category names a tactic
//	host          deviceEvidence.deviceDnsName, else deviceEvidence.hostName
//	user          userAccount.accountName (else userPrincipalName) of userEvidence, then processEvidence;
//	              built-in accounts are skipped (see Users)
//	hashes        fileEvidence.fileDetails, else processEvidence.imageFile; all hashes of one file
//	source_ip     ipEvidence.ipAddress, else analyzedMessageEvidence.senderIp
//	email         analyzedMessageEvidence: internetMessageId, p1Sender (else p2Sender) emailAddress,
//	              recipientEmailAddress, subject
//	time          createdDateTime
//	rule          title (Graph titles an alert after its detection), else detectorId
//
// # Elastic Security
//
// An alert document (kibana.alert.* over ECS, as Kibana writes it to .alerts-security.alerts-<space>) is read
// with flat dotted keys ("kibana.alert.rule.threat") and nested objects alike, as Elastic mixes both in one
// document. It may come as the document itself, as a search hit ({"_id", "_source"}) or as a search
// response holding exactly one hit; a response with several is refused (one request is one alert). Kibana's
// webhook connector has no fixed body: write its template to post each alert document as is.
//
//	Alert field   Elastic source
//	id            kibana.alert.uuid, else the hit's _id
//	title         kibana.alert.rule.name, else rule.name, message
//	techniques    threat (from the source event) and kibana.alert.rule.threat (the rule's mapping):
//	              technique and subtechnique ids, names where an id is missing; MITRE ATLAS entries skipped
//	host          host.name, else host.hostname
//	user          user.name, else process.user.name
//	hashes        process.hash, else file.hash, else the first Events[].process.hash
//	source_ip     source.ip
//	email         email.message_id, email.from.address, email.to.address, email.subject
//	time          @timestamp (when Kibana made the alert)
//	rule          kibana.alert.rule.name, else rule.name
//
// # Splunk
//
// Two payloads: the webhook alert action's, whose fields are fixed (sid, search_name, app, owner,
// results_link) and whose result is the search's first row only (Splunk Alerting Manual, "Use a webhook
// alert action"), and an Enterprise Security notable event as the notable index holds it. Either way the
// alert's fields come from one row of search results, under Common Information Model names when the search
// follows CIM. Splunk sends every value as a string and a multi-value field as a list, and a search may
// join values with newlines or commas; all of these are read.
//
//	Alert field   Splunk source (in the webhook's result, or the notable)
//	id            event_id; a webhook without one gets the payload's hash, since a search that alerts for
//	              each result posts every result with the same sid
//	title         the webhook's search_name, else rule_title, rule_name, search_name
//	techniques    annotations.mitre_attack, annotations.mitre_attack.mitre_technique_id, mitre_technique_id;
//	              else the names in annotations.mitre_attack.mitre_technique
//	tactics       annotations.mitre_attack.mitre_tactic_id and .mitre_tactic, only when no technique
//	host          dest_dns, dest_nt_host, dest, then host (webhook) or orig_host (notable: its host is the
//	              search head), then dest_ip
//	user          user, else src_user; for e-mail rows (message_id set), user, else recipient
//	hashes        file_hash, process_hash, Hashes (Sysmon's "SHA256=…,MD5=…"), else sha256, sha1, md5
//	source_ip     src_ip, else src when it is an address
//	email         message_id, src_user, recipient, subject (CIM Email), when message_id is set
//	time          _time (RFC 3339, or epoch seconds as a raw row writes it)
//	rule          the webhook's search_name; a notable's rule_name (the correlation search without ES's
//	              " - Rule" suffix), else its search_name
//
// # Sentinel
//
// A Microsoft Sentinel incident, as the REST API returns the Microsoft.SecurityInsights/incidents resource,
// or as an automation rule's incident trigger posts it (the resource under object, with its entities).
//
//	Alert field   Sentinel source
//	id            name (the incident GUID), else id (its ARM path)
//	title         properties.title
//	techniques    properties.additionalData.techniques, which recent API versions add
//	tactics       properties.additionalData.tactics (PascalCase names: InitialAccess), when no technique
//	host, user,   the first Host (hostName), Account (accountName, sid), Ip (address) and FileHash
//	source_ip,    (algorithm, hashValue) of properties.relatedEntities, which only the trigger's body has;
//	hashes        properties.owner is the analyst the incident is assigned to, never the user
//	time          properties.createdTimeUtc
//	rule          properties.title: an incident takes the name of the analytics rule that created it
//
// # Wazuh
//
// An alert as the Wazuh manager writes it to alerts.json (what an integration script receives), or the
// indexer's copy.
//
//	Alert field   Wazuh source
//	id            id (the manager's), else _id (the indexer's)
//	title         rule.description
//	techniques    rule.mitre.id; else the names in rule.mitre.technique, with rule.mitre.tactic
//	tactics       rule.mitre.tactic, only when no technique
//	host          agent.name; for agent 000 (the manager, receiving syslog) predecoder.hostname
//	user          data.srcuser, data.dstuser, then data.win.eventdata targetUserName, subjectUserName, user
//	hashes        syscheck.sha256_after, sha1_after, md5_after (file integrity); else the Sysmon list
//	              data.win.eventdata.hashes
//	source_ip     data.srcip, else data.win.eventdata.ipAddress, sourceIp
//	time          timestamp (its offset has no colon: +0000), else @timestamp
//	rule          rule.id: a description may interpolate event fields, which would split one rule in many
//
// # CrowdStrike Falcon
//
// Detection summary events of the Event Streams API (DetectionSummaryEvent, EppDetectionSummaryEvent,
// XdrDetectionSummaryEvent, IdpDetectionSummaryEvent …; other event types are refused, they are not
// alerts), and alerts of the Alerts API v2.
//
//	Alert field   Event Streams event / Alerts API alert
//	id            event.CompositeId, else event.DetectId / composite_id
//	title         DetectName, Name, DetectDescription, Description / display_name, name, description
//	techniques    TechniqueIds (XDR: "T1566.001,T1203"), TechniqueId, MitreAttack[].TechniqueID /
//	              technique_id; without ATT&CK ids, the technique names (Technique, Techniques,
//	              MitreAttack[].Technique / technique) through the catalog, tactics as hints. Falcon's
//	              own CST… and CSTA… ids, and detection methods in legacy events' ATT&CK fields (Tactic
//	              "Malware", Technique "Ransomware"), are not ATT&CK and are dropped
//	tactics       Tactic, Tactics, TacticIds, MitreAttack[].Tactic / tactic_id, tactic, when no technique
//	host          ComputerName, Hostname (Epp), the first of HostNames (XDR), SourceEndpointHostName /
//	              device.hostname, source_endpoint_host_name; never the target endpoint of an identity
//	              detection, typically a domain controller
//	user          UserName, UserNames, SourceAccountName / user_name, source_account_name, source_account_upn
//	hashes        SHA256String, SHA1String, MD5String / sha256, sha1, md5
//	source_ip     SourceEndpointIpAddress / source_endpoint_ip_address (LocalIP is the sensor's own)
//	time          metadata.eventCreationTime (epoch ms), else StartTimeEpoch (ns), else ProcessStartTime
//	              (s) / timestamp, else created_timestamp
//	rule          Name (the indicator of attack), else "<Tactic> via <Technique>" as the Falcon console
//	              names a legacy detection ("Malware via Ransomware"), else DetectName / display_name,
//	              else name
//
// # Proofpoint TAP
//
// A message event of the SIEM API (messagesDelivered, messagesBlocked), posted by itself or in a SIEM API
// response that holds exactly that one message: a response with several messages, or with clicks, is
// refused with a request to post each message on its own, as picking one would drop the others. Keys are
// read case-insensitively, since the v2 API and its documentation disagree (threatID and threatId), and
// addresses as lists or strings.
//
// Proofpoint gives no severity: Parry derives it. A message with a malware, phish or impostor threat is
// high if it was delivered (or Parry cannot tell), and medium if Proofpoint blocked it; never critical, as a
// message alone does not show that anything ran. Threats Proofpoint marked falsePositive, and spam, count
// for nothing.
//
//	Alert field   Proofpoint source
//	id            GUID
//	title         "Proofpoint TAP: delivered message with malware attachment, phish URL" (from the list
//	              and the threats; Proofpoint gives no title, and the subject is the sender's words)
//	techniques    per threat, threatType attachment → T1566.001, url → T1566.002, messageText (an impostor,
//	              no link or file) → T1566
//	user          the first recipient, else toAddresses
//	hashes        for an attachment threat, its threatID (the attachment's SHA-256) with the MD5 of the
//	              messagePart of that SHA-256; without one, the part whose sandboxStatus is threat. URL
//	              threats give no hash: the message's parts are its body and harmless files
//	source_ip     senderIP
//	email         messageID, sender (the envelope sender; else fromAddress), the first recipient, subject
//	time          messageTime
//	rule          the threats' classifications (malware, phish, impostor): Proofpoint has no rules
//
// # Sigma
//
// The Sigma rule that matched, as YAML (as rules are written; one document, no anchors or aliases) or as
// JSON. YAML is taken when the source is named sigma or the body has top-level logsource: and detection:
// keys; it is converted to JSON, which is the alert's raw and what its id hashes, scalars kept as written, so
// a rule posted as YAML and as JSON is one alert. A rule names what it detects but not where:
// it gives no host, user, hash or time (its date and modified are the rule's). Its id names the rule, so
// the alert's id is the hash of the payload: the same rule posted twice is the same alert, and a sender
// that posts one rule for several matches adds what tells them apart (the matched event, say, under a key
// of its own), which changes the id and stays in raw.
//
//	Alert field   Sigma source
//	title         title
//	techniques    tags attack.tNNNN and attack.tNNNN.NNN (attack.sNNNN software and attack.gNNNN groups
//	              are neither techniques nor tactics)
//	tactics       tags attack.<tactic> (attack.initial-access, or the older attack.initial_access), when no
//	              technique
//	rule          title
//
// # Users and hashes
//
// Every format reads users and hashes by the same rules. The user is the account name without a DOMAIN\
// prefix (a UPN stays whole); LocalSystem, LocalService and NetworkService (by SID S-1-5-18/19/20 or by
// name), root and computer accounts (WS-0042$) are skipped, as are placeholders such as "unknown" and
// "-": they are the machine's own accounts, which no playbook can disable or reset, and the host is what to
// contain. Hashes all come from one file, in lower-case hex; a value of the wrong length or not hex (a
// masked or truncated digest) and CrowdStrike's all-zero "no hash" are dropped, so a playbook never sends
// one to a blocklist.
//
// # Fields and routing
//
// Field reads an alert by the paths that playbook inputs name in `from:` (alert.host,
// alert.hashes.sha256, alert.raw.<path> …). Routing an alert to its playbook, and resolving the run's
// inputs, live in the subpackage routing: the playbook validator reads the Alert type from this package,
// so this package cannot import playbooks.
package alerts
