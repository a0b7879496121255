package workflows

import (
	"crypto/sha256"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/approval"
	"github.com/parry-soc/parry/notify"
)

// header is the common head of test playbooks: one approver group of operators named lead and second.
const header = `
apiVersion: parry/v1
kind: Playbook
id: test
name: Test
version: 1
techniques: [T1566.001]
severity: high
inputs:
  host: {from: alert.host, required: true}
  user: {from: alert.user}
  sha256: {from: alert.hashes.sha256}
  ip: {from: alert.source_ip}
notify: {channel: "#soc", escalation: "#leads", oncall: S0ONCALL}
approvers:
  containment: {operators: [lead, second], slack_groups: [S0SOCLEADS], min: 1}
  pair: {operators: [lead, second], min: 2}
rollback: {approval: {by: containment}}
`

func TestRunsPhasesAndStepsInOrder(t *testing.T) {
	h := newHarness(t)
	res := h.run(header + `
phases:
  - id: immediate
    budget: 15m
    steps:
      - {id: isolate, action: edr.isolate_host, with: {host: "${{ inputs.host }}"}}
      - {id: revoke, action: identity.revoke_sessions, with: {user: "${{ inputs.user }}"}}
  - id: investigation
    budget: 45m
    steps:
      - {id: hash-intel, action: intel.lookup_hash, with: {sha256: "${{ inputs.sha256 }}"}}
  - id: recovery
    steps:
      - {id: release, action: edr.release_host, with: {host: "${{ inputs.host }}"}}
`)
	want := []string{"isolate:edr.isolate_host", "revoke:identity.revoke_sessions", "hash-intel:intel.lookup_hash", "release:edr.release_host"}
	if got := h.estate.called(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls = %v, want %v", got, want)
	}
	if res.State != StateCompleted || res.Disposition != Undetermined {
		t.Errorf("state %s disposition %s, want completed undetermined", res.State, res.Disposition)
	}
	for _, ph := range res.Phases {
		if ph.Started.IsZero() || ph.Ended.IsZero() || ph.Breached {
			t.Errorf("phase %s: %+v", ph.ID, ph)
		}
	}
	if got := stepState(res, "isolate").With["host"]; got != "WS-0042" {
		t.Errorf("isolate host = %v, want WS-0042", got)
	}
	if len(res.Contained) != 1 || !res.Contained[0].Released {
		t.Errorf("contained = %+v, want the host released by the recovery step", res.Contained)
	}
	// Notifications arrive in order, run.started first and run.completed last.
	var kinds []string
	for i, e := range h.estate.events {
		if e.Seq <= 0 || (i > 0 && e.Seq <= h.estate.events[i-1].Seq) {
			t.Fatalf("events out of order at %d: seq %d", i, e.Seq)
		}
		kinds = append(kinds, e.Kind)
	}
	if kinds[0] != notify.RunStarted || kinds[len(kinds)-1] != notify.RunCompleted {
		t.Errorf("event kinds = %v", kinds)
	}
}

func TestParallelBranchWaitingForApprovalDoesNotBlockOthers(t *testing.T) {
	h := newHarness(t)
	lead := newOperator(t, "lead")
	h.trust(lead)
	h.decide(10*time.Minute, lead, "isolate", approval.Approve)
	var statusAt5m Result
	h.at(5*time.Minute, func() { statusAt5m = h.status() })
	res := h.run(header + `
phases:
  - id: immediate
    budget: 15m
    steps:
      - parallel:
          - {id: isolate, action: edr.isolate_host, with: {host: "${{ inputs.host }}"}, approval: {by: containment}}
          - {id: memory, action: evidence.memory_dump, with: {host: "${{ inputs.host }}"}}
          - {id: pcap, action: evidence.network_capture, with: {host: "${{ inputs.host }}", duration: 5m}}
      - {id: after, action: intel.lookup_ip, with: {ip: "${{ inputs.ip }}"}}
`)
	calls := h.estate.called()
	if len(calls) != 4 || calls[3] != "after:intel.lookup_ip" || !strings.HasPrefix(calls[2], "isolate:") {
		t.Errorf("calls = %v: the approved branch runs last, the next step after the whole group", calls)
	}
	if got := stepState(statusAt5m, "memory").State; got != StepSucceeded {
		t.Errorf("memory at 5m = %s, want succeeded while isolate waits", got)
	}
	if got := stepState(statusAt5m, "isolate").State; got != StepWaitingApproval {
		t.Errorf("isolate at 5m = %s, want waiting-approval", got)
	}
	if res.State != StateCompleted {
		t.Errorf("state = %s", res.State)
	}
}

