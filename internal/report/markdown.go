package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/parry-soc/parry/internal/audit"
	"github.com/parry-soc/parry/workflows"
)

// Markdown writes the timeline as a Markdown document (GitHub-flavoured tables).
func Markdown(w io.Writer, t Timeline) error {
	m := &mdWriter{t: &t}
	m.render()
	_, err := io.WriteString(w, m.b.String())
	return err
}

type mdWriter struct {
	t *Timeline
	b strings.Builder
}

func (m *mdWriter) p(format string, args ...any) { fmt.Fprintf(&m.b, format, args...) }

// row writes one table row; cells are written as given (escape them first).
func (m *mdWriter) row(cells ...string) {
	m.b.WriteString("|")
	for _, c := range cells {
		if c == "" {
			c = " "
		}
		m.b.WriteString(" " + c + " |")
	}
	m.b.WriteString("\n")
}

func (m *mdWriter) header(cells ...string) {
	m.row(cells...)
	seps := make([]string, len(cells))
	for i := range seps {
		seps[i] = "---"
	}
	m.row(seps...)
}

func (m *mdWriter) render() {
	t, r := m.t, &m.t.Run
	m.p("# Incident response report: %s\n\n", md(r.RunID))
	for _, n := range t.Notes {
		m.p("> **Note:** %s\n>\n", md(n))
	}
	if len(t.Notes) > 0 {
		m.b.WriteString("\n")
	}

	m.p("## Summary\n\n")
	m.header("", "")
	m.row("Run", code(r.RunID))
	m.row("Outcome", outcomeLine(t))
	m.row("Started", t.when(r.Started))
	if !r.Ended.IsZero() {
		m.row("Ended", t.when(r.Ended)+" — took "+human(r.Ended.Sub(r.Started)))
	} else {
		m.row("Ended", "not yet: last seen "+t.when(t.End))
	}
	if r.Phase != "" {
		dl := "no budget"
		if !r.Deadline.IsZero() {
			dl = "deadline " + stamp(r.Deadline)
		}
		m.row("Running phase", md(r.Phase)+" ("+dl+")")
	}
	if r.Failure != "" {
		m.row("Failure", md(r.Failure))
	}
	m.row("Read from", md(t.Source))
	m.b.WriteString("\n")

	m.alert()
	m.playbook()
	m.phases()
	m.steps()
	m.approvals()
	m.tasks()
	m.containment()
	m.rollback()
	m.escalations()
	m.signals()
	m.disposition()
	m.source()
}

// outcomeLine is the run's state and disposition in a few words.
func outcomeLine(t *Timeline) string {
	r := &t.Run
	s := stateMark(r.State) + " " + md(r.State) + ", disposition **" + md(r.Disposition) + "**"
	if r.ClosedBy != "" {
		s += ", closed by " + md(actor(r.ClosedBy))
	}
	if breaches := t.breaches(); breaches > 0 {
		s += fmt.Sprintf(", ⚠ %d budget breach(es)", breaches)
	}
	return s
}

func (m *mdWriter) alert() {
	a := m.t.Run.Alert
	m.p("## Alert\n\n")
	m.header("", "")
	m.row("Alert", md(a.Source)+" / "+code(a.ID))
	m.row("Title", md(a.Title))
	m.row("Severity", md(a.Severity))
	m.row("Host", md(a.Host))
	m.row("User", md(a.User))
	m.row("Techniques", md(strings.Join(a.Techniques, ", ")))
	if a.Time != "" {
		m.row("Fired", md(a.Time))
	}
	if a.Rule != "" {
		m.row("Rule", md(a.Rule))
	}
	m.b.WriteString("\n")
}

func (m *mdWriter) playbook() {
	r := &m.t.Run
	p := r.Playbook
	m.p("## Playbook\n\n")
	m.header("", "")
	m.row("Playbook", fmt.Sprintf("%s v%d — %s", code(p.ID), p.Version, md(p.Name)))
	m.row("SHA-256", code(p.SHA256))
	if p.Source != "" {
		m.row("Source", code(p.Source))
	}
	if route := routeLine(r.Route); route != "" {
		m.row("Routed", md(route))
	}
	m.b.WriteString("\n")
}

func routeLine(r workflows.RouteInfo) string {
	s := r.Specificity
	if r.Technique != "" {
		s += " " + r.Technique
	}
	if len(r.Others) > 0 {
		s += "; other matches: " + strings.Join(r.Others, ", ")
	}
	return strings.TrimSpace(s)
}

