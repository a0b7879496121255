package cli

import (
	"context"
	"crypto/ed25519"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/parry-soc/parry/activities/lab"
	"github.com/parry-soc/parry/approval"
	"github.com/parry-soc/parry/internal/runs"
	"github.com/parry-soc/parry/playbooks"
	"github.com/parry-soc/parry/workflows"
)

// TestHelperWorker is not a test: TestWorkerKilledMidRunLosesNothing runs this test binary as a separate
// worker process through it, so that process can be SIGKILLed.
func TestHelperWorker(t *testing.T) {
	if os.Getenv("PARRY_TEST_HELPER") != "worker" {
		t.Skip("helper process for TestWorkerKilledMidRunLosesNothing")
	}
	env := OSEnv()
	if err := Worker(context.Background(), env, nil); err != nil {
		t.Fatal(err)
	}
}

func startWorkerProcess(t *testing.T, home, address string, n int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWorker$", "-test.v")
	cmd.Env = append(os.Environ(),
		"PARRY_TEST_HELPER=worker",
		"TEMPORAL_ADDRESS="+address,
		"PARRY_LAB_STATE="+filepath.Join(home, "lab-state.json"),
		"PARRY_EVIDENCE_DIR="+filepath.Join(home, "evidence"),
	)
	logf, err := os.Create(filepath.Join(home, "worker-"+string(rune('0'+n))+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})
	return cmd
}

// TestWorkerKilledMidRunLosesNothing kills the only worker with SIGKILL while it captures memory, starts
// another, and checks that the run completes with every side effect done exactly once (from the lab's
// state file) and the capture resumed by the new worker.
func TestWorkerKilledMidRunLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts worker processes")
	}
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	srv := startServer(ctx, t, home)
	c := dial(ctx, t, srv)

	pub, priv, _ := ed25519.GenerateKey(nil)
	keys := []approval.Key{{ID: approval.KeyID(pub), Kind: approval.KeyOperator, Name: "tester", PublicKey: pub, Groups: []string{"*"}}}
	payload, err := os.ReadFile(filepath.Join("testdata", "alerts", "t1566-001.json"))
	if err != nil {
		t.Fatal(err)
	}
	library, err := playbooks.Library()
	if err != nil {
		t.Fatal(err)
	}
	plan, err := runs.Prepare(payload, "", library, nil)
	if err != nil {
		t.Fatal(err)
	}

	worker := startWorkerProcess(t, home, srv.Address(), 1)
	starter := runs.Starter{Client: c, Keys: keys}
	started, err := starter.Start(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(subject, verb string) approval.Assertion {
		a, err := approval.Sign(priv, approval.Statement{Run: started.RunID, Subject: subject, Verb: verb,
			Actor: approval.Actor{Kind: approval.ActorOperator, ID: "tester"}, IssuedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	killed := false
	answered := map[string]bool{}
	var res workflows.Result
	for {
		if ctx.Err() != nil {
			t.Fatalf("run did not complete: %+v", res)
		}
		res, err = runs.Status(ctx, c, started.RunID)
		if err != nil {
			if gerr := c.GetWorkflow(ctx, started.RunID, "").Get(ctx, &res); gerr == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if res.State != workflows.StateRunning {
			if err := c.GetWorkflow(ctx, started.RunID, "").Get(ctx, &res); err != nil {
				t.Fatal(err)
			}
			break
		}
		for _, a := range res.Approvals {
			if a.State == workflows.ApprovalOpen && !answered[a.ID] {
				answered[a.ID] = true
				if _, err := runs.Send(ctx, c, sign(a.ID, approval.Approve)); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, tk := range res.Tasks {
			if tk.Done.IsZero() && !answered["task:"+tk.Step] {
				answered["task:"+tk.Step] = true
				if _, err := runs.Send(ctx, c, sign(tk.Step, approval.Done)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if !killed && stepOf(res, "memory-dump").State == workflows.StepRunning {
			// The capture is in flight on the worker: kill it without a chance to clean up.
			time.Sleep(1500 * time.Millisecond)
			if err := worker.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = worker.Wait()
			killed = true
			worker = startWorkerProcess(t, home, srv.Address(), 2)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !killed {
		t.Fatal("the worker was never killed: memory-dump was not seen running")
	}
	if res.State != workflows.StateCompleted {
		t.Fatalf("state = %s (failure %q)", res.State, res.Failure)
	}
	if got := stepOf(res, "memory-dump").Attempts; got < 2 {
		t.Errorf("memory-dump succeeded on attempt %d, want a retry on the new worker (attempt ≥ 2)", got)
	}
	st, err := lab.ReadState(filepath.Join(home, "lab-state.json"))
	if err != nil {
		t.Fatal(err)
	}
	checkEffectsOnce(t, res, st)
	if st.Host("WS-0042").Isolated {
		t.Error("WS-0042 is still isolated after recovery released it")
	}
}

func stepOf(res workflows.Result, id string) workflows.StepResult {
	for _, s := range res.Steps {
		if s.ID == id {
			return s
		}
	}
	return workflows.StepResult{}
}
