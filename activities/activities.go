// Package activities implements Parry's actions as Temporal activities: one activity type per action of the
// catalog (package actions), registered under the action's name, each a method of Activities.
//
// Activities holds one provider per family — EDR, Identity, Network, Email, Evidence (collection) with its
// Store, Sandbox, Intel — plus the Notifier and the approver Directory. An activity checks its parameters
// against the catalog, calls its provider with the step's idempotency key (so a retried activity never acts
// twice), and returns an actions.Result whose Output keys are the ones the catalog documents. Providers are
// adapters chosen by name in Config (only "lab", the simulator in activities/lab, exists so far); they share
// the vocabulary of package provider and report failures as provider.Error, which this package maps to
// Temporal application errors in one place (see Error). Long actions heartbeat their progress and resume
// from the last heartbeat when a retry lands on another worker.
package activities

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/activities/evidence"
	"github.com/parry-soc/parry/activities/lab"
	"github.com/parry-soc/parry/activities/provider"
	"github.com/parry-soc/parry/notify"
)

// Activities implements every non-manual action of the catalog. Build it with New, or fill the fields
// directly (tests use fakes); a family left nil fails its activities with a non-retryable NotConfigured error.
type Activities struct {
	EDR       EDR
	Identity  Identity
	Network   Network
	Email     Email
	Evidence  Evidence // collects evidence …
	Store     Store    // … and this keeps it
	Sandbox   Sandbox
	Intel     Intel
	Notifier  notify.Notifier
	Directory Directory
	Logger    *slog.Logger
}

// EDR isolates hosts and acts on processes, files, persistence and local accounts.
type EDR interface {
	provider.Info
	IsolateHost(ctx context.Context, key, host, comment string) (provider.HostState, error)
	ReleaseHost(ctx context.Context, key, host, comment string) (provider.HostState, error)
	KillProcess(ctx context.Context, key, host, process string) (killed int, err error)
	QuarantineFile(ctx context.Context, key, host, sha256, path string) (quarantined int, err error)
	RestoreFile(ctx context.Context, key, host, sha256 string) (restored int, err error)
	RemovePersistence(ctx context.Context, key, host, kind, name string) (provider.PersistenceRemoval, error)
	DisableLocalAccount(ctx context.Context, key, host, account string) error
	EnableLocalAccount(ctx context.Context, key, host, account string) error
	ScanHost(ctx context.Context, key, host, sha256 string, resume provider.Progress, report provider.ProgressFunc) (provider.Scan, error)
}

// Identity acts on directory accounts.
type Identity interface {
	provider.Info
	DisableUser(ctx context.Context, key, user string) (provider.UserState, error)
	EnableUser(ctx context.Context, key, user string) (provider.UserState, error)
	RevokeSessions(ctx context.Context, key, user string) (revoked int, err error)
	ResetPassword(ctx context.Context, key, user string) (reset bool, err error)
}

// Network blocks addresses at the perimeter.
type Network interface {
	provider.Info
	BlockIP(ctx context.Context, key, ip, comment string) (ruleID string, err error)
	UnblockIP(ctx context.Context, key, ip string) (removed bool, err error)
}

// Email acts on messages and senders at the mail system and gateway.
type Email interface {
	provider.Info
	PurgeMessage(ctx context.Context, key, messageID string) (mailboxes []string, err error)
	RestoreMessage(ctx context.Context, key, messageID string) (restored int, err error)
	BlockSender(ctx context.Context, key, sender string) (ruleID string, err error)
	UnblockSender(ctx context.Context, key, sender string) (removed bool, err error)
}

// Evidence collects evidence from hosts and the mail system. What it returns is streamed into the Store.
type Evidence interface {
	provider.Info
	MemoryDump(ctx context.Context, key, host string, resume provider.Progress, report provider.ProgressFunc) (provider.Capture, error)
	EmailHeaders(ctx context.Context, key, messageID string) (provider.HeaderCapture, error)
	NetworkCapture(ctx context.Context, key, host string, d time.Duration, resume provider.Progress, report provider.ProgressFunc) (provider.Capture, error)
	CollectTriage(ctx context.Context, key, host string, resume provider.Progress, report provider.ProgressFunc) (provider.Capture, error)
	CollectLogs(ctx context.Context, key, host, log string, since time.Duration, resume provider.Progress, report provider.ProgressFunc) (provider.LogCapture, error)
}

// Store keeps evidence and hands back references to it (locator + SHA-256), never the bytes.
type Store interface {
	// Put stores evidence name of the step whose idempotency key is key. A step that already stored that
	// name gets the stored evidence back: evidence never changes once written.
	Put(ctx context.Context, key, name string, r io.Reader) (actions.Evidence, error)
	// Lookup returns what a step stored under name, if anything.
	Lookup(ctx context.Context, key, name string) (actions.Evidence, bool, error)
}

// Sandbox detonates files.
type Sandbox interface {
	provider.Info
	Detonate(ctx context.Context, key, sha256 string, resume provider.Progress, report provider.ProgressFunc) (provider.Detonation, error)
}

// Intel looks indicators up in threat intelligence.
type Intel interface {
	provider.Info
	LookupHash(ctx context.Context, sha256 string) (provider.HashIntel, error)
	LookupIP(ctx context.Context, ip string) (provider.IPIntel, error)
}

// Directory resolves Slack user groups to their members' Slack user ids, for approvals.
type Directory interface {
	GroupMembers(ctx context.Context, group string) ([]string, error)
}

// The lab implements every family.
var (
	_ EDR       = (*lab.Lab)(nil)
	_ Identity  = (*lab.Lab)(nil)
	_ Network   = (*lab.Lab)(nil)
	_ Email     = (*lab.Lab)(nil)
	_ Evidence  = (*lab.Lab)(nil)
	_ Sandbox   = (*lab.Lab)(nil)
	_ Intel     = (*lab.Lab)(nil)
	_ Directory = (*lab.Lab)(nil)
	_ Store     = (*evidence.Store)(nil)
)

func (a *Activities) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}
