package workflows

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/notify"
)

var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

// chainAlerts are three alerts on one host: initial access, execution, lateral movement, spaced by gap.
func chainAlerts(gap time.Duration) []IncidentAlert {
	return []IncidentAlert{
		{AlertID: "a1", Source: "parry", RunID: "parry-parry-a1", Severity: "high", Host: "WS-0042", Techniques: []string{"T1566.001"}, Tactics: []string{"initial-access"}, Time: t0, Escalation: "#soc-leads", Oncall: "S0ONCALL"},
		{AlertID: "a2", Source: "parry", RunID: "parry-parry-a2", Severity: "high", Host: "WS-0042", Techniques: []string{"T1059.001"}, Tactics: []string{"execution"}, Time: t0.Add(gap), Escalation: "#soc-leads", Oncall: "S0ONCALL"},
		{AlertID: "a3", Source: "parry", RunID: "parry-parry-a3", Severity: "high", Host: "WS-0042", Techniques: []string{"T1021.001"}, Tactics: []string{"lateral-movement"}, Time: t0.Add(2 * gap), Escalation: "#soc-leads", Oncall: "S0ONCALL"},
	}
}

func TestChainRisk(t *testing.T) {
	for _, tt := range []struct {
		name                   string
		alerts                 []IncidentAlert
		wantLinks              []string
		wantAtLeast, wantBelow float64
	}{
		{"three tactics in kill-chain order within the hour", chainAlerts(20 * time.Minute), []string{"initial-access", "execution", "lateral-movement"}, DefaultIncidentThreshold, 100},
		{"the same spread over three hours: one tactic per window", chainAlerts(90 * time.Minute), []string{"lateral-movement"}, 0, DefaultIncidentThreshold},
		{"one alert", chainAlerts(0)[:1], []string{"initial-access"}, 3, 3.01},
	} {
		t.Run(tt.name, func(t *testing.T) {
			chain, risk := Chain(tt.alerts, DefaultIncidentWindow)
			var got []string
			for _, l := range chain {
				got = append(got, l.Tactic)
			}
			if !slices.Equal(got, tt.wantLinks) {
				t.Errorf("chain = %v, want %v", got, tt.wantLinks)
			}
			if risk < tt.wantAtLeast || risk >= tt.wantBelow {
				t.Errorf("risk = %.2f, want in [%.2f, %.2f)", risk, tt.wantAtLeast, tt.wantBelow)
			}
		})
	}
}

func TestAttributionRanksGroupsAndPredictsTheirOtherTechniques(t *testing.T) {
	seen := []string{"T1566.001", "T1059.001", "T1021.001"}
	groups, preds := Attribute(seen)
	if len(groups) == 0 || len(groups) > maxGroups {
		t.Fatalf("groups = %d, want 1..%d", len(groups), maxGroups)
	}
	for i := 1; i < len(groups); i++ {
		if groups[i].Score > groups[i-1].Score {
			t.Errorf("groups not ranked by score: %v", groups)
		}
	}
	if groups[0].Score != 1 {
		t.Errorf("best group %s matches %v (score %.2f); some group in ATT&CK v18.1 uses all three", groups[0].Name, groups[0].Matched, groups[0].Score)
	}
	if len(preds) == 0 {
		t.Fatal("no predicted techniques")
	}
	for _, p := range preds {
		if slices.Contains(seen, p.Technique) {
			t.Errorf("predicted %s, which was already seen", p.Technique)
		}
	}
	again, againPreds := Attribute(seen)
	if fmt.Sprint(again, againPreds) != fmt.Sprint(groups, preds) {
		t.Error("attribution differs between two evaluations")
	}
}

// incidentEnv runs IncidentWorkflow in the time-skipping test environment, recording escalations and the
// answers it sends to runs.
type incidentEnv struct {
	env         *testsuite.TestWorkflowEnvironment
	escalations []notify.Escalation
	answers     map[string][]ReleaseAnswer // run → answers
	input       IncidentInput
}

func newIncidentEnv(t *testing.T) *incidentEnv {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	e := &incidentEnv{env: s.NewTestWorkflowEnvironment(), answers: map[string][]ReleaseAnswer{}, input: IncidentInput{Key: "ws-0042", Idle: 6 * time.Hour}}
	Register(e.env)
	e.env.RegisterActivityWithOptions(func(ctx context.Context, x notify.Escalation) error {
		e.escalations = append(e.escalations, x)
		return nil
	}, activity.RegisterOptions{Name: actions.NotifyEscalation})
	e.env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, SignalReleaseAnswer, mock.Anything).Return(
		func(namespace, workflowID, runID, signal string, arg any) error {
			e.answers[workflowID] = append(e.answers[workflowID], arg.(ReleaseAnswer))
			return nil
		})
	return e
}

func (e *incidentEnv) signal(at time.Duration, name string, arg any) {
	e.env.RegisterDelayedCallback(func() { e.env.SignalWorkflow(name, arg) }, at)
}