func TestWhenAndEmptyInputsSkipSteps(t *testing.T) {
	h := newHarness(t)
	h.alert.Hashes.SHA256 = "" // the alert carries no hash
	h.estate.outputs["ip-intel"] = map[string]any{"verdict": "clean"}
	res := h.run(header + `
phases:
  - id: investigation
    steps:
      - {id: hash-intel, action: intel.lookup_hash, with: {sha256: "${{ inputs.sha256 }}"}}
      - {id: ip-intel, action: intel.lookup_ip, with: {ip: "${{ inputs.ip }}"}}
      - id: block
        action: network.block_ip
        when: "steps['ip-intel'].output.verdict in ['malicious', 'suspicious']"
        with: {ip: "${{ inputs.ip }}"}
      - id: detonate
        action: sandbox.detonate
        when: "steps['hash-intel'].output.verdict != 'malicious'"
        with: {sha256: "${{ inputs.sha256 }}"}
      - id: low-only
        action: identity.revoke_sessions
        when: "alert.severity == 'low'"
        with: {user: "${{ inputs.user }}"}
`)
	if got, want := h.estate.called(), []string{"ip-intel:intel.lookup_ip"}; !reflect.DeepEqual(got, want) {
		t.Errorf("calls = %v, want %v", got, want)
	}
	for _, tt := range []struct{ step, reason string }{
		{"hash-intel", "required parameter sha256 resolved empty"},
		{"block", "is false"},
		{"detonate", "could not be evaluated"}, // hash-intel was skipped, so it has no verdict
		{"low-only", "is false"},
	} {
		s := stepState(res, tt.step)
		if s.State != StepSkipped || !strings.Contains(s.Reason, tt.reason) {
			t.Errorf("%s: %s %q, want skipped with %q", tt.step, s.State, s.Reason, tt.reason)
		}
	}
}

const approvalPlaybook = `
phases:
  - id: immediate
    budget: 15m
    steps:
      - id: isolate
        action: edr.isolate_host
        with: {host: "${{ inputs.host }}"}
        approval: {by: %s, timeout: 5m, on_timeout: %s}
`

