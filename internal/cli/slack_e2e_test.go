package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/parry-soc/parry/internal/audit"
	"github.com/parry-soc/parry/internal/runs"
	"github.com/parry-soc/parry/internal/slackapp"
	"github.com/parry-soc/parry/internal/slacktest"
	"github.com/parry-soc/parry/notify"
	"github.com/parry-soc/parry/workflows"
)

// The tests here run the whole Slack loop: a worker notifying through the Slack notifier (SLACK_BOT_TOKEN,
// SLACK_API_URL pointing at the fake), the front door turning signed clicks into decisions, and responders
// who click the buttons the notifier posted — nothing is clicked that Slack did not show.

// startSlackWorker runs `worker` with the Slack notifier and directory until the test ends.
func (b *slackBench) startSlackWorker() {
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() {
		env, _, _ := b.env(map[string]string{"SLACK_BOT_TOKEN": b.fake.BotToken(), "SLACK_API_URL": b.fake.APIURL(), "PARRY_LAB_TICK": "20ms"})
		done <- Worker(ctx, env, nil)
	}()
	b.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.t.Errorf("worker: %v", err)
		}
	})
}

// button is an interactive element of a posted message.
type button struct {
	channel, ts, action, value string
}

// buttons lists the Parry buttons on a message's blocks.
func buttons(m slacktest.Message) []button {
	var blocks []map[string]any
	if err := json.Unmarshal(m.Blocks, &blocks); err != nil {
		return nil
	}
	var out []button
	for _, b := range blocks {
		elems, _ := b["elements"].([]any)
		for _, e := range elems {
			el, _ := e.(map[string]any)
			id, _ := el["action_id"].(string)
			val, _ := el["value"].(string)
			if strings.HasPrefix(id, "parry.") {
				out = append(out, button{channel: m.Channel, ts: m.TS, action: id, value: val})
			}
		}
	}
	return out
}

// posted is one message the notifier posted for a run event, from its Slack message metadata.
type posted struct {
	run, kind, part string
	seq             int
}

// postsFor lists, in call order, the successful chat.postMessage calls for a run's events.
func postsFor(f *slacktest.Fake, run string) []posted {
	var out []posted
	for _, c := range f.Calls("chat.postMessage") {
		if !c.OK {
			continue
		}
		var meta struct {
			EventType    string `json:"event_type"`
			EventPayload struct {
				Run  string  `json:"run"`
				Seq  float64 `json:"seq"`
				Kind string  `json:"kind"`
				Part string  `json:"part"`
			} `json:"event_payload"`
		}
		if json.Unmarshal([]byte(c.Args["metadata"]), &meta) != nil || meta.EventPayload.Run != run {
			continue
		}
		out = append(out, posted{run: run, kind: meta.EventPayload.Kind, part: meta.EventPayload.Part, seq: int(meta.EventPayload.Seq)})
	}
	return out
}

