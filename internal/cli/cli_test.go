package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parry-soc/parry/actions"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/parry-soc/parry/activities/lab"
	"github.com/parry-soc/parry/internal/cluster"
	"github.com/parry-soc/parry/internal/devserver"
	"github.com/parry-soc/parry/workflows"
)

// lockedBuffer is a bytes.Buffer safe to write from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// testEnv is an environment for one command: PARRY_HOME in a temp dir, free ports, no Web UI, a fast lab.
func testEnv(home string, vars map[string]string) (Env, *lockedBuffer, *lockedBuffer) {
	all := map[string]string{
		"PARRY_HOME":           home,
		"PARRY_DEV_ADDRESS":    "127.0.0.1:0",
		"PARRY_DEV_UI_ADDRESS": "off",
		"PARRY_LAB_TICK":       "20ms",
	}
	for k, v := range vars {
		all[k] = v
	}
	var stdout, stderr lockedBuffer
	return Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return all[k] }}, &stdout, &stderr
}

func decodeResult(t *testing.T, out string) workflows.Result {
	t.Helper()
	var res workflows.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("result is not JSON: %v\n%s", err, out)
	}
	return res
}

// TestMainJobRunsSpearphishingExactlyOnce runs the README's main job — the T1566.001 sample on the embedded
// server with the dev operator approving — and checks from the lab's state file that every side effect
// happened exactly once; running it again reuses the database and starts nothing new.
func TestMainJobRunsSpearphishingExactlyOnce(t *testing.T) {
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sample := filepath.Join("testdata", "alerts", "t1566-001.json")

	env, stdout, stderr := testEnv(home, nil)
	if err := Trigger(ctx, env, []string{"run", "--dev", "--auto-approve", "--json", sample}); err != nil {
		t.Fatalf("trigger run: %v\n%s", err, stderr)
	}
	res := decodeResult(t, stdout.String())
	if res.State != workflows.StateCompleted {
		t.Fatalf("state = %s (failure %q), want completed", res.State, res.Failure)
	}
	if res.RunID != "parry-parry-demo-phish-0001" || res.Playbook.ID != "spearphishing-attachment" {
		t.Errorf("run %s playbook %s", res.RunID, res.Playbook.ID)
	}

	st, err := lab.ReadState(filepath.Join(home, "lab-state.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := checkEffectsOnce(t, res, st)
	// Evidence is real files whose SHA-256 is what the run recorded.
	evidence := 0
	for _, s := range res.Steps {
		for _, e := range s.Evidence {
			evidence++
			path := strings.TrimPrefix(e.Locator, "file://")
			b, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("evidence %s: %v", e.Locator, err)
				continue
			}
			if got := sha256Hex(b); got != e.SHA256 {
				t.Errorf("evidence %s: sha256 %s, recorded %s", e.Locator, got, e.SHA256)
			}
		}
	}
	if evidence < 3 {
		t.Errorf("evidence items = %d, want memory, headers and pcap at least", evidence)
	}

	// Again: the same database, the same alert → the existing run, nothing done twice.
	env2, stdout2, stderr2 := testEnv(home, nil)
	if err := Trigger(ctx, env2, []string{"run", "--dev", "--auto-approve", sample}); err != nil {
		t.Fatalf("second trigger run: %v\n%s", err, stderr2)
	}
	if !strings.Contains(stdout2.String(), "Duplicate: this alert already has run parry-parry-demo-phish-0001") {
		t.Errorf("second run output does not report the duplicate:\n%s", stdout2)
	}
	st2, err := lab.ReadState(filepath.Join(home, "lab-state.json"))
	if err != nil {
		t.Fatal(err)
	}
	for action, n := range want {
		if got := st2.Count(action); got != n {
			t.Errorf("after the second command %s = %d, want still %d", action, got, n)
		}
	}

	// The closed run was signed into the dev audit store, and verifies against the dev audit key.
	bundle := filepath.Join(home, "audit", "parry-parry-demo-phish-0001")
	if !strings.Contains(stdout2.String(), "audit bundle: "+bundle+"\n") {
		t.Errorf("output does not name the audit bundle %s:\n%s", bundle, stdout2)
	}
	env3, stdout3, stderr3 := testEnv(home, nil)
	if err := Trigger(ctx, env3, []string{"replay", "--dev", bundle}); err != nil {
		t.Fatalf("trigger replay --dev %s: %v\n%s%s", bundle, err, stdout3, stderr3)
	}
	if !strings.HasPrefix(stdout3.String(), "parry-parry-demo-phish-0001: ok (signed by ed25519:") {
		t.Errorf("replay of the dev bundle:\n%s", stdout3)
	}
}

// TestEveryLibraryPlaybookRunsOnTheLab routes one alert per library playbook and runs each to completion on
// the embedded server with the lab providers.
func TestEveryLibraryPlaybookRunsOnTheLab(t *testing.T) {
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	startServer(ctx, t, home)

	// The subtests run in parallel inside this group, so the server outlives them all.
	t.Run("group", func(t *testing.T) { runLibrary(ctx, t, home) })
}

func runLibrary(ctx context.Context, t *testing.T, home string) {
	for _, tt := range []struct{ alert, playbook string }{
		{"t1566-001", "spearphishing-attachment"},
		{"t1190", "exploit-public-facing-application"},
		{"t1078", "valid-accounts"},
		{"t1078-003", "local-accounts"},
		{"t1059-001", "powershell"},
		{"t1053-005", "scheduled-task"},
		{"t1547-001", "registry-run-keys-startup-folder"},
		{"t1021-001", "remote-desktop-protocol"},
		{"t1550-002", "pass-the-hash"},
		{"t1203", "exploitation-for-client-execution"},
		{"t1564-001-fallback", "generic-endpoint-triage"},
	} {
		t.Run(tt.playbook, func(t *testing.T) {
			t.Parallel()
			env, stdout, stderr := testEnv(home, nil)
			err := Trigger(ctx, env, []string{"run", "--dev", "--auto-approve", "--json", filepath.Join("testdata", "alerts", tt.alert+".json")})
			if err != nil {
				t.Fatalf("trigger run: %v\n%s", err, stderr)
			}
			res := decodeResult(t, stdout.String())
			if res.Playbook.ID != tt.playbook {
				t.Errorf("routed to %s, want %s", res.Playbook.ID, tt.playbook)
			}
			if res.State != workflows.StateCompleted {
				t.Errorf("state = %s (failure %q), want completed", res.State, res.Failure)
			}
			ran := 0
			for _, s := range res.Steps {
				switch s.State {
				case workflows.StepSucceeded:
					ran++
				case workflows.StepFailed, workflows.StepPending, workflows.StepCanceled:
					t.Errorf("step %s is %s: %s %s", s.ID, s.State, s.Reason, s.Error)
				}
			}
			if ran < 3 {
				t.Errorf("only %d steps succeeded", ran)
			}
		})
	}
}

func TestValidateCommand(t *testing.T) {
	for _, tt := range []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"library", []string{"validate"}, 0, "ok: 11 playbook(s)"},
		{"bad playbook", []string{"validate", "../../playbooks/testdata/invalid/unknown-action.yaml"}, 1, "unknown action"},
		{"missing file", []string{"validate", "no-such.yaml"}, 1, "no-such.yaml"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env, stdout, stderr := testEnv(t.TempDir(), nil)
			err := Trigger(context.Background(), env, tt.args)
			if got := ExitCode(err); got != tt.wantCode {
				t.Errorf("exit code %d, want %d (%v)", got, tt.wantCode, err)
			}
			if out := stdout.String() + stderr.String(); !strings.Contains(out, tt.wantOut) {
				t.Errorf("output %q does not contain %q", out, tt.wantOut)
			}
		})
	}
}

