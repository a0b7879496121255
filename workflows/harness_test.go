package workflows

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/alerts"
	"github.com/parry-soc/parry/approval"
	"github.com/parry-soc/parry/notify"
	"github.com/parry-soc/parry/playbooks"
)

const testRunID = "parry-parry-test-0001"

// estate is a scripted stand-in for the activities: it records which action ran for which step, in order,
// and answers with outputs or errors a test sets. The interpreter under test and the Temporal test
// environment are real.
type estate struct {
	mu          sync.Mutex
	calls       []string // "step:action"
	outputs     map[string]map[string]any
	fail        map[string]error
	members     map[string][]string
	events      []notify.Event
	escalations []notify.Escalation
}

func newEstate() *estate {
	return &estate{outputs: map[string]map[string]any{}, fail: map[string]error{}, members: map[string][]string{}}
}

func (e *estate) register(env *testsuite.TestWorkflowEnvironment) {
	for _, a := range actions.All() {
		name := a.Name
		switch {
		case a.Manual:
		case name == actions.NotifyEvent:
			env.RegisterActivityWithOptions(func(ctx context.Context, b notify.Batch) (notify.Delivery, error) {
				e.mu.Lock()
				defer e.mu.Unlock()
				// Like a chat notifier: run.started posts the parent, requests post messages to update later.
				var d notify.Delivery
				for _, ev := range b.Events {
					if ev.Thread.IsZero() { // as the notify.event activity does within a batch
						ev.Thread = d.Parent
					}
					e.events = append(e.events, ev)
					ref := notify.MessageRef{Channel: "C0SOC", TS: fmt.Sprintf("1765000000.%06d", ev.Seq)}
					switch ev.Kind {
					case notify.RunStarted:
						d.Parent = ref
					case notify.ApprovalRequested, notify.TaskRequested:
						d.Messages = append(d.Messages, notify.Delivered{Seq: ev.Seq, Message: ref})
					}
				}
				return d, nil
			}, activity.RegisterOptions{Name: name})
		case name == actions.NotifyEscalation:
			env.RegisterActivityWithOptions(func(ctx context.Context, x notify.Escalation) error {
				e.mu.Lock()
				defer e.mu.Unlock()
				e.escalations = append(e.escalations, x)
				return nil
			}, activity.RegisterOptions{Name: name})
		case name == actions.ResolveApprovers:
			env.RegisterActivityWithOptions(func(ctx context.Context, req actions.ResolveRequest) (actions.ResolveResult, error) {
				out := actions.ResolveResult{Members: map[string][]string{}}
				for _, g := range req.Groups {
					out.Members[g] = e.members[g]
				}
				return out, nil
			}, activity.RegisterOptions{Name: name})
		default:
			env.RegisterActivityWithOptions(func(ctx context.Context, req actions.Request) (actions.Result, error) {
				return e.do(name, req)
			}, activity.RegisterOptions{Name: name})
		}
	}
}

func (e *estate) do(action string, req actions.Request) (actions.Result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, req.StepID+":"+action)
	if err := e.fail[req.StepID]; err != nil {
		return actions.Result{}, err
	}
	out := e.outputs[req.StepID]
	if out == nil {
		out = map[string]any{}
	}
	return actions.Result{Output: out, Provider: "test", Attempt: 1, Note: fmt.Sprintf("%s %v", action, req.With)}, nil
}

func (e *estate) called() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.calls...)
}

// person is someone who can sign statements in tests.
type person struct {
	name  string
	kind  string // approval.ActorOperator or approval.ActorSlack
	id    string
	priv  ed25519.PrivateKey
	key   approval.Key
	front bool // signs through the front door key
}

func newOperator(t *testing.T, name string, groups ...string) person {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return person{name: name, kind: approval.ActorOperator, id: name, priv: priv,
		key: approval.Key{ID: approval.KeyID(pub), Kind: approval.KeyOperator, Name: name, PublicKey: pub, Groups: groups}}
}

// frontDoor is the key that vouches for Slack users.
type frontDoor struct {
	priv ed25519.PrivateKey
	key  approval.Key
}

func newFrontDoor(t *testing.T) frontDoor {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return frontDoor{priv: priv, key: approval.Key{ID: approval.KeyID(pub), Kind: approval.KeyFrontDoor, Name: "front door", PublicKey: pub}}
}

func (f frontDoor) slackUser(id string) person {
	return person{name: id, kind: approval.ActorSlack, id: id, priv: f.priv, key: f.key, front: true}
}

