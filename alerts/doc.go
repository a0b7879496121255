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
//	name      detected by                                           id
//	defender  "@odata.type": "#microsoft.graph.security.alert", or  id (else providerAlertId)
//	          mitreTechniques + evidence + providerAlertId
//	parry     "source": "parry", or a top-level techniques or       id (else SHA-256 of the payload)
//	          tactics list
//
// Bad payloads give a *PayloadError that says what is wrong, where (a JSON byte offset, or the field) and
// how to fix it, so an intake endpoint can hand it to the sender as is.
//
// # Severity
//
// Alert.Severity is low, medium, high or critical. Each vendor's scale maps onto it as follows; a value
// missing from the table leaves the severity empty rather than inventing one.
//
//	format    vendor value                         Alert.Severity
//	parry     low, medium, high, critical          the same (any other value is refused)
//	defender  informational                        low
//	defender  low                                  low
//	defender  medium                               medium
//	defender  high                                 high
//	defender  unknown, unknownFutureValue, absent  empty
//
// Microsoft Graph has no "critical" alert severity, so a Defender alert never maps to critical.
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
