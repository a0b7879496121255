package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/alerts"
	"github.com/parry-soc/parry/approval"
	"github.com/parry-soc/parry/internal/operators"
	"github.com/parry-soc/parry/internal/runs"
	"github.com/parry-soc/parry/playbooks"
	"github.com/parry-soc/parry/workflows"
)

// validateCommand checks playbooks: the embedded library by default, or the given files and directories.
func validateCommand(env Env, args []string) error {
	fs := newFlagSet(env, "trigger validate")
	paths, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	var pbs []*playbooks.Playbook
	if len(paths) == 0 {
		pbs, err = playbooks.Library()
	} else {
		pbs, err = playbooks.LoadFiles(paths...)
	}
	if err != nil {
		fmt.Fprintln(env.Stderr, err)
		return exitCode(1, errors.New("playbooks have errors"))
	}
	steps := 0
	for _, p := range pbs {
		p.Walk(func(*playbooks.Phase, *playbooks.Step) { steps++ })
	}
	what := "the embedded library"
	if len(paths) > 0 {
		what = strings.Join(paths, ", ")
	}
	fmt.Fprintf(env.Stdout, "ok: %d playbook(s), %d step(s) in %s\n", len(pbs), steps, what)
	return nil
}

// statusCommand shows a run, a host's incident (parry-incident-KEY, or --incident HOST) or the record of an
// unrouted alert (parry-unrouted-…).
func statusCommand(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "trigger status")
	dev := fs.Bool("dev", false, "talk to the embedded dev server")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	host := fs.String("incident", "", "show the incident of this host (or user) instead of a run; KIND:TARGET (user:alice, sender:…) shows what counts holds of that")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if (len(pos) != 1 || *host != "") && (len(pos) != 0 || *host == "") {
		return exitCode(2, errors.New("usage: trigger status RUN|parry-incident-KEY [--json], or trigger status --incident HOST|KIND:TARGET [--json]"))
	}
	id := ""
	if len(pos) == 1 {
		id = pos[0]
	} else if kind, target, ok := strings.Cut(strings.TrimSpace(*host), ":"); ok && slices.Contains(actions.ContainmentKinds(), kind) {
		// Containment of an account, sender, IP… is counted by a ledger whose id digests the target.
		if id = workflows.LedgerID(kind, target); id == "" {
			return exitCode(2, fmt.Errorf("--incident %s: name the %s after the colon", *host, kind))
		}
	} else {
		key := alerts.Alert{Host: strings.TrimSpace(*host)}.HostKey()
		if key == "" {
			return exitCode(2, errors.New("--incident: name a host (or user), or KIND:TARGET for the holds of an account, sender, IP, hash or message"))
		}
		id = workflows.IncidentID(key)
	}
	sess, err := connect(ctx, env, *dev)
	if err != nil {
		return err
	}
	defer sess.Close()
	switch {
	case strings.HasPrefix(id, workflows.IncidentID("")):
		inc, err := readIncident(ctx, sess.client, id)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(env.Stdout, inc)
		}
		printIncident(env, inc)
		return nil
	case strings.HasPrefix(id, "parry-unrouted-"):
		var u workflows.Unrouted
		if err := sess.client.GetWorkflow(ctx, id, "").Get(ctx, &u); err != nil {
			return fmt.Errorf("read unrouted alert record %s: %w", id, err)
		}
		if *asJSON {
			return writeJSON(env.Stdout, u)
		}
		fmt.Fprintf(env.Stdout, "Unrouted alert %s/%s: %s [%s] host %s user %s, techniques %s\n%s\n", u.Alert.Source, u.Alert.ID, u.Alert.Title,
			orNone(u.Alert.Severity), orNone(u.Alert.Host), orNone(u.Alert.User), orNone(strings.Join(u.Alert.Techniques, ", ")), u.Reason)
		return nil
	}
	res, err := runs.Status(ctx, sess.client, id)
	if err != nil {
		// A closed run's result is in its history; an open run whose query failed is reported as such
		// rather than waited for (its result would only come when it ends).
		final, closed, ferr := runs.Final(ctx, sess.client, id)
		if ferr != nil {
			return ferr
		}
		if !closed {
			return err
		}
		res = final
	}
	if *asJSON {
		return writeJSON(env.Stdout, res)
	}
	printStatus(env, res)
	return nil
}

