package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/parry-soc/parry/activities/lab"
	"github.com/parry-soc/parry/internal/frontdoor"
	"github.com/parry-soc/parry/internal/runs"
	"github.com/parry-soc/parry/workflows"
)

// chainPlaybook answers the three techniques of an intrusion (initial access, execution, lateral movement)
// with one manual task, over the library's playbooks for them (a higher priority), and escalates to
// #soc-leads.
const chainPlaybook = `apiVersion: parry/v1
kind: Playbook
id: test-chain
name: "Test: a chain of techniques"
version: 1
techniques: [T1566.001, T1059.001, T1021.001]
severity: high
priority: 100
notify: {channel: "#soc-incidents", escalation: "#soc-leads", oncall: S0ONCALL}
phases:
  - id: triage
    steps:
      - {id: look, action: manual.task, with: {text: "Look at the host"}}
`

// holdPlaybook isolates a host and disables its user, waits for a person, and releases both.
const holdPlaybook = `apiVersion: parry/v1
kind: Playbook
id: test-hold-release
name: "Test: hold and release"
version: 1
techniques: [T1204.002]
severity: high
inputs:
  host: {from: alert.host, required: true}
  user: {from: alert.user}
approvers:
  leads: {slack_groups: [S0SOCLEADS]}
rollback: {approval: {by: leads}}
phases:
  - id: containment
    steps:
      - {id: isolate-host, action: edr.isolate_host, with: {host: "${{ inputs.host }}"}}
      - {id: disable-user, action: identity.disable_user, with: {user: "${{ inputs.user }}"}}
  - id: recovery
    steps:
      - {id: reimage, action: manual.task, with: {text: "Re-image ${{ inputs.host }}"}}
      - {id: release, action: edr.release_host, with: {host: "${{ inputs.host }}"}}
      - {id: enable-user, action: identity.enable_user, with: {user: "${{ inputs.user }}"}}
`

func chainAlert(id, host, technique string, at time.Time) []byte {
	b, _ := json.Marshal(map[string]any{"source": "parry", "id": id, "title": technique + " on " + host, "severity": "high",
		"techniques": []string{technique}, "host": host, "time": at.UTC().Format(time.RFC3339)})
	return b
}

// incident reads an incident with `trigger status ID --json`, or `trigger status --incident HOST|KIND:TARGET
// --json` for what is not a workflow id.
func (b *intakeBench) incident(id string) workflows.Incident {
	b.t.Helper()
	env, stdout, stderr := b.env(nil)
	args := []string{"status", id, "--json"}
	if !strings.HasPrefix(id, "parry-") {
		args = []string{"status", "--incident", id, "--json"}
	}
	if err := Trigger(b.ctx, env, args); err != nil {
		b.t.Fatalf("trigger status %s: %v %s", id, err, stderr)
	}
	var inc workflows.Incident
	if err := json.Unmarshal([]byte(stdout.String()), &inc); err != nil {
		b.t.Fatalf("incident is not JSON: %v\n%s", err, stdout)
	}
	return inc
}