func (p person) sign(t *testing.T, st approval.Statement) approval.Assertion {
	t.Helper()
	st.Actor = approval.Actor{Kind: p.kind, ID: p.id}
	if st.Run == "" {
		st.Run = testRunID
	}
	a, err := approval.Sign(p.priv, st)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// harness runs one playbook in the time-skipping test environment.
type harness struct {
	t       *testing.T
	env     *testsuite.TestWorkflowEnvironment
	estate  *estate
	keys    []approval.Key
	alert   alerts.Alert
	answers []string // outcomes of updates, in order
	rejects []string // validator rejections
	seq     int
	// heldBy are the other runs the fake incident says still hold what this run releases.
	heldBy          []string
	incidentSignals []string
	// signalsTo are the same signals as "workflow id: signal".
	signalsTo []string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := s.NewTestWorkflowEnvironment()
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: testRunID})
	env.SetTestTimeout(30 * time.Second)
	h := &harness{t: t, env: env, estate: newEstate(), alert: sampleAlert()}
	h.estate.register(env)
	Register(env)
	// The run's incident: it records holds and answers release requests; heldBy names other runs that hold.
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(
		func(namespace, workflowID, runID, signal string, arg any) error {
			h.incidentSignals = append(h.incidentSignals, signal)
			h.signalsTo = append(h.signalsTo, workflowID+": "+signal)
			if req, ok := arg.(ReleaseRequest); ok {
				ans := ReleaseAnswer{Step: req.Step, Release: len(h.heldBy) == 0, HeldBy: h.heldBy}
				env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalReleaseAnswer, ans) }, 0)
			}
			return nil
		})
	// Ledgers the run starts (holds.go) are children: real incident workflows, which the test environment
	// hands the run's signals directly (not through the mock above).
	return h
}

func sampleAlert() alerts.Alert {
	return alerts.Alert{
		ID: "test-0001", Source: "parry", Title: "Macro-enabled attachment opened", Severity: "high",
		Techniques: []string{"T1566.001"}, Host: "WS-0042", User: "alice", SourceIP: "198.51.100.23",
		Hashes: alerts.Hashes{SHA256: "4f1c6a5e2d9b8c7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0f9e"},
		Email:  alerts.Email{MessageID: "<m1@example.net>"},
		Time:   "2026-11-22T09:02:41Z",
	}
}

func (h *harness) trust(people ...person) {
	for _, p := range people {
		h.keys = append(h.keys, p.key)
	}
}

// at schedules fn at a point of the run's (skipped) time.
func (h *harness) at(d time.Duration, fn func()) { h.env.RegisterDelayedCallback(fn, d) }

func (h *harness) update(name string, arg any) {
	h.seq++
	h.env.UpdateWorkflow(name, fmt.Sprintf("u%d", h.seq), &testsuite.TestUpdateCallback{
		OnAccept: func() {},
		OnReject: func(err error) { h.rejects = append(h.rejects, err.Error()) },
		OnComplete: func(v any, err error) {
			if err != nil {
				h.answers = append(h.answers, "error: "+err.Error())
				return
			}
			if a, ok := v.(Answer); ok {
				h.answers = append(h.answers, a.Outcome)
			}
		},
	}, arg)
}

// decide has p approve or deny an approval at time d.
func (h *harness) decide(d time.Duration, p person, approvalID, verb string) {
	h.at(d, func() {
		h.update(UpdateDecide, DecideRequest{Approval: approvalID, Assertion: p.sign(h.t, approval.Statement{Subject: approvalID, Verb: verb})})
	})
}

func (h *harness) done(d time.Duration, p person, step string) {
	h.at(d, func() {
		h.update(UpdateTaskDone, TaskDoneRequest{Step: step, Assertion: p.sign(h.t, approval.Statement{Subject: step, Verb: approval.Done})})
	})
}

func (h *harness) close(d time.Duration, p person, disposition string, rollback bool) {
	h.at(d, func() {
		h.update(UpdateClose, CloseRequest{Assertion: p.sign(h.t, approval.Statement{Subject: CloseSubject, Verb: approval.Close, Disposition: disposition, Rollback: rollback})})
	})
}

func (h *harness) status() Result {
	h.t.Helper()
	v, err := h.env.QueryWorkflow(QueryStatus)
	if err != nil {
		h.t.Fatalf("status query: %v", err)
	}
	var r Result
	if err := v.Get(&r); err != nil {
		h.t.Fatal(err)
	}
	return r
}

// run executes the playbook and returns the result.
func (h *harness) run(yamlText string) Result {
	h.t.Helper()
	pb := mustPlaybook(h.t, yamlText)
	h.env.ExecuteWorkflow(WorkflowName, Input{Playbook: *pb, Alert: h.alert, Keys: h.keys, HoldFailed: 24 * time.Hour})
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("workflow did not complete")
	}
	if err := h.env.GetWorkflowError(); err != nil {
		h.t.Fatalf("workflow error: %v", err)
	}
	var res Result
	if err := h.env.GetWorkflowResult(&res); err != nil {
		h.t.Fatal(err)
	}
	return res
}

func mustPlaybook(t *testing.T, text string) *playbooks.Playbook {
	t.Helper()
	pb, err := playbooks.Load("test.yaml", []byte(strings.TrimLeft(text, "\n")))
	if err != nil {
		t.Fatalf("test playbook does not load:\n%v", err)
	}
	return pb
}

func stepState(res Result, id string) StepResult {
	for _, s := range res.Steps {
		if s.ID == id {
			return s
		}
	}
	return StepResult{}
}

func nonRetryable(typ, msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, typ, nil)
}

var errTransient = errors.New("vendor returned 503")