// readIncident asks a running incident for its state, or reads a finished one's result (an incident ends
// after a quiet day holding nothing).
func readIncident(ctx context.Context, c client.Client, id string) (workflows.Incident, error) {
	var inc workflows.Incident
	d, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		var notFound *serviceerror.NotFound
		if errors.As(err, &notFound) {
			if strings.Contains(id, ":") {
				return inc, exitCode(1, fmt.Errorf("no containment ledger %s: no run contained that within the namespace's retention", id))
			}
			return inc, exitCode(1, fmt.Errorf("no incident %s: no alert for that host (or user) was seen within the namespace's retention", id))
		}
		return inc, fmt.Errorf("describe incident %s: %w", id, err)
	}
	if d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		v, err := c.QueryWorkflow(ctx, id, "", workflows.QueryIncident)
		if err != nil {
			return inc, fmt.Errorf("query incident %s (a running incident answers through a worker: is one running? the dev default's is `go run ./cmd/worker --dev`): %w", id, err)
		}
		return inc, v.Get(&inc)
	}
	if err := c.GetWorkflow(ctx, id, "").Get(ctx, &inc); err != nil {
		return inc, fmt.Errorf("read incident %s: %w", id, err)
	}
	return inc, nil
}

// printIncident shows an incident: its alerts, the technique chain in kill-chain order and its risk, the
// escalations, and the groups and techniques it suggests — hypotheses for an analyst, not findings.
func printIncident(env Env, inc workflows.Incident) {
	out := env.Stdout
	if kind, _, ok := strings.Cut(inc.Key, ":"); ok && inc.AlertsSeen == 0 {
		// A ledger: it sees no alerts, only the holds of one account, sender, IP… (workflows.LedgerID).
		fmt.Fprintf(out, "Containment ledger %s (a %s; the id digests it), opened %s: which open runs still need it contained\n",
			inc.ID, kind, inc.Opened.Local().Format(time.DateTime))
		printHolds(out, inc)
		return
	}
	fmt.Fprintf(out, "Incident %s (key %s): severity %s, opened %s, window %s\n", inc.ID, inc.Key, inc.Severity, inc.Opened.Local().Format(time.DateTime), inc.Window)
	verdict := "below the threshold"
	if inc.Risk >= inc.Threshold {
		verdict = "at or over the threshold"
	}
	fmt.Fprintf(out, "Risk %.1f (threshold %.1f): %s\n", inc.Risk, inc.Threshold, verdict)

	fmt.Fprintf(out, "\nAlerts (%d shown, %d seen):\n", len(inc.Alerts), inc.AlertsSeen)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TIME\tALERT\tSEVERITY\tTECHNIQUES\tTACTICS\tRUN")
	for _, a := range inc.Alerts {
		run := a.RunID
		if run == "" {
			run = "(unrouted)"
		}
		fmt.Fprintf(tw, "  %s\t%s/%s\t%s\t%s\t%s\t%s\n", a.Time.Local().Format(time.DateTime), a.Source, a.AlertID, orDash(a.Severity),
			orDash(strings.Join(a.Techniques, ", ")), orDash(strings.Join(a.Tactics, ", ")), run)
	}
	tw.Flush()

	if len(inc.Chain) > 0 {
		var links []string
		for _, l := range inc.Chain {
			links = append(links, fmt.Sprintf("%s (%s, %s)", l.Tactic, strings.Join(l.Techniques, ", "), l.Severity))
		}
		fmt.Fprintf(out, "\nChain (kill-chain order, alerts within %s of the latest): %s\n", inc.Window, strings.Join(links, " → "))
	}
	if len(inc.Escalations) > 0 {
		fmt.Fprintln(out, "\nEscalations:")
		for _, e := range inc.Escalations {
			fmt.Fprintf(out, "  %s  %s\n", e.At.Local().Format(time.DateTime), e.Reason)
		}
	}
	if len(inc.Groups) > 0 {
		fmt.Fprintln(out, "\nCandidate groups (hypotheses from ATT&CK's group data, not an attribution):")
		tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for i, g := range inc.Groups {
			fmt.Fprintf(tw, "  %d.\t%s %s\tscore %.2f\tuses %s\t%s\n", i+1, g.ID, g.Name, g.Score, strings.Join(g.Matched, ", "), g.URL)
		}
		tw.Flush()
	}
	if len(inc.Predicted) > 0 {
		fmt.Fprintln(out, "\nPredicted techniques (hypotheses: what those groups are known to use, not yet seen here):")
		tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for _, p := range inc.Predicted {
			fmt.Fprintf(tw, "  %s %s\t%s\tweight %.2f\tgroups %s\n", p.Technique, p.Name, strings.Join(p.Tactics, ", "), p.Weight, strings.Join(p.Groups, ", "))
		}
		tw.Flush()
	}
	fmt.Fprintf(out, "\nRuns: %s\n", orNone(strings.Join(inc.Runs, ", ")))
	printHolds(out, inc)
}