func TestApprovals(t *testing.T) {
	for _, tt := range []struct {
		name      string
		group     string
		onTimeout string
		script    func(h *harness, p map[string]person)
		wantRun   bool
		wantLog   []string // outcome of each attempt, in order
		wantState string   // the approval's final state
		escalated bool
	}{
		{
			name: "granted by an approver", group: "containment", onTimeout: "deny",
			script:  func(h *harness, p map[string]person) { h.decide(time.Minute, p["lead"], "isolate", approval.Approve) },
			wantRun: true, wantLog: []string{OutcomeGranted}, wantState: ApprovalApproved,
		},
		{
			name: "denied by an approver", group: "containment", onTimeout: "approve",
			script:  func(h *harness, p map[string]person) { h.decide(time.Minute, p["lead"], "isolate", approval.Deny) },
			wantRun: false, wantLog: []string{OutcomeGranted}, wantState: ApprovalDenied,
		},
		{
			name: "timeout approves when on_timeout is approve", group: "containment", onTimeout: "approve",
			script:  func(h *harness, p map[string]person) {},
			wantRun: true, wantState: ApprovalTimedOut, escalated: true,
		},
		{
			name: "timeout denies when on_timeout is deny", group: "containment", onTimeout: "deny",
			script:  func(h *harness, p map[string]person) {},
			wantRun: false, wantState: ApprovalTimedOut, escalated: true,
		},
		{
			name: "a non-approver is refused and recorded", group: "containment", onTimeout: "deny",
			script: func(h *harness, p map[string]person) {
				h.decide(time.Minute, p["outsider"], "isolate", approval.Approve)
				h.decide(2*time.Minute, p["lead"], "isolate", approval.Approve)
			},
			wantRun: true, wantLog: []string{OutcomeRefused, OutcomeGranted}, wantState: ApprovalApproved,
		},
		{
			name: "the same person twice counts once towards min 2", group: "pair", onTimeout: "deny",
			script: func(h *harness, p map[string]person) {
				h.decide(time.Minute, p["lead"], "isolate", approval.Approve)
				h.decide(2*time.Minute, p["lead"], "isolate", approval.Approve)
				h.decide(3*time.Minute, p["second"], "isolate", approval.Approve)
			},
			wantRun: true, wantLog: []string{OutcomeCounted, OutcomeRefused, OutcomeGranted}, wantState: ApprovalApproved,
		},
		{
			name: "min 2 is not met by one person before the timeout", group: "pair", onTimeout: "deny",
			script:  func(h *harness, p map[string]person) { h.decide(time.Minute, p["lead"], "isolate", approval.Approve) },
			wantRun: false, wantLog: []string{OutcomeCounted}, wantState: ApprovalTimedOut, escalated: true,
		},
		{
			name: "a forged assertion is refused", group: "containment", onTimeout: "deny",
			script: func(h *harness, p map[string]person) {
				h.decide(time.Minute, p["forger"], "isolate", approval.Approve)
			},
			wantRun: false, wantLog: []string{OutcomeRefused}, wantState: ApprovalTimedOut, escalated: true,
		},
		{
			name: "a Slack user in a resolved group, vouched for by the front door", group: "containment", onTimeout: "deny",
			script: func(h *harness, p map[string]person) {
				h.decide(time.Minute, p["slack-outsider"], "isolate", approval.Approve)
				h.decide(2*time.Minute, p["slack-lead"], "isolate", approval.Approve)
			},
			wantRun: true, wantLog: []string{OutcomeRefused, OutcomeGranted}, wantState: ApprovalApproved,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			fd := newFrontDoor(t)
			people := map[string]person{
				"lead":           newOperator(t, "lead"),
				"second":         newOperator(t, "second"),
				"outsider":       newOperator(t, "outsider", "other-group"),
				"slack-lead":     fd.slackUser("U0LEAD"),
				"slack-outsider": fd.slackUser("U0RANDOM"),
			}
			h.trust(people["lead"], people["second"], people["outsider"])
			h.keys = append(h.keys, fd.key)
			// The forger signs with a key the run never pinned, claiming to be lead.
			forger := newOperator(t, "lead")
			people["forger"] = forger
			h.estate.members["S0SOCLEADS"] = []string{"U0LEAD"}
			tt.script(h, people)
			res := h.run(header + sprintf(approvalPlaybook, tt.group, tt.onTimeout))

			ran := slices.Contains(h.estate.called(), "isolate:edr.isolate_host")
			if ran != tt.wantRun {
				t.Errorf("isolate ran = %v, want %v (step %+v)", ran, tt.wantRun, stepState(res, "isolate"))
			}
			var log []string
			for _, a := range res.ApprovalLog {
				log = append(log, a.Outcome)
				if a.Outcome == OutcomeRefused && a.Why == "" {
					t.Errorf("refused attempt without a reason: %+v", a)
				}
			}
			if !reflect.DeepEqual(log, tt.wantLog) {
				t.Errorf("approval log = %v, want %v (%+v)", log, tt.wantLog, res.ApprovalLog)
			}
			if len(res.Approvals) != 1 || res.Approvals[0].State != tt.wantState {
				t.Errorf("approvals = %+v, want state %s", res.Approvals, tt.wantState)
			}
			if got := len(res.Escalations) > 0; got != tt.escalated {
				t.Errorf("escalated = %v, want %v (%+v)", got, tt.escalated, res.Escalations)
			}
			if tt.escalated && len(h.estate.escalations) == 0 {
				t.Error("escalation recorded but never delivered to the notifier")
			}
		})
	}
}

func sprintf(format string, args ...any) string {
	out := format
	for _, a := range args {
		out = strings.Replace(out, "%s", a.(string), 1)
	}
	return out
}

