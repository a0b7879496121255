package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parry-soc/parry/internal/kpi"
	"github.com/parry-soc/parry/workflows"
)

// TestKPIReadsClosedRunsFromTheServer runs three library playbooks to completion on the embedded server,
// closes a fourth run as a false positive while it waits for its first approval, and checks the counts
// trigger kpi --json reads back through visibility.
func TestKPIReadsClosedRunsFromTheServer(t *testing.T) {
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	startServer(ctx, t, home)
	trigger := func(args ...string) (string, error) {
		env, stdout, stderr := testEnv(home, nil)
		err := Trigger(ctx, env, args)
		if err != nil {
			return stdout.String() + stderr.String(), err
		}
		return stdout.String(), nil
	}

	t.Run("completed runs", func(t *testing.T) {
		for _, alert := range []string{"t1566-001", "t1059-001", "t1053-005"} {
			t.Run(alert, func(t *testing.T) {
				t.Parallel()
				out, err := trigger("run", "--dev", "--auto-approve", "--json", filepath.Join("testdata", "alerts", alert+".json"))
				if err != nil {
					t.Fatalf("trigger run: %v\n%s", err, out)
				}
				if res := decodeResult(t, out); res.State != workflows.StateCompleted {
					t.Errorf("state %s (failure %q), want completed", res.State, res.Failure)
				}
			})
		}
	})

	// The valid-accounts run waits for its first approval in the immediate phase; nobody answers it, and the
	// run is closed as a false positive.
	const fpRun = "parry-parry-lab-t1078"
	type ran struct {
		out string
		err error
	}
	done := make(chan ran, 1) // buffered: the command may return after a failed test has ended
	go func() {
		out, err := trigger("run", "--dev", "--json", filepath.Join("testdata", "alerts", "t1078.json"))
		done <- ran{out, err}
	}()
	for {
		out, err := trigger("status", fpRun, "--json", "--dev")
		if err == nil {
			res := decodeResult(t, out)
			if open := openApprovals(res); len(open) > 0 {
				if phase := stepOf(res, open[0].Step).Phase; phase != "immediate" {
					t.Fatalf("the first approval is in phase %s, want immediate", phase)
				}
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting for the t1078 run's first approval: %v %s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, err := trigger("close", fpRun, "--disposition", "false-positive", "--reason", "the sign-in was the owner on a new laptop", "--dev"); err != nil {
		t.Fatalf("trigger close: %v\n%s", err, out)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("trigger run t1078: %v\n%s", r.err, r.out)
	}
	if res := decodeResult(t, r.out); res.State != workflows.StateClosed || res.Disposition != workflows.FalsePositive {
		t.Fatalf("t1078 run: state %s disposition %s, want closed false-positive", res.State, res.Disposition)
	}

	// Visibility is written after the close: read until all four runs are there.
	var rep kpi.Report
	for {
		out, err := trigger("kpi", "--json", "--dev")
		if err != nil {
			t.Fatalf("trigger kpi: %v\n%s", err, out)
		}
		rep = kpi.Report{}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("kpi --json is not a report: %v\n%s", err, out)
		}
		if rep.Runs >= 4 || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	o := rep.Overall
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"runs", rep.Runs, 4},
		{"contained (the closed run never finished its immediate phase)", o.TimeToContain.N, 3},
		{"resolved", o.TimeToResolve.N, 4},
		{"failed", o.Failure.Count, 0},
		{"false positives", o.FalsePositive.Count, 1},
		// The three completed runs are undetermined: only the closed one has a disposition.
		{"runs with a disposition", o.FalsePositive.Of, 1},
		{"approvals canceled by the close", o.ApprovalsTimedOut, 1},
		{"techniques", len(rep.Techniques), 4},
		// WS-0042 (T1566.001, T1059.001, T1053.005, one alert time) and bob (T1078, no host).
		{"incidents", rep.Depth.Incidents, 2},
		{"deepest incident", rep.Depth.Techniques.Max, 3},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if o.ApprovalWait.N == 0 {
		t.Error("no approval waits: the auto-approved runs decided approvals")
	}
	for _, tk := range rep.Techniques {
		wantFP := kpi.Rate{}
		if tk.Technique == "T1078" {
			wantFP = kpi.Rate{Count: 1, Of: 1}
		}
		if tk.Runs != 1 || tk.FalsePositive != wantFP {
			t.Errorf("%s: runs %d, false positives %+v; want 1 run, %+v", tk.Technique, tk.Runs, tk.FalsePositive, wantFP)
		}
	}
	if len(rep.Phases) == 0 || rep.Phases[0].Phase != "immediate" || rep.Phases[0].Runs != 4 || rep.Phases[0].Done != 3 {
		t.Errorf("phases: %+v, want immediate first, started by 4 runs, done in 3", rep.Phases)
	}
	if len(rep.Sources) != 1 || rep.Sources[0].Source != "parry" || rep.Sources[0].Runs != 4 {
		t.Errorf("sources: %+v", rep.Sources)
	}

	// The table names every technique and the false-positive source.
	out, err := trigger("kpi", "--dev")
	if err != nil {
		t.Fatalf("trigger kpi: %v\n%s", err, out)
	}
	for _, want := range []string{"KPIs of 4 run(s)", "T1078", "Valid Accounts", "1/1 100%", "immediate", "Investigation depth: 2 incident(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("kpi output lacks %q:\n%s", want, out)
		}
	}
}

func TestKPIRefusesABadSince(t *testing.T) {
	env, _, _ := testEnv(t.TempDir(), nil)
	err := Trigger(context.Background(), env, []string{"kpi", "--since", "last week"})
	if ExitCode(err) != 2 || !strings.Contains(err.Error(), "--since") {
		t.Errorf("exit %d: %v", ExitCode(err), err)
	}
}

func TestClosedRunsQuery(t *testing.T) {
	got := closedRunsQuery(time.Date(2026, 10, 27, 9, 0, 0, 0, time.UTC))
	want := "WorkflowType = 'PlaybookWorkflow' AND ExecutionStatus != 'Running' AND CloseTime > '2026-10-27T09:00:00Z'"
	if got != want {
		t.Errorf("query = %s, want %s", got, want)
	}
}

func openApprovals(res workflows.Result) []workflows.ApprovalState {
	var out []workflows.ApprovalState
	for _, a := range res.Approvals {
		if a.State == workflows.ApprovalOpen {
			out = append(out, a)
		}
	}
	return out
}