// printHolds shows what an incident or ledger holds and the release decisions it made.
func printHolds(out io.Writer, inc workflows.Incident) {
	if len(inc.Holds) > 0 {
		fmt.Fprintln(out, "Holds (contained until the last of these runs releases it):")
		for _, h := range inc.Holds {
			fmt.Fprintf(out, "  %s %s by %s\n", h.Kind, h.Target, h.Run)
		}
	} else {
		fmt.Fprintln(out, "Holds: none")
	}
	for _, r := range inc.Releases {
		what := "released"
		if !r.Release {
			what = "kept: still held by " + strings.Join(r.HeldBy, ", ")
		}
		fmt.Fprintf(out, "Release %s  %s %s asked by %s: %s\n", r.At.Local().Format(time.DateTime), r.Kind, r.Target, r.Run, what)
	}
	if inc.Executions > 0 {
		fmt.Fprintf(out, "Continued as new %d time(s) (a busy host's history is handed over, nothing lost)\n", inc.Executions)
	}
}

func printStatus(env Env, res workflows.Result) {
	out := env.Stdout
	fmt.Fprintf(out, "Run %s: %s (playbook %s v%d), disposition %s\n", res.RunID, res.State, res.Playbook.ID, res.Playbook.Version, res.Disposition)
	fmt.Fprintf(out, "Alert %s/%s: %s [%s] host %s user %s\n", res.Alert.Source, res.Alert.ID, res.Alert.Title, res.Alert.Severity, orNone(res.Alert.Host), orNone(res.Alert.User))
	if res.Phase != "" {
		left := "no budget"
		if !res.Deadline.IsZero() {
			left = fmt.Sprintf("deadline %s (%s left)", res.Deadline.Local().Format(time.DateTime), fmtDur(time.Until(res.Deadline)))
		}
		fmt.Fprintf(out, "Phase %s: %s\n", res.Phase, left)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tPHASE\tACTION\tSTATE\tNOTE")
	for _, s := range res.Steps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, s.Phase, s.Action, s.State, stepNote(s, res))
	}
	tw.Flush()
	for _, a := range res.Approvals {
		if a.State != workflows.ApprovalOpen {
			continue
		}
		fmt.Fprintf(out, "Pending approval %s (group %s, %d of %d, until %s, %s left): trigger approve %s %s\n",
			a.ID, a.Group, len(a.Granted), a.Min, a.Deadline.Local().Format(time.DateTime), fmtDur(time.Until(a.Deadline)), res.RunID, a.ID)
	}
	for _, t := range res.Tasks {
		if t.Done.IsZero() {
			fmt.Fprintf(out, "Pending task %s: %s — trigger done %s %s\n", t.Step, t.Text, res.RunID, t.Step)
		}
	}
	if res.Failure != "" {
		fmt.Fprintf(out, "Failure: %s\n", res.Failure)
	}
}

func approveCommand(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "trigger approve")
	dev := fs.Bool("dev", false, "talk to the embedded dev server and sign as the dev operator")
	deny := fs.Bool("deny", false, "deny instead of approve")
	reason := fs.String("reason", "", "why (recorded in the approval log)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return exitCode(2, errors.New("usage: trigger approve RUN APPROVAL [--deny] [--reason TEXT] (APPROVAL is the step id, or rollback)"))
	}
	verb := approval.Approve
	if *deny {
		verb = approval.Deny
	}
	return sendStatement(ctx, env, *dev, approval.Statement{Run: pos[0], Subject: pos[1], Verb: verb, Reason: *reason})
}

func doneCommand(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "trigger done")
	dev := fs.Bool("dev", false, "talk to the embedded dev server and sign as the dev operator")
	reason := fs.String("reason", "", "a note (recorded)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return exitCode(2, errors.New("usage: trigger done RUN STEP"))
	}
	return sendStatement(ctx, env, *dev, approval.Statement{Run: pos[0], Subject: pos[1], Verb: approval.Done, Reason: *reason})
}

