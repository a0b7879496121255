package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/parry-soc/parry/approval"
	"github.com/parry-soc/parry/internal/audit"
	"github.com/parry-soc/parry/internal/operators"
	"github.com/parry-soc/parry/workflows"
)

const closedPlaybookRuns = "WorkflowType='PlaybookWorkflow' AND ExecutionStatus!='Running'"

// auditKeygen runs `trigger audit keygen -o FILE` and returns the public key it prints.
func auditKeygen(t *testing.T, file string) string {
	t.Helper()
	env, stdout, stderr := testEnv(t.TempDir(), nil)
	if err := Trigger(context.Background(), env, []string{"audit", "keygen", "-o", file}); err != nil {
		t.Fatalf("trigger audit keygen: %v\n%s", err, stderr)
	}
	pub := strings.TrimSpace(stdout.String())
	if _, err := approval.ParsePublicKey(pub); err != nil {
		t.Fatalf("keygen printed %q: %v", pub, err)
	}
	return pub
}

// triggerExit runs a trigger command and returns its stdout, stderr and exit code.
func triggerExit(ctx context.Context, t *testing.T, home string, vars map[string]string, args ...string) (string, string, int) {
	t.Helper()
	env, stdout, stderr := testEnv(home, vars)
	err := Trigger(ctx, env, args)
	return stdout.String(), stderr.String(), ExitCode(err)
}

// withReplayCode replays against other workflow code until the test ends.
func withReplayCode(t *testing.T, register func(workflows.Registry)) {
	old := replayRegister
	replayRegister = register
	t.Cleanup(func() { replayRegister = old })
}

func registerAs(f func(workflow.Context, workflows.Input) (workflows.Result, error)) func(workflows.Registry) {
	return func(r workflows.Registry) {
		r.RegisterWorkflowWithOptions(f, workflow.RegisterOptions{Name: workflows.WorkflowName})
	}
}

// copyDir copies a bundle directory tree, to tamper with the copy.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func flip(t *testing.T, path, within string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte(within))
	if i < 0 {
		t.Fatalf("%s does not contain %q", path, within)
	}
	b[i] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readManifest(t *testing.T, dir string) (audit.Manifest, []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, audit.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m audit.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m, raw
}

