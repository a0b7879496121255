package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parry-soc/parry/activities/lab"
	"github.com/parry-soc/parry/workflows"
)

// TestOperatorsDecideAndCloseFromTheCLI drives a run the way an operator without Slack does: trigger run
// against a running server and worker, trigger status, trigger approve (refused for someone outside the
// approver group, granted for an approver), a denial with a reason, and trigger close with a rollback that
// needs — and gets — its own approval.
func TestOperatorsDecideAndCloseFromTheCLI(t *testing.T) {
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv := startServer(ctx, t, home)

	// Two operators: ana approves for the playbook's groups, mallory for none of them.
	roster := "operators:\n"
	for _, op := range []struct{ name, groups string }{{"ana", "containment,recovery"}, {"mallory", "finance"}} {
		env, stdout, stderr := testEnv(home, nil)
		if err := Trigger(ctx, env, []string{"keygen", op.name, "-o", filepath.Join(home, op.name+".key"), "--groups", op.groups}); err != nil {
			t.Fatalf("keygen: %v %s", err, stderr)
		}
		roster += strings.TrimPrefix(stdout.String(), "# add to the operator roster (PARRY_OPERATORS):\n")
	}
	rosterPath := filepath.Join(home, "operators.yaml")
	if err := os.WriteFile(rosterPath, []byte(roster), 0o644); err != nil {
		t.Fatal(err)
	}
	common := map[string]string{"TEMPORAL_ADDRESS": srv.Address(), "PARRY_OPERATORS": rosterPath,
		"PARRY_LAB_STATE": filepath.Join(home, "lab-state.json"), "PARRY_EVIDENCE_DIR": filepath.Join(home, "evidence")}
	as := func(op string) map[string]string {
		m := map[string]string{"PARRY_OPERATOR": op, "PARRY_OPERATOR_KEY": filepath.Join(home, op+".key")}
		for k, v := range common {
			m[k] = v
		}
		return m
	}

	workerCtx, stopWorker := context.WithCancel(ctx)
	workerDone := make(chan error, 1)
	go func() {
		env, _, _ := testEnv(home, common)
		workerDone <- Worker(workerCtx, env, nil)
	}()
	defer func() { stopWorker(); <-workerDone }()

	trigger := func(vars map[string]string, args ...string) (string, error) {
		env, stdout, stderr := testEnv(home, vars)
		err := Trigger(ctx, env, args)
		return stdout.String() + stderr.String(), err
	}
	if out, err := trigger(common, "run", filepath.Join("testdata", "alerts", "t1566-001.json")); err != nil || !strings.Contains(out, "Started run parry-parry-demo-phish-0001") {
		t.Fatalf("trigger run: %v\n%s", err, out)
	}
	const run = "parry-parry-demo-phish-0001"
	status := func() workflows.Result {
		env, stdout, stderr := testEnv(home, common)
		if err := Trigger(ctx, env, []string{"status", run, "--json"}); err != nil {
			t.Fatalf("trigger status: %v %s", err, stderr)
		}
		return decodeResult(t, stdout.String())
	}
	waitFor := func(what string, ok func(workflows.Result) bool) workflows.Result {
		for ctx.Err() == nil {
			if res := status(); ok(res) {
				return res
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("timed out waiting for %s", what)
		return workflows.Result{}
	}
	open := func(id string) func(workflows.Result) bool {
		return func(res workflows.Result) bool {
			for _, a := range res.Approvals {
				if a.ID == id && a.State == workflows.ApprovalOpen {
					return true
				}
			}
			return false
		}
	}

	waitFor("isolate-host approval", open("isolate-host"))
	if out, _ := trigger(common, "status", run); !strings.Contains(out, "Pending approval isolate-host") {
		t.Errorf("status does not show the pending approval:\n%s", out)
	}
	if out, err := trigger(as("mallory"), "approve", run, "isolate-host"); ExitCode(err) != 1 || !strings.Contains(out, "not an approver of group containment") {
		t.Errorf("mallory's approval: exit %d, output %q; want refused, exit 1", ExitCode(err), out)
	}
	if out, err := trigger(as("ana"), "approve", run, "isolate-host"); err != nil || !strings.Contains(out, "granted") {
		t.Fatalf("ana's approval: %v %s", err, out)
	}
	waitFor("disable-user approval", open("disable-user"))
	if out, err := trigger(as("ana"), "approve", run, "disable-user", "--deny", "--reason", "alice is presenting to the board"); err != nil {
		t.Fatalf("deny: %v %s", err, out)
	}
	waitFor("memory dump", func(res workflows.Result) bool { return stepOf(res, "memory-dump").State == workflows.StepSucceeded })
	if out, err := trigger(as("ana"), "close", run, "--disposition", "false-positive", "--rollback", "--reason", "IT's phishing drill"); err != nil {
		t.Fatalf("close: %v %s", err, out)
	}
	waitFor("rollback approval", open(workflows.RollbackID))
	if out, err := trigger(as("ana"), "approve", run, workflows.RollbackID); err != nil {
		t.Fatalf("approve rollback: %v %s", err, out)
	}
	res := waitFor("the run to close", func(res workflows.Result) bool { return !res.Ended.IsZero() })

	if res.State != workflows.StateClosed || res.Disposition != workflows.FalsePositive || res.ClosedBy != "operator:ana" {
		t.Errorf("state %s disposition %s closed by %q", res.State, res.Disposition, res.ClosedBy)
	}
	if s := stepOf(res, "disable-user"); s.State != workflows.StepDenied || !strings.Contains(s.Reason, "operator:ana") {
		t.Errorf("disable-user = %s %q, want denied by ana", s.State, s.Reason)
	}
	var outcomes []string
	for _, a := range res.ApprovalLog {
		outcomes = append(outcomes, a.Approval+"/"+a.Actor+"/"+a.Outcome)
	}
	joined := strings.Join(outcomes, " ")
	for _, want := range []string{"isolate-host/operator:mallory/refused", "isolate-host/operator:ana/granted", "disable-user/operator:ana/granted", "close/operator:ana/granted", "rollback/operator:ana/granted"} {
		if !strings.Contains(joined, want) {
			t.Errorf("approval log %v lacks %s", outcomes, want)
		}
	}
	if len(res.Rollback) == 0 || res.Rollback[len(res.Rollback)-1].ID != "undo-isolate-host" {
		t.Errorf("rollback = %+v, want the host released last", res.Rollback)
	}
	st, err := lab.ReadState(filepath.Join(home, "lab-state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Host("WS-0042").Isolated || st.Count("edr.isolate_host") != 1 || st.Count("edr.release_host") != 1 || st.Count("identity.disable_user") != 0 {
		t.Errorf("lab: isolated=%v isolate=%d release=%d disable=%d", st.Host("WS-0042").Isolated, st.Count("edr.isolate_host"), st.Count("edr.release_host"), st.Count("identity.disable_user"))
	}
}