func TestStaleAndMalformedDecisionsAreRejectedByTheValidator(t *testing.T) {
	h := newHarness(t)
	lead := newOperator(t, "lead")
	second := newOperator(t, "second")
	h.trust(lead, second)
	h.at(30*time.Second, func() {
		h.update(UpdateDecide, DecideRequest{Approval: "isolate", Assertion: approval.Assertion{Payload: []byte("{")}})
	})
	h.at(40*time.Second, func() { h.update(UpdateDecide, DecideRequest{Approval: "isolate"}) })
	h.decide(50*time.Second, lead, "no-such-approval", approval.Approve)
	h.decide(time.Minute, lead, "isolate", approval.Approve)
	h.decide(2*time.Minute, second, "isolate", approval.Approve) // already decided: stale
	h.close(10*time.Minute, lead, Benign, false)
	res := h.run(header + sprintf(approvalPlaybook, "containment", "deny") + `
      - {id: wait, action: manual.task, with: {text: "look"}}
`)
	_ = res
	if len(h.rejects) != 4 {
		t.Fatalf("rejections = %q, want 4", h.rejects)
	}
	for i, want := range []string{"malformed assertion", "malformed assertion", "no approval \"no-such-approval\"", "already approved"} {
		if !strings.Contains(h.rejects[i], want) {
			t.Errorf("rejection %d = %q, want it to mention %q", i, h.rejects[i], want)
		}
	}
	if len(res.ApprovalLog) != 2 || res.ApprovalLog[0].Approval != "isolate" || res.ApprovalLog[1].Approval != "close" {
		t.Errorf("approval log = %+v: rejected requests must not be recorded", res.ApprovalLog)
	}
}

func TestBudgetBreach(t *testing.T) {
	for _, tt := range []struct {
		mode          string
		wantState     string
		wantEscalated bool
		wantAfterRuns bool
	}{
		{"escalate", StateCompleted, true, true},
		{"fail", StateFailed, true, false},
		{"continue", StateCompleted, false, true},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			h := newHarness(t)
			lead := newOperator(t, "lead")
			h.trust(lead)
			// The approval comes at 16 minutes: the 15-minute budget breaches while it waits.
			h.decide(16*time.Minute, lead, "isolate", approval.Approve)
			if tt.mode == "fail" {
				h.close(23*time.Hour, lead, TruePositive, false)
			}
			res := h.run(header + `
phases:
  - id: immediate
    budget: 15m
    on_breach: ` + tt.mode + `
    steps:
      - {id: isolate, action: edr.isolate_host, with: {host: "${{ inputs.host }}"}, approval: {by: containment, timeout: 30m}}
      - {id: after, action: identity.revoke_sessions, with: {user: "${{ inputs.user }}"}}
`)
			if !res.Phases[0].Breached {
				t.Errorf("phase not marked breached: %+v", res.Phases[0])
			}
			if res.State != tt.wantState {
				t.Errorf("state = %s, want %s (failure %q)", res.State, tt.wantState, res.Failure)
			}
			if got := len(res.Escalations) > 0; got != tt.wantEscalated {
				t.Errorf("escalated = %v, want %v", got, tt.wantEscalated)
			}
			if got := slices.Contains(h.estate.called(), "after:identity.revoke_sessions"); got != tt.wantAfterRuns {
				t.Errorf("step after the breach ran = %v, want %v", got, tt.wantAfterRuns)
			}
		})
	}
}

func TestFailureLeavesContainmentInPlace(t *testing.T) {
	h := newHarness(t)
	lead := newOperator(t, "lead")
	h.trust(lead)
	h.estate.fail["disable"] = nonRetryable(actions.ErrUserNotFound, "no such user alice")
	var held Result
	h.at(2*time.Hour, func() { held = h.status() })
	res := h.run(header + `
phases:
  - id: immediate
    budget: 15m
    steps:
      - {id: isolate, action: edr.isolate_host, with: {host: "${{ inputs.host }}"}}
      - {id: disable, action: identity.disable_user, with: {user: "${{ inputs.user }}"}}
      - {id: memory, action: evidence.memory_dump, with: {host: "${{ inputs.host }}"}}
  - id: recovery
    steps:
      - {id: release, action: edr.release_host, with: {host: "${{ inputs.host }}"}}
`)
	if got, want := h.estate.called(), []string{"isolate:edr.isolate_host", "disable:identity.disable_user"}; !reflect.DeepEqual(got, want) {
		t.Errorf("calls = %v, want %v: nothing after the failure, and no release", got, want)
	}
	if held.State != StateFailed {
		t.Errorf("state while held open = %s, want failed", held.State)
	}
	if res.State != StateFailed || !strings.Contains(res.Failure, "UserNotFound") {
		t.Errorf("state %s failure %q", res.State, res.Failure)
	}
	if len(res.Contained) != 1 || res.Contained[0].Released {
		t.Errorf("contained = %+v, want the host still isolated", res.Contained)
	}
	if len(res.Escalations) == 0 || !strings.Contains(res.Escalations[0].Reason, "run failed") {
		t.Errorf("escalations = %+v", res.Escalations)
	}
}