// TestExportReplayRoundTripForEveryLibraryPlaybook runs every library playbook on the embedded server,
// exports the closed runs with one visibility query, and replays the bundles offline against the current
// code: every one is ok. Then it tampers with copies — a byte of a history, a byte of a manifest, a bundle
// signed with another key — and replays against changed interpreters: each is caught, and trigger replay
// exits 1.
func TestExportReplayRoundTripForEveryLibraryPlaybook(t *testing.T) {
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	startServer(ctx, t, home)
	t.Run("group", func(t *testing.T) { runLibrary(ctx, t, home) })
	if t.Failed() {
		t.FailNow()
	}

	keyFile := filepath.Join(t.TempDir(), "audit.key")
	pubkey := auditKeygen(t, keyFile)
	vars := map[string]string{"PARRY_AUDIT_SIGNING_KEY": keyFile}
	store := t.TempDir()
	stdout, stderr, code := triggerExit(ctx, t, home, vars, "history", "export", "--dev", "--query", closedPlaybookRuns, "-o", store)
	if code != 0 {
		t.Fatalf("trigger history export: exit %d\n%s%s", code, stdout, stderr)
	}
	if !regexp.MustCompile(`exported 11/11 runs \(0 already there, 0 failed\) in \S+, [0-9.]+ runs/s`).MatchString(stderr) {
		t.Errorf("export progress does not say 11/11 with a rate:\n%s", stderr)
	}
	if n := strings.Count(stdout, ": exported to "); n != 11 {
		t.Errorf("%d runs reported exported, want 11:\n%s", n, stdout)
	}

	// The manifests say what each run was, without the payload keys.
	playbooks := map[string]bool{}
	pub, _ := approval.ParsePublicKey(pubkey)
	for _, dir := range bundleDirs(t, store) {
		m, _ := readManifest(t, dir)
		history, err := os.ReadFile(filepath.Join(dir, audit.HistoryFile))
		if err != nil {
			t.Fatal(err)
		}
		playbooks[m.Playbook.ID] = true
		switch {
		case filepath.Base(dir) != audit.EscapeID(m.WorkflowID) || !strings.HasPrefix(m.WorkflowID, "parry-parry-"):
			t.Errorf("%s: workflow id %q", dir, m.WorkflowID)
		case m.Namespace != "default" || m.RunID == "" || m.WorkflowType != workflows.WorkflowName:
			t.Errorf("%s: execution %s/%s/%s", dir, m.Namespace, m.RunID, m.WorkflowType)
		case m.Playbook.Version < 1 || len(m.Playbook.SHA256) != 64 || len(m.Techniques) == 0 || m.Alert.ID == "" || m.Alert.Source != "parry":
			t.Errorf("%s: playbook %+v techniques %v alert %+v", dir, m.Playbook, m.Techniques, m.Alert)
		case m.Status != "completed" || m.State != workflows.StateCompleted || m.Disposition != workflows.Undetermined:
			t.Errorf("%s: status %s state %s disposition %s", dir, m.Status, m.State, m.Disposition)
		case m.Started.IsZero() || !m.Closed.After(m.Started) || m.HistoryEvents < 20:
			t.Errorf("%s: started %s closed %s, %d events", dir, m.Started, m.Closed, m.HistoryEvents)
		case m.HistorySHA256 != sha256Hex(history) || m.HistoryBytes != int64(len(history)):
			t.Errorf("%s: history_sha256 %s, file hashes to %s", dir, m.HistorySHA256, sha256Hex(history))
		case m.ParryVersion == "" || m.Payloads != audit.PayloadsAsRecorded || len(m.PayloadKeyIDs) != 0 || m.ExportedBy != "trigger history export":
			t.Errorf("%s: version %q payloads %s keys %v by %q", dir, m.ParryVersion, m.Payloads, m.PayloadKeyIDs, m.ExportedBy)
		case m.SigningKeyID != approval.KeyID(pub):
			t.Errorf("%s: signed by %s, want %s", dir, m.SigningKeyID, approval.KeyID(pub))
		}
	}
	if len(playbooks) != 11 {
		t.Errorf("bundles cover %d playbooks, want the 11 of the library: %v", len(playbooks), playbooks)
	}

	stdout, stderr, code = triggerExit(ctx, t, home, nil, "replay", store, "--pubkey", pubkey)
	if code != 0 || strings.Count(stdout, ": ok (signed by "+approval.KeyID(pub)) != 11 {
		t.Fatalf("trigger replay of the export: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "11 checked in") || !strings.Contains(stderr, "11 ok") {
		t.Errorf("summary: %s", stderr)
	}

	// Exporting again keeps the bundles: a closed run's history cannot change.
	stdout, _, code = triggerExit(ctx, t, home, vars, "history", "export", "--dev", "parry-parry-demo-phish-0001", "-o", store)
	if code != 0 || !strings.Contains(stdout, "parry-parry-demo-phish-0001: already exported in ") {
		t.Errorf("second export of a run: exit %d\n%s", code, stdout)
	}

	spear := filepath.Join(store, "parry-parry-demo-phish-0001")
	for _, tt := range []struct {
		name   string
		tamper func(dir string)
		want   string
	}{
		{"a byte of the history", func(dir string) { flip(t, filepath.Join(dir, audit.HistoryFile), "ACTIVITY_TASK_SCHEDULED") }, "parry-parry-demo-phish-0001: tampered (history hash: "},
		{"a byte of the manifest", func(dir string) { flip(t, filepath.Join(dir, audit.ManifestFile), `demo-phish-0001"`) }, ": tampered (signature: does not verify with key "},
		{"another signing key", func(dir string) {
			other := filepath.Join(t.TempDir(), "other.key")
			auditKeygen(t, other)
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			_, stderr, code := triggerExit(ctx, t, home, map[string]string{"PARRY_AUDIT_SIGNING_KEY": other}, "history", "export", "--dev", "parry-parry-demo-phish-0001", "-o", filepath.Dir(dir))
			if code != 0 {
				t.Fatalf("export with another key: %s", stderr)
			}
		}, "parry-parry-demo-phish-0001: tampered (signature: signed by key "},
	} {
		t.Run("tampered: "+tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "parry-parry-demo-phish-0001")
			copyDir(t, spear, dir)
			tt.tamper(dir)
			stdout, _, code := triggerExit(ctx, t, home, nil, "replay", dir, "--pubkey", pubkey)
			if code != 1 || !strings.Contains(stdout, tt.want) {
				t.Errorf("exit %d, want 1 and %q:\n%s", code, tt.want, stdout)
			}
		})
	}

	t.Run("nondeterministic: command order", func(t *testing.T) {
		withReplayCode(t, registerAs(func(ctx workflow.Context, in workflows.Input) (workflows.Result, error) {
			_ = workflow.Sleep(ctx, time.Second)
			return workflows.PlaybookWorkflow(ctx, in)
		}))
		stdout, _, code := triggerExit(ctx, t, home, nil, "replay", store, "--pubkey", pubkey)
		want := regexp.MustCompile(`(?m)^parry-parry-demo-phish-0001: nondeterministic \(event 5, UpsertWorkflowSearchAttributes \(ParryAlertID, .*\): the current code starts a timer \(1s\) instead\)$`)
		if code != 1 || !want.MatchString(stdout) || strings.Count(stdout, ": nondeterministic (event 5, ") != 11 {
			t.Errorf("exit %d, want 1 and every run nondeterministic at event 5:\n%s", code, stdout)
		}
	})
	t.Run("nondeterministic: interpolation", func(t *testing.T) {
		withReplayCode(t, registerAs(func(ctx workflow.Context, in workflows.Input) (workflows.Result, error) {
			for i := range in.Playbook.Phases {
				for j := range in.Playbook.Phases[i].Steps {
					for k := range in.Playbook.Phases[i].Steps[j].Parallel {
						if st := &in.Playbook.Phases[i].Steps[j].Parallel[k]; st.ID == "memory-dump" {
							st.With["host"] = "${{ inputs.host.lowerAscii() }}"
						}
					}
				}
			}
			return workflows.PlaybookWorkflow(ctx, in)
		}))
		stdout, _, code := triggerExit(ctx, t, home, nil, "replay", spear, "--pubkey", pubkey)
		want := regexp.MustCompile(`^parry-parry-demo-phish-0001: nondeterministic \(step memory-dump \(evidence\.memory_dump\), event \d+: recorded input \{host: WS-0042\}, replay computes \{host: ws-0042\}\)\n$`)
		if code != 1 || !want.MatchString(stdout) {
			t.Errorf("exit %d, want 1 and the memory dump's changed input:\n%s", code, stdout)
		}
	})
}

