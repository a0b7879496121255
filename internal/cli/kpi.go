package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	workflowpb "go.temporal.io/api/workflow/v1"

	"go.temporal.io/sdk/client"

	"github.com/parry-soc/parry/internal/audit"
	"github.com/parry-soc/parry/internal/kpi"
	"github.com/parry-soc/parry/playbooks"
	"github.com/parry-soc/parry/workflows"
)

func init() {
	register(command{"kpi", "kpi [--since 30d] [--json] [--dev]", kpiCommand})
}

// kpiReadParallel bounds how many run results are read from Temporal at once.
const kpiReadParallel = 8

// kpiCommand reads the runs that closed within --since through visibility, fetches each one's result and
// prints the KPIs (internal/kpi has the definitions). Investigation depth groups runs into incidents by
// host key within an hour, as kpi.GroupIncidents does.
func kpiCommand(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "trigger kpi")
	since := fs.String("since", "30d", "read runs that closed within this long (2d, 12h, 30d)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	dev := fs.Bool("dev", false, "talk to the embedded dev server")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return exitCode(2, errors.New("usage: trigger kpi [--since 30d] [--json] [--dev]"))
	}
	window, err := playbooks.ParseDuration(*since)
	if err != nil || window <= 0 {
		return exitCode(2, fmt.Errorf("--since %q: want a positive duration such as 30d or 12h", *since))
	}
	sess, err := connect(ctx, env, *dev)
	if err != nil {
		return err
	}
	defer sess.Close()

	from := time.Now().Add(-window).UTC().Truncate(time.Second)
	results, skipped, err := closedRuns(ctx, sess.client, sess.namespace, from)
	if err != nil {
		return err
	}
	rep := kpi.Compute(results, nil)
	if *asJSON {
		return writeJSON(env.Stdout, struct {
			Since   time.Time    `json:"since"`
			Skipped []skippedRun `json:"skipped,omitempty"`
			kpi.Report
		}{from, skipped, rep})
	}
	printKPIs(env.Stdout, rep, from, skipped)
	return nil
}

// skippedRun is a closed run whose result could not be read: it was terminated, timed out or failed in
// Temporal rather than ending as a Parry run.
type skippedRun struct {
	Run    string `json:"run"`
	Status string `json:"status"`
	Error  string `json:"error"`
}

// closedRunsQuery is the visibility query for playbook runs that closed after from.
func closedRunsQuery(from time.Time) string {
	return fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus != 'Running' AND CloseTime > '%s'",
		workflows.WorkflowName, from.Format(time.RFC3339))
}

// closedRuns pages through the runs that closed after from and reads each one's result.
func closedRuns(ctx context.Context, c client.Client, namespace string, from time.Time) ([]workflows.Result, []skippedRun, error) {
	type ref struct{ id, run, status string }
	var refs []ref
	err := audit.List(ctx, c, namespace, closedRunsQuery(from), func(e *workflowpb.WorkflowExecutionInfo) bool {
		refs = append(refs, ref{e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId(), e.GetStatus().String()})
		return true
	})
	if err != nil {
		return nil, nil, err
	}

	results := make([]workflows.Result, len(refs))
	errs := make([]error, len(refs))
	sem := make(chan struct{}, kpiReadParallel)
	var wg sync.WaitGroup
	for i, r := range refs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = c.GetWorkflow(ctx, r.id, r.run).Get(ctx, &results[i])
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	var out []workflows.Result
	var skipped []skippedRun
	for i, r := range refs {
		if errs[i] != nil {
			skipped = append(skipped, skippedRun{Run: r.id, Status: strings.TrimPrefix(r.status, "WORKFLOW_EXECUTION_STATUS_"), Error: errs[i].Error()})
			continue
		}
		out = append(out, results[i])
	}
	sort.Slice(skipped, func(i, j int) bool { return skipped[i].Run < skipped[j].Run })
	return out, skipped, nil
}

