package lab

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parry-soc/parry/activities/provider"
)

func (l *Lab) findHost(name string) (*Host, error) {
	h := l.fx.host(name)
	if h == nil {
		return nil, provider.HostNotFound(name)
	}
	return h, nil
}

// IsolateHost cuts a host off the network. Isolating a host that is already isolated succeeds.
func (l *Lab) IsolateHost(_ context.Context, key, host, _ string) (provider.HostState, error) {
	h, err := l.findHost(host)
	if err != nil {
		return provider.HostState{}, err
	}
	return effect(l, "edr.isolate_host", key, h.Name, func(st *State, now time.Time) (provider.HostState, error) {
		hs := st.host(h.Name)
		if !hs.Isolated {
			hs.Isolated, hs.Since = true, now
		}
		return provider.HostState{Host: h.Name, DeviceID: h.DeviceID, State: "isolated"}, nil
	})
}

// ReleaseHost lifts isolation. Releasing a host that is not isolated is a successful no-op.
func (l *Lab) ReleaseHost(_ context.Context, key, host, _ string) (provider.HostState, error) {
	h, err := l.findHost(host)
	if err != nil {
		return provider.HostState{}, err
	}
	return effect(l, "edr.release_host", key, h.Name, func(st *State, now time.Time) (provider.HostState, error) {
		hs := st.host(h.Name)
		if hs.Isolated {
			hs.Isolated, hs.Since = false, now
		}
		return provider.HostState{Host: h.Name, DeviceID: h.DeviceID, State: "released"}, nil
	})
}

// KillProcess terminates the running processes that match process: a pid, an image SHA-256 or a process
// name (ignoring case). No match kills nothing and is not an error.
func (l *Lab) KillProcess(_ context.Context, key, host, process string) (int, error) {
	h, err := l.findHost(host)
	if err != nil {
		return 0, err
	}
	process = strings.TrimSpace(process)
	return effect(l, "edr.kill_process", key, h.Name+" "+process, func(st *State, _ time.Time) (int, error) {
		hs := st.host(h.Name)
		killed := 0
		for _, p := range h.Processes {
			if slices.Contains(hs.KilledPIDs, p.PID) || !matchProcess(p, process) {
				continue
			}
			hs.KilledPIDs = append(hs.KilledPIDs, p.PID)
			killed++
		}
		return killed, nil
	})
}

func matchProcess(p Process, s string) bool {
	if pid, err := strconv.Atoi(s); err == nil {
		return p.PID == pid
	}
	return strings.EqualFold(p.Name, s) || (p.ImageSHA256 != "" && strings.EqualFold(p.ImageSHA256, s))
}

// QuarantineFile moves every copy of a file (by SHA-256, optionally one path) on a host into quarantine and
// returns how many it moved.
func (l *Lab) QuarantineFile(_ context.Context, key, host, sha256, path string) (int, error) {
	h, err := l.findHost(host)
	if err != nil {
		return 0, err
	}
	sha256 = strings.ToLower(sha256)
	return effect(l, "edr.quarantine_file", key, h.Name+" "+sha256, func(st *State, _ time.Time) (int, error) {
		hs := st.host(h.Name)
		n := 0
		for _, f := range h.Files {
			if f.SHA256 != sha256 || (path != "" && !strings.EqualFold(f.Path, path)) ||
				slices.Contains(hs.Quarantined[sha256], f.Path) {
				continue
			}
			if hs.Quarantined == nil {
				hs.Quarantined = map[string][]string{}
			}
			hs.Quarantined[sha256] = append(hs.Quarantined[sha256], f.Path)
			n++
		}
		return n, nil
	})
}

// RestoreFile puts the quarantined copies of a file back and returns how many.
func (l *Lab) RestoreFile(_ context.Context, key, host, sha256 string) (int, error) {
	h, err := l.findHost(host)
	if err != nil {
		return 0, err
	}
	sha256 = strings.ToLower(sha256)
	return effect(l, "edr.restore_file", key, h.Name+" "+sha256, func(st *State, _ time.Time) (int, error) {
		hs := st.host(h.Name)
		n := len(hs.Quarantined[sha256])
		delete(hs.Quarantined, sha256)
		return n, nil
	})
}

// RemovePersistence removes a persistence item (by kind and name, ignoring case) and returns its exported
// definition. An item that is not there is not an error: nothing is removed.
func (l *Lab) RemovePersistence(_ context.Context, key, host, kind, name string) (provider.PersistenceRemoval, error) {
	h, err := l.findHost(host)
	if err != nil {
		return provider.PersistenceRemoval{}, err
	}
	return effect(l, "edr.remove_persistence", key, h.Name+" "+kind+"/"+name, func(st *State, now time.Time) (provider.PersistenceRemoval, error) {
		hs := st.host(h.Name)
		for _, p := range h.Persistence {
			id := p.Kind + "/" + p.Name
			if p.Kind != kind || !strings.EqualFold(p.Name, name) || slices.Contains(hs.RemovedPersistence, id) {
				continue
			}
			hs.RemovedPersistence = append(hs.RemovedPersistence, id)
			return provider.PersistenceRemoval{Removed: true, Definition: exportPersistence(h, p, now), Name: backupName(p)}, nil
		}
		return provider.PersistenceRemoval{}, nil
	})
}

