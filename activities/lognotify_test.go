package activities

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/notify"
)

// lines decodes JSON log lines.
func lines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestLogNotifierWritesOneLinePerEventAndDropsRedeliveries(t *testing.T) {
	var buf syncBuffer
	n := NewLogNotifier(slog.New(slog.NewJSONHandler(&buf, nil)))
	ctx := context.Background()
	run := notify.Run{ID: "parry-parry-demo-phish-0001", Playbook: "spearphishing-attachment", Source: "parry", AlertID: "demo-phish-0001", Host: "WS-0042"}
	evidence := notify.Event{Run: run, Seq: 7, Kind: notify.EvidenceCaptured, Phase: "immediate", Step: "memory-dump", Status: "completed",
		Message: "memory captured", Evidence: &actions.Evidence{Kind: "memory", Locator: "file:///ev/memory.raw", SHA256: strings.Repeat("ab", 32)}}
	approval := notify.Event{Run: run, Seq: 8, Kind: notify.ApprovalDecided, Step: "isolate-host",
		Approval: &notify.Approval{ID: "isolate-host", Decision: "approve", Outcome: "approved", Actor: "U0LEAD1"}}

	for _, e := range []notify.Event{evidence, evidence, approval, evidence} {
		if _, err := n.Notify(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Escalate(ctx, notify.Escalation{Event: approval, Reason: "budget breached"}); err != nil {
		t.Fatal(err)
	}
	if err := n.Escalate(ctx, notify.Escalation{Event: approval, Reason: "budget breached"}); err != nil {
		t.Fatal(err)
	}
	// Another run's event with the same seq is a different event.
	other := evidence
	other.Run.ID = "parry-parry-other"
	if _, err := n.Notify(ctx, other); err != nil {
		t.Fatal(err)
	}

	got := lines(t, buf.String())
	if len(got) != 4 {
		t.Fatalf("%d log lines, want 4 (two events, one escalation, another run's event):\n%s", len(got), buf.String())
	}
	for _, tt := range []struct {
		line      int
		key, want string
	}{
		{0, "msg", "parry evidence.captured"},
		{0, "run", "parry-parry-demo-phish-0001"},
		{0, "phase", "immediate"},
		{0, "step", "memory-dump"},
		{0, "status", "completed"},
		{0, "message", "memory captured"},
		{0, "evidence", "file:///ev/memory.raw"},
		{0, "evidence_sha256", strings.Repeat("ab", 32)},
		{1, "approval_outcome", "approved"},
		{1, "approval_actor", "U0LEAD1"},
		{2, "msg", "parry escalation"},
		{2, "level", "WARN"},
		{2, "reason", "budget breached"},
		{3, "run", "parry-parry-other"},
	} {
		if got := got[tt.line][tt.key]; got != tt.want {
			t.Errorf("line %d %s = %v, want %q", tt.line, tt.key, got, tt.want)
		}
	}
	if seq := got[0]["seq"]; seq != float64(7) {
		t.Errorf("seq = %v, want 7", seq)
	}
}

func TestNotifyEventDeliversABatchAndResumesAfterTheLastDelivered(t *testing.T) {
	var buf syncBuffer
	acts := &Activities{Notifier: NewLogNotifier(slog.New(slog.NewJSONHandler(&buf, nil)))}
	var s testsuite.WorkflowTestSuite
	batch := notify.Batch{}
	for seq := 1; seq <= 4; seq++ {
		batch.Events = append(batch.Events, notify.Event{Run: notify.Run{ID: "run-1"}, Seq: seq, Kind: notify.StepStarted, Time: time.Unix(0, 0)})
	}

	env := s.NewTestActivityEnvironment()
	acts.Register(env)
	// The previous attempt delivered two events before its worker died.
	env.SetHeartbeatDetails(deliveryProgress{Done: 2})
	if _, err := env.ExecuteActivity(actions.NotifyEvent, batch); err != nil {
		t.Fatal(err)
	}
	got := lines(t, buf.String())
	if len(got) != 2 || got[0]["seq"] != float64(3) || got[1]["seq"] != float64(4) {
		t.Errorf("delivered %v, want events 3 and 4", got)
	}

	// A full redelivery to the same worker logs nothing new.
	env = s.NewTestActivityEnvironment()
	acts.Register(env)
	if _, err := env.ExecuteActivity(actions.NotifyEvent, batch); err != nil {
		t.Fatal(err)
	}
	if got := lines(t, buf.String()); len(got) != 4 {
		t.Errorf("%d lines after redelivery, want 4 (events 1-4 once each)", len(got))
	}
}
