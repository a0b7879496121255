package cli

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parry-soc/parry/approval"
	"github.com/parry-soc/parry/internal/devserver"
	"github.com/parry-soc/parry/internal/frontdoor"
	"github.com/parry-soc/parry/internal/operators"
	"github.com/parry-soc/parry/internal/runs"
	"github.com/parry-soc/parry/internal/slackapp"
	"github.com/parry-soc/parry/internal/slacktest"
	"github.com/parry-soc/parry/workflows"
)

// slackPlaybook asks Slack users for every kind of decision: two distinct approvers for the host, the leads
// group (resolved by the lab directory: U0LEAD1, U0LEAD2) for the account and the rollback, and two manual
// tasks, the second to keep the run open until it is closed from Slack.
const slackPlaybook = `apiVersion: parry/v1
kind: Playbook
id: test-slack-decisions
name: "Test: decisions from Slack"
version: 1
techniques: [T1566.001]
severity: high
inputs:
  host: {from: alert.host, required: true}
  user: {from: alert.user, required: true}
approvers:
  pair: {slack_users: [U0LEAD1, U0LEAD2], min: 2}
  leads: {slack_groups: [S0SOCLEADS]}
rollback:
  approval: {by: leads}
phases:
  - id: immediate
    steps:
      - id: isolate-host
        action: edr.isolate_host
        with: {host: "${{ inputs.host }}"}
        approval: {by: pair, timeout: 10m}
        undo: edr.release_host
      - id: disable-user
        action: identity.disable_user
        with: {user: "${{ inputs.user }}"}
        approval: {by: leads, timeout: 10m}
        undo: identity.enable_user
  - id: recovery
    steps:
      - {id: reimage, action: manual.task, with: {text: "Re-image ${{ inputs.host }}"}}
      - {id: confirm, action: manual.task, with: {text: "Confirm alice is back at work"}}
`

// slackOneApproval is the smallest run a click decides: one approval by the leads.
const slackOneApproval = `apiVersion: parry/v1
kind: Playbook
id: test-slack-one-approval
name: "Test: one approval from Slack"
version: 1
techniques: [T1566.001]
severity: high
inputs:
  host: {from: alert.host, required: true}
approvers:
  leads: {slack_groups: [S0SOCLEADS]}
phases:
  - id: immediate
    steps:
      - id: isolate-host
        action: edr.isolate_host
        with: {host: "${{ inputs.host }}"}
        approval: {by: leads, timeout: 10m}
`

const slackRun = "parry-parry-demo-phish-0001"

// slackBench is a test's Temporal server, fake Slack and the environment shared by its commands. Commands
// other than serve get no Slack variables: the worker keeps the log notifier and the lab directory.
type slackBench struct {
	t      *testing.T
	ctx    context.Context
	home   string
	server *devserver.Server
	fake   *slacktest.Fake
	common map[string]string // every command's
	slack  map[string]string // serve's
}

func newSlackBench(ctx context.Context, t *testing.T, playbook string) *slackBench {
	t.Helper()
	home := t.TempDir()
	srv := startServer(ctx, t, home)
	fake := slacktest.New(t)
	keyPath := filepath.Join(home, "frontdoor.key")
	_, priv, err := operators.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := operators.WritePrivateKey(keyPath, priv); err != nil {
		t.Fatal(err)
	}
	pbPath := filepath.Join(home, "playbook.yaml")
	if err := os.WriteFile(pbPath, []byte(playbook), 0o644); err != nil {
		t.Fatal(err)
	}
	b := &slackBench{t: t, ctx: ctx, home: home, server: srv, fake: fake,
		common: map[string]string{"TEMPORAL_ADDRESS": srv.Address(), "PARRY_FRONTDOOR_KEY": keyPath,
			"PARRY_LAB_STATE": filepath.Join(home, "lab-state.json"), "PARRY_EVIDENCE_DIR": filepath.Join(home, "evidence")},
		slack: map[string]string{"SLACK_SIGNING_SECRET": fake.SigningSecret(), "SLACK_BOT_TOKEN": fake.BotToken(), "SLACK_API_URL": fake.APIURL()},
	}
	b.common["PLAYBOOK"] = pbPath
	return b
}

