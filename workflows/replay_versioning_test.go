package workflows_test

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/parry-soc/parry/internal/audit"
	"github.com/parry-soc/parry/workflows"
)

// These tests show what the replay safety net catches, with changed interpreters written here: a change to
// the order of commands fails replay of the committed histories unless it is behind workflow.GetVersion, and
// a change to what an activity is asked to do fails the input check even though the SDK's own check, which
// compares activity types and ids only, lets it through. docs/histories.md explains both.

func registerAs(f func(workflow.Context, workflows.Input) (workflows.Result, error)) func(workflows.Registry) {
	return func(r workflows.Registry) {
		r.RegisterWorkflowWithOptions(f, workflow.RegisterOptions{Name: workflows.WorkflowName})
	}
}

// budgetCheckFirst is a plausible change: wait a moment for late alert context before the first command.
func budgetCheckFirst(ctx workflow.Context, in workflows.Input) (workflows.Result, error) {
	_ = workflow.Sleep(ctx, 5*time.Second)
	return workflows.PlaybookWorkflow(ctx, in)
}

// budgetCheckFirstGuarded is the same change as it must be made: old runs keep the old path.
func budgetCheckFirstGuarded(ctx workflow.Context, in workflows.Input) (workflows.Result, error) {
	if workflow.GetVersion(ctx, "wait-for-alert-context", workflow.DefaultVersion, 1) == 1 {
		_ = workflow.Sleep(ctx, 5*time.Second)
	}
	return workflows.PlaybookWorkflow(ctx, in)
}

// shortHostNames changes one interpolation: every host parameter gets the short, lower-case host name.
// Commands stay the same; the hosts the vendor would act on do not.
func shortHostNames(ctx workflow.Context, in workflows.Input) (workflows.Result, error) {
	for i := range in.Playbook.Phases {
		for j := range in.Playbook.Phases[i].Steps {
			st := &in.Playbook.Phases[i].Steps[j]
			rewriteHost(st.With)
			for k := range st.Parallel {
				rewriteHost(st.Parallel[k].With)
			}
		}
	}
	return workflows.PlaybookWorkflow(ctx, in)
}

func rewriteHost(with map[string]any) {
	if h, ok := with["host"].(string); ok && h == "${{ inputs.host }}" {
		with["host"] = "${{ inputs.host.lowerAscii() }}"
	}
}

func replayAll(t *testing.T, register func(workflows.Registry)) map[string]error {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no committed histories: %v", err)
	}
	r := audit.NewReplayer(audit.ReplayOptions{Register: register})
	out := map[string]error{}
	for _, f := range files {
		out[filepath.Base(f)] = r.Replay(readHistory(t, f))
	}
	return out
}

func TestUnguardedCommandOrderChangeFailsReplay(t *testing.T) {
	want := regexp.MustCompile(`^event \d+, UpsertWorkflowSearchAttributes \(.*\): the current code starts a timer \(5s\) instead$`)
	for name, err := range replayAll(t, registerAs(budgetCheckFirst)) {
		var nd *audit.NondeterminismError
		if !errors.As(err, &nd) || !want.MatchString(nd.Detail) {
			t.Errorf("%s: got %v, want nondeterministic at the first command", name, err)
		}
	}
}

func TestGuardedCommandOrderChangeReplays(t *testing.T) {
	for name, err := range replayAll(t, registerAs(budgetCheckFirstGuarded)) {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestChangedInterpolationIsCaughtByTheInputCheck(t *testing.T) {
	const name = "library-t1566-001.json"
	h := readHistory(t, filepath.Join("testdata", "histories", name))

	// The SDK's replayer alone passes it: it compares activity types and ids, not inputs.
	sdk := worker.NewWorkflowReplayer()
	registerAs(shortHostNames)(sdk)
	if err := audit.Replay(sdk, tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), h); err != nil {
		t.Fatalf("the SDK's replay check already fails: %v", err)
	}

	// The first input to differ is the approval request announcing the isolation, then the isolation itself.
	err := audit.NewReplayer(audit.ReplayOptions{Register: registerAs(shortHostNames)}).Replay(h)
	want := regexp.MustCompile(`^activity notify-\d+ \(notify\.event\), event \d+: recorded input \{events\[\d+\]\.approval\.what: .*host=WS-0042.*\}, replay computes \{events\[\d+\]\.approval\.what: .*host=ws-0042.*\}; \d+ more activity input\(s\) differ: step isolate-host \(edr\.isolate_host\), `)
	var nd *audit.NondeterminismError
	if !errors.As(err, &nd) || !want.MatchString(nd.Detail) {
		t.Fatalf("got %v, want the input check to name the approval request and step isolate-host", err)
	}
	if !slices.Contains(nd.Inputs, "step isolate-host (edr.isolate_host)") || !slices.Contains(nd.Inputs, "step memory-dump (evidence.memory_dump)") {
		t.Errorf("activities with changed inputs: %v", nd.Inputs)
	}
}

func readHistory(t *testing.T, path string) *historypb.History {
	t.Helper()
	f, err := os.Open(path)
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
