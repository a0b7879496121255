package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parry-soc/parry/actions"
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

func statusCommand(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "trigger status")
	dev := fs.Bool("dev", false, "talk to the embedded dev server")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return exitCode(2, errors.New("usage: trigger status RUN [--json]"))
	}
	sess, err := connect(ctx, env, *dev)
	if err != nil {
		return err
	}
	defer sess.Close()
	res, err := runs.Status(ctx, sess.client, pos[0])
	if err != nil {
		var final workflows.Result
		if gerr := sess.client.GetWorkflow(ctx, pos[0], "").Get(ctx, &final); gerr != nil {
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
