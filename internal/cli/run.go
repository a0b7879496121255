package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/parry-soc/parry/approval"
	"github.com/parry-soc/parry/internal/audit"
	"github.com/parry-soc/parry/internal/operators"
	"github.com/parry-soc/parry/internal/runs"
	"github.com/parry-soc/parry/playbooks"
	"github.com/parry-soc/parry/workflows"
)

type runOptions struct {
	playbook    string
	source      string
	dev         bool
	wait        bool
	hold        bool
	autoApprove bool
	json        bool
	poll        time.Duration
}

func runCommand(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "trigger run")
	var o runOptions
	fs.StringVar(&o.playbook, "playbook", "", "run this playbook (library id or YAML file) instead of routing")
	fs.StringVar(&o.source, "source", "", "the alert's format (parry, defender, …); default: detect from its shape")
	fs.BoolVar(&o.dev, "dev", false, "use the embedded dev server under PARRY_HOME with an in-process worker (implies --wait)")
	fs.BoolVar(&o.wait, "wait", false, "show progress until the run ends, then its summary")
	fs.BoolVar(&o.hold, "hold", false, "with --dev: keep the server and Web UI up after the run until interrupted")
	fs.BoolVar(&o.autoApprove, "auto-approve", false, "with --dev: approve every approval and manual task as the dev operator")
	fs.BoolVar(&o.json, "json", false, "print the result as one JSON document")
	fs.DurationVar(&o.poll, "poll", 200*time.Millisecond, "how often to refresh progress")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return exitCode(2, errors.New("usage: trigger run ALERT.json [flags]"))
	}
	if o.autoApprove && !o.dev {
		return exitCode(2, errors.New("--auto-approve is for the dev default only: add --dev, or approve with trigger approve"))
	}
	if o.hold && !o.dev {
		return exitCode(2, errors.New("--hold needs --dev"))
	}
	if o.dev {
		o.wait = true
	}

	plan, err := planRun(env, pos[0], o)
	if err != nil {
		return err
	}
	keys, err := trustedKeys(env, o.dev)
	if err != nil {
		return err
	}
	sess, err := connect(ctx, env, o.dev)
	if err != nil {
		return err
	}
	defer sess.Close()
	if o.dev {
		if err := sess.startWorker(env, true); err != nil {
			return err
		}
	}
	out := env.Stdout
	if o.json {
		out = env.Stderr
	}
	if sess.server != nil && !o.json {
		fmt.Fprintf(out, "Temporal dev server %s (namespace %s), Web UI %s\n", sess.server.Address(), sess.namespace, sess.server.UIURL())
	}

	starter, err := newStarter(env, sess.client, keys)
	if err != nil {
		return err
	}
	started, err := starter.Start(ctx, plan)
	if err != nil {
		return err
	}
	if !o.json {
		printPlan(out, plan, started)
	}
	if !o.wait {
		if o.json {
			return writeJSON(env.Stdout, map[string]any{"run_id": started.RunID, "playbook": started.Playbook, "duplicate": started.Duplicate})
		}
		return nil
	}

	var approver *operators.Identity
	if o.autoApprove {
		id, err := operators.Dev(home(env))
		if err != nil {
			return err
		}
		approver = &id
	}
	p := &progress{out: out, quiet: o.json}
	res, err := watch(ctx, env, sess.client, started.RunID, o, approver, p)
	if err != nil {
		return err
	}
	if o.json {
		if err := writeJSON(env.Stdout, res); err != nil {
			return err
		}
	} else {
		printSummary(out, res)
	}
	if o.dev && res.State != workflows.StateFailed {
		exportDevRun(ctx, env, sess, started.RunID, out)
	}
	if o.hold && sess.server != nil {
		fmt.Fprintf(out, "\nHolding the dev server: Web UI %s/namespaces/%s/workflows/%s — Ctrl-C to stop.\n", sess.server.UIURL(), sess.namespace, started.RunID)
		hold(ctx)
	}
	if res.State == workflows.StateFailed {
		return exitCode(1, fmt.Errorf("run %s failed: %s", res.RunID, res.Failure))
	}
	return nil
}

