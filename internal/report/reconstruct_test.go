package report

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/sdk/converter"

	"github.com/parry-soc/parry/internal/audit"
	"github.com/parry-soc/parry/internal/codec"
	"github.com/parry-soc/parry/notify"
	"github.com/parry-soc/parry/workflows"
)

// historiesDir holds the committed histories of real runs the interpreter's replay test checks.
const historiesDir = "testdata/histories"

func readCommitted(t *testing.T, name string) *historypb.History {
	t.Helper()
	f, err := os.Open(filepath.Join(historiesDir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := audit.ReadHistory(f)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func committedHistories(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(historiesDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no committed histories: %v", err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	return names
}

// comparable drops what a reconstruction cannot know and a report does not show: Slack message refs, the
// count of undelivered notifications, the alert's time and rule, and the parameters of steps that never ran an activity.
func comparable(res workflows.Result, ran map[string]bool) string {
	res.Thread, res.Undelivered = notify.MessageRef{}, 0
	// Histories recorded before results carried the alert's time and rule have them in the input only.
	res.Alert.Time, res.Alert.Rule = "", ""
	for i := range res.Approvals {
		res.Approvals[i].Message = notify.MessageRef{}
	}
	for i := range res.Tasks {
		res.Tasks[i].Message = notify.MessageRef{}
	}
	for i := range res.Steps {
		if !ran[res.Steps[i].ID] {
			res.Steps[i].With = nil
		}
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	return string(b)
}

// TestReconstructionMatchesTheResult rebuilds every committed run from its history as if it had not
// returned its Result, and checks that the rebuild is the Result: what a report shows of an open run is
// what the run itself would say.
func TestReconstructionMatchesTheResult(t *testing.T) {
	for _, name := range committedHistories(t) {
		t.Run(name, func(t *testing.T) {
			hv, err := readHistory(readCommitted(t, name), converter.GetDefaultDataConverter())
			if err != nil {
				t.Fatal(err)
			}
			if hv.result == nil {
				t.Fatal("the committed run has no result")
			}
			ran := map[string]bool{}
			for id := range hv.actByID {
				ran[id] = true
			}
			got, want := comparable(hv.reconstruct(), ran), comparable(*hv.result, ran)
			if got != want {
				t.Errorf("reconstruction differs from the result:\n%s", lineDiff(want, got))
			}
		})
	}
}

// lineDiff shows where got first departs from want, with a few lines around it.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	from := max(i-2, 0)
	var b strings.Builder
	fmt.Fprintf(&b, "first difference at line %d (want %d lines, got %d)\n", i+1, len(w), len(g))
	for _, side := range []struct {
		name  string
		lines []string
	}{{"want", w}, {"got", g}} {
		for j := from; j < min(i+3, len(side.lines)); j++ {
			fmt.Fprintf(&b, "%s %4d: %s\n", side.name, j+1, side.lines[j])
		}
	}
	return b.String()
}

// openFailedRun is the failure-and-rollback run as its history stood before anyone closed it: failed, held
// open for a person, its host still isolated.
func openFailedRun(t *testing.T) *historypb.History {
	t.Helper()
	h := readCommitted(t, "failure-and-rollback")
	for i, e := range h.Events {
		if a := e.GetWorkflowExecutionUpdateAcceptedEventAttributes(); a != nil && a.GetAcceptedRequest().GetInput().GetName() == workflows.UpdateClose {
			h.Events = h.Events[:i]
			return h
		}
	}
	t.Fatal("the run was never closed")
	return nil
}

// TestOpenFailedRunIsReconstructed reads a failed run held open for closing — no Result in its history —
// and checks what a responder needs: the failure, the step that failed and why, containment still in
// place, the approval and the escalation.
func TestOpenFailedRunIsReconstructed(t *testing.T) {
	tl, err := FromHistory(openFailedRun(t), converter.GetDefaultDataConverter())
	if err != nil {
		t.Fatal(err)
	}
	r := tl.Run
	if !tl.Reconstructed || tl.Execution.Status != "running" || len(tl.Notes) == 0 {
		t.Errorf("reconstructed %v, status %q, notes %q", tl.Reconstructed, tl.Execution.Status, tl.Notes)
	}
	if r.State != workflows.StateFailed || !strings.Contains(r.Failure, "HostNotFound") || !r.Ended.IsZero() {
		t.Errorf("state %s, failure %q, ended %v", r.State, r.Failure, r.Ended)
	}
	states := map[string]string{}
	for _, s := range tl.Steps {
		states[s.ID] = s.State
	}
	if states["isolate-host"] != workflows.StepSucceeded || states["isolate-peer"] != workflows.StepFailed || states["release-host"] != workflows.StepPending {
		t.Errorf("step states %v", states)
	}
	if peer := stepByID(tl, "isolate-peer"); peer.Attempts != 1 || peer.Error != `HostNotFound: edr.isolate_host: host "WS-9999" not found` {
		t.Errorf("isolate-peer: %d attempts, error %q", peer.Attempts, peer.Error)
	}
	if len(r.Contained) != 1 || r.Contained[0].Released || r.Contained[0].Target != "WS-0042" {
		t.Errorf("contained %+v, want WS-0042 still isolated", r.Contained)
	}
	if len(tl.Attempts) != 1 || tl.Attempts[0].Outcome != workflows.OutcomeGranted || tl.Attempts[0].Accepted.IsZero() {
		t.Errorf("attempts %+v", tl.Attempts)
	}
	if len(r.Escalations) != 1 || !strings.HasPrefix(r.Escalations[0].Reason, "run failed") {
		t.Errorf("escalations %+v", r.Escalations)
	}
}

// TestRetriesComeFromTheHistory gives a step's activity two failed attempts before the one that succeeded,
// as Temporal records it (the final attempt's number and the last failure on its started event), and
// checks the report counts the retries and shows the failure.
func TestRetriesComeFromTheHistory(t *testing.T) {
	h := readCommitted(t, "failure-and-rollback")
	var sched int64
	for _, e := range h.Events {
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityId() == "isolate-host" {
			sched = e.GetEventId()
		}
		if a := e.GetActivityTaskStartedEventAttributes(); a != nil && a.GetScheduledEventId() == sched && sched != 0 {
			a.Attempt = 3
			a.LastFailure = &failurepb.Failure{Message: "EDR answered 503", FailureInfo: &failurepb.Failure_ApplicationFailureInfo{
				ApplicationFailureInfo: &failurepb.ApplicationFailureInfo{Type: "VendorUnavailable"}}}
			break
		}
	}
	tl, err := FromHistory(h, converter.GetDefaultDataConverter())
	if err != nil {
		t.Fatal(err)
	}
	s := stepByID(tl, "isolate-host")
	if s.Attempts != 3 || s.Activity.Retries() != 2 {
		t.Errorf("attempts %d, retries %d; want 3 and 2", s.Attempts, s.Activity.Retries())
	}
	var b strings.Builder
	if err := Markdown(&b, tl); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| 3 (2 retries) |", "earlier failure: VendorUnavailable: EDR answered 503"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}

// encrypt encodes every payload and failure message of h with c, as a worker with PARRY_PAYLOAD_KEYS writes
// them.
func encrypt(t *testing.T, h *historypb.History, c *codec.Codec) {
	t.Helper()
	var failures []*failurepb.Failure
	for _, e := range h.Events {
		if a := e.GetActivityTaskFailedEventAttributes(); a != nil {
			failures = append(failures, a.GetFailure())
		}
	}
	for _, f := range failures {
		if err := converter.EncodeCommonFailureAttributes(converter.GetDefaultDataConverter(), f); err != nil {
			t.Fatal(err)
		}
	}
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

// TestEncryptedHistoryReadsWithItsKeys reads a history whose payloads and failure messages the payload codec
// encrypted: with the keys the report is the plain one; without them reading fails and says why.
func TestEncryptedHistoryReadsWithItsKeys(t *testing.T) {
	key, err := codec.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := codec.ParseKeyring("k2026:" + key)
	if err != nil {
		t.Fatal(err)
	}
	c := codec.New(ring)
	h := readCommitted(t, "failure-and-rollback")
	encrypt(t, h, c)

	plain, cipher := timelineOf(t, "failure-and-rollback"), Timeline{}
	if cipher, err = FromHistory(h, c.DataConverter()); err != nil {
		t.Fatal(err)
	}
	var want, got strings.Builder
	if err := Markdown(&want, plain); err != nil {
		t.Fatal(err)
	}
	if err := Markdown(&got, cipher); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Errorf("the encrypted history reports differently:\n%s", lineDiff(want.String(), got.String()))
	}
	if !strings.Contains(got.String(), `HostNotFound: edr.isolate\_host: host "WS-9999" not found`) {
		t.Error("the failure message was not decrypted")
	}
	if _, err := FromHistory(h, converter.GetDefaultDataConverter()); err == nil || !strings.Contains(err.Error(), "payload codec key") {
		t.Errorf("without the keys: %v, want an error naming the payload codec key", err)
	}
}

// TestTerminatedRunSaysSo reads a run that someone terminated in Temporal while it was held open: the
// report takes Temporal's word for how it ended and keeps what the run had done.
func TestTerminatedRunSaysSo(t *testing.T) {
	h := openFailedRun(t)
	last := h.Events[len(h.Events)-1]
	h.Events = append(h.Events, &historypb.HistoryEvent{
		EventId:   last.GetEventId() + 1,
		EventTime: last.GetEventTime(),
		EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
		Attributes: &historypb.HistoryEvent_WorkflowExecutionTerminatedEventAttributes{
			WorkflowExecutionTerminatedEventAttributes: &historypb.WorkflowExecutionTerminatedEventAttributes{Reason: "cleanup", Identity: "ops@bastion"}},
	})
	tl, err := FromHistory(h, converter.GetDefaultDataConverter())
	if err != nil {
		t.Fatal(err)
	}
	if tl.Execution.Status != "terminated" || tl.Run.Ended.IsZero() || !tl.Reconstructed {
		t.Errorf("status %q, ended %v, reconstructed %v", tl.Execution.Status, tl.Run.Ended, tl.Reconstructed)
	}
	if tl.Run.State != workflows.StateFailed || !strings.Contains(tl.Run.Failure, "HostNotFound") {
		t.Errorf("state %s, failure %q: want the run's own failure kept", tl.Run.State, tl.Run.Failure)
	}
	if !strings.Contains(strings.Join(tl.Notes, " "), "terminated: cleanup (by ops@bastion)") {
		t.Errorf("notes %q do not say who terminated it", tl.Notes)
	}
}
