package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/activities/lab"
	"github.com/parry-soc/parry/activities/provider"
	"github.com/parry-soc/parry/notify"
)

const (
	dropper   = "4f1c6a5e2d9b8c7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0f9e"
	messageID = "<20261122085901.4711@mail.example.net>"
)

// fixture holds a test's activities on the lab, with its state file and evidence directory.
type fixture struct {
	acts     *Activities
	state    string
	evidence string
	logs     *syncBuffer
}

// newFixture builds activities on the lab (the default fixture, or fixtureFile) with millisecond ticks.
func newFixture(t *testing.T, fixtureFile string) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{state: filepath.Join(dir, "lab-state.json"), evidence: filepath.Join(dir, "evidence"), logs: &syncBuffer{}}
	acts, err := New(Config{
		LabFixture:  fixtureFile,
		LabState:    f.state,
		LabTick:     time.Millisecond,
		EvidenceDir: f.evidence,
		Logger:      slog.New(slog.NewJSONHandler(f.logs, nil)),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.acts = acts
	return f
}

// env returns a fresh activity environment with every activity registered.
func (f *fixture) env() *testsuite.TestActivityEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	f.acts.Register(env)
	return env
}

// run executes an action by its catalog name.
func run(env *testsuite.TestActivityEnvironment, name string, req actions.Request) (actions.Result, error) {
	val, err := env.ExecuteActivity(name, req)
	if err != nil {
		return actions.Result{}, err
	}
	var res actions.Result
	err = val.Get(&res)
	return res, err
}

func request(step string, with map[string]any) actions.Request {
	return actions.Request{RunID: "parry-test-1", StepID: step, IdempotencyKey: actions.IdempotencyKey("parry-test-1", step), With: with}
}

// samples is a valid request of every action that takes one, against the default fixture.
var samples = map[string]map[string]any{
	"edr.isolate_host":          {"host": "WS-0042", "comment": "parry test"},
	"edr.release_host":          {"host": "WS-0042"},
	"edr.kill_process":          {"host": "WS-0042", "process": "rundll32.exe"},
	"edr.quarantine_file":       {"host": "WS-0042", "sha256": dropper},
	"edr.restore_file":          {"host": "WS-0042", "sha256": dropper},
	"edr.remove_persistence":    {"host": "WS-0042", "kind": "registry_run_key", "name": "WindowsUpdateSvc"},
	"edr.disable_local_account": {"host": "WS-0042", "account": "helpdesk"},
	"edr.enable_local_account":  {"host": "WS-0042", "account": "helpdesk"},
	"edr.scan_host":             {"host": "WS-0042"},
	"identity.disable_user":     {"user": "alice"},
	"identity.enable_user":      {"user": "alice"},
	"identity.revoke_sessions":  {"user": "alice@example.com"},
	"identity.reset_password":   {"user": "alice"},
	"network.block_ip":          {"ip": "198.51.100.23"},
	"network.unblock_ip":        {"ip": "198.51.100.23"},
	"email.purge_message":       {"message_id": messageID},
	"email.restore_message":     {"message_id": messageID},
	"email.block_sender":        {"sender": "billing@invoices.example.net"},
	"email.unblock_sender":      {"sender": "billing@invoices.example.net"},
	"evidence.memory_dump":      {"host": "WS-0042"},
	"evidence.email_headers":    {"message_id": messageID},
	"evidence.network_capture":  {"host": "WS-0042", "duration": "1m"},
	"evidence.collect_triage":   {"host": "WS-0042"},
	"evidence.collect_logs":     {"host": "WS-0042", "log": "security", "since": "2h"},
	"sandbox.detonate":          {"sha256": dropper},
	"intel.lookup_hash":         {"sha256": dropper},
	"intel.lookup_ip":           {"ip": "198.51.100.23"},
}

// recorder is a worker.ActivityRegistry that remembers what was registered.
type recorder struct {
	t     *testing.T
	names map[string]any
}

func (r *recorder) RegisterActivity(a any) { r.t.Errorf("activity %T registered without a name", a) }
func (r *recorder) RegisterActivityWithOptions(a any, o activity.RegisterOptions) {
	if _, dup := r.names[o.Name]; dup {
		r.t.Errorf("%s registered twice", o.Name)
	}
	r.names[o.Name] = a
}
func (r *recorder) RegisterDynamicActivity(a any, _ activity.DynamicRegisterOptions) {
	r.t.Errorf("dynamic activity %T registered", a)
}