// exportDevRun signs the closed run into the dev audit store (PARRY_HOME/audit, or PARRY_AUDIT_DIR) as the
// worker's automatic exporter would, had this one-shot process lived long enough for its next sweep. A
// failure is reported, not fatal: the run itself succeeded, and `trigger history export` can do it later.
func exportDevRun(ctx context.Context, env Env, sess *session, runID string, out io.Writer) {
	dir := auditDir(env, true)
	if dir == "off" {
		return
	}
	key, err := auditKey(env, true)
	if err == nil {
		var x audit.Exported
		e := &audit.Exporter{Client: sess.client, Namespace: sess.namespace, Dir: dir, Key: key, Codec: sess.codec, By: "trigger run --dev"}
		if x, err = e.Export(ctx, runID, ""); err == nil {
			fmt.Fprintf(out, "  audit bundle: %s\n    verify: trigger replay --dev %[1]s\n    read:   trigger report %[1]s\n", x.Dir)
			return
		}
	}
	fmt.Fprintf(out, "  audit bundle not written (%v): trigger history export %s -o DIR\n", err, runID)
}

func hold(ctx context.Context) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
}

// newStarter is how every command starts runs: pinning keys, and opening incidents with the window
// (PARRY_INCIDENT_WINDOW, default 1h) and chain-risk threshold (PARRY_INCIDENT_THRESHOLD, default 12) set
// here. Both are read when an incident starts: a running incident keeps the settings it started with.
func newStarter(env Env, c client.Client, keys []approval.Key) (*runs.Starter, error) {
	s := &runs.Starter{Client: c, Keys: keys}
	if v := strings.TrimSpace(env.Getenv("PARRY_INCIDENT_WINDOW")); v != "" {
		d, err := playbooks.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, exitCode(2, fmt.Errorf("PARRY_INCIDENT_WINDOW=%q: want a positive duration such as 1h or 90m", v))
		}
		s.IncidentWindow = d
	}
	if v := strings.TrimSpace(env.Getenv("PARRY_INCIDENT_THRESHOLD")); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, exitCode(2, fmt.Errorf("PARRY_INCIDENT_THRESHOLD=%q: want a positive number (the chain risk that escalates; default %g)", v, workflows.DefaultIncidentThreshold))
		}
		s.IncidentThreshold = f
	}
	return s, nil
}

// planRun reads and routes the alert, refusing it (exit 2) when it cannot start a run.
func planRun(env Env, path string, o runOptions) (runs.Plan, error) {
	payload, err := os.ReadFile(path)
	if err != nil {
		return runs.Plan{}, exitCode(2, fmt.Errorf("read alert: %w", err))
	}
	library, err := loadLibrary(env)
	if err != nil {
		return runs.Plan{}, err
	}
	var explicit *playbooks.Playbook
	if o.playbook != "" {
		explicit, err = findPlaybook(library, o.playbook)
		if err != nil {
			return runs.Plan{}, exitCode(2, err)
		}
	}
	plan, err := runs.Prepare(payload, o.source, library, explicit)
	if err != nil {
		return runs.Plan{}, exitCode(2, fmt.Errorf("%s: %w", path, err))
	}
	return plan, nil
}

// loadLibrary is the embedded library plus the playbooks in PARRY_PLAYBOOKS, which win on equal ids.
func loadLibrary(env Env) ([]*playbooks.Playbook, error) {
	lib, err := playbooks.Library()
	if err != nil {
		return nil, fmt.Errorf("load playbook library: %w", err)
	}
	dir := env.Getenv("PARRY_PLAYBOOKS")
	if dir == "" {
		return lib, nil
	}
	extra, err := playbooks.LoadFiles(dir)
	if err != nil {
		return nil, exitCode(2, fmt.Errorf("load PARRY_PLAYBOOKS: %w", err))
	}
	byID := map[string]bool{}
	for _, p := range extra {
		byID[p.ID] = true
	}
	for _, p := range lib {
		if !byID[p.ID] {
			extra = append(extra, p)
		}
	}
	return extra, nil
}

func findPlaybook(library []*playbooks.Playbook, ref string) (*playbooks.Playbook, error) {
	if strings.HasSuffix(ref, ".yaml") || strings.HasSuffix(ref, ".yml") || strings.Contains(ref, "/") {
		b, err := os.ReadFile(ref)
		if err != nil {
			return nil, fmt.Errorf("read playbook: %w", err)
		}
		return playbooks.Load(ref, b)
	}
	var ids []string
	for _, p := range library {
		if p.ID == ref {
			return p, nil
		}
		ids = append(ids, p.ID)
	}
	return nil, fmt.Errorf("no playbook %q in the library (have: %s)", ref, strings.Join(ids, ", "))
}

