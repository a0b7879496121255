package actions

import "time"

// Retry presets. Containment retries quickly: every second the host stays connected counts.
var (
	containRetry = RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second, MaximumAttempts: 6}
	lookupRetry  = RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 5}
	longRetry    = RetryPolicy{InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: 2 * time.Minute, MaximumAttempts: 4}
	notifyRetry  = RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 0}
)

// Internal activity names: the interpreter calls them, playbooks cannot.
const (
	NotifyEvent      = "notify.event"
	NotifyEscalation = "notify.escalate"
	ResolveApprovers = "approvers.resolve"
	ManualTask       = "manual.task"
)

func host(doc string) Param { return Param{Name: "host", Type: String, Required: true, Doc: doc} }
func user(doc string) Param { return Param{Name: "user", Type: String, Required: true, Doc: doc} }

var catalog = []Action{
	// EDR: hosts, processes, files.
	{
		Name: "edr.isolate_host", Summary: "Network-isolate a host through the EDR, keeping only the EDR's own channel",
		Params:   []Param{host("host name as the EDR knows it"), {Name: "comment", Type: String, Doc: "reason shown in the EDR console"}},
		Outputs:  []Field{{"host", "canonical host name"}, {"device_id", "EDR device id"}, {"state", "isolated"}},
		Undo:     "edr.release_host",
		Contains: &Containment{Kind: "host", Param: "host"},
		Timeout:  2 * time.Minute, Retry: containRetry, Risky: true,
	},
	{
		Name: "edr.release_host", Summary: "Lift network isolation from a host",
		Params:  []Param{host("host name as the EDR knows it"), {Name: "comment", Type: String, Doc: "reason shown in the EDR console"}},
		Outputs: []Field{{"host", "canonical host name"}, {"state", "released, or held when another run still contains it"}},
		Timeout: 2 * time.Minute, Retry: containRetry, Risky: true,
	},
	{
		Name: "edr.kill_process", Summary: "Terminate a process (by name, pid or image hash) on a host",
		Params:  []Param{host("host running the process"), {Name: "process", Type: String, Required: true, Doc: "process name, pid or image SHA-256"}},
		Outputs: []Field{{"killed", "number of processes terminated"}},
		Timeout: time.Minute, Retry: containRetry, Risky: true,
	},
	{
		Name: "edr.quarantine_file", Summary: "Quarantine a file on a host by its SHA-256",
		Params:   []Param{host("host holding the file"), {Name: "sha256", Type: String, Required: true, Doc: "file SHA-256"}, {Name: "path", Type: String, Doc: "file path, if known"}},
		Outputs:  []Field{{"quarantined", "number of copies quarantined"}},
		Undo:     "edr.restore_file",
		Contains: &Containment{Kind: "file", Param: "sha256"},
		Timeout:  2 * time.Minute, Retry: containRetry, Risky: true,
	},
	{
		Name: "edr.restore_file", Summary: "Restore a quarantined file",
		Params:  []Param{host("host holding the file"), {Name: "sha256", Type: String, Required: true, Doc: "file SHA-256"}},
		Outputs: []Field{{"restored", "number of copies restored"}},
		Timeout: 2 * time.Minute, Retry: containRetry, Risky: true,
	},
	{
		Name: "edr.remove_persistence", Summary: "Remove a persistence mechanism (registry run key, startup item, scheduled task, service)",
		Params: []Param{
			host("host carrying the persistence"),
			{Name: "kind", Type: String, Required: true, Doc: "registry_run_key | startup_folder | scheduled_task | service"},
			{Name: "name", Type: String, Required: true, Doc: "value, file, task or service name"},
		},
		Outputs: []Field{{"removed", "true when something was removed"}, {"backup", "locator of the exported definition"}},
		Timeout: 2 * time.Minute, Retry: containRetry, Risky: true,
	},
	{
		Name: "edr.disable_local_account", Summary: "Disable a local account on one host",
		Params:   []Param{host("host holding the account"), {Name: "account", Type: String, Required: true, Doc: "local account name"}},
		Outputs:  []Field{{"state", "disabled"}},
		Undo:     "edr.enable_local_account",
		Contains: &Containment{Kind: "account", Param: "account"},
		Timeout:  time.Minute, Retry: containRetry, Risky: true,
	},
	{
		Name: "edr.enable_local_account", Summary: "Re-enable a local account on one host",
		Params:  []Param{host("host holding the account"), {Name: "account", Type: String, Required: true, Doc: "local account name"}},
		Outputs: []Field{{"state", "enabled"}},
		Timeout: time.Minute, Retry: containRetry, Risky: true,
	},
	{
		Name: "edr.scan_host", Summary: "Run a full scan of a host for known-bad files and indicators",
		Params:  []Param{host("host to scan"), {Name: "sha256", Type: String, Doc: "an extra indicator to sweep for"}},
		Outputs: []Field{{"findings", "number of findings"}, {"clean", "true when nothing was found"}},
		Timeout: 20 * time.Minute, Heartbeat: 10 * time.Second, Retry: longRetry,
	},

	// Identity: directory accounts.
	{
		Name: "identity.disable_user", Summary: "Disable a directory account so it cannot sign in",
		Params:   []Param{user("account name or UPN")},
		Outputs:  []Field{{"user", "canonical account name"}, {"state", "disabled"}},
		Undo:     "identity.enable_user",
		Contains: &Containment{Kind: "user", Param: "user"},
		Timeout:  time.Minute, Retry: containRetry, Risky: true,
	},
	{
		Name: "identity.enable_user", Summary: "Re-enable a directory account",
		Params:  []Param{user("account name or UPN")},
		Outputs: []Field{{"user", "canonical account name"}, {"state", "enabled, or held when another run still contains it"}},
		Timeout: time.Minute, Retry: containRetry, Risky: true,
	},
	{
		Name: "identity.revoke_sessions", Summary: "Revoke an account's refresh tokens and sign-in sessions",
		Params:  []Param{user("account name or UPN")},
		Outputs: []Field{{"revoked", "number of sessions revoked"}},
		Timeout: time.Minute, Retry: containRetry, Risky: true,
	},
	{
		Name: "identity.reset_password", Summary: "Force a password reset of an account at next sign-in",
		Params:  []Param{user("account name or UPN")},
		Outputs: []Field{{"reset", "true when the reset was forced"}},
		Timeout: time.Minute, Retry: containRetry, Risky: true,
	},

	// Network.
	{
		Name: "network.block_ip", Summary: "Block an IP address at the perimeter firewall",
		Params:   []Param{{Name: "ip", Type: String, Required: true, Doc: "IPv4 or IPv6 address"}, {Name: "comment", Type: String, Doc: "rule comment"}},
		Outputs:  []Field{{"rule_id", "firewall rule id"}},
		Undo:     "network.unblock_ip",
		Contains: &Containment{Kind: "ip", Param: "ip"},
		Timeout:  time.Minute, Retry: containRetry, Risky: true,
	},
	{
		Name: "network.unblock_ip", Summary: "Remove a perimeter block of an IP address",
		Params:  []Param{{Name: "ip", Type: String, Required: true, Doc: "IPv4 or IPv6 address"}},
		Outputs: []Field{{"removed", "true when a block was removed"}},
		Timeout: time.Minute, Retry: containRetry, Risky: true,
	},

	// Email.
	{
		Name: "email.purge_message", Summary: "Remove a message from every mailbox that received it (soft delete, recoverable)",
		Params:   []Param{{Name: "message_id", Type: String, Required: true, Doc: "RFC 5322 Message-ID"}},
		Outputs:  []Field{{"purged", "number of mailboxes the message was removed from"}, {"mailboxes", "the mailboxes"}},
		Undo:     "email.restore_message",
		Contains: &Containment{Kind: "message", Param: "message_id"},
		Timeout:  5 * time.Minute, Retry: containRetry, Risky: true,
	},
	{
		Name: "email.restore_message", Summary: "Restore a purged message to the mailboxes it was removed from",
		Params:  []Param{{Name: "message_id", Type: String, Required: true, Doc: "RFC 5322 Message-ID"}},
		Outputs: []Field{{"restored", "number of mailboxes restored"}},
		Timeout: 5 * time.Minute, Retry: containRetry, Risky: true,
	},
	{
		Name: "email.block_sender", Summary: "Block a sender address at the mail gateway",
		Params:   []Param{{Name: "sender", Type: String, Required: true, Doc: "sender address"}},
		Outputs:  []Field{{"rule_id", "gateway rule id"}},
		Undo:     "email.unblock_sender",
		Contains: &Containment{Kind: "sender", Param: "sender"},
		Timeout:  time.Minute, Retry: containRetry, Risky: true,
	},
	{
		Name: "email.unblock_sender", Summary: "Remove a sender block at the mail gateway",
		Params:  []Param{{Name: "sender", Type: String, Required: true, Doc: "sender address"}},
		Outputs: []Field{{"removed", "true when a block was removed"}},
		Timeout: time.Minute, Retry: containRetry, Risky: true,
	},

	// Evidence: captured to the evidence store, passed by reference (locator + SHA-256).
	{
		Name: "evidence.memory_dump", Summary: "Capture a host's physical memory to the evidence store",
		Params:  []Param{host("host to capture")},
		Outputs: []Field{{"locator", "evidence store locator"}, {"sha256", "SHA-256 of the image"}, {"size", "bytes"}},
		Timeout: 30 * time.Minute, Heartbeat: 10 * time.Second, Retry: longRetry,
	},
	{
		Name: "evidence.email_headers", Summary: "Preserve a message's full headers to the evidence store",
		Params:  []Param{{Name: "message_id", Type: String, Required: true, Doc: "RFC 5322 Message-ID"}},
		Outputs: []Field{{"locator", "evidence store locator"}, {"sha256", "SHA-256 of the headers"}, {"sender_ip", "first external hop"}},
		Timeout: 2 * time.Minute, Retry: lookupRetry,
	},
	{
		Name: "evidence.network_capture", Summary: "Capture a host's network traffic for a while to the evidence store",
		Params:  []Param{host("host to capture"), {Name: "duration", Type: Duration, Doc: "how long to capture (default 5m)"}},
		Outputs: []Field{{"locator", "evidence store locator"}, {"sha256", "SHA-256 of the pcap"}, {"size", "bytes"}},
		Timeout: 30 * time.Minute, Heartbeat: 10 * time.Second, Retry: longRetry,
	},
	{
		Name: "evidence.collect_triage", Summary: "Collect a triage package (event logs, prefetch, registry hives, autoruns) from a host",
		Params:  []Param{host("host to collect from")},
		Outputs: []Field{{"locator", "evidence store locator"}, {"sha256", "SHA-256 of the package"}, {"size", "bytes"}},
		Timeout: 20 * time.Minute, Heartbeat: 10 * time.Second, Retry: longRetry,
	},
	{
		Name: "evidence.collect_logs", Summary: "Export logs of one kind from a host to the evidence store",
		Params:  []Param{host("host to collect from"), {Name: "log", Type: String, Required: true, Doc: "security | powershell | web | rdp | taskscheduler | sysmon"}, {Name: "since", Type: Duration, Doc: "how far back (default 24h)"}},
		Outputs: []Field{{"locator", "evidence store locator"}, {"sha256", "SHA-256 of the export"}, {"events", "number of events"}},
		Timeout: 10 * time.Minute, Heartbeat: 10 * time.Second, Retry: longRetry,
	},

	// Sandbox and threat intelligence.
	{
		Name: "sandbox.detonate", Summary: "Detonate a file in the sandbox and wait for its report",
		Params:  []Param{{Name: "sha256", Type: String, Required: true, Doc: "file SHA-256"}},
		Outputs: []Field{{"verdict", "malicious | suspicious | clean | unknown"}, {"score", "0-100"}, {"family", "malware family, if named"}, {"iocs", "network indicators seen"}, {"report", "report locator"}},
		Timeout: 30 * time.Minute, Heartbeat: 10 * time.Second, Retry: longRetry,
	},
	{
		Name: "intel.lookup_hash", Summary: "Look a file hash up in threat intelligence",
		Params:  []Param{{Name: "sha256", Type: String, Required: true, Doc: "file SHA-256"}},
		Outputs: []Field{{"verdict", "malicious | suspicious | clean | unknown"}, {"family", "malware family, if known"}, {"detections", "engines that flag it"}, {"first_seen", "RFC 3339"}},
		Timeout: time.Minute, Retry: lookupRetry,
	},
	{
		Name: "intel.lookup_ip", Summary: "Look an IP address up in threat intelligence",
		Params:  []Param{{Name: "ip", Type: String, Required: true, Doc: "IPv4 or IPv6 address"}},
		Outputs: []Field{{"verdict", "malicious | suspicious | clean | unknown"}, {"reputation", "0-100, higher is worse"}, {"tags", "intel tags"}},
		Timeout: time.Minute, Retry: lookupRetry,
	},

	// People.
	{
		Name: ManualTask, Summary: "A task a person does and marks done (trigger done RUN STEP, or Slack)",
		Params: []Param{{Name: "text", Type: String, Required: true, Doc: "what to do"}, {Name: "assignee", Type: String, Doc: "who should do it"}},
		Manual: true,
	},

	// Internal activities of the interpreter.
	{
		Name: NotifyEvent, Summary: "Deliver one run event to responders (log or Slack)",
		Timeout: 30 * time.Second, Retry: notifyRetry, Internal: true,
	},
	{
		Name: NotifyEscalation, Summary: "Escalate to the escalation channel and the on-call group",
		Timeout: 30 * time.Second, Retry: notifyRetry, Internal: true,
	},
	{
		Name: ResolveApprovers, Summary: "Resolve an approver group's Slack user groups to user ids",
		Timeout: 30 * time.Second, Retry: lookupRetry, Internal: true,
	},
}