func TestCloseWithRollbackUndoesContainmentInReverseOrder(t *testing.T) {
	h := newHarness(t)
	lead := newOperator(t, "lead")
	h.trust(lead)
	h.close(30*time.Minute, lead, FalsePositive, true)
	h.decide(31*time.Minute, lead, RollbackID, approval.Approve)
	res := h.run(header + `
phases:
  - id: immediate
    budget: 15m
    steps:
      - {id: isolate, action: edr.isolate_host, with: {host: "${{ inputs.host }}"}, approval: {by: containment, timeout: 1m, on_timeout: approve}}
      - {id: disable, action: identity.disable_user, with: {user: "${{ inputs.user }}"}}
  - id: recovery
    steps:
      - {id: reimage, action: manual.task, with: {text: "Re-image ${{ inputs.host }}"}}
      - {id: release, action: edr.release_host, with: {host: "${{ inputs.host }}"}}
`)
	want := []string{"isolate:edr.isolate_host", "disable:identity.disable_user", "undo-disable:identity.enable_user", "undo-isolate:edr.release_host"}
	if got := h.estate.called(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls = %v, want %v", got, want)
	}
	if res.State != StateClosed || res.Disposition != FalsePositive {
		t.Errorf("state %s disposition %s", res.State, res.Disposition)
	}
	for _, c := range res.Contained {
		if !c.Released {
			t.Errorf("still contained after rollback: %+v", c)
		}
	}
	if got := stepState(res, "reimage").State; got != StepCanceled {
		t.Errorf("reimage = %s, want canceled by the close", got)
	}
	if len(res.Rollback) != 2 || res.Rollback[0].State != StepSucceeded {
		t.Errorf("rollback = %+v", res.Rollback)
	}
}

func TestRollbackIsNotDoneWithoutItsApproval(t *testing.T) {
	h := newHarness(t)
	lead := newOperator(t, "lead")
	h.trust(lead)
	h.close(5*time.Minute, lead, FalsePositive, true)
	h.decide(6*time.Minute, lead, RollbackID, approval.Deny)
	res := h.run(header + `
phases:
  - id: immediate
    steps:
      - {id: isolate, action: edr.isolate_host, with: {host: "${{ inputs.host }}"}}
      - {id: wait, action: manual.task, with: {text: "wait"}}
`)
	if got := h.estate.called(); !reflect.DeepEqual(got, []string{"isolate:edr.isolate_host"}) {
		t.Errorf("calls = %v: a denied rollback undoes nothing", got)
	}
	if res.Contained[0].Released {
		t.Error("host released without an approved rollback")
	}
}

func TestStatusQueryHasAbsoluteDeadlines(t *testing.T) {
	h := newHarness(t)
	lead := newOperator(t, "lead")
	h.trust(lead)
	var st Result
	h.at(2*time.Minute, func() { st = h.status() })
	h.decide(3*time.Minute, lead, "isolate", approval.Approve)
	h.run(header + sprintf(approvalPlaybook, "containment", "deny"))
	if st.Phase != "immediate" || st.Deadline.Sub(st.Started) != 15*time.Minute {
		t.Errorf("phase %q deadline %v (started %v), want immediate + 15m", st.Phase, st.Deadline, st.Started)
	}
	if len(st.Approvals) != 1 || st.Approvals[0].State != ApprovalOpen || st.Approvals[0].Deadline.Sub(st.Approvals[0].Opened) != 5*time.Minute {
		t.Errorf("approvals = %+v, want one open with a 5m deadline", st.Approvals)
	}
	if got := stepState(st, "isolate").State; got != StepWaitingApproval {
		t.Errorf("isolate = %s", got)
	}
}

func TestManualTaskWaitsForDone(t *testing.T) {
	h := newHarness(t)
	lead := newOperator(t, "lead")
	h.trust(lead)
	h.done(2*time.Hour, lead, "reimage")
	res := h.run(header + `
phases:
  - id: recovery
    steps:
      - {id: reimage, action: manual.task, with: {text: "Re-image ${{ inputs.host }}"}}
      - {id: release, action: edr.release_host, with: {host: "${{ inputs.host }}"}}
`)
	s := stepState(res, "reimage")
	if s.State != StepSucceeded || !strings.Contains(s.Note, "operator:lead") {
		t.Errorf("reimage = %+v", s)
	}
	if len(res.Tasks) != 1 || res.Tasks[0].Text != "Re-image WS-0042" {
		t.Errorf("tasks = %+v", res.Tasks)
	}
}

