package cli

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/parry-soc/parry/alerts"
	"github.com/parry-soc/parry/approval"
	"github.com/parry-soc/parry/internal/audit"
	"github.com/parry-soc/parry/internal/runs"
	"github.com/parry-soc/parry/playbooks"
	"github.com/parry-soc/parry/workflows"
)

var record = flag.Bool("record", false, "record the committed histories in workflows/testdata/histories (see docs/histories.md)")

// historiesDir is where the interpreter's replay test finds them.
const historiesDir = "../../workflows/testdata/histories"

// signer answers approvals and tasks in a scenario.
type signer struct {
	name string
	priv ed25519.PrivateKey
	key  approval.Key
}

func newSigner(t *testing.T, name string, groups ...string) signer {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return signer{name: name, priv: priv, key: approval.Key{ID: approval.KeyID(pub), Kind: approval.KeyOperator, Name: name, PublicKey: pub, Groups: groups}}
}

func (s signer) sign(t *testing.T, st approval.Statement) approval.Assertion {
	st.Actor = approval.Actor{Kind: approval.ActorOperator, ID: s.name}
	st.IssuedAt = time.Now().UTC()
	a, err := approval.Sign(s.priv, st)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// scenario is one recorded run: an alert, a playbook, and how people answer.
type scenario struct {
	name     string
	alert    string // file under testdata/alerts
	alertID  string // replaces the alert's id, so scenarios on one sample do not collide
	playbook string // file under testdata/scenarios, or "" to route
	decide   func(approvalID string, attempt int) (who string, verb string, ok bool)
	taskWait time.Duration       // how long a manual task waits before it is marked done
	close    *approval.Statement // sent once the run has failed
}

func approveAll(string, int) (string, string, bool) { return "tester", approval.Approve, true }

// TestRecordHistories records the committed histories the replay test in workflows/ checks. It only runs
// with -record: go test ./internal/cli -run TestRecordHistories -record
func TestRecordHistories(t *testing.T) {
	if !*record {
		t.Skip("records histories only with -record")
	}
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := dial(ctx, t, startServer(ctx, t, home))
	env, _, _ := testEnv(home, nil)
	sess := &session{client: c, logger: discardLogger()}
	if err := sess.startWorker(env, true); err != nil {
		t.Fatal(err)
	}
	defer sess.Close()

	tester, outsider := newSigner(t, "tester", "*"), newSigner(t, "outsider", "other-group")
	signers := map[string]signer{"tester": tester, "outsider": outsider}
	keys := []approval.Key{tester.key, outsider.key}

	library, err := playbooks.Library()
	if err != nil {
		t.Fatal(err)
	}
	var scenarios []scenario
	for _, a := range []string{"t1566-001", "t1190", "t1078", "t1078-003", "t1059-001", "t1053-005", "t1547-001", "t1021-001", "t1550-002", "t1203", "t1564-001-fallback"} {
		scenarios = append(scenarios, scenario{name: "library-" + a, alert: a, decide: approveAll})
	}
	scenarios = append(scenarios,
		scenario{name: "approvals-refused-and-denied", alert: "t1566-001", alertID: "demo-phish-refused",
			decide: func(id string, attempt int) (string, string, bool) {
				switch {
				case id == "isolate-host" && attempt == 0:
					return "outsider", approval.Approve, true // refused: not an approver
				case id == "disable-user":
					return "tester", approval.Deny, true
				}
				return "tester", approval.Approve, true
			}},
		scenario{name: "approval-timeout-and-breach", alert: "t1566-001", alertID: "demo-phish-timeout", playbook: "timeout-breach.yaml",
			decide:   func(string, int) (string, string, bool) { return "", "", false },
			taskWait: 3 * time.Second},
		scenario{name: "failure-and-rollback", alert: "t1566-001", alertID: "demo-phish-failure", playbook: "failure-rollback.yaml",
			decide: approveAll,
			close:  &approval.Statement{Subject: workflows.CloseSubject, Verb: approval.Close, Disposition: workflows.FalsePositive, Rollback: true, Reason: "benign macro test by IT"}},
	)
	if err := os.MkdirAll(historiesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, sc := range scenarios {
		payload, err := os.ReadFile(filepath.Join("testdata", "alerts", sc.alert+".json"))
		if err != nil {
			t.Fatal(err)
		}
		a, err := alerts.Normalize(payload, "")
		if err != nil {
			t.Fatal(err)
		}
		if sc.alertID != "" {
			a.ID = sc.alertID
		}
		var explicit *playbooks.Playbook
		if sc.playbook != "" {
			explicit, err = findPlaybook(nil, filepath.Join("testdata", "scenarios", sc.playbook))
			if err != nil {
				t.Fatal(err)
			}
			explicit.Source = "internal/cli/testdata/scenarios/" + sc.playbook
		}
		plan, err := runs.PlanFor(a, library, explicit)
		if err != nil {
			t.Fatal(err)
		}
		started, err := (&runs.Starter{Client: c, Keys: keys}).Start(ctx, plan)
		if err != nil {
			t.Fatal(err)
		}
		res := driveScenario(ctx, t, c, started.RunID, sc, signers)
		h, err := audit.FetchHistory(ctx, c, started.RunID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := audit.MarshalHistory(h)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(historiesDir, sc.name+".json")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s %s, %d events, %d KiB", sc.name, res.Playbook.ID, res.State, len(h.Events), len(b)/1024)
	}
}

// driveScenario answers a run's approvals and tasks as the scenario says until the run closes.
func driveScenario(ctx context.Context, t *testing.T, c client.Client, runID string, sc scenario, signers map[string]signer) workflows.Result {
	t.Helper()
	attempts := map[string]int{}
	taskSeen := map[string]time.Time{}
	closed := false
	for ctx.Err() == nil {
		if done, err := runs.Closed(ctx, c, runID); err == nil && done {
			var final workflows.Result
			if err := c.GetWorkflow(ctx, runID, "").Get(ctx, &final); err != nil {
				t.Fatal(err)
			}
			return final
		}
		res, err := runs.Status(ctx, c, runID)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if res.State == workflows.StateFailed && sc.close != nil && !closed {
			closed = true
			st := *sc.close
			st.Run = runID
			if _, err := runs.Send(ctx, c, signers["tester"].sign(t, st)); err != nil {
				t.Fatal(err)
			}
		}
		for _, a := range res.Approvals {
			if a.State != workflows.ApprovalOpen || attempts[a.ID] >= 2 {
				continue
			}
			who, verb, ok := sc.decide(a.ID, attempts[a.ID])
			if !ok {
				continue
			}
			attempts[a.ID]++
			st := approval.Statement{Run: runID, Subject: a.ID, Verb: verb, Reason: fmt.Sprintf("scenario %s", sc.name)}
			if _, err := runs.Send(ctx, c, signers[who].sign(t, st)); err != nil && !strings.Contains(err.Error(), "already") {
				t.Fatal(err)
			}
		}
		for _, tk := range res.Tasks {
			if !tk.Done.IsZero() {
				continue
			}
			if taskSeen[tk.Step].IsZero() {
				taskSeen[tk.Step] = time.Now()
			}
			if time.Since(taskSeen[tk.Step]) < sc.taskWait || attempts["task:"+tk.Step] > 0 {
				continue
			}
			attempts["task:"+tk.Step]++
			st := approval.Statement{Run: runID, Subject: tk.Step, Verb: approval.Done}
			if _, err := runs.Send(ctx, c, signers["tester"].sign(t, st)); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("scenario %s: run %s did not finish", sc.name, runID)
	return workflows.Result{}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
