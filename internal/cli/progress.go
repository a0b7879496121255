package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/parry-soc/parry/internal/runs"
	"github.com/parry-soc/parry/workflows"
)

// progress prints what changed in a run since the last look: phases starting and ending with their budget,
// steps changing state, approvals and their outcomes.
type progress struct {
	out     io.Writer
	lines   []line
	quiet   bool
	started time.Time
	phases  map[string]string // phase → last printed state
	steps   map[string]string // step → last printed state
	attempt int               // approval log entries printed
	escal   int
}

func (p *progress) notef(format string, args ...any) {
	if p.quiet {
		return
	}
	fmt.Fprintf(p.out, "           %s\n", fmt.Sprintf(format, args...))
}

func (p *progress) stamp(t time.Time) string {
	if p.started.IsZero() || t.IsZero() {
		return "[   --   ]"
	}
	d := t.Sub(p.started).Round(100 * time.Millisecond)
	return fmt.Sprintf("[%8s]", fmtDur(d))
}

// line is one progress line and when it happened, so lines from one look print in time order.
type line struct {
	at   time.Time
	text string
}

func (p *progress) printf(at time.Time, format string, args ...any) {
	p.lines = append(p.lines, line{at: at, text: p.stamp(at) + " " + fmt.Sprintf(format, args...)})
}

func (p *progress) update(res workflows.Result) {
	if p.quiet {
		return
	}
	defer p.flush()
	if p.phases == nil {
		p.phases, p.steps = map[string]string{}, map[string]string{}
		p.started = res.Started
	}
	for _, ph := range res.Phases {
		if !ph.Started.IsZero() && p.phases[ph.ID] == "" {
			p.phases[ph.ID] = "started"
			budget := "no budget"
			if ph.Budget > 0 {
				budget = fmt.Sprintf("budget %s, deadline %s", fmtDur(ph.Budget), clock(ph.Deadline))
			}
			p.printf(ph.Started, "phase %s (%s)", ph.ID, budget)
		}
		if ph.Breached && p.phases[ph.ID] != "breached" && p.phases[ph.ID] != "ended" {
			p.phases[ph.ID] = "breached"
			p.printf(ph.BreachedAt, "! phase %s breached its %s budget (on_breach: %s)", ph.ID, fmtDur(ph.Budget), ph.OnBreach)
		}
		if !ph.Ended.IsZero() && p.phases[ph.ID] != "ended" {
			p.phases[ph.ID] = "ended"
			p.printf(ph.Ended, "phase %s done in %s%s", ph.ID, fmtDur(ph.Used), budgetNote(ph))
		}
	}
	for _, s := range res.Steps {
		if s.State == p.steps[s.ID] || s.State == workflows.StepPending {
			continue
		}
		p.steps[s.ID] = s.State
		at := s.Ended
		if at.IsZero() {
			at = s.Started
		}
		if at.IsZero() {
			at = time.Now()
		}
		p.printf(at, "  %s %-22s %-26s %s", mark(s.State), s.ID, s.Action, stepNote(s, res))
	}
	for ; p.attempt < len(res.ApprovalLog); p.attempt++ {
		a := res.ApprovalLog[p.attempt]
		why := a.Why
		if why != "" {
			why = ": " + why
		}
		p.printf(a.At, "    %s by %s: %s%s", a.Approval, a.Actor, a.Verb, outcomeNote(a.Outcome, why))
	}
	for ; p.escal < len(res.Escalations); p.escal++ {
		e := res.Escalations[p.escal]
		p.printf(e.At, "  ! escalated: %s", e.Reason)
	}
}

func (p *progress) flush() {
	sort.SliceStable(p.lines, func(i, j int) bool { return p.lines[i].at.Before(p.lines[j].at) })
	for _, l := range p.lines {
		fmt.Fprintln(p.out, l.text)
	}
	p.lines = p.lines[:0]
}

func budgetNote(ph workflows.PhaseResult) string {
	if ph.Budget <= 0 {
		return ""
	}
	if ph.Breached {
		return fmt.Sprintf(" (budget %s, BREACHED)", fmtDur(ph.Budget))
	}
	return fmt.Sprintf(" (budget %s, %s left)", fmtDur(ph.Budget), fmtDur(ph.Budget-ph.Used))
}

func mark(state string) string {
	switch state {
	case workflows.StepSucceeded:
		return "✓"
	case workflows.StepFailed:
		return "✗"
	case workflows.StepSkipped, workflows.StepCanceled:
		return "–"
	case workflows.StepDenied:
		return "⊘"
	case workflows.StepWaitingApproval, workflows.StepWaitingTask:
		return "…"
	}
	return "→"
}