func TestRunRefusesBadAlerts(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tt := range []struct {
		name string
		file string
		want string
	}{
		{"missing required input", write("nohost.json", `{"id":"x1","source":"parry","title":"t","severity":"high","techniques":["T1566.001"],"user":"alice"}`), "host"},
		{"unroutable", write("unrouted.json", `{"id":"x2","source":"parry","title":"t","severity":"high","techniques":["T1598"],"host":"WS-0042"}`), "T1598"},
		{"not JSON", write("bad.json", `{"id":`), "JSON"},
		{"no such file", filepath.Join(dir, "missing.json"), "missing.json"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env, _, _ := testEnv(dir, nil)
			err := Trigger(context.Background(), env, []string{"run", tt.file})
			if ExitCode(err) != 2 || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got exit %d %v, want exit 2 naming %q", ExitCode(err), err, tt.want)
			}
		})
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// startServer starts an embedded server owned by the test, on a free port without the Web UI; commands run
// with testEnv(home) attach to it.
func startServer(ctx context.Context, t *testing.T, home string) *devserver.Server {
	t.Helper()
	srv, err := devserver.Start(ctx, devserver.Config{Dir: home, Address: "127.0.0.1:0", DisableUI: true, SearchAttributes: workflows.SearchAttributeTypes(), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// dial connects a quiet client to a test server.
func dial(ctx context.Context, t *testing.T, srv *devserver.Server) client.Client {
	t.Helper()
	c, err := cluster.Dial(ctx, cluster.Config{Address: srv.Address(), Namespace: srv.Namespace()}, client.Options{Logger: tlog.NewStructuredLogger(discardLogger())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// checkEffectsOnce checks from the lab's state file that every step of the run that changed or captured
// something did so exactly once, under its idempotency key. Lookups (intel.*) change nothing and are not
// recorded. It returns the effects counted per action.
func checkEffectsOnce(t *testing.T, res workflows.Result, st lab.State) map[string]int {
	t.Helper()
	want := map[string]int{}
	for _, s := range res.Steps {
		a, _ := actions.Lookup(s.Action)
		if s.State != workflows.StepSucceeded || a.Manual || a.Family() == "intel" {
			continue
		}
		want[s.Action]++
		key := actions.IdempotencyKey(res.RunID, s.ID)
		if e, ok := st.Effects[key]; !ok || e.Action != s.Action {
			t.Errorf("no %s effect recorded under %s", s.Action, key)
		}
	}
	for action, n := range want {
		if got := st.Count(action); got != n {
			t.Errorf("lab state counts %s = %d, want %d (exactly once per step)", action, got, n)
		}
	}
	return want
}