// respond clicks Approve or Mark done, as the given lead, on every request the notifier has posted in the
// run's thread that still shows its buttons, until the run ends. send delivers one click.
func (b *slackBench) respond(user string, send func(p slacktest.BlockActionsPayload)) workflows.Result {
	b.t.Helper()
	clicked := map[string]bool{}
	c := dial(b.ctx, b.t, b.server)
	for b.ctx.Err() == nil {
		// Closed, not merely ended: a run drains its notifications after its last step.
		if closed, err := runs.Closed(b.ctx, c, slackRun); err == nil && closed {
			return b.status()
		}
		b.clickPending(user, send, clicked, nil)
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatal("timed out responding to the run")
	return workflows.Result{}
}

// clickPending clicks, once each, the Approve and Mark done buttons showing in the incidents channel.
// A non-nil only limits which of them are clicked.
func (b *slackBench) clickPending(user string, send func(p slacktest.BlockActionsPayload), clicked map[string]bool, only func(button) bool) {
	for _, m := range b.fake.Messages(slacktest.ChannelIncidents) {
		for _, btn := range buttons(m) {
			if (btn.action != slackapp.ActionApprove && btn.action != slackapp.ActionTaskDone) || clicked[btn.ts] || (only != nil && !only(btn)) {
				continue
			}
			clicked[btn.ts] = true
			send(b.fake.BlockActions(slacktest.Click{User: user, Channel: btn.channel, MessageTS: btn.ts,
				ActionID: btn.action, BlockID: "parry.buttons", Value: btn.value}))
		}
	}
}

// checkSlackRun checks what responders saw of a completed T1566.001 run.
func checkSlackRun(t *testing.T, f *slacktest.Fake, res workflows.Result) {
	t.Helper()
	if res.State != workflows.StateCompleted {
		t.Fatalf("run %s (%s), want completed", res.State, res.Failure)
	}
	var parents []slacktest.Message
	for _, m := range f.Messages(slacktest.ChannelIncidents) {
		if m.ThreadTS == "" {
			parents = append(parents, m)
		}
	}
	if len(parents) != 1 || res.Thread.TS != parents[0].TS {
		t.Fatalf("parent messages = %d (thread %+v), want exactly the run's one", len(parents), res.Thread)
	}
	parent := parents[0]
	if !strings.Contains(parent.Text, "Macro-enabled invoice attachment") || !strings.Contains(string(parent.Blocks), "attack.mitre.org/techniques/T1566/001") {
		t.Errorf("parent message lacks the alert or its technique link: %s", parent.Text)
	}
	if versions := f.Versions(parent.Channel, parent.TS); len(versions) < 3 || !strings.Contains(strings.ToLower(versions[len(versions)-1].Text+string(versions[len(versions)-1].Blocks)), "completed") {
		t.Errorf("the parent was updated %d times, last %q; want it updated in place up to completed", len(versions)-1, versions[len(versions)-1].Text)
	}
	// Every event arrived once, in order, and all but the parent in its thread.
	posts := postsFor(f, res.RunID)
	seen := map[string]bool{}
	last := 0
	for _, p := range posts {
		key := fmt.Sprintf("%s/%s/%d", p.part, p.kind, p.seq)
		if seen[key] {
			t.Errorf("event %d (%s, %s) posted twice", p.seq, p.kind, p.part)
		}
		seen[key] = true
		if p.seq < last {
			t.Errorf("event %d (%s) posted after event %d", p.seq, p.kind, last)
		}
		last = p.seq
	}
	replies := f.Thread(parent.Channel, parent.TS)
	if len(replies) < 20 {
		t.Errorf("only %d messages in the run's thread", len(replies))
	}
	// Every approval request was updated in place once decided: who, the outcome, no buttons.
	requests := 0
	for _, m := range replies {
		versions := f.Versions(m.Channel, m.TS)
		if len(versions) == 0 || !slices.ContainsFunc(buttons(versions[0]), func(b button) bool { return b.action == slackapp.ActionApprove }) {
			continue
		}
		requests++
		if len(buttons(m)) != 0 || !strings.Contains(m.Text+string(m.Blocks), "U0LEAD1") {
			t.Errorf("approval request %s not updated in place with the decider and without buttons: %s", m.TS, m.Text)
		}
	}
	if requests != len(res.Approvals) {
		t.Errorf("%d approval requests in Slack, the run had %d approvals", requests, len(res.Approvals))
	}
}

// TestSlackRunsTheSpearphishingResponseOverHTTP: the library's T1566.001 response with the Slack notifier
// and the front door: the run's parent message, its events threaded in order, approval requests with
// buttons that a lead clicks (signed as Slack signs), updated in place, the run completed.
func TestSlackRunsTheSpearphishingResponseOverHTTP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := newSlackBench(ctx, t, slackOneApproval)
	b.startSlackWorker()
	base := b.serve(b.slack)
	b.startLibraryRun()
	res := b.respond(slacktest.UserLead1, func(p slacktest.BlockActionsPayload) {
		if status, took := b.post(base, p); status != http.StatusOK || took > 3*time.Second {
			t.Errorf("click: status %d after %s", status, took)
		}
	})
	checkSlackRun(t, b.fake, res)
}

// TestSlackRunsTheSpearphishingResponseOverSocketMode is the same run with clicks arriving over Socket Mode.
func TestSlackRunsTheSpearphishingResponseOverSocketMode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := newSlackBench(ctx, t, slackOneApproval)
	b.startSlackWorker()
	b.serve(map[string]string{"SLACK_APP_TOKEN": b.fake.AppToken(), "SLACK_BOT_TOKEN": b.fake.BotToken(), "SLACK_API_URL": b.fake.APIURL()})
	if err := b.fake.WaitFor(ctx, func(f *slacktest.Fake) bool { return f.Connections() == 1 }); err != nil {
		t.Fatalf("no Socket Mode connection: %v", err)
	}
	b.startLibraryRun()
	res := b.respond(slacktest.UserLead1, func(p slacktest.BlockActionsPayload) {
		env, err := b.fake.SendInteractive(p)
		if err != nil {
			t.Errorf("send over socket mode: %v", err)
			return
		}
		if _, err := b.fake.WaitAck(ctx, env); err != nil {
			t.Errorf("envelope %s not acked: %v", env, err)
		}
	})
	checkSlackRun(t, b.fake, res)
}