func stepNote(s workflows.StepResult, res workflows.Result) string {
	switch s.State {
	case workflows.StepWaitingApproval:
		for _, a := range res.Approvals {
			if a.ID == s.ID {
				return fmt.Sprintf("waiting for approval (%s, %d needed, until %s)", a.Group, a.Min, clock(a.Deadline))
			}
		}
		return "waiting for approval"
	case workflows.StepWaitingTask:
		return "waiting for a person to mark it done"
	case workflows.StepRunning:
		return "running"
	case workflows.StepSucceeded:
		note := s.Note
		for _, e := range s.Evidence {
			note += fmt.Sprintf(" [evidence %s sha256:%s…]", e.Locator, short(e.SHA256))
		}
		return strings.TrimSpace(note)
	}
	if s.Error != "" && !strings.Contains(s.Reason, s.Error) {
		return s.Reason + ": " + s.Error
	}
	return s.Reason
}

func outcomeNote(outcome, why string) string {
	if outcome == workflows.OutcomeGranted {
		return why
	}
	return " → " + outcome + why
}

// clock shows a deadline as a time of day, with the date when it is not today.
func clock(t time.Time) string {
	t = t.Local()
	if y, m, d := t.Date(); y == time.Now().Year() && m == time.Now().Month() && d == time.Now().Day() {
		return t.Format(time.TimeOnly)
	}
	return t.Format("Jan 2 15:04:05")
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func printPlan(out io.Writer, plan runs.Plan, st runs.Started) {
	a := plan.Alert
	fmt.Fprintf(out, "Alert %s/%s: %s\n  severity %s, host %s, user %s, techniques %s\n", a.Source, a.ID, a.Title, orNone(a.Severity), orNone(a.Host), orNone(a.User), orNone(strings.Join(a.Techniques, ", ")))
	how := plan.Route.Specificity
	if plan.Route.Technique != "" {
		how += " " + plan.Route.Technique
	}
	fmt.Fprintf(out, "Playbook %s v%d (%s), matched by %s", plan.Playbook.ID, plan.Playbook.Version, plan.Playbook.Name, how)
	if len(plan.Route.Others) > 0 {
		fmt.Fprintf(out, "; also matched: %s", strings.Join(plan.Route.Others, ", "))
	}
	fmt.Fprintln(out)
	if st.Duplicate {
		fmt.Fprintf(out, "Duplicate: this alert already has run %s; showing that run.\n", st.RunID)
		return
	}
	fmt.Fprintf(out, "Started run %s\n", st.RunID)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// printSummary prints the final summary of a run.
func printSummary(out io.Writer, res workflows.Result) {
	fmt.Fprintf(out, "\nRun %s: %s, disposition %s", res.RunID, strings.ToUpper(res.State), res.Disposition)
	if !res.Ended.IsZero() {
		fmt.Fprintf(out, ", %s", fmtDur(res.Ended.Sub(res.Started)))
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "  playbook %s v%d sha256:%s\n", res.Playbook.ID, res.Playbook.Version, short(res.Playbook.SHA256))
	fmt.Fprintln(out, "  phases:")
	for _, ph := range res.Phases {
		used := "not run"
		if !ph.Started.IsZero() {
			used = fmtDur(ph.Used)
		}
		budget := "-"
		if ph.Budget > 0 {
			budget = fmtDur(ph.Budget)
		}
		breach := ""
		if ph.Breached {
			breach = "  BREACHED"
		}
		fmt.Fprintf(out, "    %-14s budget %-8s used %-10s%s\n", ph.ID, budget, used, breach)
	}
	counts := map[string]int{}
	for _, s := range res.Steps {
		counts[s.State]++
	}
	fmt.Fprintf(out, "  steps: %d succeeded, %d skipped, %d denied, %d failed, %d canceled, %d pending\n",
		counts[workflows.StepSucceeded], counts[workflows.StepSkipped], counts[workflows.StepDenied], counts[workflows.StepFailed], counts[workflows.StepCanceled], counts[workflows.StepPending])
	evidence := 0
	for _, s := range res.Steps {
		evidence += len(s.Evidence)
	}
	fmt.Fprintf(out, "  evidence: %d item(s); approvals: %d decided, %d attempt(s) logged; escalations: %d\n", evidence, len(res.Approvals), len(res.ApprovalLog), len(res.Escalations))
	var held []string
	for _, c := range res.Contained {
		if !c.Released {
			held = append(held, c.Kind+" "+c.Target)
		}
	}
	if len(held) > 0 {
		fmt.Fprintf(out, "  still contained: %s\n", strings.Join(held, ", "))
	}
	if res.Failure != "" {
		fmt.Fprintf(out, "  failure: %s\n  containment is left in place; close it with: trigger close %s --disposition D [--rollback]\n", res.Failure, res.RunID)
	}
	if len(res.Rollback) > 0 {
		fmt.Fprintf(out, "  rollback: %d step(s)\n", len(res.Rollback))
	}
}
