package slackapp

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/internal/slacktest"
	"github.com/parry-soc/parry/notify"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var t0 = time.Date(2026, 3, 2, 14, 5, 0, 0, time.UTC)

// sampleRun is a spearphishing run as the interpreter describes it in every event.
func sampleRun() notify.Run {
	return notify.Run{
		ID: "parry-proofpoint-7f3a9c", Playbook: "spearphishing-attachment", Name: "Spearphishing Attachment Response", Version: 3,
		AlertID: "7f3a9c", Source: "proofpoint", Title: "Macro-enabled invoice from billing@examp1e.com", Severity: "high",
		Host: "ws-0042", User: "alice", Techniques: []string{"T1566.001", "T1204.002"},
		Channel: "#soc-incidents", Escalation: "#soc-leads", Oncall: slacktest.GroupOnCall,
		Budgets: []notify.PhaseBudget{{Phase: "immediate", Budget: 15 * time.Minute}, {Phase: "investigation", Budget: 45 * time.Minute}, {Phase: "recovery"}},
	}
}

// sim delivers events as the workflow and the notify activity do: in Seq order, with the run's thread
// and the request an event resolves stamped from what earlier deliveries posted.
type sim struct {
	t        *testing.T
	n        *Notifier
	run      notify.Run
	seq      int
	parent   notify.MessageRef
	requests map[string]notify.MessageRef
}

func newSim(t *testing.T, n *Notifier) *sim {
	return &sim{t: t, n: n, run: sampleRun(), requests: map[string]notify.MessageRef{}}
}

// stamp numbers an event and fills in what the workflow would.
func (s *sim) stamp(e notify.Event) notify.Event {
	s.seq++
	e.Seq, e.Run = s.seq, s.run
	if e.Time.IsZero() {
		e.Time = t0.Add(time.Duration(s.seq) * time.Minute)
	}
	if e.Thread.IsZero() {
		e.Thread = s.parent
	}
	if e.Target.IsZero() && (e.Kind == notify.ApprovalDecided || e.Kind == notify.TaskDone) {
		e.Target = s.requests[requestKey(e)]
	}
	return e
}

func (s *sim) deliver(e notify.Event) notify.Posted {
	s.t.Helper()
	e = s.stamp(e)
	p, err := s.n.Notify(context.Background(), e)
	if err != nil {
		s.t.Fatalf("Notify(%s): %v", e.Kind, err)
	}
	s.record(e, p)
	return p
}

func (s *sim) record(e notify.Event, p notify.Posted) {
	if !p.Parent.IsZero() {
		s.parent = p.Parent
	}
	if !p.Message.IsZero() {
		s.requests[requestKey(e)] = p.Message
	}
}

func (s *sim) escalate(reason string) error {
	s.seq++
	e := notify.Event{Run: s.run, Seq: s.seq, Kind: "escalation", Time: t0.Add(time.Duration(s.seq) * time.Minute), Message: reason, Thread: s.parent}
	return s.n.Escalate(context.Background(), notify.Escalation{Event: e, Reason: reason})
}