func (b *slackBench) startLibraryRun() {
	b.t.Helper()
	env, stdout, stderr := b.env()
	if err := Trigger(b.ctx, env, []string{"run", "testdata/alerts/t1566-001.json"}); err != nil || !strings.Contains(stdout.String(), "spearphishing-attachment") {
		b.t.Fatalf("trigger run: %v\n%s%s", err, stdout, stderr)
	}
}

// outagePlaybook contains at once, without asking anyone, and breaches its budget while a task waits, so an
// escalation is due while Slack is still down.
const outagePlaybook = `apiVersion: parry/v1
kind: Playbook
id: test-slack-outage
name: "Test: Slack down while containing"
version: 1
techniques: [T1566.001]
severity: high
inputs:
  host: {from: alert.host, required: true}
  user: {from: alert.user, required: true}
notify: {channel: "#soc-incidents", escalation: "#soc-leads", oncall: S0ONCALL}
approvers:
  leads: {slack_groups: [S0SOCLEADS]}
rollback: {approval: {by: leads}}
phases:
  - id: immediate
    budget: 2s
    steps:
      - {id: isolate-host, action: edr.isolate_host, with: {host: "${{ inputs.host }}"}}
      - {id: disable-user, action: identity.disable_user, with: {user: "${{ inputs.user }}"}}
      - parallel:
          - {id: memory-dump, action: evidence.memory_dump, with: {host: "${{ inputs.host }}"}}
          - {id: pcap, action: evidence.network_capture, with: {host: "${{ inputs.host }}", duration: 1m}}
      - {id: confirm, action: manual.task, with: {text: "Confirm the user was told"}}
  - id: recovery
    steps:
      - {id: release-host, action: edr.release_host, with: {host: "${{ inputs.host }}"}}
      - {id: enable-user, action: identity.enable_user, with: {user: "${{ inputs.user }}"}}
`