func closeCommand(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "trigger close")
	dev := fs.Bool("dev", false, "talk to the embedded dev server and sign as the dev operator")
	disposition := fs.String("disposition", "", "true-positive | false-positive | benign | undetermined")
	rollback := fs.Bool("rollback", false, "undo the run's containment in reverse order (needs its own approval)")
	reason := fs.String("reason", "", "why (recorded)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return exitCode(2, errors.New("usage: trigger close RUN --disposition D [--rollback]"))
	}
	if !slices.Contains(workflows.Dispositions, *disposition) {
		return exitCode(2, fmt.Errorf("--disposition %q: want one of %s", *disposition, strings.Join(workflows.Dispositions, ", ")))
	}
	return sendStatement(ctx, env, *dev, approval.Statement{Run: pos[0], Subject: workflows.CloseSubject, Verb: approval.Close,
		Reason: *reason, Disposition: *disposition, Rollback: *rollback})
}

// sendStatement signs a statement as this operator and sends it to the run.
func sendStatement(ctx context.Context, env Env, dev bool, st approval.Statement) error {
	id, err := identity(env, dev)
	if err != nil {
		return exitCode(2, err)
	}
	st.Actor = approval.Actor{Kind: approval.ActorOperator, ID: id.Name}
	st.IssuedAt = time.Now().UTC()
	a, err := approval.Sign(id.Key, st)
	if err != nil {
		return err
	}
	sess, err := connect(ctx, env, dev)
	if err != nil {
		return err
	}
	defer sess.Close()
	ans, err := runs.Send(ctx, sess.client, a)
	if err != nil {
		return err
	}
	line := fmt.Sprintf("%s %s/%s as operator %s: %s", st.Verb, st.Run, st.Subject, id.Name, ans.Outcome)
	if ans.Why != "" {
		line += " (" + ans.Why + ")"
	}
	if ans.State != "" {
		line += ", approval now " + ans.State
	}
	fmt.Fprintln(env.Stdout, line)
	if ans.Outcome == workflows.OutcomeRefused {
		return exitCode(1, errors.New("refused by the run"))
	}
	return nil
}

// actionsCommand lists the action catalog.
func actionsCommand(env Env) error {
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACTION\tPARAMETERS\tUNDO\tSUMMARY")
	for _, a := range actions.All() {
		if a.Internal {
			continue
		}
		var params []string
		for _, p := range a.Params {
			n := p.Name
			if p.Required {
				n += "*"
			}
			params = append(params, n)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Name, strings.Join(params, ", "), orDash(a.Undo), a.Summary)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// keygenCommand makes an operator's key pair: the private key goes to a file only its owner can read, the
// roster entry (public key) to stdout for whoever keeps PARRY_OPERATORS.
func keygenCommand(env Env, args []string) error {
	fs := newFlagSet(env, "trigger keygen")
	out := fs.String("o", "", "private key file (default: PARRY_HOME/keys/NAME.key)")
	groups := fs.String("groups", "", "comma-separated approver groups for the roster entry (\"*\" for all)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] == "" {
		return exitCode(2, errors.New("usage: trigger keygen NAME [-o FILE] [--groups g1,g2]"))
	}
	name := pos[0]
	path := *out
	if path == "" {
		path = filepath.Join(home(env), "keys", name+".key")
	}
	_, priv, err := operators.GenerateKey()
	if err != nil {
		return err
	}
	if err := operators.WritePrivateKey(path, priv); err != nil {
		return err
	}
	var gs []string
	for _, g := range strings.Split(*groups, ",") {
		if g = strings.TrimSpace(g); g != "" {
			gs = append(gs, g)
		}
	}
	entry := operators.Identity{Name: name, Key: priv}.Operator(gs...)
	fmt.Fprintf(env.Stderr, "private key written to %s (keep it secret; set PARRY_OPERATOR=%s PARRY_OPERATOR_KEY=%s)\n", path, name, path)
	fmt.Fprintf(env.Stdout, "# add to the operator roster (PARRY_OPERATORS):\n  - name: %s\n    key: %s\n    groups: [%s]\n", entry.Name, entry.Key, strings.Join(gs, ", "))
	return nil
}