// newTestNotifier returns a Notifier talking to the fake Slack, with S0DEFAULT as the configured on-call
// group and its log lines in logs.
func newTestNotifier(t *testing.T, f *slacktest.Fake, logs *bytes.Buffer) *Notifier {
	t.Helper()
	if logs == nil {
		logs = &bytes.Buffer{}
	}
	n, err := New(Config{BotToken: f.BotToken(), APIURL: f.APIURL(), OncallGroup: "S0DEFAULT", Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Events of the sample run, as the interpreter emits them.
var (
	evRunStarted    = notify.Event{Kind: notify.RunStarted, Message: "Macro-enabled invoice (high) on ws-0042 for alice: playbook spearphishing-attachment v3"}
	evPhaseStarted  = notify.Event{Kind: notify.PhaseStarted, Phase: "immediate", Budget: 15 * time.Minute, Deadline: t0.Add(17 * time.Minute)}
	evStepStarted   = notify.Event{Kind: notify.StepStarted, Phase: "immediate", Step: "isolate-host", Action: "edr.isolate_host"}
	evStepFinished  = notify.Event{Kind: notify.StepFinished, Phase: "immediate", Step: "isolate-host", Action: "edr.isolate_host", Status: "succeeded", Message: "ws-0042 isolated (lab: simulated)"}
	evApprovalAsked = notify.Event{Kind: notify.ApprovalRequested, Step: "isolate-host", Deadline: t0.Add(7 * time.Minute), Message: "Macro-enabled invoice: isolate-host",
		Approval: &notify.Approval{ID: "isolate-host", Group: "containment", Min: 1, Approvers: []string{"operator:alice", "slack:U0LEAD1", "slack:U0LEAD2"}, SlackGroups: []string{"S0SOCLEADS"},
			Deadline: t0.Add(7 * time.Minute), What: "Isolate a host from the network (edr.isolate_host host=ws-0042)", Why: "Macro-enabled invoice: isolate-host"}}
	evApproved = notify.Event{Kind: notify.ApprovalDecided, Step: "isolate-host", Status: "approved", Message: "isolate-host approved by slack:U0LEAD1 (Lead One)",
		Approval: &notify.Approval{ID: "isolate-host", Group: "containment", Min: 1, Actor: "slack:U0LEAD1 (Lead One)", Decision: "approve", Outcome: "approved"}}
	evReleaseAsked = notify.Event{Kind: notify.ApprovalRequested, Step: "release", Deadline: t0.Add(60 * time.Minute), Message: "Macro-enabled invoice: release",
		Approval: &notify.Approval{ID: "release", Group: "containment", Min: 2, Approvers: []string{"slack:U0LEAD1", "slack:U0LEAD2"},
			Deadline: t0.Add(60 * time.Minute), What: "Release a host from isolation (edr.release_host host=ws-0042)", Why: "Macro-enabled invoice: release"}}
	evTaskAsked    = notify.Event{Kind: notify.TaskRequested, Phase: "recovery", Step: "reimage", Action: "manual.task", Message: "Re-image ws-0042 from the gold image"}
	evTaskDone     = notify.Event{Kind: notify.TaskDone, Phase: "recovery", Step: "reimage", Action: "manual.task", Status: "succeeded", Message: "done by slack:U0ONCALL"}
	evPhaseDone    = notify.Event{Kind: notify.PhaseFinished, Phase: "immediate", Budget: 15 * time.Minute, Used: 3*time.Minute + 12*time.Second, Status: "within budget"}
	evRunCompleted = notify.Event{Kind: notify.RunCompleted, Status: "completed", Disposition: "undetermined", Summary: "1 skipped, 6 succeeded; still contained: host ws-0042"}
)

type goldenCase struct {
	name   string
	before []notify.Event // delivered first; not part of the golden file
	event  notify.Event
	orphan bool // deliver event before any parent message exists
	// elsewhere delivers before through another Notifier, as another worker would: the tested one has
	// not seen the request it resolves.
	elsewhere bool
	escal     string // deliver an escalation with this reason instead of event
	setup     func(*slacktest.Fake)
}

func goldenCases() []goldenCase {
	started := []notify.Event{evRunStarted}
	return []goldenCase{
		{name: "run.started", event: evRunStarted},
		{name: "phase.started", before: started, event: evPhaseStarted},
		{name: "phase.finished", before: started, event: evPhaseDone},
		{name: "phase.finished-breached", before: started, event: notify.Event{Kind: notify.PhaseFinished, Phase: "investigation", Budget: 45 * time.Minute, Used: 52 * time.Minute, Status: "breached"}},
		{name: "budget.breached", before: started, event: notify.Event{Kind: notify.BudgetBreached, Phase: "immediate", Budget: 15 * time.Minute, Status: "escalate",
			Message: "phase immediate exceeded its 15m budget (on_breach: escalate)"}},
		{name: "step.started", before: started, event: evStepStarted},
		{name: "step.finished", before: started, event: evStepFinished},
		{name: "step.skipped", before: started, event: notify.Event{Kind: notify.StepSkipped, Phase: "immediate", Step: "disable-user", Action: "identity.disable_user",
			Message: "when: alert.severity in ['high', 'critical'] is false"}},
		{name: "step.skipped-denied", before: started, event: notify.Event{Kind: notify.StepSkipped, Phase: "immediate", Step: "isolate-host", Action: "edr.isolate_host",
			Status: "denied", Message: "denied by slack:U0LEAD2"}},
		{name: "step.failed", before: started, event: notify.Event{Kind: notify.StepFailed, Phase: "investigation", Step: "detonate", Action: "sandbox.detonate",
			Error: "sandbox: submission 41 timed out after 30m", Message: "step detonate (sandbox.detonate) failed: sandbox: submission 41 timed out after 30m"}},
		{name: "evidence.captured", before: started, event: notify.Event{Kind: notify.EvidenceCaptured, Phase: "immediate", Step: "memory-dump", Action: "evidence.memory_dump",
			Evidence: &actions.Evidence{Kind: "memory", Locator: "file:///var/lib/parry/evidence/parry-proofpoint-7f3a9c/memory-dump/memory.raw",
				SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Size: 2 << 30}}},
		{name: "approval.requested", before: started, event: evApprovalAsked},
		{name: "approval.attempt-counted", before: started, event: notify.Event{Kind: notify.ApprovalAttempt, Step: "release", Status: "counted", Message: "1 of 2 approvals",
			Approval: &notify.Approval{ID: "release", Group: "containment", Min: 2, Actor: "slack:U0LEAD1 (Lead One)", Decision: "approve", Outcome: "counted", Reason: "1 of 2 approvals"}}},
		{name: "approval.attempt-refused", before: started, event: notify.Event{Kind: notify.ApprovalAttempt, Step: "isolate-host", Status: "refused",
			Approval: &notify.Approval{ID: "isolate-host", Group: "containment", Min: 1, Actor: "slack:U0RANDOM", Decision: "approve", Outcome: "refused",
				Reason: "slack:U0RANDOM is not an approver of group containment"}}},
		{name: "approval.attempt-granted", before: started, event: notify.Event{Kind: notify.ApprovalAttempt, Step: "isolate-host", Status: "granted",
			Approval: &notify.Approval{ID: "isolate-host", Group: "containment", Min: 1, Actor: "slack:U0LEAD1", Decision: "approve", Outcome: "granted"}}},
		{name: "approval.decided-approved", before: []notify.Event{evRunStarted, evApprovalAsked}, event: evApproved},
		{name: "approval.decided-posted-elsewhere", elsewhere: true, before: []notify.Event{evRunStarted, evReleaseAsked}, event: notify.Event{Kind: notify.ApprovalDecided,
			Step: "release", Status: "approved", Message: "release approved by slack:U0LEAD1 (Lead One), slack:U0LEAD2",
			Approval: &notify.Approval{ID: "release", Group: "containment", Min: 2, Actor: "slack:U0LEAD2", Decision: "approve", Outcome: "approved"}}},
		{name: "approval.decided-denied", before: []notify.Event{evRunStarted, evApprovalAsked}, event: notify.Event{Kind: notify.ApprovalDecided, Step: "isolate-host",
			Status: "denied", Message: "isolate-host denied by slack:U0LEAD2",
			Approval: &notify.Approval{ID: "isolate-host", Group: "containment", Min: 1, Actor: "slack:U0LEAD2", Decision: "deny", Outcome: "denied",
				Reason: "payroll batch runs on ws-0042 tonight; isolate after 22:00"}}},
		{name: "approval.decided-timed-out", before: []notify.Event{evRunStarted, evApprovalAsked}, event: notify.Event{Kind: notify.ApprovalDecided, Step: "isolate-host",
			Status: "timed-out", Message: "approval isolate-host timed out after 5m0s with 0 of 1 approvals; on_timeout: deny",
			Approval: &notify.Approval{ID: "isolate-host", Group: "containment", Min: 1, Outcome: "timed-out", Decision: "deny"}}},
		{name: "task.requested", before: started, event: evTaskAsked},
		{name: "task.done", before: []notify.Event{evRunStarted, evTaskAsked}, event: evTaskDone},
		{name: "rollback.started", before: started, event: notify.Event{Kind: notify.RollbackStarted, Message: "Roll back containment: release host ws-0042, user alice"}},
		{name: "rollback.step", before: started, event: notify.Event{Kind: notify.RollbackStep, Step: "undo-isolate-host", Action: "edr.release_host", Status: "succeeded",
			Message: "ws-0042 released (lab: simulated)"}},
		{name: "rollback.step-failed", before: started, event: notify.Event{Kind: notify.RollbackStep, Step: "undo-disable-user", Action: "identity.enable_user", Status: "failed",
			Error: "identity: user alice not found"}},
		{name: "run.completed", before: started, event: evRunCompleted},
		{name: "run.failed", before: started, event: notify.Event{Kind: notify.RunFailed, Status: "failed",
			Error: "step detonate (sandbox.detonate) failed: sandbox: submission 41 timed out after 30m", Message: "still contained: host ws-0042"}},
		{name: "run.closed", before: started, event: notify.Event{Kind: notify.RunClosed, Status: "closed", Disposition: "false-positive",
			Summary: "2 canceled, 5 succeeded"}},
		{name: "orphan-step.finished", orphan: true, event: evStepFinished},
		{name: "escalation", before: started, escal: "phase immediate exceeded its 15m budget (on_breach: escalate)"},
		{name: "escalation-without-permalink", before: started, escal: "run failed: step detonate failed",
			setup: func(f *slacktest.Fake) { f.FailMethod("chat.getPermalink", "internal_error") }},
	}
}

// TestNotifierGolden checks the Block Kit messages the notifier sends for each event kind against
// testdata/<case>.golden.json (go test ./internal/slackapp -run Golden -update rewrites them).
func TestNotifierGolden(t *testing.T) {
	for _, tt := range goldenCases() {
		t.Run(tt.name, func(t *testing.T) {
			f := slacktest.New(t)
			n := newTestNotifier(t, f, nil)
			s := newSim(t, n)
			if tt.elsewhere {
				s.n = newTestNotifier(t, f, nil)
			}
			for _, e := range tt.before {
				s.deliver(e)
			}
			s.n = n
			if tt.setup != nil {
				tt.setup(f)
			}
			mark := len(f.Calls(""))
			switch {
			case tt.escal != "":
				if err := s.escalate(tt.escal); err != nil {
					t.Fatalf("Escalate: %v", err)
				}
			case tt.orphan:
				s.deliver(tt.event)
			default:
				s.deliver(tt.event)
			}
			checkGolden(t, filepath.Join("testdata", tt.name+".golden.json"), goldenJSON(t, f.Calls("")[mark:]))
		})
	}
}

// goldenJSON renders calls for a golden file: arguments as sent (blocks parsed), message timestamps
// replaced by TS1, TS2… in order of appearance, so the files do not depend on how the fake numbers them.
func goldenJSON(t *testing.T, calls []slacktest.Call) []byte {
	t.Helper()
	names := map[string]string{}
	var order []string
	name := func(ts string) string {
		if n, ok := names[ts]; ok {
			return n
		}
		n := fmt.Sprintf("TS%d", len(names)+1)
		names[ts] = n
		order = append(order, ts)
		return n
	}
	type call struct {
		Method string         `json:"method"`
		Args   map[string]any `json:"args"`
	}
	out := []call{}
	for _, c := range calls {
		args := map[string]any{}
		for k, v := range c.Args {
			switch k {
			case "blocks":
				var blocks any
				if err := json.Unmarshal([]byte(v), &blocks); err != nil {
					t.Fatalf("%s sent blocks that are not JSON: %v", c.Method, err)
				}
				args[k] = blocks
			case "ts", "thread_ts", "message_ts":
				args[k] = name(v)
			default:
				args[k] = v
			}
		}
		out = append(out, call{c.Method, args})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep mrkdwn's <, > and & readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	// Timestamps also appear inside permalinks, without their dot.
	sort.Slice(order, func(i, j int) bool { return len(order[i]) > len(order[j]) })
	for _, ts := range order {
		b = bytes.ReplaceAll(b, []byte(strings.ReplaceAll(ts, ".", "")), []byte(names[ts]))
	}
	return b
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./internal/slackapp -run Golden -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test ./internal/slackapp -run Golden -update rewrites it); got:\n%s", path, got)
	}
}