// TestSlackOutageNeitherDelaysContainmentNorLosesNotifications: Slack is down when the run starts, then
// rate-limits and fails with 5xx. Containment goes ahead regardless (asserted from the history: the
// containment activities are scheduled before any notification succeeds); the budget escalation is not held
// behind the backlog of undelivered events; and once Slack is back every event arrives exactly once, in
// order.
func TestSlackOutageNeitherDelaysContainmentNorLosesNotifications(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := newSlackBench(ctx, t, outagePlaybook)
	b.fake.SetDown(true)
	b.startSlackWorker()
	base := b.serve(b.slack)
	b.startRun()
	b.waitFor("containment while Slack is down", func(res workflows.Result) bool {
		return stepOf(res, "disable-user").State == workflows.StepSucceeded && res.Phases[0].Breached
	})
	// Slack comes back rate-limited, then failing, then well.
	b.fake.FailNext("*", 3, http.StatusTooManyRequests, time.Second)
	b.fake.FailNext("chat.postMessage", 2, http.StatusServiceUnavailable, 0)
	b.fake.SetDown(false)
	res := b.respond(slacktest.UserLead1, func(p slacktest.BlockActionsPayload) { b.post(base, p) })
	if res.State != workflows.StateCompleted {
		t.Fatalf("run %s (%s), want completed", res.State, res.Failure)
	}

	h, err := audit.FetchHistory(ctx, dial(ctx, t, b.server), slackRun)
	if err != nil {
		t.Fatal(err)
	}
	scheduled := map[int64]string{} // scheduled event id → activity id
	firstDone := map[string]int64{} // activity id → completed event id
	schedAt := map[string]int64{}   // activity id → scheduled event id
	batchOf := map[string][]int{}   // notify activity id → seqs in its batch
	for _, e := range h.Events {
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			scheduled[e.GetEventId()] = a.GetActivityId()
			schedAt[a.GetActivityId()] = e.GetEventId()
			if strings.HasPrefix(a.GetActivityId(), "notify-") {
				var batch notify.Batch
				if p := a.GetInput().GetPayloads(); len(p) == 1 && json.Unmarshal(p[0].GetData(), &batch) == nil {
					for _, ev := range batch.Events {
						batchOf[a.GetActivityId()] = append(batchOf[a.GetActivityId()], ev.Seq)
					}
				}
			}
		}
		if e.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED {
			id := scheduled[e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()]
			if _, ok := firstDone[id]; !ok {
				firstDone[id] = e.GetEventId()
			}
		}
	}
	firstNotification := int64(1 << 62)
	for id, done := range firstDone {
		if strings.HasPrefix(id, "notify-") && done < firstNotification {
			firstNotification = done
		}
	}
	for _, step := range []string{"isolate-host", "disable-user", "memory-dump", "pcap"} {
		if schedAt[step] == 0 || schedAt[step] > firstNotification {
			t.Errorf("%s scheduled at event %d, after the first notification succeeded (event %d)", step, schedAt[step], firstNotification)
		}
	}
	// The escalation went out while events queued before it were still undelivered.
	escalated := false
	for id, at := range schedAt {
		if !strings.HasPrefix(id, "escalate-") {
			continue
		}
		for batch, seqs := range batchOf {
			if len(seqs) > 0 && seqs[0] < atoi(strings.TrimPrefix(id, "escalate-")) && firstDone[batch] > at {
				escalated = true
			}
		}
	}
	if !escalated {
		t.Error("the escalation waited behind the undelivered events: no notify batch of earlier events completed after it was scheduled")
	}
	var leads []string
	for _, m := range b.fake.Messages(slacktest.ChannelLeads) {
		leads = append(leads, m.Text)
	}
	if len(leads) == 0 || !strings.Contains(leads[0], "<!subteam^S0ONCALL>") {
		t.Errorf("escalations in #soc-leads = %q, want one mentioning the on-call group", leads)
	}
	// Exactly once, in order: every event the notifier posts appears once, and in seq order.
	posts := postsFor(b.fake, slackRun)
	counts := map[int]int{}
	last := 0
	for _, p := range posts {
		if p.part == "reply" {
			counts[p.seq]++
			if p.seq < last {
				t.Errorf("event %d (%s) posted after event %d", p.seq, p.kind, last)
			}
			last = p.seq
		}
	}
	var wanted []int
	for _, seqs := range batchOf {
		wanted = append(wanted, seqs...)
	}
	for _, seq := range wanted {
		if counts[seq] > 1 {
			t.Errorf("event %d posted %d times", seq, counts[seq])
		}
	}
	for _, kind := range []string{notify.PhaseStarted, notify.StepFinished, notify.BudgetBreached, notify.TaskRequested, notify.RunCompleted} {
		if !slices.ContainsFunc(posts, func(p posted) bool { return p.kind == kind }) {
			t.Errorf("no %s event reached Slack", kind)
		}
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return n
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// TestSlackEscalationsMentionTheOncallGroup: an approval timeout with a budget breach, and a failed run,
// each escalate in the escalation channel mentioning the on-call group and linking to the run's thread.
func TestSlackEscalationsMentionTheOncallGroup(t *testing.T) {
	for _, tt := range []struct {
		name, playbook string
		approve        bool     // click Approve on requests (else they time out)
		want           []string // reasons, in the escalation channel
	}{
		{"approval timeout and budget breach", "testdata/scenarios/timeout-breach.yaml", false, []string{"timed out", "exceeded its 2s budget"}},
		{"failed run", "testdata/scenarios/failure-rollback.yaml", true, []string{"run failed"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			b := newSlackBench(ctx, t, slackOneApproval)
			b.common["PLAYBOOK"] = tt.playbook
			b.startSlackWorker()
			base := b.serve(b.slack)
			b.startRun()
			escalated := func() bool {
				text := ""
				for _, m := range b.fake.Messages(slacktest.ChannelLeads) {
					text += m.Text + "\n"
				}
				for _, w := range tt.want {
					if !strings.Contains(text, w) {
						return false
					}
				}
				return true
			}
			// Approvals are left to time out; tasks are done only once the 2 s budget is gone.
			clicked := map[string]bool{}
			start := time.Now()
			for !escalated() {
				if ctx.Err() != nil {
					t.Fatalf("escalations %+v, want %q", b.fake.Messages(slacktest.ChannelLeads), tt.want)
				}
				b.clickPending(slacktest.UserLead1, func(p slacktest.BlockActionsPayload) { b.post(base, p) }, clicked, func(btn button) bool {
					return tt.approve && btn.action == slackapp.ActionApprove || btn.action == slackapp.ActionTaskDone && time.Since(start) > 3*time.Second
				})
				time.Sleep(50 * time.Millisecond)
			}
			msgs := b.fake.Messages(slacktest.ChannelLeads)
			for _, m := range msgs {
				if !strings.Contains(m.Text, "<!subteam^S0ONCALL>") || !strings.Contains(m.Text+string(m.Blocks), "fake.slack.test/archives/") {
					t.Errorf("escalation %q does not mention the on-call group and link the thread", m.Text)
				}
			}
		})
	}
}