// TestEventsThreadAndUpdateRequestsInPlace checks what the interpreter hands a notifier: every event after
// the first replies in the run's thread, and a decided approval names the request message to update.
func TestEventsThreadAndUpdateRequestsInPlace(t *testing.T) {
	h := newHarness(t)
	lead := newOperator(t, "lead")
	h.trust(lead)
	h.decide(time.Minute, lead, "isolate", approval.Approve)
	h.done(2*time.Minute, lead, "reimage")
	res := h.run(header + sprintf(approvalPlaybook, "containment", "deny") + `
  - id: recovery
    steps:
      - {id: reimage, action: manual.task, with: {text: "Re-image ${{ inputs.host }}"}}
`)
	parent := notify.MessageRef{Channel: "C0SOC", TS: "1765000000.000001"}
	if res.Thread != parent {
		t.Errorf("result thread = %+v, want %+v", res.Thread, parent)
	}
	var requested, decided, taskReq, taskDone notify.Event
	for _, e := range h.estate.events {
		if e.Kind != notify.RunStarted && e.Thread != parent {
			t.Errorf("event %d %s has thread %+v, want the parent", e.Seq, e.Kind, e.Thread)
		}
		switch e.Kind {
		case notify.ApprovalRequested:
			requested = e
		case notify.ApprovalDecided:
			decided = e
		case notify.TaskRequested:
			taskReq = e
		case notify.TaskDone:
			taskDone = e
		}
	}
	if want := (notify.MessageRef{Channel: "C0SOC", TS: fmt.Sprintf("1765000000.%06d", requested.Seq)}); decided.Target != want || res.Approvals[0].Message != want {
		t.Errorf("decided target %+v, approval message %+v, want the request %+v", decided.Target, res.Approvals[0].Message, want)
	}
	if taskDone.Target.IsZero() || taskDone.Target.TS != fmt.Sprintf("1765000000.%06d", taskReq.Seq) {
		t.Errorf("task.done target %+v, want the task request (seq %d)", taskDone.Target, taskReq.Seq)
	}
}

// TestClosingCancelsOpenApprovalsAndSaysSo: a run closed while an approval waits cancels it and tells the
// notifier, so the request stops offering buttons.
func TestClosingCancelsOpenApprovalsAndSaysSo(t *testing.T) {
	h := newHarness(t)
	lead := newOperator(t, "lead")
	h.trust(lead)
	h.close(time.Minute, lead, Benign, false)
	res := h.run(header + sprintf(approvalPlaybook, "containment", "deny"))
	if res.State != StateClosed || res.Approvals[0].State != ApprovalCanceled || stepState(res, "isolate").State != StepCanceled {
		t.Fatalf("state %s, approval %s, step %s", res.State, res.Approvals[0].State, stepState(res, "isolate").State)
	}
	var decided *notify.Event
	for i, e := range h.estate.events {
		if e.Kind == notify.ApprovalDecided {
			decided = &h.estate.events[i]
		}
	}
	if decided == nil || decided.Approval.Outcome != ApprovalCanceled || decided.Target != res.Approvals[0].Message {
		t.Errorf("decided event = %+v, want canceled, targeting the request %+v", decided, res.Approvals[0].Message)
	}
	if slices.Contains(h.estate.called(), "isolate:edr.isolate_host") {
		t.Error("the host was isolated after the run closed")
	}
}

