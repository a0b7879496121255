package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/activities/provider"
)

// persistenceKinds are the kinds edr.remove_persistence accepts, as the catalog documents them.
var persistenceKinds = []string{"registry_run_key", "startup_folder", "scheduled_task", "service"}

// IsolateHost implements edr.isolate_host.
func (a *Activities) IsolateHost(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "edr.isolate_host", "edr", a.EDR, req)
	if err != nil {
		return actions.Result{}, err
	}
	hs, err := a.EDR.IsolateHost(ctx, req.IdempotencyKey, param(req, "host"), param(req, "comment"))
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	return c.result(map[string]any{"host": hs.Host, "device_id": hs.DeviceID, "state": hs.State},
		"isolated "+hs.Host), nil
}

// ReleaseHost implements edr.release_host. Whether another run still contains the host is the incident
// workflow's to decide; when this runs, the host is released.
func (a *Activities) ReleaseHost(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "edr.release_host", "edr", a.EDR, req)
	if err != nil {
		return actions.Result{}, err
	}
	hs, err := a.EDR.ReleaseHost(ctx, req.IdempotencyKey, param(req, "host"), param(req, "comment"))
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	return c.result(map[string]any{"host": hs.Host, "state": hs.State}, "released "+hs.Host), nil
}

// KillProcess implements edr.kill_process.
func (a *Activities) KillProcess(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "edr.kill_process", "edr", a.EDR, req)
	if err != nil {
		return actions.Result{}, err
	}
	host, process := param(req, "host"), param(req, "process")
	n, err := a.EDR.KillProcess(ctx, req.IdempotencyKey, host, process)
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	return c.result(map[string]any{"killed": n}, fmt.Sprintf("killed %d process(es) matching %s on %s", n, process, host)), nil
}

// QuarantineFile implements edr.quarantine_file.
func (a *Activities) QuarantineFile(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "edr.quarantine_file", "edr", a.EDR, req)
	if err != nil {
		return actions.Result{}, err
	}
	host, sha := param(req, "host"), param(req, "sha256")
	n, err := a.EDR.QuarantineFile(ctx, req.IdempotencyKey, host, sha, param(req, "path"))
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	return c.result(map[string]any{"quarantined": n}, fmt.Sprintf("quarantined %d copy(ies) of %s on %s", n, short(sha), host)), nil
}

// RestoreFile implements edr.restore_file.
func (a *Activities) RestoreFile(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "edr.restore_file", "edr", a.EDR, req)
	if err != nil {
		return actions.Result{}, err
	}
	host, sha := param(req, "host"), param(req, "sha256")
	n, err := a.EDR.RestoreFile(ctx, req.IdempotencyKey, host, sha)
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	return c.result(map[string]any{"restored": n}, fmt.Sprintf("restored %d copy(ies) of %s on %s", n, short(sha), host)), nil
}

// RemovePersistence implements edr.remove_persistence. The removed item's definition is kept as evidence
// (kind "backup") so a responder can recreate it.
func (a *Activities) RemovePersistence(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "edr.remove_persistence", "edr", a.EDR, req)
	if err != nil {
		return actions.Result{}, err
	}
	host, kind, name := param(req, "host"), param(req, "kind"), param(req, "name")
	if !slices.Contains(persistenceKinds, kind) {
		return actions.Result{}, invalid(c.action.Name, "parameter kind: %q is not one of %v", kind, persistenceKinds)
	}
	if a.Store == nil {
		return actions.Result{}, notConfigured(c.action.Name, "evidence store")
	}
	r, err := a.EDR.RemovePersistence(ctx, req.IdempotencyKey, host, kind, name)
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	if !r.Removed {
		return c.result(map[string]any{"removed": false, "backup": ""}, fmt.Sprintf("found no %s %q on %s", kind, name, host)), nil
	}
	backupName := r.Name
	if backupName == "" {
		backupName = "persistence-backup.txt"
	}
	ev, err := a.Store.Put(ctx, req.IdempotencyKey, backupName, bytes.NewReader(r.Definition))
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	ev.Kind = "backup"
	return c.result(map[string]any{"removed": true, "backup": ev.Locator}, fmt.Sprintf("removed %s %q from %s", kind, name, host), ev), nil
}

// DisableLocalAccount implements edr.disable_local_account.
func (a *Activities) DisableLocalAccount(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "edr.disable_local_account", "edr", a.EDR, req)
	if err != nil {
		return actions.Result{}, err
	}
	host, account := param(req, "host"), param(req, "account")
	if err := a.EDR.DisableLocalAccount(ctx, req.IdempotencyKey, host, account); err != nil {
		return actions.Result{}, c.fail(err)
	}
	return c.result(map[string]any{"state": "disabled"}, fmt.Sprintf(`disabled local account %s\%s`, host, account)), nil
}

// EnableLocalAccount implements edr.enable_local_account.
func (a *Activities) EnableLocalAccount(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "edr.enable_local_account", "edr", a.EDR, req)
	if err != nil {
		return actions.Result{}, err
	}
	host, account := param(req, "host"), param(req, "account")
	if err := a.EDR.EnableLocalAccount(ctx, req.IdempotencyKey, host, account); err != nil {
		return actions.Result{}, c.fail(err)
	}
	return c.result(map[string]any{"state": "enabled"}, fmt.Sprintf(`enabled local account %s\%s`, host, account)), nil
}

// ScanHost implements edr.scan_host. It heartbeats while the scan runs and resumes from the last heartbeat;
// the findings are kept as evidence (kind "report").
func (a *Activities) ScanHost(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "edr.scan_host", "edr", a.EDR, req)
	if err != nil {
		return actions.Result{}, err
	}
	if a.Store == nil {
		return actions.Result{}, notConfigured(c.action.Name, "evidence store")
	}
	host := param(req, "host")
	scan, err := a.EDR.ScanHost(ctx, req.IdempotencyKey, host, param(req, "sha256"), resume(ctx), newBeater(ctx).report)
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	findings := scan.Findings
	if findings == nil {
		findings = []provider.Finding{}
	}
	report, err := json.MarshalIndent(map[string]any{"host": host, "findings": findings}, "", "  ")
	if err != nil {
		return actions.Result{}, c.fail(fmt.Errorf("write scan report: %w", err))
	}
	ev, err := a.Store.Put(ctx, req.IdempotencyKey, "scan-findings.json", bytes.NewReader(append(report, '\n')))
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	ev.Kind = "report"
	n := len(findings)
	return c.result(map[string]any{"findings": n, "clean": n == 0}, fmt.Sprintf("scanned %s: %d finding(s)", host, n), ev), nil
}

// short abbreviates a hash for notes.
func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12] + "…"
	}
	return sha
}