func (b *slackBench) env(extra ...map[string]string) (Env, *lockedBuffer, *lockedBuffer) {
	vars := map[string]string{}
	for _, m := range append([]map[string]string{b.common}, extra...) {
		for k, v := range m {
			vars[k] = v
		}
	}
	return testEnv(b.home, vars)
}

// startWorker runs `worker` until the returned stop is called.
func (b *slackBench) startWorker() (stop func()) {
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() {
		env, _, _ := b.env()
		done <- Worker(ctx, env, nil)
	}()
	return func() {
		cancel()
		if err := <-done; err != nil {
			b.t.Errorf("worker: %v", err)
		}
	}
}

// serve runs `trigger serve` until the test ends and returns its base URL.
func (b *slackBench) serve(vars map[string]string, args ...string) string {
	b.t.Helper()
	base, _ := b.serveWithLogs(vars, args...)
	return base
}

// serveWithLogs is serve, also returning what the command logs (to stderr, outside --dev).
func (b *slackBench) serveWithLogs(vars map[string]string, args ...string) (string, *lockedBuffer) {
	b.t.Helper()
	ctx, cancel := context.WithCancel(b.ctx)
	env, stdout, stderr := b.env(vars)
	done := make(chan error, 1)
	go func() {
		done <- Trigger(ctx, env, append([]string{"serve", "--listen", "127.0.0.1:0", "--grace", "2s"}, args...))
	}()
	var ended error
	exited := false
	b.t.Cleanup(func() {
		cancel()
		if !exited {
			ended = <-done
		}
		if ended != nil {
			b.t.Errorf("trigger serve: %v\n%s", ended, stderr)
		}
	})
	const prefix = "front door listening on http://"
	for b.ctx.Err() == nil {
		out := stdout.String()
		if _, rest, ok := strings.Cut(out, prefix); ok {
			return "http://" + strings.Fields(rest)[0], stderr
		}
		select {
		case err := <-done:
			exited, ended = true, nil // reported here, not again at cleanup
			b.t.Fatalf("trigger serve ended: %v\n%s%s", err, stdout, stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	b.t.Fatal("trigger serve did not start")
	return "", nil
}

func (b *slackBench) startRun() {
	b.t.Helper()
	env, stdout, stderr := b.env()
	if err := Trigger(b.ctx, env, []string{"run", "--playbook", b.common["PLAYBOOK"], filepath.Join("testdata", "alerts", "t1566-001.json")}); err != nil {
		b.t.Fatalf("trigger run: %v\n%s%s", err, stdout, stderr)
	}
}

func (b *slackBench) status() workflows.Result {
	b.t.Helper()
	env, stdout, stderr := b.env()
	if err := Trigger(b.ctx, env, []string{"status", slackRun, "--json"}); err != nil {
		b.t.Fatalf("trigger status: %v %s", err, stderr)
	}
	return decodeResult(b.t, stdout.String())
}

func (b *slackBench) waitFor(what string, ok func(workflows.Result) bool) workflows.Result {
	b.t.Helper()
	for b.ctx.Err() == nil {
		if res := b.status(); ok(res) {
			return res
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("timed out waiting for %s", what)
	return workflows.Result{}
}

// click posts a button click to the front door as Slack would and returns the status and how long the
// answer took.
func (b *slackBench) click(base, user, action string, v slackapp.ButtonValue, opts ...slacktest.PostOption) (int, time.Duration) {
	b.t.Helper()
	value, err := v.Encode()
	if err != nil {
		b.t.Fatal(err)
	}
	p := b.fake.BlockActions(slacktest.Click{User: user, Channel: slacktest.ChannelIncidents, MessageTS: "1765000000.000100",
		ActionID: action, BlockID: "parry.buttons", Value: value})
	return b.post(base, p, opts...)
}

func (b *slackBench) post(base string, payload any, opts ...slacktest.PostOption) (int, time.Duration) {
	b.t.Helper()
	start := time.Now()
	resp, err := slacktest.PostInteraction(b.ctx, base+"/slack/interactions", b.fake.SigningSecret(), payload, opts...)
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

// waitEphemeral waits for the n-th ephemeral message to user and returns its text.
func (b *slackBench) waitEphemeral(user string, n int) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := b.fake.WaitFor(ctx, func(f *slacktest.Fake) bool { return len(f.EphemeralsTo(user)) >= n }); err != nil {
		b.t.Fatalf("no ephemeral #%d to %s: %v (got %+v)", n, user, err, b.fake.EphemeralsTo(user))
	}
	return b.fake.EphemeralsTo(user)[n-1].Text
}

func approvalOf(res workflows.Result, id string) workflows.ApprovalState {
	for _, a := range res.Approvals {
		if a.ID == id {
			return a
		}
	}
	return workflows.ApprovalState{}
}

func isOpen(id string) func(workflows.Result) bool {
	return func(res workflows.Result) bool { return approvalOf(res, id).State == workflows.ApprovalOpen }
}

func attempts(res workflows.Result, approvalID string) []workflows.Attempt {
	return slices.DeleteFunc(slices.Clone(res.ApprovalLog), func(a workflows.Attempt) bool { return a.Approval != approvalID })
}

// TestSlackDecidesARunThroughTheFrontDoor drives a run from Slack through `trigger serve`: unverified
// requests change nothing; a click from someone who is not an approver, and a second click by the same
// person, are recorded as refused and explained; two approvers grant; a click after the approval closed is
// explained; Deny asks for a reason; Mark done finishes a task; Close with rollback closes the run once its
// rollback is approved.
func TestSlackDecidesARunThroughTheFrontDoor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := newSlackBench(ctx, t, slackPlaybook)
	defer b.startWorker()()
	base := b.serve(b.slack)
	b.startRun()
	b.waitFor("the isolate-host approval", isOpen("isolate-host"))
	isolate := slackapp.ButtonValue{Run: slackRun, Approval: "isolate-host", Step: "isolate-host"}

	// Requests Slack did not sign, or signed too long ago or ahead: 401, and nothing reaches the run.
	for _, tt := range []struct {
		name string
		opt  slacktest.PostOption
	}{
		{"forged", slacktest.Forged()},
		{"stale", slacktest.SignedAt(time.Now().Add(-6 * time.Minute))},
		{"future", slacktest.SignedAt(time.Now().Add(6 * time.Minute))},
		{"unsigned", slacktest.Unsigned()},
	} {
		if status, _ := b.click(base, slacktest.UserLead1, slackapp.ActionApprove, isolate, tt.opt); status != http.StatusUnauthorized {
			t.Errorf("%s click: status %d, want 401", tt.name, status)
		}
	}
	time.Sleep(300 * time.Millisecond) // time enough for anything sent in the background to land
	res := b.status()
	if a := approvalOf(res, "isolate-host"); a.State != workflows.ApprovalOpen || len(a.Granted) != 0 || len(res.ApprovalLog) != 0 {
		t.Fatalf("after unverified clicks: approval %+v, log %+v; want it open and untouched", a, res.ApprovalLog)
	}
	if calls := b.fake.Calls("*"); len(calls) != 0 {
		t.Errorf("unverified clicks made Slack calls: %+v", calls)
	}

	// Someone who is not an approver: recorded as refused, and told why.
	if status, took := b.click(base, slacktest.UserRandom, slackapp.ActionApprove, isolate); status != http.StatusOK || took > 3*time.Second {
		t.Fatalf("click: status %d after %s, want 200 within Slack's 3 s", status, took)
	}
	if text := b.waitEphemeral(slacktest.UserRandom, 1); !strings.Contains(text, "refused") || !strings.Contains(text, "is not an approver of group pair") {
		t.Errorf("ephemeral to the outsider = %q", text)
	}
	// The first lead counts once; their second click is a second attempt, refused.
	b.click(base, slacktest.UserLead1, slackapp.ActionApprove, isolate)
	if text := b.waitEphemeral(slacktest.UserLead1, 1); !strings.Contains(text, "counted: 1 of 2 approvals") {
		t.Errorf("ephemeral to lead 1 = %q", text)
	}
	b.click(base, slacktest.UserLead1, slackapp.ActionApprove, isolate)
	if text := b.waitEphemeral(slacktest.UserLead1, 2); !strings.Contains(text, "refused") || !strings.Contains(text, "already approved: one person counts once") {
		t.Errorf("second ephemeral to lead 1 = %q", text)
	}
	res = b.status()
	if a := approvalOf(res, "isolate-host"); a.State != workflows.ApprovalOpen || len(a.Granted) != 1 {
		t.Errorf("after a double click: approval %+v, want it open with one approval", a)
	}
	// The second lead decides it.
	b.click(base, slacktest.UserLead2, slackapp.ActionApprove, isolate)
	if text := b.waitEphemeral(slacktest.UserLead2, 1); !strings.Contains(text, "approved isolate-host") {
		t.Errorf("ephemeral to lead 2 = %q", text)
	}
	res = b.waitFor("the disable-user approval", isOpen("disable-user"))
	var outcomes []string
	for _, a := range attempts(res, "isolate-host") {
		outcomes = append(outcomes, a.Actor+" "+a.Outcome)
	}
	want := []string{"slack:U0RANDOM (random) refused", "slack:U0LEAD1 (lead1) counted", "slack:U0LEAD1 (lead1) refused", "slack:U0LEAD2 (lead2) granted"}
	if !slices.Equal(outcomes, want) {
		t.Errorf("isolate-host attempts = %q, want %q", outcomes, want)
	}
	// A click after the approval closed: explained, nothing recorded.
	b.click(base, slacktest.UserLead2, slackapp.ActionApprove, isolate)
	if text := b.waitEphemeral(slacktest.UserLead2, 2); !strings.Contains(text, "did not record") || !strings.Contains(text, "already approved") {
		t.Errorf("late click ephemeral = %q", text)
	}
	if got := len(attempts(b.status(), "isolate-host")); got != 4 {
		t.Errorf("isolate-host has %d attempts after a late click, want still 4", got)
	}

	// Deny: the form asks why; the reason is recorded.
	b.click(base, slacktest.UserLead1, slackapp.ActionDeny, slackapp.ButtonValue{Run: slackRun, Approval: "disable-user", Step: "disable-user"})
	view := b.waitView(slackapp.CallbackDeny)
	b.post(base, b.fake.ViewSubmission(slacktest.Submission{User: slacktest.UserLead1, ViewID: view.ID,
		Values: map[string]map[string]slacktest.StateValue{slackapp.BlockReason: {slackapp.InputReason: slacktest.PlainText("alice presents to the board")}}}))
	res = b.waitFor("the reimage task", func(res workflows.Result) bool { return stepOf(res, "reimage").State == workflows.StepWaitingTask })
	if s := stepOf(res, "disable-user"); s.State != workflows.StepDenied || !strings.Contains(s.Reason, "slack:U0LEAD1") {
		t.Errorf("disable-user = %s %q, want denied by lead 1", s.State, s.Reason)
	}
	if log := attempts(res, "disable-user"); len(log) != 1 || log[0].Verb != approval.Deny || log[0].Reason != "alice presents to the board" {
		t.Errorf("disable-user attempts = %+v, want lead 1's denial with the reason", log)
	}

	// Mark done.
	b.click(base, slacktest.UserLead2, slackapp.ActionTaskDone, slackapp.ButtonValue{Run: slackRun, Step: "reimage"})
	res = b.waitFor("the confirm task", func(res workflows.Result) bool { return stepOf(res, "confirm").State == workflows.StepWaitingTask })
	if s := stepOf(res, "reimage"); s.State != workflows.StepSucceeded || !strings.Contains(s.Note, "slack:U0LEAD2") {
		t.Errorf("reimage = %s %q, want done by lead 2", s.State, s.Note)
	}

	// Close as false positive with rollback; the rollback needs its own approval, given from Slack too.
	b.click(base, slacktest.UserLead1, slackapp.ActionClose, slackapp.ButtonValue{Run: slackRun})
	view = b.waitView(slackapp.CallbackClose)
	b.post(base, b.fake.ViewSubmission(slacktest.Submission{User: slacktest.UserLead1, ViewID: view.ID,
		Values: map[string]map[string]slacktest.StateValue{
			slackapp.BlockDisposition: {slackapp.InputDisposition: slacktest.StaticSelect(workflows.FalsePositive, "False positive")},
			slackapp.BlockRollback:    {slackapp.InputRollback: slacktest.Checkboxes(slacktest.Choice{Value: slackapp.RollbackOptionVal, Text: "Roll back containment"})},
			slackapp.BlockReason:      {slackapp.InputReason: slacktest.PlainText("IT's phishing drill")},
		}}))
	b.waitFor("the rollback approval", isOpen(workflows.RollbackID))
	b.click(base, slacktest.UserLead2, slackapp.ActionApprove, slackapp.ButtonValue{Run: slackRun, Approval: workflows.RollbackID})
	res = b.waitFor("the run to close", func(res workflows.Result) bool { return !res.Ended.IsZero() })
	if res.State != workflows.StateClosed || res.Disposition != workflows.FalsePositive || res.ClosedBy != "slack:U0LEAD1 (lead1)" {
		t.Errorf("run %s, disposition %s, closed by %q", res.State, res.Disposition, res.ClosedBy)
	}
	if len(res.Rollback) != 1 || res.Rollback[0].ID != "undo-isolate-host" || res.Rollback[0].State != workflows.StepSucceeded {
		t.Errorf("rollback = %+v, want the host released", res.Rollback)
	}
	for _, a := range res.ApprovalLog {
		if !strings.HasPrefix(a.Actor, "slack:") {
			t.Errorf("attempt %+v was not made by a Slack user", a)
		}
	}
}

// waitView waits for the front door to open a form with a callback id, and returns the newest.
func (b *slackBench) waitView(callback string) slacktest.View {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	var found slacktest.View
	err := b.fake.WaitFor(ctx, func(f *slacktest.Fake) bool {
		for _, v := range f.Views() {
			if v.CallbackID == callback && v.ID != "" {
				found = v
			}
		}
		return found.ID != ""
	})
	if err != nil {
		b.t.Fatalf("no %s form opened: %v", callback, err)
	}
	return found
}

// TestClickWithNoWorkerTakesEffectWhenOneIsBack: with every worker stopped, a click is still acknowledged
// at once, and the decision lands once a worker is back.
func TestClickWithNoWorkerTakesEffectWhenOneIsBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := newSlackBench(ctx, t, slackOneApproval)
	stop := b.startWorker()
	// Short attempts, so the click is retried several times while the worker is away.
	vars := map[string]string{"PARRY_FRONTDOOR_ATTEMPT": "1s"}
	for k, v := range b.slack {
		vars[k] = v
	}
	base, logs := b.serveWithLogs(vars)
	b.startRun()
	b.waitFor("the isolate-host approval", isOpen("isolate-host"))
	stop()

	status, took := b.click(base, slacktest.UserLead1, slackapp.ActionApprove, slackapp.ButtonValue{Run: slackRun, Approval: "isolate-host"})
	if status != http.StatusOK || took > 3*time.Second {
		t.Fatalf("click with no worker: status %d after %s, want 200 within Slack's 3 s", status, took)
	}
	if text := b.waitEphemeral(slacktest.UserLead1, 1); !strings.Contains(text, "no worker has taken it yet") {
		t.Errorf("first ephemeral = %q, want a notice that the click waits for a worker", text)
	}
	// The click keeps waiting, retried with the same update id, while no worker runs.
	for deadline := time.Now().Add(20 * time.Second); strings.Count(logs.String(), "retrying with the same update id") < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 2 retries logged while no worker ran:\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}

	defer b.startWorker()()
	res := b.waitFor("the approval", func(res workflows.Result) bool {
		return approvalOf(res, "isolate-host").State != workflows.ApprovalOpen
	})
	if a := approvalOf(res, "isolate-host"); a.State != workflows.ApprovalApproved || a.DecidedBy != "slack:U0LEAD1 (lead1)" {
		t.Errorf("approval = %+v, want approved by lead 1", a)
	}
	if log := attempts(res, "isolate-host"); len(log) != 1 {
		t.Errorf("attempts = %+v, want exactly one however often it was retried", log)
	}
	if text := b.waitEphemeral(slacktest.UserLead1, 2); !strings.Contains(text, "approved isolate-host") {
		t.Errorf("second ephemeral = %q, want the outcome", text)
	}
}

// TestSlackSocketModeDecidesADevRun: with SLACK_APP_TOKEN and --dev, clicks arrive over Socket Mode (no
// signing secret, no public URL), are acknowledged, and decide a run started with --dev, which pins the dev
// front door key created on first use.
func TestSlackSocketModeDecidesADevRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := newSlackBench(ctx, t, slackOneApproval)
	delete(b.common, "TEMPORAL_ADDRESS") // --dev attaches to the test's server under PARRY_HOME
	delete(b.common, "PARRY_FRONTDOOR_KEY")
	b.serve(map[string]string{"SLACK_APP_TOKEN": b.fake.AppToken(), "SLACK_BOT_TOKEN": b.fake.BotToken(), "SLACK_API_URL": b.fake.APIURL()}, "--dev")
	if err := b.fake.WaitFor(ctx, func(f *slacktest.Fake) bool { return f.Connections() == 1 }); err != nil {
		t.Fatalf("no Socket Mode connection: %v", err)
	}

	runDone := make(chan error, 1)
	runOut := make(chan string, 1)
	go func() {
		env, stdout, stderr := b.env()
		err := Trigger(ctx, env, []string{"run", "--dev", "--playbook", b.common["PLAYBOOK"], filepath.Join("testdata", "alerts", "t1566-001.json")})
		runOut <- stdout.String() + stderr.String()
		runDone <- err
	}()
	c := dial(ctx, t, b.server)
	for {
		res, err := runs.Status(ctx, c, slackRun)
		if err == nil && approvalOf(res, "isolate-host").State == workflows.ApprovalOpen {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("timed out waiting for the approval")
		}
		time.Sleep(50 * time.Millisecond)
	}

	value, _ := slackapp.ButtonValue{Run: slackRun, Approval: "isolate-host"}.Encode()
	env, err := b.fake.SendInteractive(b.fake.BlockActions(slacktest.Click{User: slacktest.UserLead2, Channel: slacktest.ChannelIncidents,
		MessageTS: "1765000000.000100", ActionID: slackapp.ActionApprove, BlockID: "parry.buttons", Value: value}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.fake.WaitAck(ctx, env); err != nil {
		t.Fatal(err)
	}
	if err := <-runDone; err != nil {
		t.Fatalf("trigger run --dev: %v\n%s", err, <-runOut)
	}
	var res workflows.Result
	if err := c.GetWorkflow(ctx, slackRun, "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	key, err := frontdoor.LoadKey("", true, b.home)
	if err != nil {
		t.Fatal(err)
	}
	log := attempts(res, "isolate-host")
	if a := approvalOf(res, "isolate-host"); a.State != workflows.ApprovalApproved || len(log) != 1 || log[0].Actor != "slack:U0LEAD2 (lead2)" ||
		log[0].KeyID != frontdoor.PinnedKey(key.Public().(ed25519.PublicKey)).ID {
		t.Errorf("approval %+v, attempts %+v; want approved by lead 2 with the dev front door key", a, log)
	}
	if text := b.waitEphemeral(slacktest.UserLead2, 1); !strings.Contains(text, "approved isolate-host") {
		t.Errorf("ephemeral = %q", text)
	}
}

// TestServeRefusesToStartWithoutAWayToVerifyClicks: no signing secret and no app token is a usage error
// that says how to fix it.
func TestServeRefusesToStartWithoutAWayToVerifyClicks(t *testing.T) {
	env, _, _ := testEnv(t.TempDir(), nil)
	err := Trigger(context.Background(), env, []string{"serve"})
	if ExitCode(err) != 2 || !strings.Contains(err.Error(), "SLACK_SIGNING_SECRET") || !strings.Contains(err.Error(), "SLACK_APP_TOKEN") {
		t.Errorf("trigger serve = %v (exit %d), want exit 2 naming SLACK_SIGNING_SECRET and SLACK_APP_TOKEN", err, ExitCode(err))
	}
	env, _, _ = testEnv(t.TempDir(), map[string]string{"SLACK_SIGNING_SECRET": "s"})
	if err := Trigger(context.Background(), env, []string{"serve"}); ExitCode(err) != 2 || !strings.Contains(err.Error(), "PARRY_FRONTDOOR_KEY") {
		t.Errorf("trigger serve without a key = %v, want exit 2 naming PARRY_FRONTDOOR_KEY", err)
	}
}

// TestRunsPinTheFrontDoorKey: runs pin the front door key from PARRY_FRONTDOOR_PUBKEY, from the key file
// PARRY_FRONTDOOR_KEY, or in dev the dev key — each once, and only as a front door key.
func TestRunsPinTheFrontDoorKey(t *testing.T) {
	dir := t.TempDir()
	// keyFile writes a key and returns its file, its public half as PARRY_FRONTDOOR_PUBKEY takes it, and its id.
	keyFile := func(name string) (path, pub, id string) {
		pk, priv, err := operators.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		path = filepath.Join(dir, name)
		if err := operators.WritePrivateKey(path, priv); err != nil {
			t.Fatal(err)
		}
		return path, approval.EncodePublicKey(pk), frontdoor.PinnedKey(pk).ID
	}
	current, currentPub, currentID := keyFile("current.key")
	_, oldPub, oldID := keyFile("old.key")
	devHome := t.TempDir()
	devKey, err := frontdoor.LoadKey("", true, devHome)
	if err != nil {
		t.Fatal(err)
	}
	devID := frontdoor.PinnedKey(devKey.Public().(ed25519.PublicKey)).ID

	for _, tt := range []struct {
		name string
		vars map[string]string
		dev  bool
		want []string
	}{
		{"none configured", nil, false, nil},
		{"public key", map[string]string{"PARRY_FRONTDOOR_PUBKEY": currentPub}, false, []string{currentID}},
		{"key file", map[string]string{"PARRY_FRONTDOOR_KEY": current}, false, []string{currentID}},
		{"both, the same key", map[string]string{"PARRY_FRONTDOOR_PUBKEY": currentPub, "PARRY_FRONTDOOR_KEY": current}, false, []string{currentID}},
		{"both, during a rotation", map[string]string{"PARRY_FRONTDOOR_PUBKEY": oldPub, "PARRY_FRONTDOOR_KEY": current}, false, []string{oldID, currentID}},
		{"dev", map[string]string{"PARRY_HOME": devHome}, true, []string{devID}},
		{"dev with a key file", map[string]string{"PARRY_HOME": devHome, "PARRY_FRONTDOOR_KEY": current}, true, []string{currentID}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env, _, _ := testEnv(dir, tt.vars)
			if h := tt.vars["PARRY_HOME"]; h != "" {
				env, _, _ = testEnv(h, tt.vars)
			}
			keys, err := trustedKeys(env, tt.dev)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range keys {
				if k.Kind == approval.KeyFrontDoor {
					got = append(got, k.ID)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("front door keys = %v, want %v", got, tt.want)
			}
		})
	}
}