// exportPersistence writes a persistence item the way the host's own tools would export it, so a responder
// can put it back by hand.
func exportPersistence(h *Host, p Persistence, now time.Time) []byte {
	var b strings.Builder
	switch p.Kind {
	case "registry_run_key":
		fmt.Fprintf(&b, "Windows Registry Editor Version 5.00\r\n\r\n; %s\r\n[%s]\r\n\"%s\"=\"%s\"\r\n",
			banner(h.Name, now), regHive(p.Location), p.Name, strings.ReplaceAll(strings.ReplaceAll(p.Command, `\`, `\\`), `"`, `\"`))
	default:
		fmt.Fprintf(&b, "# %s\nkind: %s\nname: %s\nlocation: %s\ncommand: %s\n", banner(h.Name, now), p.Kind, p.Name, p.Location, p.Command)
		if p.SHA256 != "" {
			fmt.Fprintf(&b, "sha256: %s\n", p.SHA256)
		}
	}
	return []byte(b.String())
}

func regHive(loc string) string {
	for short, long := range map[string]string{"HKCU": "HKEY_CURRENT_USER", "HKLM": "HKEY_LOCAL_MACHINE"} {
		if rest, ok := strings.CutPrefix(loc, short+`\`); ok {
			return long + `\` + rest
		}
	}
	return loc
}

func backupName(p Persistence) string {
	ext := ".txt"
	if p.Kind == "registry_run_key" {
		ext = ".reg"
	}
	return "persistence-" + p.Kind + "-" + p.Name + ext
}

// DisableLocalAccount disables a local account of a host.
func (l *Lab) DisableLocalAccount(_ context.Context, key, host, account string) error {
	return l.localAccount(key, "edr.disable_local_account", host, account, true)
}

// EnableLocalAccount re-enables a local account of a host.
func (l *Lab) EnableLocalAccount(_ context.Context, key, host, account string) error {
	return l.localAccount(key, "edr.enable_local_account", host, account, false)
}

func (l *Lab) localAccount(key, action, host, account string, disable bool) error {
	h, err := l.findHost(host)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(h.LocalAccounts, func(a string) bool { return strings.EqualFold(a, account) })
	if i < 0 {
		return provider.UserNotFound(account + " on " + h.Name)
	}
	name := h.LocalAccounts[i]
	_, err = effect(l, action, key, h.Name+`\`+name, func(st *State, _ time.Time) (bool, error) {
		hs := st.host(h.Name)
		hs.DisabledAccounts = slices.DeleteFunc(hs.DisabledAccounts, func(a string) bool { return a == name })
		if disable {
			hs.DisabledAccounts = append(hs.DisabledAccounts, name)
		}
		return disable, nil
	})
	return err
}

// ScanHost sweeps a host for files, processes and persistence whose hash the fixture's intelligence calls
// malicious or suspicious, plus the extra indicator sha256 if given. It takes timing.scan_seconds.
func (l *Lab) ScanHost(ctx context.Context, key, host, sha256 string, resume provider.Progress, report provider.ProgressFunc) (provider.Scan, error) {
	h, err := l.findHost(host)
	if err != nil {
		return provider.Scan{}, err
	}
	sha256 = strings.ToLower(sha256)
	return long(ctx, l, "edr.scan_host", key, h.Name, l.fx.Timing.ScanSeconds, resume, report,
		func(st *State, _ time.Time) (provider.Scan, error) {
			return provider.Scan{Findings: l.scan(h, st.host(h.Name), sha256)}, nil
		})
}

func (l *Lab) scan(h *Host, hs *HostState, extra string) []provider.Finding {
	flag := func(sha string) (string, bool) {
		if sha == "" {
			return "", false
		}
		if sha == extra {
			return "matches the indicator swept for", true
		}
		if f := l.fx.file(sha); f != nil && (f.Verdict == provider.Malicious || f.Verdict == provider.Suspicious) {
			reason := f.Verdict
			if f.Family != "" {
				reason += " (" + f.Family + ")"
			}
			return reason, true
		}
		return "", false
	}
	findings := []provider.Finding{}
	for _, f := range h.Files {
		if slices.Contains(hs.Quarantined[f.SHA256], f.Path) {
			continue
		}
		if reason, bad := flag(f.SHA256); bad {
			findings = append(findings, provider.Finding{Kind: "file", Where: f.Path, SHA256: f.SHA256, Reason: reason})
		}
	}
	for _, p := range h.Processes {
		if slices.Contains(hs.KilledPIDs, p.PID) {
			continue
		}
		if reason, bad := flag(p.ImageSHA256); bad {
			findings = append(findings, provider.Finding{Kind: "process", Where: fmt.Sprintf("%s (pid %d)", p.Name, p.PID), SHA256: p.ImageSHA256, Reason: reason})
		}
	}
	for _, p := range h.Persistence {
		if slices.Contains(hs.RemovedPersistence, p.Kind+"/"+p.Name) {
			continue
		}
		if reason, bad := flag(p.SHA256); bad {
			findings = append(findings, provider.Finding{Kind: "persistence", Where: p.Kind + " " + p.Name, SHA256: p.SHA256, Reason: reason})
		}
	}
	return findings
}

// banner is the first line of everything the lab captures.
func banner(host string, at time.Time) string {
	return fmt.Sprintf("PARRY LAB SIMULATION - not captured from a real system - host %s - %s", host, at.UTC().Format(time.RFC3339))
}