func TestRegisterCoversEveryCatalogAction(t *testing.T) {
	r := &recorder{t: t, names: map[string]any{}}
	(&Activities{}).Register(r)

	actionFunc := reflect.TypeOf(func(context.Context, actions.Request) (actions.Result, error) { return actions.Result{}, nil })
	wantType := map[string]reflect.Type{
		actions.NotifyEvent:      reflect.TypeOf(func(context.Context, notify.Batch) (notify.Delivery, error) { return notify.Delivery{}, nil }),
		actions.NotifyEscalation: reflect.TypeOf(func(context.Context, notify.Escalation) error { return nil }),
		actions.ResolveApprovers: reflect.TypeOf(func(context.Context, actions.ResolveRequest) (actions.ResolveResult, error) {
			return actions.ResolveResult{}, nil
		}),
	}
	for _, act := range actions.All() {
		fn, ok := r.names[act.Name]
		if act.Manual {
			if ok {
				t.Errorf("manual action %s is registered as an activity", act.Name)
			}
			continue
		}
		if !ok {
			t.Errorf("action %s has no activity", act.Name)
			continue
		}
		want := actionFunc
		if w, internal := wantType[act.Name]; internal {
			want = w
		}
		if got := reflect.TypeOf(fn); got != want {
			t.Errorf("%s is a %v, want %v", act.Name, got, want)
		}
	}
	for name := range r.names {
		if _, ok := actions.Lookup(name); !ok {
			t.Errorf("activity %s is not in the catalog", name)
		}
	}
	if got := Unimplemented(); len(got) != 0 {
		t.Errorf("Unimplemented() = %v, want none", got)
	}
}

func TestEveryActionRunsAgainstTheLab(t *testing.T) {
	f := newFixture(t, "")
	env := f.env()
	for _, act := range actions.All() {
		if act.Manual || act.Internal {
			continue
		}
		t.Run(act.Name, func(t *testing.T) {
			with, ok := samples[act.Name]
			if !ok {
				t.Fatalf("no sample request for %s: add one to samples", act.Name)
			}
			res, err := run(env, act.Name, request(strings.ReplaceAll(act.Name, ".", "-"), with))
			if err != nil {
				t.Fatalf("%s: %v", act.Name, err)
			}
			var want []string
			for _, o := range act.Outputs {
				want = append(want, o.Name)
			}
			slices.Sort(want)
			if got := sortedKeys(res.Output); !slices.Equal(got, want) {
				t.Errorf("output keys = %v, want the catalog's %v", got, want)
			}
			if res.Provider != "lab" || !res.Simulated || res.Attempt != 1 {
				t.Errorf("provider %q simulated %t attempt %d, want lab, true, 1", res.Provider, res.Simulated, res.Attempt)
			}
			if !strings.HasPrefix(res.Note, "lab: ") || !strings.HasSuffix(res.Note, "(simulated)") {
				t.Errorf("note %q does not say it is a lab simulation", res.Note)
			}
			for _, ev := range res.Evidence {
				checkEvidence(t, ev)
			}
		})
	}
}