func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// watch follows a run until it ends (or fails and waits for a person), answering approvals and manual
// tasks as the dev operator when asked to, or by prompting on a terminal.
func watch(ctx context.Context, env Env, c client.Client, runID string, o runOptions, approver *operators.Identity, p *progress) (workflows.Result, error) {
	answered := map[string]bool{}
	var prompter *bufio.Reader
	if approver == nil && env.Interactive && !o.json {
		prompter = bufio.NewReader(env.Stdin)
	}
	failures := 0
	for {
		res, err := runs.Status(ctx, c, runID)
		if err != nil {
			// The run may have just ended (its result is in the history), or the query timed out because
			// every worker is busy: only a closed run is waited for; an open one is asked again.
			final, closed, ferr := runs.Final(ctx, c, runID)
			if ferr != nil {
				return res, ferr
			}
			if closed {
				p.update(final)
				return final, nil
			}
			if failures++; failures > 20 || ctx.Err() != nil {
				return res, err
			}
			p.notef("status of %s not available yet (%v); asking again", runID, err)
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-time.After(time.Second):
			}
			continue
		}
		failures = 0
		p.update(res)
		if res.State != workflows.StateRunning {
			if res.State == workflows.StateFailed {
				return res, nil // held open for a person to close: containment stays in place
			}
			var final workflows.Result
			if err := c.GetWorkflow(ctx, runID, "").Get(ctx, &final); err != nil {
				return res, fmt.Errorf("read result of run %s: %w", runID, err)
			}
			p.update(final)
			return final, nil
		}
		for _, a := range res.Approvals {
			if a.State != workflows.ApprovalOpen || answered[a.ID] {
				continue
			}
			switch {
			case approver != nil:
				answered[a.ID] = true
				if err := sign(ctx, c, *approver, runID, a.ID, approval.Approve, "auto-approved in the dev default (--auto-approve)", p); err != nil {
					return res, err
				}
			case prompter != nil:
				answered[a.ID] = true
				verb, reason := ask(env, prompter, a)
				id, err := identity(env, o.dev)
				if err != nil {
					return res, err
				}
				if err := sign(ctx, c, id, runID, a.ID, verb, reason, p); err != nil {
					return res, err
				}
			default:
				answered[a.ID] = true
				p.notef("waiting for approval %s: trigger approve %s %s", a.ID, runID, a.ID)
			}
		}
		for _, t := range res.Tasks {
			if !t.Done.IsZero() || answered["task:"+t.Step] {
				continue
			}
			answered["task:"+t.Step] = true
			if approver == nil {
				p.notef("waiting for manual task %s (%s): trigger done %s %s", t.Step, t.Text, runID, t.Step)
				continue
			}
			st := approval.Statement{Run: runID, Subject: t.Step, Verb: approval.Done, Actor: approval.Actor{Kind: approval.ActorOperator, ID: approver.Name},
				Reason: "auto-completed in the dev default (--auto-approve)", IssuedAt: time.Now().UTC()}
			a, err := approval.Sign(approver.Key, st)
			if err != nil {
				return res, err
			}
			if _, err := runs.Send(ctx, c, a); err != nil {
				return res, err
			}
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(o.poll):
		}
	}
}

func ask(env Env, r *bufio.Reader, a workflows.ApprovalState) (verb, reason string) {
	fmt.Fprintf(env.Stdout, "\nApproval %s (group %s, %d needed, until %s)\n  %s\nApprove? [y/N, or a reason to deny] ", a.ID, a.Group, a.Min, clock(a.Deadline), a.What)
	line, _ := r.ReadString('\n')
	line = strings.TrimSpace(line)
	switch strings.ToLower(line) {
	case "y", "yes":
		return approval.Approve, "approved at the terminal"
	case "", "n", "no":
		return approval.Deny, "denied at the terminal"
	}
	return approval.Deny, line
}

func sign(ctx context.Context, c client.Client, id operators.Identity, runID, approvalID, verb, reason string, p *progress) error {
	st := approval.Statement{Run: runID, Subject: approvalID, Verb: verb, Actor: approval.Actor{Kind: approval.ActorOperator, ID: id.Name},
		Reason: reason, IssuedAt: time.Now().UTC()}
	a, err := approval.Sign(id.Key, st)
	if err != nil {
		return err
	}
	ans, err := runs.Send(ctx, c, a)
	if err != nil {
		return err
	}
	if ans.Outcome == workflows.OutcomeRefused {
		p.notef("%s %s as operator %s was refused: %s", verb, approvalID, id.Name, ans.Why)
	}
	return nil
}