// budgetLine says how a phase did against its budget.
func budgetLine(t *Timeline, p Phase) string {
	switch {
	case p.Started.IsZero():
		return "not started"
	case p.Breached:
		over := ""
		if !p.Ended.IsZero() && p.Budget > 0 {
			over = ", " + human(p.Used-p.Budget) + " over"
		}
		return "⚠ BREACHED at " + t.when(p.BreachedAt) + " (on_breach: " + p.OnBreach + over + ")"
	case p.Budget == 0:
		return "no budget"
	case p.Ended.IsZero():
		return "running, deadline " + stamp(p.Deadline)
	}
	return "✓ within budget (" + human(p.Budget-p.Used) + " left)"
}

func usedLine(p Phase) string {
	if p.Started.IsZero() || p.Ended.IsZero() {
		return ""
	}
	if p.Budget > 0 {
		return fmt.Sprintf("%s (%d%%)", human(p.Used), int(100*p.Used/p.Budget))
	}
	return human(p.Used)
}

func budget(p Phase) string {
	if p.Budget == 0 {
		return "none"
	}
	return human(p.Budget)
}

func (m *mdWriter) phases() {
	t := m.t
	m.p("## Phases\n\n")
	m.header("Phase", "Budget", "Started", "Ended", "Used", "Budget outcome")
	for _, p := range t.Phases {
		m.row(md(p.ID), budget(p), t.when(p.Started), t.when(p.Ended), usedLine(p), budgetLine(t, p))
	}
	m.b.WriteString("\n")
}

func (m *mdWriter) stepTable(steps []Step, withPhase bool) {
	t := m.t
	cols := []string{"Step", "Phase", "Action", "Outcome", "Started", "Ended", "Took", "Attempts", "Notes"}
	if !withPhase {
		cols = append(cols[:1], cols[2:]...)
	}
	m.header(cols...)
	for _, s := range steps {
		name := md(s.ID)
		if s.Group > 0 {
			name += fmt.Sprintf(" (parallel %d)", s.Group)
		}
		cells := []string{name, md(s.Phase), code(s.Action), stateMark(s.State) + " " + md(s.State),
			t.when(s.Started), t.when(s.Ended), took(s.Started, s.Ended), attemptsLine(s), md(stepNote(s))}
		if !withPhase {
			cells = append(cells[:1], cells[2:]...)
		}
		m.row(cells...)
	}
	m.b.WriteString("\n")
}

// attemptsLine is how many times a step's activity ran: "1", "3 (2 retries)".
func attemptsLine(s Step) string {
	if s.Attempts == 0 {
		return ""
	}
	if r := s.Activity.Retries(); r > 0 {
		return fmt.Sprintf("%d (%d retries)", s.Attempts, r)
	}
	return fmt.Sprint(s.Attempts)
}

func (m *mdWriter) steps() {
	m.p("## Steps\n\n")
	m.stepTable(m.t.Steps, true)
	m.details(m.t.Steps)
}

// details lists, per step, its approval wait, its failures, its output and its evidence.
func (m *mdWriter) details(steps []Step) {
	t := m.t
	var b strings.Builder
	for _, s := range steps {
		var lines []string
		if a := s.Approval; a != nil {
			lines = append(lines, "approval: "+approvalLine(t, a))
		}
		if s.Task != nil {
			task := "manual task opened " + t.when(s.Task.Opened)
			if !s.Task.Done.IsZero() {
				task += ", done " + t.when(s.Task.Done) + " by " + md(actor(s.Task.DoneBy))
			}
			lines = append(lines, task)
		}
		for _, f := range failures(s) {
			lines = append(lines, "earlier failure: "+md(oneLine(f)))
		}
		if s.Activity != nil {
			if s.Activity.RetryState != "" {
				lines = append(lines, "not retried: "+md(s.Activity.RetryState))
			}
		}
		if len(s.With) > 0 {
			lines = append(lines, "with: "+kvLine(s.With))
		}
		if len(s.Output) > 0 {
			lines = append(lines, "output: "+kvLine(s.Output))
		}
		for _, e := range s.Evidence {
			lines = append(lines, "evidence ("+md(evidenceLine(e))+"): "+code(e.Locator)+" SHA-256 "+code(e.SHA256))
		}
		if s.Contained != nil {
			lines = append(lines, "contained: "+md(s.Contained.Kind+" "+s.Contained.Target)+" — "+bold(containedState(*s.Contained, s.RolledBack)))
		}
		if len(lines) == 0 {
			continue
		}
		head := "- **" + md(s.ID) + "** " + code(s.Action)
		if s.Provider != "" {
			head += " via " + md(s.Provider)
		}
		b.WriteString(head + "\n")
		for _, l := range lines {
			b.WriteString("  - " + l + "\n")
		}
	}
	if b.Len() > 0 {
		m.p("### Step details\n\n%s\n", b.String())
	}
}