// checkEvidence checks that evidence is a real file whose SHA-256 and size are the ones reported.
func checkEvidence(t *testing.T, ev actions.Evidence) []byte {
	t.Helper()
	u, err := url.Parse(ev.Locator)
	if err != nil || u.Scheme != "file" {
		t.Fatalf("locator %q is not a file URL", ev.Locator)
	}
	data, err := os.ReadFile(filepath.FromSlash(u.Path))
	if err != nil {
		t.Fatalf("evidence file: %v", err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != ev.SHA256 {
		t.Errorf("%s: file sha256 %s, reported %s", ev.Locator, got, ev.SHA256)
	}
	if int64(len(data)) != ev.Size {
		t.Errorf("%s: file has %d bytes, reported %d", ev.Locator, len(data), ev.Size)
	}
	if ev.Kind == "" {
		t.Errorf("%s: no kind", ev.Locator)
	}
	return data
}

// jsonish turns a value into what it is after a trip through Temporal's JSON payloads.
func jsonish(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestActivitiesReturnTheDocumentedOutputs(t *testing.T) {
	f := newFixture(t, "")
	env := f.env()
	// In order: later steps see what earlier ones did, as in a run.
	for i, tt := range []struct {
		action string
		with   map[string]any
		want   map[string]any // output values checked (all of them unless evidence fields)
	}{
		{"edr.isolate_host", map[string]any{"host": "ws-0042.corp.example.com"}, map[string]any{"host": "WS-0042", "device_id": "38293534662e48c99f33c61631b3536d", "state": "isolated"}},
		{"edr.release_host", map[string]any{"host": "WS-0042"}, map[string]any{"host": "WS-0042", "state": "released"}},
		{"edr.kill_process", map[string]any{"host": "WS-0042", "process": "7020"}, map[string]any{"killed": 1}},
		{"edr.quarantine_file", map[string]any{"host": "WS-0042", "sha256": strings.ToUpper(dropper)}, map[string]any{"quarantined": 2}},
		{"edr.scan_host", map[string]any{"host": "FS-0001"}, map[string]any{"findings": 0, "clean": true}},
		{"edr.remove_persistence", map[string]any{"host": "WS-0042", "kind": "scheduled_task", "name": `\NotThere`}, map[string]any{"removed": false, "backup": ""}},
		{"identity.disable_user", map[string]any{"user": "alice@example.com"}, map[string]any{"user": "alice", "state": "disabled"}},
		{"identity.revoke_sessions", map[string]any{"user": `CORP\alice`}, map[string]any{"revoked": 3}},
		{"identity.reset_password", map[string]any{"user": "bob"}, map[string]any{"reset": true}},
		{"network.block_ip", map[string]any{"ip": "198.51.100.23", "comment": "phishing host"}, map[string]any{"rule_id": "LAB-FW-0001"}},
		{"network.unblock_ip", map[string]any{"ip": "203.0.113.9"}, map[string]any{"removed": false}},
		{"email.purge_message", map[string]any{"message_id": messageID}, map[string]any{"purged": 3, "mailboxes": []string{"alice@example.com", "bob@example.com", "finance@example.com"}}},
		{"email.block_sender", map[string]any{"sender": "Billing <billing@invoices.example.net>"}, map[string]any{"rule_id": "LAB-MAIL-0002"}},
		{"intel.lookup_hash", map[string]any{"sha256": dropper}, map[string]any{"verdict": "malicious", "family": "MacroLoader",
			"detections": []string{"LabAV", "MacroScan", "ClamLab", "YARA office_macro_autoopen_shell"}, "first_seen": "2026-11-21T22:40:13Z"}},
		{"intel.lookup_hash", map[string]any{"sha256": strings.Repeat("0", 64)}, map[string]any{"verdict": "unknown", "family": "", "detections": []string{}, "first_seen": ""}},
		{"intel.lookup_ip", map[string]any{"ip": "198.51.100.23"}, map[string]any{"verdict": "malicious", "reputation": 90, "tags": []string{"phishing", "malware-delivery"}}},
		{"intel.lookup_ip", map[string]any{"ip": "2001:db8::1"}, map[string]any{"verdict": "unknown", "reputation": 0, "tags": []string{}}},
		{"sandbox.detonate", map[string]any{"sha256": dropper}, map[string]any{"verdict": "malicious", "score": 95, "family": "MacroLoader",
			"iocs": []string{"203.0.113.77", "cdn-update.example.net", "198.51.100.23"}}},
		{"evidence.email_headers", map[string]any{"message_id": messageID}, map[string]any{"sender_ip": "198.51.100.23"}},
		{"evidence.collect_logs", map[string]any{"host": "WS-0042", "log": "taskscheduler"}, map[string]any{"events": 1}},
	} {
		t.Run(tt.action, func(t *testing.T) {
			res, err := run(env, tt.action, request(fmt.Sprintf("step-%d", i), tt.with))
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tt.want {
				if got := jsonish(t, res.Output[k]); !reflect.DeepEqual(got, jsonish(t, want)) {
					t.Errorf("output %s = %v, want %v", k, got, want)
				}
			}
			if loc, ok := res.Output["locator"].(string); ok && (len(res.Evidence) != 1 || res.Evidence[0].Locator != loc) {
				t.Errorf("output locator %s is not the evidence %v", loc, res.Evidence)
			}
			if rep, ok := res.Output["report"].(string); ok && (len(res.Evidence) != 1 || res.Evidence[0].Locator != rep) {
				t.Errorf("output report %s is not the evidence %v", rep, res.Evidence)
			}
			for _, ev := range res.Evidence {
				checkEvidence(t, ev)
			}
		})
	}
	st, err := lab.ReadState(f.state)
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := st.User("alice"); !u.Disabled {
		t.Error("the lab state does not show alice disabled")
	}
}

func TestRetriedActionActsOnce(t *testing.T) {
	f := newFixture(t, "")
	env := f.env()
	req := request("isolate", map[string]any{"host": "WS-0042"})
	for i := 0; i < 3; i++ {
		if _, err := run(env, "edr.isolate_host", req); err != nil {
			t.Fatal(err)
		}
	}
	st, err := lab.ReadState(f.state)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Count("edr.isolate_host"); got != 1 {
		t.Errorf("Count(edr.isolate_host) = %d after three executions with one key, want 1", got)
	}
}

// appError returns the application error in err, failing the test when there is none.
func appError(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an application error", err, err)
	}
	return ae
}

func TestBadRequestsAreNonRetryableInvalidInput(t *testing.T) {
	f := newFixture(t, "")
	env := f.env()
	for _, tt := range []struct {
		name   string
		action string
		req    actions.Request
	}{
		{"missing host", "edr.isolate_host", request("s", map[string]any{})},
		{"blank host", "edr.isolate_host", request("s", map[string]any{"host": "  "})},
		{"host with spaces", "edr.isolate_host", request("s", map[string]any{"host": "WS 0042"})},
		{"unknown parameter", "edr.isolate_host", request("s", map[string]any{"host": "WS-0042", "hots": "x"})},
		{"no idempotency key", "edr.isolate_host", actions.Request{RunID: "r", StepID: "s", With: map[string]any{"host": "WS-0042"}}},
		{"missing sha256", "sandbox.detonate", request("s", nil)},
		{"malformed sha256", "intel.lookup_hash", request("s", map[string]any{"sha256": "abc"})},
		{"malformed ip", "network.block_ip", request("s", map[string]any{"ip": "198.51.100.300"})},
		{"malformed sender", "email.block_sender", request("s", map[string]any{"sender": "not an address"})},
		{"missing message id", "email.purge_message", request("s", map[string]any{"message_id": ""})},
		{"bad duration", "evidence.network_capture", request("s", map[string]any{"host": "WS-0042", "duration": "soon"})},
		{"negative duration", "evidence.network_capture", request("s", map[string]any{"host": "WS-0042", "duration": "-5m"})},
		{"unknown log", "evidence.collect_logs", request("s", map[string]any{"host": "WS-0042", "log": "dmesg"})},
		{"unknown persistence kind", "edr.remove_persistence", request("s", map[string]any{"host": "WS-0042", "kind": "rootkit", "name": "x"})},
		{"list for a string", "identity.disable_user", request("s", map[string]any{"user": []any{"alice", "bob"}})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := run(env, tt.action, tt.req)
			if err == nil {
				t.Fatal("accepted")
			}
			ae := appError(t, err)
			if ae.Type() != actions.ErrInvalidInput || !ae.NonRetryable() {
				t.Errorf("error type %q non-retryable %t (%v), want %s, non-retryable", ae.Type(), ae.NonRetryable(), err, actions.ErrInvalidInput)
			}
		})
	}
	if st, err := lab.ReadState(f.state); err == nil && len(st.Effects) != 0 {
		t.Errorf("rejected requests reached the lab: %v", st.Effects)
	}
}

func TestUnknownObjectsAreNonRetryable(t *testing.T) {
	f := newFixture(t, "")
	env := f.env()
	for _, tt := range []struct {
		action string
		with   map[string]any
		want   string
	}{
		{"edr.isolate_host", map[string]any{"host": "WS-9999"}, actions.ErrHostNotFound},
		{"edr.release_host", map[string]any{"host": "nope.corp.example.com"}, actions.ErrHostNotFound},
		{"evidence.memory_dump", map[string]any{"host": "WS-9999"}, actions.ErrHostNotFound},
		{"identity.disable_user", map[string]any{"user": "mallory"}, actions.ErrUserNotFound},
		{"edr.disable_local_account", map[string]any{"host": "WS-0042", "account": "root"}, actions.ErrUserNotFound},
		{"email.purge_message", map[string]any{"message_id": "<nope@example.net>"}, actions.ErrNotFound},
		{"evidence.email_headers", map[string]any{"message_id": "nope@example.net"}, actions.ErrNotFound},
	} {
		t.Run(tt.action+" "+tt.want, func(t *testing.T) {
			_, err := run(env, tt.action, request("s-"+tt.action, tt.with))
			ae := appError(t, err)
			if ae.Type() != tt.want || !ae.NonRetryable() {
				t.Errorf("error type %q non-retryable %t, want %s, non-retryable", ae.Type(), ae.NonRetryable(), tt.want)
			}
			if !strings.Contains(ae.Error(), tt.action) {
				t.Errorf("message %q does not name the action", ae.Error())
			}
		})
	}
}

func TestTransientProviderFailuresAreRetried(t *testing.T) {
	fx := filepath.Join(t.TempDir(), "fixture.yaml")
	if err := os.WriteFile(fx, []byte("hosts:\n  - {name: H-1}\nfaults:\n  edr.isolate_host: {fail_first: 1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, fx)
	env := f.env()
	req := request("isolate", map[string]any{"host": "H-1"})
	_, err := run(env, "edr.isolate_host", req)
	ae := appError(t, err)
	if ae.NonRetryable() || ae.Type() != provider.ErrUnavailable {
		t.Errorf("first attempt: type %q non-retryable %t, want a retryable %s", ae.Type(), ae.NonRetryable(), provider.ErrUnavailable)
	}
	if _, err := run(env, "edr.isolate_host", req); err != nil {
		t.Errorf("retry: %v", err)
	}
}

func TestTemporalErrorMapsEveryKind(t *testing.T) {
	for _, tt := range []struct {
		name             string
		err              error
		wantApp          bool
		wantType         string
		wantNonRetryable bool
		wantDelay        time.Duration
	}{
		{"host not found", provider.HostNotFound("WS-1"), true, actions.ErrHostNotFound, true, 0},
		{"wrapped not found", errors.Join(errors.New("context"), provider.NotFound("message", "x")), true, actions.ErrNotFound, true, 0},
		{"unauthorized", provider.Unauthorized("token expired"), true, actions.ErrUnauthorized, true, 0},
		{"vendor rejected", provider.VendorRejected("400 bad request"), true, actions.ErrVendorRejected, true, 0},
		{"rate limited", &provider.Error{Type: provider.ErrRateLimited, Msg: "429", RetryAfter: 7 * time.Second}, true, provider.ErrRateLimited, false, 7 * time.Second},
		{"unavailable", provider.Unavailable("503", 0), true, provider.ErrUnavailable, false, 0},
		{"untyped provider error", &provider.Error{Msg: "odd"}, true, provider.ErrUnavailable, false, 0},
		{"plain error", io.ErrUnexpectedEOF, false, "", false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := temporalError("edr.isolate_host", tt.err)
			var ae *temporal.ApplicationError
			if got := errors.As(err, &ae); got != tt.wantApp {
				t.Fatalf("application error: %t (%v), want %t", got, err, tt.wantApp)
			}
			if !tt.wantApp {
				if !errors.Is(err, tt.err) || !strings.HasPrefix(err.Error(), "edr.isolate_host: ") {
					t.Errorf("error %v does not wrap %v with the action's name", err, tt.err)
				}
				return
			}
			if ae.Type() != tt.wantType || ae.NonRetryable() != tt.wantNonRetryable || ae.NextRetryDelay() != tt.wantDelay {
				t.Errorf("type %q non-retryable %t delay %v, want %q %t %v", ae.Type(), ae.NonRetryable(), ae.NextRetryDelay(), tt.wantType, tt.wantNonRetryable, tt.wantDelay)
			}
		})
	}
}

func TestLongActionsHeartbeatAndResume(t *testing.T) {
	fx, err := lab.DefaultFixture()
	if err != nil {
		t.Fatal(err)
	}
	tm := fx.Timing
	for _, tt := range []struct {
		action string
		with   map[string]any
		total  int // the fixture's simulated seconds
	}{
		{"sandbox.detonate", map[string]any{"sha256": dropper}, tm.DetonationSeconds},
		{"evidence.memory_dump", map[string]any{"host": "WS-0042"}, tm.MemoryDumpSeconds},
		{"evidence.network_capture", map[string]any{"host": "WS-0042"}, tm.NetworkCaptureSeconds},
		{"evidence.collect_triage", map[string]any{"host": "WS-0042"}, tm.TriageSeconds},
		{"evidence.collect_logs", map[string]any{"host": "WS-0042", "log": "sysmon"}, tm.LogsSeconds},
		{"edr.scan_host", map[string]any{"host": "WS-0042"}, tm.ScanSeconds},
	} {
		t.Run(tt.action, func(t *testing.T) {
			if tt.total < 1 {
				t.Fatalf("the default fixture gives %s no time; the test needs some", tt.action)
			}
			for _, resumeAt := range []int{0, tt.total - 1} {
				f := newFixture(t, "")
				env := f.env()
				var mu sync.Mutex
				var beats []provider.Progress
				env.SetOnActivityHeartbeatListener(func(_ *activity.Info, d converter.EncodedValues) {
					var p provider.Progress
					if err := d.Get(&p); err != nil {
						t.Errorf("heartbeat details: %v", err)
					}
					mu.Lock()
					beats = append(beats, p)
					mu.Unlock()
				})
				if resumeAt > 0 {
					// What a worker that died after resumeAt simulated seconds would have left behind.
					env.SetHeartbeatDetails(provider.Progress{Stage: tt.action, Done: resumeAt, Total: tt.total})
				}
				res, err := run(env, tt.action, request("long", tt.with))
				if err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				if len(beats) == 0 {
					t.Fatal("no heartbeat")
				}
				if got := beats[0]; got.Stage != tt.action || got.Done != resumeAt || got.Total != tt.total {
					t.Errorf("resume at %d: first heartbeat %+v, want stage %s done %d of %d", resumeAt, got, tt.action, resumeAt, tt.total)
				}
				mu.Unlock()
				for _, ev := range res.Evidence {
					checkEvidence(t, ev)
				}
			}
		})
	}
}

func TestEvidenceIsIdenticalOnRetry(t *testing.T) {
	f := newFixture(t, "")
	for _, action := range []string{"evidence.memory_dump", "evidence.network_capture", "evidence.collect_triage", "evidence.collect_logs", "evidence.email_headers", "sandbox.detonate", "edr.scan_host"} {
		t.Run(action, func(t *testing.T) {
			req := request("capture-"+action, samples[action])
			first, err := run(f.env(), action, req)
			if err != nil {
				t.Fatal(err)
			}
			if len(first.Evidence) != 1 {
				t.Fatalf("evidence = %v, want one item", first.Evidence)
			}
			data := checkEvidence(t, first.Evidence[0])

			// A retry on a fresh worker (a new environment) with the same key.
			retry, err := run(f.env(), action, req)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(retry.Evidence, first.Evidence) {
				t.Errorf("retry evidence %v, want %v", retry.Evidence, first.Evidence)
			}
			if again := checkEvidence(t, retry.Evidence[0]); string(again) != string(data) {
				t.Error("the evidence file changed on retry")
			}
			if !reflect.DeepEqual(jsonish(t, retry.Output), jsonish(t, first.Output)) {
				t.Errorf("retry output %v, want %v", retry.Output, first.Output)
			}
		})
	}
	// Another step captures anew.
	a, err := run(f.env(), "evidence.memory_dump", request("dump-a", samples["evidence.memory_dump"]))
	if err != nil {
		t.Fatal(err)
	}
	b, err := run(f.env(), "evidence.memory_dump", request("dump-b", samples["evidence.memory_dump"]))
	if err != nil {
		t.Fatal(err)
	}
	if a.Evidence[0].Locator == b.Evidence[0].Locator || a.Evidence[0].SHA256 == b.Evidence[0].SHA256 {
		t.Error("two steps' memory dumps share a file or a hash")
	}
}

func TestRemovedPersistenceIsBackedUp(t *testing.T) {
	f := newFixture(t, "")
	res, err := run(f.env(), "edr.remove_persistence", request("persist", samples["edr.remove_persistence"]))
	if err != nil {
		t.Fatal(err)
	}
	if res.Output["removed"] != true || len(res.Evidence) != 1 || res.Output["backup"] != res.Evidence[0].Locator {
		t.Fatalf("result = %+v, want removed with a backup", res)
	}
	data := checkEvidence(t, res.Evidence[0])
	if !strings.Contains(string(data), `"WindowsUpdateSvc"=`) {
		t.Errorf("backup %q is not a .reg export of the run key", data)
	}
}

func TestResolveApprovers(t *testing.T) {
	f := newFixture(t, "")
	env := f.env()
	for _, tt := range []struct {
		name     string
		groups   []string
		want     map[string][]string
		wantType string
	}{
		{"leads and on-call", []string{"S0SOCLEADS", "S0ONCALL", "S0SOCLEADS"}, map[string][]string{"S0SOCLEADS": {"U0LEAD1", "U0LEAD2"}, "S0ONCALL": {"U0ONCALL"}}, ""},
		{"no groups", nil, map[string][]string{}, ""},
		{"unknown group", []string{"S0NOPE"}, nil, actions.ErrNotFound},
		{"empty group id", []string{""}, nil, actions.ErrInvalidInput},
	} {
		t.Run(tt.name, func(t *testing.T) {
			val, err := env.ExecuteActivity(actions.ResolveApprovers, actions.ResolveRequest{Groups: tt.groups})
			if tt.wantType != "" {
				if ae := appError(t, err); ae.Type() != tt.wantType || !ae.NonRetryable() {
					t.Errorf("error type %q non-retryable %t, want %s", ae.Type(), ae.NonRetryable(), tt.wantType)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got actions.ResolveResult
			if err := val.Get(&got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Members, tt.want) {
				t.Errorf("members = %v, want %v", got.Members, tt.want)
			}
		})
	}
}

func TestNewRefusesUnknownProviders(t *testing.T) {
	dir := t.TempDir()
	for _, cfg := range []Config{
		{Provider: "crowdstrike"},
		{Providers: map[string]string{FamilySandbox: "cape"}},
		{Providers: map[string]string{"edrr": "lab"}},
	} {
		cfg.LabState, cfg.EvidenceDir = filepath.Join(dir, "s.json"), filepath.Join(dir, "ev")
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted an unknown provider or family", cfg)
		}
	}
}

func TestNewReportsABadFixture(t *testing.T) {
	dir := t.TempDir()
	fx := filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(fx, []byte("hosts:\n  - name: A\n    ip: nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(Config{LabFixture: fx, LabState: filepath.Join(dir, "s.json"), EvidenceDir: filepath.Join(dir, "ev")})
	if err == nil || !strings.Contains(err.Error(), fx+":3") {
		t.Errorf("New = %v, want an error at %s:3", err, fx)
	}
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{
		"PARRY_PROVIDER":         "lab",
		"PARRY_SANDBOX_PROVIDER": "cape",
		"PARRY_LAB_FIXTURE":      "/etc/parry/lab.yaml",
		"PARRY_LAB_STATE":        "/var/lib/parry/lab-state.json",
		"PARRY_EVIDENCE_DIR":     "/var/lib/parry/evidence",
	}
	got := FromEnv(func(k string) string { return env[k] })
	want := Config{
		Provider:    "lab",
		Providers:   map[string]string{FamilySandbox: "cape"},
		LabFixture:  "/etc/parry/lab.yaml",
		LabState:    "/var/lib/parry/lab-state.json",
		EvidenceDir: "/var/lib/parry/evidence",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FromEnv = %+v, want %+v", got, want)
	}
	if got := FromEnv(func(string) string { return "" }); !reflect.DeepEqual(got, Config{}) {
		t.Errorf("FromEnv(empty) = %+v, want the zero Config (New applies the defaults)", got)
	}
	if got := (Config{Providers: map[string]string{FamilySandbox: "cape"}}).provider(FamilySandbox); got != "cape" {
		t.Errorf("provider(sandbox) = %q, want cape", got)
	}
	if got := (Config{}).provider(FamilyEDR); got != DefaultProvider {
		t.Errorf("provider(edr) = %q, want %q", got, DefaultProvider)
	}
}

func TestMissingProviderIsNotConfigured(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	(&Activities{}).Register(env)
	_, err := run(env, "edr.isolate_host", request("s", map[string]any{"host": "WS-0042"}))
	if ae := appError(t, err); ae.Type() != ErrNotConfigured || !ae.NonRetryable() {
		t.Errorf("error type %q non-retryable %t, want %s", ae.Type(), ae.NonRetryable(), ErrNotConfigured)
	}
}

// syncBuffer is a bytes buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
