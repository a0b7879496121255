package activities

import (
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"

	"github.com/parry-soc/parry/actions"
)

// implementations maps each action name to the method that implements it. Adding an action to the catalog
// means adding its method here; the tests fail until then.
func (a *Activities) implementations() map[string]any {
	return map[string]any{
		"edr.isolate_host":          a.IsolateHost,
		"edr.release_host":          a.ReleaseHost,
		"edr.kill_process":          a.KillProcess,
		"edr.quarantine_file":       a.QuarantineFile,
		"edr.restore_file":          a.RestoreFile,
		"edr.remove_persistence":    a.RemovePersistence,
		"edr.disable_local_account": a.DisableLocalAccount,
		"edr.enable_local_account":  a.EnableLocalAccount,
		"edr.scan_host":             a.ScanHost,
		"identity.disable_user":     a.DisableUser,
		"identity.enable_user":      a.EnableUser,
		"identity.revoke_sessions":  a.RevokeSessions,
		"identity.reset_password":   a.ResetPassword,
		"network.block_ip":          a.BlockIP,
		"network.unblock_ip":        a.UnblockIP,
		"email.purge_message":       a.PurgeMessage,
		"email.restore_message":     a.RestoreMessage,
		"email.block_sender":        a.BlockSender,
		"email.unblock_sender":      a.UnblockSender,
		"evidence.memory_dump":      a.MemoryDump,
		"evidence.email_headers":    a.EmailHeaders,
		"evidence.network_capture":  a.NetworkCapture,
		"evidence.collect_triage":   a.CollectTriage,
		"evidence.collect_logs":     a.CollectLogs,
		"sandbox.detonate":          a.Detonate,
		"intel.lookup_hash":         a.LookupHash,
		"intel.lookup_ip":           a.LookupIP,
		actions.NotifyEvent:         a.NotifyEvent,
		actions.NotifyEscalation:    a.NotifyEscalation,
		actions.ResolveApprovers:    a.ResolveApprovers,
	}
}

// Register registers one activity type per non-manual action of the catalog, named as the catalog names it
// ("edr.isolate_host"). Workers should set worker.Options.DisableRegistrationAliasing, as the SDK advises
// for custom names. An action without an implementation is logged and skipped; call Unimplemented at start
// to refuse to run instead.
func (a *Activities) Register(r worker.ActivityRegistry) {
	impl := a.implementations()
	for _, act := range actions.All() {
		if act.Manual {
			continue
		}
		fn, ok := impl[act.Name]
		if !ok {
			a.logger().Error("no activity implements this action; steps using it will time out", "action", act.Name)
			continue
		}
		r.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: act.Name})
	}
}

// Unimplemented returns the non-manual catalog actions that no activity implements (none, when the tests
// pass).
func Unimplemented() []string {
	impl := (&Activities{}).implementations()
	var missing []string
	for _, act := range actions.All() {
		if _, ok := impl[act.Name]; !ok && !act.Manual {
			missing = append(missing, act.Name)
		}
	}
	return missing
}