func (e *incidentEnv) run(t *testing.T, query func()) Incident {
	t.Helper()
	e.env.RegisterDelayedCallback(query, 5*time.Hour)
	e.env.ExecuteWorkflow(IncidentWorkflowName, e.input)
	if err := e.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var inc Incident
	if err := e.env.GetWorkflowResult(&inc); err != nil {
		t.Fatal(err)
	}
	return inc
}

func TestIncidentEscalatesAChainWithinTheWindow(t *testing.T) {
	for _, tt := range []struct {
		name         string
		gap          time.Duration
		window       time.Duration // zero: the default hour
		threshold    float64       // zero: the default
		wantEscalate bool
	}{
		{"within the hour", 20 * time.Minute, 0, 0, true},
		{"spread over three hours", 90 * time.Minute, 0, 0, false},
		{"spread over three hours, four-hour window", 90 * time.Minute, 4 * time.Hour, 0, true},
		{"within the hour, threshold above the chain's risk", 20 * time.Minute, 0, 100, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newIncidentEnv(t)
			e.input.Window, e.input.Threshold = tt.window, tt.threshold
			for i, a := range chainAlerts(tt.gap) {
				e.signal(time.Duration(i+1)*time.Minute, SignalAlert, a)
			}
			e.signal(4*time.Minute, SignalAlert, chainAlerts(tt.gap)[0]) // a retried request: the same alert again
			inc := e.run(t, func() {})
			if len(inc.Runs) != 3 || inc.AlertsSeen != 3 {
				t.Errorf("runs %v, alerts seen %d; want the three runs linked once each", inc.Runs, inc.AlertsSeen)
			}
			if got := len(inc.Escalations) > 0; got != tt.wantEscalate {
				t.Errorf("escalated = %v (risk %.1f), want %v", got, inc.Risk, tt.wantEscalate)
			}
			if got := len(e.escalations) > 0; got != tt.wantEscalate {
				t.Errorf("escalations delivered = %d, want some: %v", len(e.escalations), tt.wantEscalate)
			}
			if tt.wantEscalate && (inc.Severity != "critical" || e.escalations[0].Event.Run.Oncall != "S0ONCALL") {
				t.Errorf("severity %s, escalation %+v", inc.Severity, e.escalations[0])
			}
			if len(inc.Groups) == 0 || len(inc.Predicted) == 0 {
				t.Errorf("groups %d, predictions %d; want a ranked list and predictions", len(inc.Groups), len(inc.Predicted))
			}
		})
	}
}

func TestIncidentReleasesOnlyWhenTheLastRunLetsGo(t *testing.T) {
	e := newIncidentEnv(t)
	e.signal(time.Minute, SignalHold, Hold{Run: "run-a", Kind: "host", Target: "WS-0042"})
	e.signal(2*time.Minute, SignalHold, Hold{Run: "run-b", Kind: "host", Target: "ws-0042"})
	e.signal(3*time.Minute, SignalRelease, ReleaseRequest{Hold: Hold{Run: "run-a", Kind: "host", Target: "WS-0042"}, Step: "release-host"})
	e.signal(4*time.Minute, SignalRunEnded, RunEnded{Run: "run-c"}) // unrelated
	e.signal(5*time.Minute, SignalRelease, ReleaseRequest{Hold: Hold{Run: "run-b", Kind: "host", Target: "WS-0042"}, Step: "release-host"})
	inc := e.run(t, func() {})
	if a := e.answers["run-a"]; len(a) != 1 || a[0].Release || !slices.Equal(a[0].HeldBy, []string{"run-b"}) {
		t.Errorf("answer to run a = %+v, want held by run-b", a)
	}
	if b := e.answers["run-b"]; len(b) != 1 || !b[0].Release {
		t.Errorf("answer to run b = %+v, want release", b)
	}
	if len(inc.Holds) != 0 || len(inc.Releases) != 2 {
		t.Errorf("holds %+v releases %+v", inc.Holds, inc.Releases)
	}
}

func TestIncidentContinuesAsNewWithoutLosingSignals(t *testing.T) {
	e := newIncidentEnv(t)
	// The time-skipping environment hands the workflow each signal as it is sent, so the hand-over comes
	// right after the budget's last signal; the drain of signals delivered together is exercised on the real
	// server (internal/cli).
	const n = 40
	e.env.RegisterDelayedCallback(func() {
		for i := range n {
			e.env.SignalWorkflow(SignalAlert, IncidentAlert{AlertID: fmt.Sprintf("a%d", i), Source: "parry", RunID: fmt.Sprintf("r%d", i),
				Severity: "low", Techniques: []string{"T1059.001"}, Tactics: []string{"execution"}, Time: t0})
		}
	}, time.Minute)
	e.env.ExecuteWorkflow(IncidentWorkflowName, IncidentInput{Key: "ws-0042", SignalBudget: n})
	var can *workflow.ContinueAsNewError
	if err := e.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new", err)
	}
	var next IncidentInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.State == nil || next.State.AlertsSeen != n || next.State.Executions != 1 {
		t.Errorf("handed over %+v, want all %d alerts counted", next.State, n)
	}
}