func (b *intakeBench) waitIncident(id, what string, ok func(workflows.Incident) bool) workflows.Incident {
	b.t.Helper()
	for b.ctx.Err() == nil {
		if inc := b.incident(id); ok(inc) {
			return inc
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("timed out waiting for %s", what)
	return workflows.Incident{}
}

func (b *intakeBench) post(base string, body []byte) frontdoor.AlertAccepted {
	b.t.Helper()
	a, err := postIntake(b.ctx, base+frontdoor.IntakePath, body, "token")
	if err != nil || a.status != 202 {
		b.t.Fatalf("post: %d %s (%v), want 202", a.status, a.raw, err)
	}
	return a.ok
}

// TestIncidentEscalatesAChainWithinTheWindow: three alerts for one host — initial access, execution, lateral
// movement — posted to the front door within the hour make one incident linking their three runs, with the
// chain in kill-chain order, an escalation the worker's notifier delivers to the escalation channel, and a
// ranked list of candidate groups; the same three alerts 90 minutes apart on another host escalate nothing.
func TestIncidentEscalatesAChainWithinTheWindow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := newIntakeBench(ctx, t, chainPlaybook)
	logs, stop := b.startWorker()
	defer stop()
	base := b.serve(nil)
	techniques := []string{"T1566.001", "T1059.001", "T1021.001"}

	now := time.Now()
	var runIDs []string
	for i, tech := range techniques {
		a := b.post(base, chainAlert(fmt.Sprintf("chain-a-%d", i), "CHAIN-A.corp.example.com", tech, now.Add(time.Duration(i-2)*10*time.Minute)))
		if a.Playbook != "test-chain" || a.Incident != "parry-incident-chain-a" {
			t.Fatalf("accepted %+v, want playbook test-chain and incident parry-incident-chain-a", a)
		}
		runIDs = append(runIDs, a.RunID)
	}
	inc := b.waitIncident("parry-incident-chain-a", "the escalation", func(inc workflows.Incident) bool { return len(inc.Escalations) > 0 })
	if !slices.Equal(inc.Runs, runIDs) || inc.AlertsSeen != 3 {
		t.Errorf("incident links runs %v (%d alerts), want %v", inc.Runs, inc.AlertsSeen, runIDs)
	}
	var tactics []string
	for _, l := range inc.Chain {
		tactics = append(tactics, l.Tactic)
	}
	if want := []string{"initial-access", "execution", "lateral-movement"}; !slices.Equal(tactics, want) {
		t.Errorf("chain %v, want %v", tactics, want)
	}
	if len(inc.Escalations) != 1 || inc.Risk < inc.Threshold || inc.Severity != "critical" || !strings.Contains(inc.Escalations[0].Reason, "technique chain on chain-a") {
		t.Errorf("escalations %+v, risk %.1f of %.1f, severity %s: want one escalation for the chain", inc.Escalations, inc.Risk, inc.Threshold, inc.Severity)
	}
	if len(inc.Groups) < 2 {
		t.Fatalf("groups %+v, want a ranked list", inc.Groups)
	}
	for i := 1; i < len(inc.Groups); i++ {
		if inc.Groups[i].Score > inc.Groups[i-1].Score {
			t.Errorf("groups not ranked by score: %+v", inc.Groups)
		}
	}
	if len(inc.Predicted) == 0 {
		t.Error("no predicted techniques")
	}
	// The worker's notifier delivered the escalation to the escalation channel, mentioning on-call.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logs.String(), `msg="parry escalation"`); {
		if time.Now().After(deadline) {
			t.Fatalf("no escalation delivered by the worker's notifier:\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `msg="parry escalation"`) {
			line = l
		}
	}
	for _, want := range []string{"run=parry-incident-chain-a", `reason="technique chain on chain-a: initial-access (T1566.001) → execution (T1059.001) → lateral-movement (T1021.001)`,
		"escalation_channel=#soc-leads", "oncall=S0ONCALL"} {
		if !strings.Contains(line, want) {
			t.Errorf("escalation log line %q lacks %q", line, want)
		}
	}

	// trigger status shows it, the groups and predictions labelled as hypotheses.
	env, stdout, stderr := b.env(nil)
	if err := Trigger(ctx, env, []string{"status", "--incident", "chain-a.corp.example.com"}); err != nil {
		t.Fatalf("trigger status --incident: %v %s", err, stderr)
	}
	for _, want := range []string{"Incident parry-incident-chain-a (key chain-a): severity critical", "at or over the threshold",
		"parry/chain-a-0", "parry-parry-chain-a-2", "Chain (kill-chain order", "initial-access (T1566.001, high) → execution (T1059.001, high) → lateral-movement (T1021.001, high)",
		"Escalations:", "Candidate groups (hypotheses", "Predicted techniques (hypotheses", "Runs: parry-parry-chain-a-0, parry-parry-chain-a-1, parry-parry-chain-a-2"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("trigger status --incident output lacks %q:\n%s", want, stdout)
		}
	}

	// The same chain spread over three hours: each alert is alone in its window.
	for i, tech := range techniques {
		b.post(base, chainAlert(fmt.Sprintf("chain-b-%d", i), "chain-b", tech, now.Add(time.Duration(i-2)*90*time.Minute)))
	}
	inc = b.waitIncident("parry-incident-chain-b", "the three alerts", func(inc workflows.Incident) bool { return inc.AlertsSeen == 3 })
	if len(inc.Escalations) != 0 || inc.Risk >= inc.Threshold || len(inc.Chain) != 1 || len(inc.Runs) != 3 {
		t.Errorf("spread over 3 hours: escalations %+v, risk %.1f, chain %+v, runs %v; want no escalation, a chain of one", inc.Escalations, inc.Risk, inc.Chain, inc.Runs)
	}
	time.Sleep(time.Second) // an escalation would be on its way by now
	if strings.Contains(logs.String(), "run=parry-incident-chain-b") && strings.Contains(logs.String(), "technique chain on chain-b") {
		t.Errorf("the spread-out chain escalated:\n%s", logs)
	}
}

