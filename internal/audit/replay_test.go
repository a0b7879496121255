package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/sdk/workflow"

	"github.com/parry-soc/parry/internal/codec"
	"github.com/parry-soc/parry/workflows"
)

// Changed interpreters, registered under the interpreter's name as a new release of it would be.

func variant(f func(ctx workflow.Context, in workflows.Input) (workflows.Result, error)) func(workflows.Registry) {
	return func(r workflows.Registry) {
		r.RegisterWorkflowWithOptions(f, workflow.RegisterOptions{Name: workflows.WorkflowName})
	}
}

// sleepFirst waits a second before anything else: every command after it moves.
var sleepFirst = variant(func(ctx workflow.Context, in workflows.Input) (workflows.Result, error) {
	_ = workflow.Sleep(ctx, time.Second)
	return workflows.PlaybookWorkflow(ctx, in)
})

// extraActivity isolates a host before the playbook starts.
var extraActivity = variant(func(ctx workflow.Context, in workflows.Input) (workflows.Result, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{ActivityID: "extra", StartToCloseTimeout: time.Minute})
	_ = workflow.ExecuteActivity(actx, "edr.isolate_host", "WS-0001").Get(ctx, nil)
	return workflows.PlaybookWorkflow(ctx, in)
})

// returnEarly does nothing at all.
var returnEarly = variant(func(ctx workflow.Context, in workflows.Input) (workflows.Result, error) {
	return workflows.Result{}, nil
})

// lowerMemoryDumpHost changes one interpolation: the memory dump's host is lower-cased. Commands and their
// order stay the same, so only the input check sees it.
var lowerMemoryDumpHost = variant(func(ctx workflow.Context, in workflows.Input) (workflows.Result, error) {
	for i := range in.Playbook.Phases {
		for j := range in.Playbook.Phases[i].Steps {
			st := &in.Playbook.Phases[i].Steps[j]
			for k := range st.Parallel {
				if b := &st.Parallel[k]; b.ID == "memory-dump" {
					b.With["host"] = "${{ inputs.host.lowerAscii() }}"
				}
			}
		}
	}
	return workflows.PlaybookWorkflow(ctx, in)
})

const spearphishing = "library-t1566-001.json"

func committed(t testing.TB, name string) *historypb.History {
	return readHistoryFile(t, filepath.Join("..", "..", "workflows", "testdata", "histories", name))
}

func TestCommittedHistoriesPassTheInputCheck(t *testing.T) {
	r := NewReplayer(ReplayOptions{})
	for _, f := range committedHistories(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			h := readHistoryFile(t, f)
			if err := r.Replay(h); err != nil {
				t.Fatalf("replay: %v", err)
			}
			// The trace that names divergences must pair every call with the history's commands.
			if d := r.check.divergence(h); d != nil {
				t.Errorf("the traced calls do not pair with the history: %v", d)
			}
		})
	}
}

func TestReplayNamesTheFirstDivergingEvent(t *testing.T) {
	h := committed(t, spearphishing)
	// The interpreter's first command sets the run's search attributes.
	upsert := findEvent(h, enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, "", 0)
	first := eventWords(upsert, 0) + ": the current code "
	for _, tt := range []struct {
		name     string
		register func(workflows.Registry)
		want     *regexp.Regexp
	}{
		{"a timer first", sleepFirst, regexp.MustCompile("^" + regexp.QuoteMeta(first+"starts a timer (1s) instead") + "$")},
		{"an extra activity", extraActivity, regexp.MustCompile("^" + regexp.QuoteMeta(first+"schedules activity extra (edr.isolate_host) instead") + "$")},
		{"nothing at all", returnEarly, regexp.MustCompile("^" + regexp.QuoteMeta(first+"completes the workflow instead") + "$")},
		{"a changed interpolation", lowerMemoryDumpHost, regexp.MustCompile(`^step memory-dump \(evidence\.memory_dump\), event \d+: recorded input \{host: WS-0042\}, replay computes \{host: ws-0042\}$`)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := NewReplayer(ReplayOptions{Register: tt.register}).Replay(h)
			var nd *NondeterminismError
			if !errors.As(err, &nd) {
				t.Fatalf("got %v, want a NondeterminismError", err)
			}
			if !tt.want.MatchString(nd.Detail) {
				t.Errorf("got  %q\nwant %s", nd.Detail, tt.want)
			}
		})
	}
	if !strings.HasPrefix(first, "event 5, UpsertWorkflowSearchAttributes (ParryAlertID, ") {
		t.Errorf("first command named %q", first)
	}
}