// TestReleaseIsHeldWhileAnotherRunContains: the incident says another open run still needs the host
// isolated, so the recovery's release is not sent to the EDR; the run tells the incident what it holds and
// when it ends.
// TestHoldsAreCountedWhereTheTargetLives: the alert's host is counted by its incident; an account, and a
// host other than the alert's, by ledgers of their own that the run starts, so that runs on other hosts
// containing the same thing share the count: here another run holds alice too, and this run's recovery
// leaves her disabled.
func TestHoldsAreCountedWhereTheTargetLives(t *testing.T) {
	h := newHarness(t)
	other := Hold{Run: "parry-parry-other", Kind: "user", Target: "ALICE"}
	h.at(10*time.Minute, func() { h.env.SignalWorkflowByID(LedgerID("user", "alice"), SignalHold, other) })
	// Let the other run end later, so the ledgers go quiet and end as they do in production.
	h.at(3*time.Hour, func() { h.env.SignalWorkflowByID(LedgerID("user", "alice"), SignalRunEnded, RunEnded{Run: other.Run}) })
	lead := newOperator(t, "lead")
	h.trust(lead)
	h.done(20*time.Minute, lead, "look-around")
	res := h.run(header + `
phases:
  - id: immediate
    steps:
      - {id: isolate, action: edr.isolate_host, with: {host: "${{ inputs.host }}"}}
      - {id: isolate-peer, action: edr.isolate_host, with: {host: "FS-0001.corp.example.com"}}
      - {id: disable, action: identity.disable_user, with: {user: "${{ inputs.user }}"}}
  - id: investigation
    steps:
      - {id: look-around, action: manual.task, with: {text: "look around"}}
  - id: recovery
    steps:
      - {id: enable, action: identity.enable_user, with: {user: "Alice"}}
      - {id: release-peer, action: edr.release_host, with: {host: "fs-0001"}}
`)
	// Only the alert's host reaches its incident (the fake above); the rest went to the ledgers.
	if want := []string{"parry-incident-ws-0042: hold", "parry-incident-ws-0042: run-ended"}; !reflect.DeepEqual(h.signalsTo, want) {
		t.Errorf("signals to the alert's incident:\n%s\nwant:\n%s", strings.Join(h.signalsTo, "\n"), strings.Join(want, "\n"))
	}
	if s := stepState(res, "enable"); s.State != StepSkipped || !strings.Contains(s.Reason, "still contained by parry-parry-other") {
		t.Errorf("enable = %s %q, want skipped while the ledger says another run holds alice", s.State, s.Reason)
	}
	if s := stepState(res, "release-peer"); s.State != StepSucceeded {
		t.Errorf("release-peer = %s %q, want released: only this run held fs-0001", s.State, s.Reason)
	}
	if got, want := h.estate.called(), []string{"isolate:edr.isolate_host", "isolate-peer:edr.isolate_host", "disable:identity.disable_user", "release-peer:edr.release_host"}; !reflect.DeepEqual(got, want) {
		t.Errorf("calls = %v, want %v", got, want)
	}
}

func TestLedgerID(t *testing.T) {
	digest := func(s string) string { sum := sha256.Sum256([]byte(s)); return fmt.Sprintf("%x", sum[:16]) }
	for _, tt := range []struct{ kind, target, want string }{
		{"host", "WS-0042.corp.example.com", "parry-incident-ws-0042"},
		{"user", " Alice ", "parry-incident-user:" + digest("user:alice")},
		{"user", "alice", "parry-incident-user:" + digest("user:alice")},
		{"sender", "Billing@Invoices.example.net", "parry-incident-sender:" + digest("sender:billing@invoices.example.net")},
		{"ip", "", ""},
	} {
		if got := LedgerID(tt.kind, tt.target); got != tt.want {
			t.Errorf("LedgerID(%s, %q) = %q, want %q", tt.kind, tt.target, got, tt.want)
		}
	}
}

func TestReleaseIsHeldWhileAnotherRunContains(t *testing.T) {
	h := newHarness(t)
	h.heldBy = []string{"parry-parry-other"}
	res := h.run(header + `
phases:
  - id: immediate
    steps:
      - {id: isolate, action: edr.isolate_host, with: {host: "${{ inputs.host }}"}}
  - id: recovery
    steps:
      - {id: release, action: edr.release_host, with: {host: "${{ inputs.host }}"}}
`)
	if got := h.estate.called(); !reflect.DeepEqual(got, []string{"isolate:edr.isolate_host"}) {
		t.Errorf("calls = %v: the release must not reach the EDR while another run holds the host", got)
	}
	s := stepState(res, "release")
	if s.State != StepSkipped || !strings.Contains(s.Reason, "still contained by parry-parry-other") {
		t.Errorf("release = %s %q", s.State, s.Reason)
	}
	if got, want := h.incidentSignals, []string{SignalHold, SignalRelease, SignalRunEnded}; !reflect.DeepEqual(got, want) {
		t.Errorf("signals to the incident = %v, want %v", got, want)
	}
}
