// Package audit takes runs out of the cluster for auditors and checks them back in: signed export bundles,
// the automatic exporter that writes one for every closed run, and offline verification by replay.
//
// # Bundles
//
// A bundle is one directory per run, DIR/<escaped workflow id>/ (EscapeID), holding
//
//   - history.json: the run's history as protojson of history.v1.History, the format of
//     `temporal workflow show --output json`; these exact bytes are hashed;
//   - manifest.json: what the run was (Manifest) — namespace, workflow and run id, playbook id, version
//     and SHA-256, techniques, alert, start and close, status and disposition — with the SHA-256 of
//     history.json, the Parry version that exported it, the payload key ids its payloads are encrypted
//     with, and an ed25519 signature.
//
// The signature covers the manifest's canonical form (Canonical): the JSON object without its "signature"
// member, keys sorted at every level, no insignificant whitespace, no HTML escaping. A verifier recomputes it
// from the file as parsed, not from a struct, so members added by later versions are covered too. The
// history is covered through history_sha256. signing_key_id names the key (approval.KeyID).
//
// Payloads stay as the cluster holds them: encrypted by the payload codec when PARRY_PAYLOAD_KEYS is set,
// so a bundle can be handed out without the keys. The manifest's playbook, alert and disposition come from
// the run's input and result, decoded at export time by the exporter, which holds the keys. A bundle
// written with Decrypt has every payload decoded (manifest "payloads": "decrypted").
//
// A bundle is written into a temporary directory beside its final place and renamed into it, so readers
// and other exporters never see half a bundle. An existing bundle of the same closed run is kept (Export
// reports it as skipped); one exported while its run was still open is replaced. Another run under the same
// workflow id (possible once retention dropped the first) goes to <escaped id>@<run id>.
//
// # Automatic export
//
// AutoExporter runs in every worker process (the worker command starts it when an audit store is
// configured): every 30 s it lists closed PlaybookWorkflow runs through visibility since its checkpoint
// (less 10 minutes, for visibility's eventual consistency) and exports those without a bundle. The checkpoint
// advances only when a sweep exported everything it listed. Replicas need no coordination: writes are
// atomic renames and a closed run's bundle is never rewritten. A loop in the worker rather than a Temporal
// Schedule: the export needs the signing key and the audit store, which live with the worker anyway, and a
// schedule would add a workflow run every 30 s to the namespace.
//
// # Verification
//
// Verifier checks each bundle's signature (when given public keys) and history hash, then replays the
// history with worker.NewWorkflowReplayer against the current workflow code with the same data converter.
// The SDK's replay compares only each command's type and id (for an activity: its type and activity id),
// so Replayer adds an input check: a workflow interceptor encodes the input of every activity the replayed
// code schedules and compares it with the input recorded in the history's ActivityTaskScheduled event of
// the same activity id and occurrence. A change that would isolate another host fails replay. The
// workflow's result is not compared: a new field in Result would then fail every old history.
//
// When the SDK reports nondeterminism, the interceptor's trace of the commands the replayed code issued is
// paired with the history's command events to name the first that differs, in words.
//
// Each run gets one Verdict: ok, tampered (which check failed), nondeterministic (the first diverging
// event or activity input, in words) or unreadable. docs/audit.md has the formats and measured throughput.
package audit