func kvLine(v map[string]any) string {
	kvs, more := summarise(v)
	parts := make([]string, 0, len(kvs)+1)
	for _, kv := range kvs {
		parts = append(parts, md(kv.Key)+" = "+md(kv.Value))
	}
	if more > 0 {
		parts = append(parts, fmt.Sprintf("and %d more", more))
	}
	return strings.Join(parts, "; ")
}

// approvalLine says how an approval went: opened, deadline, decision, by whom, after how long.
func approvalLine(t *Timeline, a *Approval) string {
	s := fmt.Sprintf("%s %s (group %s, min %d), opened %s", stateMark(a.State), md(a.State), md(a.Group), a.Min, t.when(a.Opened))
	if !a.Decided.IsZero() {
		s += ", decided " + t.when(a.Decided) + " after " + human(a.Decided.Sub(a.Opened))
	}
	if a.DecidedBy != "" {
		s += " by " + md(actor(a.DecidedBy))
	}
	if a.State == workflows.ApprovalTimedOut {
		s += " (on_timeout: " + md(a.OnTimeout) + ")"
	}
	return s
}

func containedState(c workflows.Contained, rolledBack bool) string {
	switch {
	case rolledBack:
		return "released by rollback"
	case c.Released:
		return "released"
	}
	return "still contained"
}

func (m *mdWriter) approvals() {
	t := m.t
	m.p("## Approvals\n\n")
	if len(t.Approvals) == 0 {
		m.p("No step needed an approval.\n\n")
	} else {
		m.header("Approval", "Step", "Group (min)", "Opened", "Deadline", "Outcome", "Decided", "By")
		for _, a := range t.Approvals {
			m.row(code(a.ID), md(a.Step), fmt.Sprintf("%s (%d)", md(a.Group), a.Min), t.when(a.Opened), stamp(a.Deadline),
				stateMark(a.State)+" "+md(a.State), t.when(a.Decided), md(actor(a.DecidedBy)))
		}
		m.b.WriteString("\n")
	}
	if len(t.Attempts) == 0 {
		return
	}
	m.p("### Attempts\n\nEvery approval, task and close request the run recorded, counted or not.\n\n")
	withHistory := t.attemptsAccepted()
	cols := []string{"#", "When", "Subject", "Who", "Decision", "Reason", "Outcome", "Counted"}
	if withHistory {
		cols = append(cols, "Update accepted")
	}
	m.header(cols...)
	for i, a := range t.Attempts {
		cells := []string{fmt.Sprint(i + 1), t.when(a.At), code(a.Approval), md(actor(a.Actor)), md(a.Verb), md(a.Reason),
			stateMark(a.Outcome) + " " + md(a.Outcome), md(countedText(a))}
		if withHistory {
			cells = append(cells, stamp(a.Accepted))
		}
		m.row(cells...)
	}
	m.b.WriteString("\n")
}

func (m *mdWriter) tasks() {
	t := m.t
	if len(t.Run.Tasks) == 0 {
		return
	}
	m.p("## Manual tasks\n\n")
	m.header("Task", "Text", "Opened", "Done", "By")
	for _, k := range t.Run.Tasks {
		m.row(md(k.Step), md(truncate(oneLine(k.Text), 120)), t.when(k.Opened), t.when(k.Done), md(actor(k.DoneBy)))
	}
	m.b.WriteString("\n")
}

func (m *mdWriter) containment() {
	t := m.t
	m.p("## Containment\n\n")
	if len(t.Run.Contained) == 0 {
		m.p("Nothing was contained.\n\n")
		return
	}
	m.header("Kind", "Target", "Step", "Undo", "Now")
	for _, c := range t.Run.Contained {
		m.row(md(c.Kind), md(c.Target), md(c.Step), code(c.Undo), bold(containedState(c, t.rolledBack(c.Step))))
	}
	m.b.WriteString("\n")
}

func (m *mdWriter) rollback() {
	t := m.t
	m.p("## Rollback\n\n")
	if len(t.Rollback) == 0 {
		if a := t.approval(workflows.RollbackID); a != nil {
			m.p("A rollback was requested; its approval is %s. Nothing was undone.\n\n", md(a.State))
		} else {
			m.p("No rollback was requested.\n\n")
		}
		return
	}
	if a := t.approval(workflows.RollbackID); a != nil {
		m.p("Approval: %s\n\n", approvalLine(t, a))
	}
	m.stepTable(t.Rollback, false)
	m.details(t.Rollback)
}