// bundleDirs lists the bundles in an audit store.
func bundleDirs(t *testing.T, store string) []string {
	t.Helper()
	var dirs []string
	for _, it := range audit.Collect([]string{store}) {
		if it.Bundle {
			dirs = append(dirs, it.Path)
		}
	}
	return dirs
}

// TestEncryptedRunsExportWithKeysAndReplayOnlyWithThem runs with payload encryption on: the bundle keeps the
// ciphertext and names its key, yet its manifest says what the run was; replay needs the key; a decrypted
// copy does not.
func TestEncryptedRunsExportWithKeysAndReplayOnlyWithThem(t *testing.T) {
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	startServer(ctx, t, home)
	payloadKeys := "audit1:" + genKey(t)
	keyFile := filepath.Join(t.TempDir(), "audit.key")
	pubkey := auditKeygen(t, keyFile)
	vars := map[string]string{"PARRY_PAYLOAD_KEYS": payloadKeys, "PARRY_AUDIT_SIGNING_KEY": keyFile}
	res := runDev(ctx, t, home, vars, filepath.Join("testdata", "alerts", "t1566-001.json"))

	store, plain := t.TempDir(), t.TempDir()
	if _, stderr, code := triggerExit(ctx, t, home, vars, "history", "export", "--dev", res.RunID, "-o", store); code != 0 {
		t.Fatalf("export: %s", stderr)
	}
	if _, stderr, code := triggerExit(ctx, t, home, vars, "history", "export", "--dev", "--decrypt", res.RunID, "-o", plain); code != 0 {
		t.Fatalf("export --decrypt: %s", stderr)
	}
	dir := filepath.Join(store, res.RunID)
	m, _ := readManifest(t, dir)
	if m.Payloads != audit.PayloadsAsRecorded || len(m.PayloadKeyIDs) != 1 || m.PayloadKeyIDs[0] != "audit1" ||
		m.Playbook.ID != "spearphishing-attachment" || m.Alert.ID != "demo-phish-0001" || m.State != workflows.StateCompleted {
		t.Errorf("manifest of the encrypted run: %+v", m)
	}
	history, _ := os.ReadFile(filepath.Join(dir, audit.HistoryFile))
	if !bytes.Contains(history, []byte("YmluYXJ5L2VuY3J5cHRlZA")) { // base64 of binary/encrypted
		t.Error("the bundle's payloads are not encrypted")
	}
	pm, _ := readManifest(t, filepath.Join(plain, res.RunID))
	if pm.Payloads != audit.PayloadsDecrypted || len(pm.PayloadKeyIDs) != 1 {
		t.Errorf("manifest of the decrypted copy: payloads %s, keys %v", pm.Payloads, pm.PayloadKeyIDs)
	}

	stdout, _, code := triggerExit(ctx, t, home, nil, "replay", dir, "--pubkey", pubkey)
	if code != 1 || !strings.Contains(stdout, res.RunID+": unreadable (payloads are encrypted with key(s) audit1: pass them with --keys") {
		t.Errorf("replay without the payload key: exit %d\n%s", code, stdout)
	}
	stdout, _, code = triggerExit(ctx, t, home, nil, "replay", dir, "--pubkey", pubkey, "--keys", payloadKeys)
	if code != 0 || !strings.Contains(stdout, res.RunID+": ok (signed by ") {
		t.Errorf("replay with the payload key: exit %d\n%s", code, stdout)
	}
	stdout, _, code = triggerExit(ctx, t, home, nil, "replay", filepath.Join(plain, res.RunID), "--pubkey", pubkey)
	if code != 0 || !strings.Contains(stdout, res.RunID+": ok (signed by ") {
		t.Errorf("replay of the decrypted copy without keys: exit %d\n%s", code, stdout)
	}
}