// TestHostHeldByTwoRunsIsReleasedByTheLast: two runs contain the same thing — a host (alerts on one host,
// counted by its incident), or an account (alerts on two hosts for one user, counted by the account's
// ledger); the first to finish its task does not release it while the other still holds it (its step is
// skipped, the lab shows it still contained); the second one releases it. What only one run holds, each
// releases at once.
func TestHostHeldByTwoRunsIsReleasedByTheLast(t *testing.T) {
	for _, tt := range []struct {
		name           string
		hosts, users   [2]string
		shared, single string // the step releasing what both hold, and one releasing what each holds alone
		ledger         string // what counts the shared holds, as trigger status --incident names it
	}{
		{"one host", [2]string{"WS-0042", "WS-0042"}, [2]string{"alice", "bob"}, "release", "enable-user", "WS-0042.corp.example.com"},
		{"one account on two hosts", [2]string{"WS-0042", "WS-0043"}, [2]string{"alice", "alice"}, "enable-user", "release", "user:Alice"},
	} {
		t.Run(tt.name, func(t *testing.T) { holdByTwo(t, tt.hosts, tt.users, tt.shared, tt.single, tt.ledger) })
	}
}

func holdByTwo(t *testing.T, hosts, users [2]string, shared, single, ledger string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := newIntakeBench(ctx, t, holdPlaybook)
	env, stdout, stderr := b.env(nil)
	keyPath := filepath.Join(b.home, "ana.key")
	if err := Trigger(ctx, env, []string{"keygen", "ana", "-o", keyPath, "--groups", "leads"}); err != nil {
		t.Fatalf("keygen: %v %s", err, stderr)
	}
	roster := filepath.Join(b.home, "operators.yaml")
	if err := os.WriteFile(roster, []byte("operators:\n"+strings.TrimPrefix(stdout.String(), "# add to the operator roster (PARRY_OPERATORS):\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	b.vars["PARRY_OPERATORS"], b.vars["PARRY_OPERATOR"], b.vars["PARRY_OPERATOR_KEY"] = roster, "ana", keyPath
	_, stop := b.startWorker()
	defer stop()
	base := b.serve(nil)

	alert := func(i int) []byte {
		var a map[string]any
		if err := json.Unmarshal(chainAlert(fmt.Sprintf("hold-%d", i+1), hosts[i], "T1204.002", time.Now()), &a); err != nil {
			t.Fatal(err)
		}
		a["user"] = users[i]
		out, _ := json.Marshal(a)
		return out
	}
	first := b.post(base, alert(0)).RunID
	second := b.post(base, alert(1)).RunID
	waitTask := func(run string) {
		for ctx.Err() == nil {
			res, err := runs.Status(ctx, b.client, run)
			if err == nil && stepOf(res, "reimage").State == workflows.StepWaitingTask {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("run %s never waited for its task", run)
	}
	waitTask(first)
	waitTask(second)
	if inc := b.incident(ledger); len(inc.Holds) != 2 {
		t.Fatalf("%s holds %+v, want it held by both runs", ledger, inc.Holds)
	}
	labState := func() lab.State {
		st, err := lab.ReadState(b.vars["PARRY_LAB_STATE"])
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// contained reports whether what the shared step releases is still contained in the lab.
	contained := func() bool {
		st := labState()
		if shared == "release" {
			return st.Host(hosts[0]).Isolated
		}
		u, _ := st.User(users[0])
		return u.Disabled
	}
	if !contained() {
		t.Fatalf("%s: not contained after both runs contained it", shared)
	}
	done := func(run string) workflows.Result {
		env, stdout, stderr := b.env(nil)
		if err := Trigger(ctx, env, []string{"done", run, "reimage"}); err != nil {
			t.Fatalf("trigger done %s: %v %s%s", run, err, stdout, stderr)
		}
		var res workflows.Result
		if err := b.client.GetWorkflow(ctx, run, "").Get(ctx, &res); err != nil {
			t.Fatalf("result of %s: %v", run, err)
		}
		return res
	}

	res := done(first)
	if s := stepOf(res, shared); s.State != workflows.StepSkipped || !strings.Contains(s.Reason, "still contained by "+second) {
		t.Errorf("first run's %s: %s %q, want skipped, still contained by %s", shared, s.State, s.Reason, second)
	}
	if s := stepOf(res, single); s.State != workflows.StepSucceeded {
		t.Errorf("first run's %s: %s %q, want succeeded: only this run held it", single, s.State, s.Reason)
	}
	if !contained() {
		t.Errorf("the first run's %s released what the second still holds", shared)
	}

	res = done(second)
	if s := stepOf(res, shared); s.State != workflows.StepSucceeded {
		t.Errorf("second run's %s: %s %q, want succeeded", shared, s.State, s.Reason)
	}
	if contained() {
		t.Errorf("still contained after the last run's %s", shared)
	}
	inc := b.waitIncident(ledger, "the holds to go", func(inc workflows.Incident) bool { return len(inc.Holds) == 0 })
	if len(inc.Releases) != 2 || inc.Releases[0].Release || !inc.Releases[1].Release {
		t.Errorf("release decisions %+v, want the first kept, the second released", inc.Releases)
	}
}

// TestIncidentContinuesAsNewWithoutLosingAlerts: an incident with a signal budget of 20 takes 200 alerts
// sent at once on the real server, handing over to new executions on the way, and counts every one.
func TestIncidentContinuesAsNewWithoutLosingAlerts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := newIntakeBench(ctx, t)
	_, stop := b.startWorker()
	defer stop()

	const n = 200
	id := workflows.IncidentID("can-host")
	opts := client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue, WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE}
	in := workflows.IncidentInput{Key: "can-host", SignalBudget: 20}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref := workflows.IncidentAlert{AlertID: fmt.Sprintf("can-%03d", i), Source: "parry", Host: "can-host", Severity: "low", Time: time.Now().UTC()}
			if _, err := b.client.SignalWithStartWorkflow(ctx, id, workflows.SignalAlert, ref, opts, workflows.IncidentWorkflowName, in); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("signal: %v", err)
	}
	inc := b.waitIncident(id, "all 200 alerts", func(inc workflows.Incident) bool { return inc.AlertsSeen >= n })
	if inc.AlertsSeen != n || len(inc.Alerts) != n || inc.Executions == 0 {
		t.Errorf("incident saw %d alerts (%d kept) over %d hand-overs, want %d alerts and at least one hand-over", inc.AlertsSeen, len(inc.Alerts), inc.Executions, n)
	}
	seen := map[string]bool{}
	for _, a := range inc.Alerts {
		seen[a.AlertID] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct alerts kept, want %d", len(seen), n)
	}
}