func printKPIs(out io.Writer, rep kpi.Report, from time.Time, skipped []skippedRun) {
	fmt.Fprintf(out, "KPIs of %d run(s) closed since %s", rep.Runs, from.Format(time.RFC3339))
	if len(skipped) > 0 {
		fmt.Fprintf(out, " (%d more could not be read: terminated or failed in Temporal)", len(skipped))
	}
	fmt.Fprintln(out)
	if rep.Runs == 0 {
		return
	}
	fmt.Fprintln(out, "Contain: alert → containment phase done; resolve: alert → run closed (MTTR is the mean); p50/p90 nearest-rank; false positives of runs with a disposition other than undetermined.")

	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TECHNIQUE\tNAME\tRUNS\tCONTAIN p50\tp90\tMTTR\tBREACHED\tAPPROVAL p50\tp90\tFAILED\tFALSE POSITIVE\tDEPTH p50")
	row := func(id, name string, m kpi.Metrics, depth kpi.IntStat) {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", id, clip(name, 28), m.Runs,
			statDur(m.TimeToContain, m.TimeToContain.Median), statDur(m.TimeToContain, m.TimeToContain.P90),
			statDur(m.TimeToResolve, m.TimeToResolve.Mean), fmtRate(m.BudgetBreach),
			statDur(m.ApprovalWait, m.ApprovalWait.Median), statDur(m.ApprovalWait, m.ApprovalWait.P90),
			fmtRate(m.Failure), fmtRate(m.FalsePositive), depthCell(depth))
	}
	row("all", "", rep.Overall, rep.Depth.Techniques)
	for _, t := range rep.Techniques {
		id := t.Technique
		if id == "" {
			id = "(none)"
		}
		row(id, t.Name, t.Metrics, t.Depth)
	}
	tw.Flush()

	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PHASE\tRUNS\tDONE\tDURATION p50\tp90\tBREACHED\tAPPROVAL p50\tp90\tFAILED")
	for _, p := range rep.Phases {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Phase, p.Runs, p.Done,
			statDur(p.Duration, p.Duration.Median), statDur(p.Duration, p.Duration.P90), fmtRate(p.BudgetBreach),
			statDur(p.ApprovalWait, p.ApprovalWait.Median), statDur(p.ApprovalWait, p.ApprovalWait.P90), fmtRate(p.Failure))
	}
	tw.Flush()

	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tRULE\tRUNS\tFALSE POSITIVE")
	rules := map[string][]kpi.SourceKPI{}
	for _, r := range rep.Rules {
		rules[r.Source] = append(rules[r.Source], r)
	}
	for _, s := range rep.Sources {
		fmt.Fprintf(tw, "%s\t(all)\t%d\t%s\n", s.Source, s.Runs, fmtRate(s.FalsePositive))
		for _, r := range rules[s.Source] {
			fmt.Fprintf(tw, "\t%s\t%d\t%s\n", orNone(r.Rule), r.Runs, fmtRate(r.FalsePositive))
		}
	}
	tw.Flush()

	d := rep.Depth
	fmt.Fprintf(out, "\nInvestigation depth: %d incident(s) (runs on one host or user within %s), distinct techniques per incident median %d, p90 %d, max %d",
		d.Incidents, kpi.DefaultIncidentWindow, d.Techniques.Median, d.Techniques.P90, d.Techniques.Max)
	if d.Unkeyed > 0 {
		fmt.Fprintf(out, "; %d run(s) with neither host nor user are in no incident", d.Unkeyed)
	}
	fmt.Fprintln(out)
}

// statDur prints one of a Stat's durations, or "-" when the Stat covers no runs.
func statDur(s kpi.Stat, d time.Duration) string {
	if s.N == 0 {
		return "-"
	}
	return fmtDur(d)
}

func fmtRate(r kpi.Rate) string {
	if r.Of == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d %.0f%%", r.Count, r.Of, 100*r.Value())
}

func depthCell(s kpi.IntStat) string {
	if s.N == 0 {
		return "-"
	}
	return fmt.Sprint(s.Median)
}