func TestGuardedChangeReplays(t *testing.T) {
	guarded := variant(func(ctx workflow.Context, in workflows.Input) (workflows.Result, error) {
		if workflow.GetVersion(ctx, "audit-test-sleep-first", workflow.DefaultVersion, 1) == 1 {
			_ = workflow.Sleep(ctx, time.Second)
		}
		return workflows.PlaybookWorkflow(ctx, in)
	})
	if err := NewReplayer(ReplayOptions{Register: guarded}).Replay(committed(t, spearphishing)); err != nil {
		t.Errorf("a change behind GetVersion does not replay: %v", err)
	}
}

// encrypt encodes every payload of a history with the codec, as a worker with PARRY_PAYLOAD_KEYS writes them.
func encrypt(t testing.TB, h *historypb.History, c *codec.Codec) {
	t.Helper()
	err := proxy.VisitPayloads(context.Background(), h, proxy.VisitPayloadsOptions{
		SkipSearchAttributes: true,
		Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
			return c.Encode(ps)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testCodec(t testing.TB, id string) *codec.Codec {
	t.Helper()
	key := make([]byte, codec.KeySize)
	for i := range key {
		key[i] = byte(i*7 + len(id))
	}
	ring, err := codec.ParseKeyring(id + ":" + base64.StdEncoding.EncodeToString(key))
	if err != nil {
		t.Fatal(err)
	}
	return codec.New(ring)
}

func TestEncryptedHistoriesReplayWithTheirKeysOnly(t *testing.T) {
	c := testCodec(t, "k2026")
	h := committed(t, spearphishing)
	encrypt(t, h, c)
	if ids, _ := PayloadKeyIDs(h); len(ids) != 1 || ids[0] != "k2026" {
		t.Fatalf("payload key ids %v, want [k2026]", ids)
	}
	if err := NewReplayer(ReplayOptions{Codec: c}).Replay(h); err != nil {
		t.Errorf("with its key: %v", err)
	}
	var ur *UnreadableError
	for name, other := range map[string]*codec.Codec{"no keys": nil, "another key": testCodec(t, "k2025")} {
		err := NewReplayer(ReplayOptions{Codec: other}).Replay(h)
		if !errors.As(err, &ur) || !strings.Contains(err.Error(), "k2026") {
			t.Errorf("%s: got %v, want unreadable naming key k2026", name, err)
		}
	}
	// The input check compares plaintext: encryption's random nonces do not hide a changed input.
	err := NewReplayer(ReplayOptions{Codec: c, Register: lowerMemoryDumpHost}).Replay(h)
	if err == nil || !strings.Contains(err.Error(), "replay computes {host: ws-0042}") {
		t.Errorf("changed interpolation on an encrypted history: got %v", err)
	}
	// A decrypted copy replays without keys.
	if err := DecryptHistory(h, c); err != nil {
		t.Fatal(err)
	}
	if err := NewReplayer(ReplayOptions{}).Replay(h); err != nil {
		t.Errorf("decrypted copy: %v", err)
	}
}

// bundleOf writes a committed history as a signed bundle, as the exporter would.
func bundleOf(t *testing.T, root, name string, key ed25519.PrivateKey) string {
	t.Helper()
	h := committed(t, name)
	started := h.Events[0].GetWorkflowExecutionStartedEventAttributes()
	m, err := (&Exporter{Namespace: "default", By: "test"}).Describe(h, started.GetWorkflowId(), started.GetOriginalExecutionRunId())
	if err != nil {
		t.Fatal(err)
	}
	b, err := MarshalHistory(h)
	if err != nil {
		t.Fatal(err)
	}
	w, err := WriteBundle(root, &m, b, key)
	if err != nil {
		t.Fatal(err)
	}
	return w.Dir
}

func TestDescribeReadsTheRunFromItsHistory(t *testing.T) {
	h := committed(t, spearphishing)
	m, err := (&Exporter{Namespace: "default"}).Describe(h, "parry-parry-demo-phish-0001", "run")
	if err != nil {
		t.Fatal(err)
	}
	if m.Playbook.ID != "spearphishing-attachment" || m.Playbook.SHA256 == "" || m.Alert.ID != "demo-phish-0001" ||
		len(m.Techniques) != 1 || m.Techniques[0] != "T1566.001" || m.Status != "completed" || m.State != workflows.StateCompleted ||
		m.Disposition != workflows.Undetermined || m.Closed.IsZero() || m.HistoryEvents != len(h.Events) {
		t.Errorf("manifest = %+v", m)
	}
}

func flipByte(t *testing.T, path, within string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), within)
	if i < 0 {
		t.Fatalf("%s does not contain %q", path, within)
	}
	b[i] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVerifierVerdicts(t *testing.T) {
	root, key, other := t.TempDir(), newKey(t), newKey(t)
	good := bundleOf(t, filepath.Join(root, "good"), spearphishing, key)
	badHistory := bundleOf(t, filepath.Join(root, "history"), spearphishing, key)
	flipByte(t, filepath.Join(badHistory, HistoryFile), "ACTIVITY_TASK_SCHEDULED")
	badManifest := bundleOf(t, filepath.Join(root, "manifest"), spearphishing, key)
	flipByte(t, filepath.Join(badManifest, ManifestFile), "demo-phish-0001")
	otherKey := bundleOf(t, filepath.Join(root, "other"), spearphishing, other)

	v := &Verifier{Keys: []ed25519.PublicKey{pub(key)}}
	r := NewReplayer(ReplayOptions{})
	for _, tt := range []struct {
		name   string
		item   Item
		status string
		detail string
	}{
		{"good", Item{Path: good, Bundle: true}, StatusOK, "signed by ed25519:"},
		{"history byte flipped", Item{Path: badHistory, Bundle: true}, StatusTampered, "history hash"},
		{"manifest byte flipped", Item{Path: badManifest, Bundle: true}, StatusTampered, "signature"},
		{"signed with another key", Item{Path: otherKey, Bundle: true}, StatusTampered, "signature: signed by key"},
		{"plain history", Item{Path: filepath.Join("..", "..", "workflows", "testdata", "histories", spearphishing)}, StatusOK, "history only"},
		{"missing", Collect([]string{filepath.Join(root, "nothing")})[0], StatusUnreadable, "no such file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := v.Check(r, tt.item)
			if got.Status != tt.status || !strings.Contains(got.Detail, tt.detail) {
				t.Errorf("got %s, want %s (%s…)", got, tt.status, tt.detail)
			}
		})
	}
	t.Run("without keys the signature is not checked", func(t *testing.T) {
		got := (&Verifier{}).Check(r, Item{Path: otherKey, Bundle: true})
		if got.Status != StatusOK || got.Signed || !strings.Contains(got.Detail, "signature not checked") {
			t.Errorf("got %s", got)
		}
	})
	t.Run("collect finds bundles and skips unfinished ones", func(t *testing.T) {
		if err := os.MkdirAll(filepath.Join(root, "good", ".tmp-123"), 0o755); err != nil {
			t.Fatal(err)
		}
		items := Collect([]string{root})
		if len(items) != 4 {
			t.Errorf("collected %d items, want the 4 bundles: %+v", len(items), items)
		}
	})
}