// TestClosedRunsAreExportedWithoutAnyone: a worker exports and signs every closed run into the audit store
// on its own; a second exporter on the same store adds nothing. In production a worker without a signing key
// refuses to export and says so, and keeps working.
func TestClosedRunsAreExportedWithoutAnyone(t *testing.T) {
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv := startServer(ctx, t, home)
	vars := map[string]string{"PARRY_AUDIT_INTERVAL": "300ms"}
	startTestWorker(ctx, t, home, vars)
	// trigger run --dev signs its own run when it closes; here it must not, so the worker's exporter does.
	res := runDev(ctx, t, home, map[string]string{"PARRY_AUDIT_DIR": "off"}, filepath.Join("testdata", "alerts", "t1566-001.json"))

	store := filepath.Join(home, "audit") // the dev default
	dir := filepath.Join(store, audit.EscapeID(res.RunID))
	deadline := time.Now().Add(30 * time.Second)
	for !fileExists(filepath.Join(dir, audit.ManifestFile)) {
		if time.Now().After(deadline) {
			t.Fatalf("no bundle of %s in %s 30s after it closed", res.RunID, store)
		}
		time.Sleep(100 * time.Millisecond)
	}
	m, before := readManifest(t, dir)
	if m.WorkflowID != res.RunID || m.Status != "completed" || !strings.HasPrefix(m.ExportedBy, "worker on ") {
		t.Errorf("automatic bundle: %+v", m)
	}
	pubkey, _, code := triggerExit(ctx, t, home, nil, "audit", "pubkey", "--dev")
	if code != 0 {
		t.Fatal("trigger audit pubkey --dev failed")
	}
	stdout, stderr, code := triggerExit(ctx, t, home, nil, "replay", store, "--pubkey", strings.TrimSpace(pubkey))
	if code != 0 || !strings.Contains(stdout, res.RunID+": ok (signed by "+m.SigningKeyID) {
		t.Errorf("replay of the automatic bundle: exit %d\n%s%s", code, stdout, stderr)
	}

	// A second exporter — another worker — on the same store finds the bundle and writes nothing.
	key, err := operators.ReadPrivateKey(filepath.Join(home, "keys", "audit.key"))
	if err != nil {
		t.Fatal(err)
	}
	second := &audit.AutoExporter{Exporter: &audit.Exporter{Client: dial(ctx, t, srv), Namespace: srv.Namespace(), Dir: store, Key: key, By: "second"}}
	s, err := second.Sweep(ctx)
	if err != nil || s.Exported != 0 || s.Existing != 1 {
		t.Errorf("second exporter: %+v %v, want the one run found exported", s, err)
	}
	if _, after := readManifest(t, dir); !bytes.Equal(before, after) {
		t.Error("the second exporter rewrote the bundle")
	}
	if n := len(bundleDirs(t, store)); n != 1 {
		t.Errorf("%d bundles in the store, want 1", n)
	}

	t.Run("production without a signing key", func(t *testing.T) {
		wctx, stop := context.WithCancel(ctx)
		defer stop()
		tmp := t.TempDir()
		env, stdout, stderr := testEnv(tmp, map[string]string{
			"TEMPORAL_ADDRESS": srv.Address(), "PARRY_AUDIT_DIR": filepath.Join(tmp, "audit"),
			"PARRY_LAB_STATE": filepath.Join(tmp, "lab.json"), "PARRY_EVIDENCE_DIR": filepath.Join(tmp, "evidence"),
		})
		done := make(chan error, 1)
		go func() { done <- Worker(wctx, env, nil) }()
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(stdout.String(), "worker on task queue") && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		stop()
		if err := <-done; err != nil {
			t.Fatalf("the worker did not run: %v\n%s", err, stderr)
		}
		if !strings.Contains(stderr.String(), "audit exporter not started, closed runs are not exported: no audit signing key: make one with `trigger audit keygen -o FILE` and set PARRY_AUDIT_SIGNING_KEY=FILE") {
			t.Errorf("the worker does not say why it does not export:\n%s", stderr)
		}
		if fileExists(filepath.Join(tmp, "audit")) {
			t.Error("a worker without a signing key wrote to the audit store")
		}
	})
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestReplayCommandOnCommittedHistories is the contributor's use: plain history files, offline.
func TestReplayCommandOnCommittedHistories(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"committed histories", []string{"replay", historiesDir}, 0, "library-t1566-001.json: ok (history only, no manifest to check; "},
		{"one file", []string{"replay", filepath.Join(historiesDir, "failure-and-rollback.json")}, 0, "failure-and-rollback.json: ok ("},
		{"nothing to check", []string{"replay", t.TempDir()}, 1, "no bundles or history files in "},
		{"not a history", []string{"replay", filepath.Join("testdata", "alerts", "t1566-001.json")}, 1, "t1566-001.json: unreadable ("},
		{"a bad public key", []string{"replay", historiesDir, "--pubkey", "ed25519:nope"}, 2, "public key"},
		{"no path", []string{"replay"}, 2, "usage: trigger replay PATH..."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env, stdout, stderr := testEnv(t.TempDir(), nil)
			err := Trigger(ctx, env, tt.args)
			out := stdout.String() + stderr.String()
			if err != nil {
				out += err.Error()
			}
			if ExitCode(err) != tt.wantCode || !strings.Contains(out, tt.want) {
				t.Errorf("exit %d, want %d and %q:\n%s", ExitCode(err), tt.wantCode, tt.want, out)
			}
		})
	}
}