func (m *mdWriter) escalations() {
	t := m.t
	m.p("## Escalations\n\n")
	if len(t.Run.Escalations) == 0 {
		m.p("None.\n\n")
		return
	}
	m.header("When", "Phase / step", "Reason")
	for _, e := range t.Run.Escalations {
		m.row(t.when(e.At), md(strings.Trim(e.Phase+" / "+e.Step, " /")), md(e.Reason))
	}
	m.b.WriteString("\n")
}

func (m *mdWriter) signals() {
	t := m.t
	if len(t.Signals) == 0 {
		return
	}
	m.p("## Signals\n\n")
	m.header("When", "Signal", "From", "Input")
	for _, s := range t.Signals {
		m.row(t.when(s.At), code(s.Name), md(s.Identity), md(s.Input))
	}
	m.b.WriteString("\n")
}

func (m *mdWriter) disposition() {
	t, r := m.t, &m.t.Run
	m.p("## Disposition\n\n")
	m.p("**%s** — run %s.", md(r.Disposition), md(r.State))
	if c := t.closeAttempt(); c != nil {
		m.p(" Closed by %s at %s", md(actor(c.Actor)), t.when(c.At))
		if c.Reason != "" {
			m.p(": “%s”", md(c.Reason))
		}
		m.p(" (%s).", md(c.Why))
	}
	m.b.WriteString("\n\n")
}

func (m *mdWriter) source() {
	t := m.t
	m.p("## Source\n\n")
	m.p("- Read from: %s\n", md(t.Source))
	if e := t.Execution; e.WorkflowID != "" {
		m.p("- Temporal: workflow %s, run %s", code(e.WorkflowID), code(e.RunID))
		if e.Namespace != "" {
			m.p(", namespace %s", code(e.Namespace))
		}
		m.p(", task queue %s, %d events, %s", code(e.TaskQueue), e.Events, md(e.Status))
		if !e.Closed.IsZero() {
			m.p(" at %s", stamp(e.Closed))
		}
		m.b.WriteString("\n")
	}
	if b := t.Bundle; b != nil {
		mf := b.Manifest
		m.p("- Bundle: %s (%s)\n", code(b.Dir), md(mf.Format))
		if mf.HistorySHA256 != "" {
			m.p("  - history SHA-256 %s: **%s** the history read\n", code(mf.HistorySHA256), md(b.HistoryHash))
		}
		if mf.Playbook.SHA256 != "" {
			m.p("  - manifest playbook: %s v%d, SHA-256 %s\n", code(mf.Playbook.ID), mf.Playbook.Version, code(mf.Playbook.SHA256))
		}
		if !mf.ExportedAt.IsZero() {
			m.p("  - exported %s by %s (Parry %s), run status then: %s\n", stamp(mf.ExportedAt), md(mf.ExportedBy), md(mf.ParryVersion), md(mf.Status))
		}
		if len(mf.PayloadKeyIDs) > 0 {
			m.p("  - payloads %s, payload keys %s\n", md(mf.Payloads), md(strings.Join(mf.PayloadKeyIDs, ", ")))
		}
		m.p("  - %s\n", md(signatureLine(mf)))
	}
	m.b.WriteString("\n")
}

// signatureLine says who signed a bundle's manifest; verifying it is trigger replay's work.
func signatureLine(m audit.Manifest) string {
	if m.Signature == "" {
		return "manifest not signed"
	}
	return "manifest signed with key " + m.SigningKeyID + " (not verified by this report: trigger replay BUNDLE --pubkey KEY verifies it)"
}

func (t *Timeline) approval(id string) *Approval {
	for i := range t.Approvals {
		if t.Approvals[i].ID == id {
			return &t.Approvals[i]
		}
	}
	return nil
}

// closeAttempt is the close request that counted, if any.
func (t *Timeline) closeAttempt() *Attempt {
	for i := range t.Attempts {
		if a := &t.Attempts[i]; a.Kind() == "close" && a.Outcome == workflows.OutcomeGranted {
			return a
		}
	}
	return nil
}

// bold emphasises what still needs a person: containment still in place.
func bold(state string) string {
	if state == "still contained" {
		return "**" + state + "**"
	}
	return state
}

// md escapes text from alerts, vendors and people for Markdown: on one line, with every character that
// could start markup (emphasis, links, HTML, code, table cells) backslash-escaped.
func md(s string) string {
	s = oneLine(s)
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\', '`', '*', '_', '[', ']', '<', '>', '|', '&', '~':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// code is an inline code span of s, safe inside a table: fenced with more backticks than s holds in a row,
// pipes escaped.
func code(s string) string {
	if s == "" {
		return ""
	}
	s = strings.ReplaceAll(oneLine(s), "|", `\|`)
	fence, run := "`", 0
	for _, r := range s {
		if r == '`' {
			run++
			if run >= len(fence) {
				fence += "`"
			}
		} else {
			run = 0
		}
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}
