package slackapp

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/parry-soc/parry/attack"
	"github.com/parry-soc/parry/notify"
)

// message is one Slack message: the text (what notifications, screen readers and clients without Block
// Kit show) and the blocks.
type message struct {
	Text   string
	Blocks []slack.Block
}

// Block ids of the messages' action blocks, so that an interaction names which message it came from.
const (
	blockRunActions      = "parry.run"
	blockApprovalActions = "parry.approval"
	blockTaskActions     = "parry.task"
)

// Approval outcomes, states and playbook words as events carry them (workflows.ApprovalApproved,
// playbooks.BreachFail, …), repeated rather than imported so that rendering depends on the notify
// package alone; TestOutcomeNamesMatchTheWorkflow keeps them equal.
const (
	outcomeApproved = "approved"
	outcomeDenied   = "denied"
	outcomeTimedOut = "timed-out"
	outcomeGranted  = "granted"
	outcomeCounted  = "counted"
	stateFailed     = "failed"
	stateDenied     = "denied"
	onBreachFail    = "fail"
	onBreachGoOn    = "continue"
	onTimeoutGoOn   = "approve"
)

// renderer turns events into messages. It is pure: the same event renders the same message, on any
// worker, which is what lets the parent message be re-rendered from each event instead of remembered.
type renderer struct {
	catalog *attack.Catalog
}

// note is a thread reply: an icon, a line, and details below it.
func replyNote(icon, line string, details ...string) message {
	body := line
	for _, d := range details {
		if d != "" {
			body += "\n" + d
		}
	}
	return message{Text: body, Blocks: []slack.Block{sectionBlock(icon + " " + body)}}
}

// alertName is how messages name an alert without a title: source/id.
func alertName(run notify.Run) string { return run.Source + "/" + run.AlertID }

// parent renders the run's parent message: what the alert is, what the playbook does, and where the run
// stands after event e.
func (r renderer) parent(e notify.Event) (message, error) {
	run := e.Run
	title := run.Title
	if title == "" {
		title = "Alert " + alertName(run)
	}
	sevIcon, sev := severityOf(run.Severity)
	playbook := fmt.Sprintf("%s v%d", shown(orDash(run.Name), maxTitle), run.Version)
	if run.Playbook != "" {
		playbook += " (" + inlineCode(run.Playbook) + ")"
	}
	blocks := []slack.Block{
		sectionBlock(fmt.Sprintf("%s *%s*\n*%s* severity · alert %s", sevIcon, shown(title, maxTitle), sev, inlineCode(run.Source+"/"+run.AlertID)),
			"*Host*\n"+shown(orDash(run.Host), maxTitle),
			"*User*\n"+shown(orDash(run.User), maxTitle),
			"*Playbook*\n"+playbook,
			"*Run*\n"+inlineCode(run.ID)),
	}
	if techs := r.techniques(run.Techniques); techs != "" {
		blocks = append(blocks, sectionBlock("*ATT&amp;CK:* "+techs))
	}
	if len(run.Budgets) > 0 {
		var parts []string
		for _, b := range run.Budgets {
			parts = append(parts, esc(b.Phase)+" "+budgetText(b.Budget))
		}
		blocks = append(blocks, contextBlock("Phase budgets: "+strings.Join(parts, " · ")))
	}
	icon, status, open := parentStatus(e)
	blocks = append(blocks, sectionBlock(icon+" "+status))
	if open {
		value, err := ButtonValue{Run: run.ID}.Encode()
		if err != nil {
			return message{}, err
		}
		closeAs := slack.NewButtonBlockElement(ActionClose, value, plainText("Close as…"))
		blocks = append(blocks, slack.NewActionBlock(blockRunActions, closeAs))
	}
	txt := fmt.Sprintf("[%s] %s on %s: %s — %s", sev, shown(title, maxTitle), shown(orDash(run.Host), maxTitle), playbook, status)
	return message{Text: txt, Blocks: blocks}, nil
}

// parentStatus is the parent message's last line after event e, and whether the run is still open (a
// failed run is: it waits for a person to close it).
func parentStatus(e notify.Event) (icon, status string, open bool) {
	switch e.Kind {
	case notify.RunStarted:
		return ":arrow_forward:", "*Running* · starting", true
	case notify.PhaseStarted:
		s := fmt.Sprintf("*Running* · phase *%s* · budget %s", esc(e.Phase), budgetText(e.Budget))
		if !e.Deadline.IsZero() {
			s += " · due " + slackDate(e.Deadline)
		}
		return ":arrow_forward:", s, true
	case notify.PhaseFinished:
		return ":arrow_forward:", fmt.Sprintf("*Running* · phase *%s* finished: %s", esc(e.Phase), usedLine(e)), true
	case notify.BudgetBreached:
		return ":warning:", fmt.Sprintf("*Running, over budget* · phase *%s* passed its %s budget (on_breach: %s)", esc(e.Phase), budgetText(e.Budget), esc(orDash(e.Status))), true
	case notify.RunFailed:
		s := "*Failed* · " + shown(orDash(cmp.Or(e.Error, e.Message)), maxDetail)
		if e.Error != "" && e.Message != "" {
			s += "\n" + shown(e.Message, maxDetail)
		}
		return ":x:", s + "\nContainment stays in place until someone closes the run.", true
	case notify.RunCompleted:
		return ":white_check_mark:", "*Completed* · disposition *" + esc(orDash(e.Disposition)) + "*" + summaryLine(e), false
	case notify.RunClosed:
		s := "*Closed* as *" + esc(orDash(e.Disposition)) + "*"
		if e.Status == stateFailed {
			s += " after failing"
		}
		return ":lock:", s + summaryLine(e), false
	}
	return ":arrow_forward:", "*Running*", true
}

// reply renders the thread reply of an event; false means the event is not worth one.
func (r renderer) reply(e notify.Event) (message, bool) {
	switch e.Kind {
	case notify.StepStarted:
		// Noise: the step's outcome follows within seconds, and the parent shows the phase.
		return message{}, false
	case notify.PhaseStarted:
		line := fmt.Sprintf("Phase *%s* started · budget %s", esc(e.Phase), budgetText(e.Budget))
		if !e.Deadline.IsZero() {
			line += " · due " + slackDate(e.Deadline)
		}
		return replyNote(":arrow_forward:", line), true
	case notify.PhaseFinished:
		icon := ":stopwatch:"
		switch e.Status {
		case "breached":
			icon = ":warning:"
		case "stopped":
			icon = ":octagonal_sign:"
		}
		return replyNote(icon, fmt.Sprintf("Phase *%s* finished · %s", esc(e.Phase), usedLine(e))), true
	case notify.BudgetBreached:
		then := "Escalating to the on-call group."
		switch e.Status {
		case onBreachFail:
			then = "The run stops; containment stays in place."
		case onBreachGoOn:
			then = "Recorded; the run continues."
		}
		return replyNote(":warning:", fmt.Sprintf("Phase *%s* is over its %s budget · on_breach: *%s*", esc(e.Phase), budgetText(e.Budget), esc(orDash(e.Status))), then), true
	case notify.StepFinished:
		return replyNote(":white_check_mark:", fmt.Sprintf("Step %s succeeded · %s", inlineCode(e.Step), esc(e.Action)), shown(e.Message, maxDetail)), true
	case notify.StepSkipped:
		if e.Status == stateDenied {
			return replyNote(":no_entry_sign:", fmt.Sprintf("Step %s not run: denied · %s", inlineCode(e.Step), esc(e.Action)), byActor(e.Message)), true
		}
		return replyNote(":fast_forward:", fmt.Sprintf("Step %s skipped · %s", inlineCode(e.Step), esc(e.Action)), shown(e.Message, maxDetail)), true
	case notify.StepFailed:
		return replyNote(":x:", fmt.Sprintf("Step %s failed · %s", inlineCode(e.Step), esc(e.Action)), "*Error:* "+shown(orDash(cmp.Or(e.Error, e.Message)), maxDetail)), true
	case notify.EvidenceCaptured:
		ev := e.Evidence
		if ev == nil {
			return replyNote(":package:", fmt.Sprintf("Evidence from %s", inlineCode(e.Step)), shown(e.Message, maxDetail)), true
		}
		return replyNote(":package:", fmt.Sprintf("Evidence from %s · %s · %s", inlineCode(e.Step), esc(orDash(ev.Kind)), byteSize(ev.Size)),
			"Locator: "+inlineCode(ev.Locator), "SHA-256: "+inlineCode(ev.SHA256)), true
	case notify.ApprovalAttempt:
		a := e.Approval
		if a == nil || a.Outcome == outcomeGranted {
			return message{}, false // the approval.decided that follows says it
		}
		if a.Outcome == outcomeCounted {
			return replyNote(":ballot_box_with_check:", fmt.Sprintf("%s approved %s", actorText(a.Actor), inlineCode(a.ID)), shown(a.Reason, maxDetail)), true
		}
		return replyNote(":no_entry:", fmt.Sprintf("%s's %s on %s was refused", actorText(a.Actor), esc(orDash(a.Decision)), inlineCode(a.ID)), shown(a.Reason, maxDetail)), true
	case notify.ApprovalDecided:
		d := decision(e)
		return replyNote(d.icon, fmt.Sprintf("Approval %s *%s*%s", inlineCode(approvalID(e)), d.outcome, d.by), d.detail), true
	case notify.TaskDone:
		return replyNote(":white_check_mark:", fmt.Sprintf("Task %s done · %s", inlineCode(e.Step), byActor(e.Message))), true
	case notify.RollbackStarted:
		return replyNote(":rewind:", "Rollback requested", shown(e.Message, maxDetail)), true
	case notify.RollbackStep:
		if e.Status == stateFailed {
			return replyNote(":x:", fmt.Sprintf("Rollback step %s failed · %s", inlineCode(e.Step), esc(e.Action)), "*Error:* "+shown(orDash(e.Error), maxDetail)), true
		}
		return replyNote(":rewind:", fmt.Sprintf("Rolled back: %s %s · %s", inlineCode(e.Step), esc(orDash(e.Status)), esc(e.Action)), shown(e.Message, maxDetail)), true
	case notify.RunCompleted:
		return replyNote(":checkered_flag:", "Run completed · disposition *"+esc(orDash(e.Disposition))+"*", stepsLine(e)), true
	case notify.RunFailed:
		return replyNote(":x:", "Run failed", "*Error:* "+shown(orDash(cmp.Or(e.Error, e.Message)), maxDetail),
			shown(secondOf(e.Error, e.Message), maxDetail),
			"Containment stays in place. Close the run with *Close as…* on the parent message; a rollback needs an approval."), true
	case notify.RunClosed:
		return replyNote(":lock:", "Run closed as *"+esc(orDash(e.Disposition))+"*", stepsLine(e)), true
	}
	// A kind this version does not know: say it plainly rather than drop it.
	return replyNote(":information_source:", inlineCode(e.Kind), shown(e.Message, maxDetail)), true
}

// approvalRequest renders an approval request: who may decide, what will happen to what, and why, with
// the buttons. The buttons carry only ids (ButtonValue); the workflow decides what a click is worth.
func (r renderer) approvalRequest(e notify.Event) (message, error) {
	a := e.Approval
	value, err := ButtonValue{Run: e.Run.ID, Approval: a.ID, Step: e.Step}.Encode()
	if err != nil {
		return message{}, err
	}
	var mentions []string
	for _, g := range a.SlackGroups {
		mentions = append(mentions, subteam(g))
	}
	if users := actorsText(a.Approvers); users != "" {
		mentions = append(mentions, users)
	}
	who := strings.Join(mentions, ", ")
	if who == "" {
		who = "no one listed: operators granted group *" + esc(a.Group) + "* can decide with `trigger approve`"
	}
	what := orDash(a.What)
	confirm := slack.NewConfirmationBlockObject(plainText("Approve?"), plainText(clipText("This will happen now: "+what, maxConfirm)),
		plainText("Approve"), plainText("Cancel")).WithStyle(slack.StylePrimary)
	approve := slack.NewButtonBlockElement(ActionApprove, value, plainText("Approve")).WithStyle(slack.StylePrimary).WithConfirm(confirm)
	deny := slack.NewButtonBlockElement(ActionDeny, value, plainText("Deny…")).WithStyle(slack.StyleDanger)

	blocks := []slack.Block{
		sectionBlock(":raised_hand: *Approval needed* from " + who),
		sectionBlock(requestBody(e)),
		contextBlock(approvalContext(e, true)...),
		slack.NewActionBlock(blockApprovalActions, approve, deny),
	}
	txt := fmt.Sprintf("Approval needed from %s: %s", who, shown(what, maxTitle))
	return message{Text: txt, Blocks: blocks}, nil
}

// requestBody is what an approval request says happens, to what, and why.
func requestBody(req notify.Event) string {
	a := req.Approval
	step := "rollback"
	if req.Step != "" {
		step = "step " + inlineCode(req.Step)
	}
	title := cmp.Or(req.Run.Title, alertName(req.Run))
	return fmt.Sprintf("*What:* %s\n*Why:* %s\n*Alert:* %s · %s",
		shown(orDash(a.What), maxTitle), shown(orDash(cmp.Or(a.Why, req.Message)), maxTitle), shown(title, maxTitle), step)
}

// approvalContext is the small print of an approval request: the group, how many must approve, and
// while it is open, the deadline.
func approvalContext(req notify.Event, open bool) []string {
	a := req.Approval
	need := "1 approval"
	if a.Min > 1 {
		need = fmt.Sprintf("%d approvals from different people", a.Min)
	}
	parts := []string{"Group *" + esc(orDash(a.Group)) + "* · needs " + need}
	if open && !a.Deadline.IsZero() {
		parts = append(parts, "decide by "+slackDate(a.Deadline))
	}
	return append(parts, "approval "+inlineCode(a.ID))
}

// approvalClosed renders an approval request once decided or timed out: the outcome, who and when, and no
// buttons. req is the request event when this process posted it (nil otherwise: the decided event does
// not repeat what was asked, so the message then names the approval and the step).
func (r renderer) approvalClosed(req *notify.Event, e notify.Event) message {
	d := decision(e)
	head := fmt.Sprintf("%s *%s*%s · %s", d.icon, capitalize(d.outcome), d.by, slackDate(e.Time))
	if d.detail != "" {
		head += "\n" + d.detail
	}
	blocks := []slack.Block{sectionBlock(head)}
	if req != nil && req.Approval != nil {
		blocks = append(blocks, sectionBlock(requestBody(*req)), contextBlock(approvalContext(*req, false)...))
	} else {
		blocks = append(blocks, sectionBlock(fmt.Sprintf("Approval %s for step %s", inlineCode(approvalID(e)), inlineCode(e.Step))))
	}
	return message{Text: fmt.Sprintf("Approval %s %s%s", inlineCode(approvalID(e)), d.outcome, d.by), Blocks: blocks}
}

// decided is how an approval ended, for a reply and for the request's update.
type decided struct {
	icon    string
	outcome string // approved | denied | timed out
	by      string // " by <who>", or ""
	detail  string
}

// decision says how an approval ended.
func decision(e notify.Event) decided {
	a := e.Approval
	if a == nil {
		return decided{":information_source:", esc(orDash(e.Status)), "", shown(e.Message, maxDetail)}
	}
	switch cmp.Or(a.Outcome, e.Status) {
	case outcomeApproved:
		return decided{":white_check_mark:", "approved", " by " + deciders(e), ""}
	case outcomeDenied:
		reason := ""
		if a.Reason != "" {
			reason = "*Reason:* " + shown(a.Reason, maxDetail)
		}
		return decided{":no_entry:", "denied", " by " + deciders(e), reason}
	case outcomeTimedOut:
		then := "so it was not approved"
		if a.Decision == onTimeoutGoOn {
			then = "so it goes ahead"
		}
		return decided{":hourglass:", "timed out", "", fmt.Sprintf("No decision in time; on_timeout: *%s*, %s. The on-call group is alerted.", esc(orDash(a.Decision)), then)}
	}
	return decided{":information_source:", esc(orDash(a.Outcome)), "", shown(e.Message, maxDetail)}
}

// deciders names who decided. With min > 1 every approver counts, and only the event's message lists
// them all ("<id> approved by slack:U1, slack:U2"); the actor is the last of them.
func deciders(e notify.Event) string {
	a := e.Approval
	if a.Min > 1 {
		if _, by, ok := strings.Cut(e.Message, " by "); ok && by != "" {
			return actorsText(strings.Split(by, ", "))
		}
	}
	return actorText(a.Actor)
}

func approvalID(e notify.Event) string {
	if e.Approval != nil {
		return e.Approval.ID
	}
	return e.Step
}

// taskRequest renders a manual task with its "Mark done" button.
func (r renderer) taskRequest(e notify.Event) (message, error) {
	value, err := ButtonValue{Run: e.Run.ID, Step: e.Step}.Encode()
	if err != nil {
		return message{}, err
	}
	done := slack.NewButtonBlockElement(ActionTaskDone, value, plainText("Mark done")).WithStyle(slack.StylePrimary)
	head := fmt.Sprintf("*Manual task* · step %s · phase *%s*", inlineCode(e.Step), esc(orDash(e.Phase)))
	body := shown(orDash(e.Message), maxDetail)
	return message{
		Text: head + "\n" + body,
		Blocks: []slack.Block{
			sectionBlock(":clipboard: " + head + "\n" + body),
			contextBlock("The run waits until someone marks this done"),
			slack.NewActionBlock(blockTaskActions, done),
		},
	}, nil
}

// taskClosed renders a manual task once done, without its button. req is the request event when this
// process posted it.
func (r renderer) taskClosed(req *notify.Event, e notify.Event) message {
	head := fmt.Sprintf("*Done* · step %s · %s · %s", inlineCode(e.Step), byActor(e.Message), slackDate(e.Time))
	body := ""
	if req != nil {
		body = "\n" + shown(orDash(req.Message), maxDetail)
	}
	return message{
		Text:   head + body,
		Blocks: []slack.Block{sectionBlock(":white_check_mark: " + head + body)},
	}
}

// byActor renders the workflow's "done by <actor>" and "denied by <actor>" with the actor mentioned.
func byActor(msg string) string {
	for _, prefix := range []string{"done by ", "denied by "} {
		if who, ok := strings.CutPrefix(msg, prefix); ok {
			return prefix + actorText(who)
		}
	}
	return shown(msg, maxDetail)
}

// escalation renders an escalation: the on-call group's mention, the reason, the run, and a link to its
// thread when Slack gave one.
func (r renderer) escalation(x notify.Escalation, oncall, link string) message {
	e := x.Event
	run := e.Run
	mention := "(no on-call group: set notify.oncall in the playbook or PARRY_ONCALL_GROUP)"
	if oncall != "" {
		mention = subteam(oncall)
	}
	reason := shown(orDash(cmp.Or(x.Reason, e.Message)), maxDetail)
	title := cmp.Or(run.Title, alertName(run))
	_, sev := severityOf(run.Severity)
	where := fmt.Sprintf("*Alert:* %s (%s) on %s · *Playbook:* %s v%d", shown(title, maxTitle), sev, shown(orDash(run.Host), maxTitle), shown(orDash(run.Name), maxTitle), run.Version)
	thread := "Run " + inlineCode(run.ID) + " (no link to its thread)"
	if link != "" {
		thread = fmt.Sprintf("<%s|Open the run's thread> · run %s", esc(link), inlineCode(run.ID))
	}
	return message{
		Text: fmt.Sprintf("%s Escalation: %s — run %s", mention, reason, inlineCode(run.ID)),
		Blocks: []slack.Block{
			sectionBlock(":rotating_light: " + mention + " *Escalation* · " + reason),
			sectionBlock(where),
			contextBlock(thread),
		},
	}
}

// techniques renders technique ids as links to attack.mitre.org with their names.
func (r renderer) techniques(ids []string) string {
	var out []string
	for _, id := range ids {
		t, ok := r.catalog.Technique(attack.NormalizeID(id))
		if !ok || t.URL == "" {
			out = append(out, esc(id))
			continue
		}
		name := t.Name
		if p, ok := r.catalog.Parent(t.ID); ok {
			name = p.Name + ": " + name
		}
		url := t.URL
		if !strings.HasSuffix(url, "/") {
			url += "/"
		}
		out = append(out, fmt.Sprintf("<%s|%s %s>", esc(url), esc(t.ID), strings.ReplaceAll(esc(name), "|", "/")))
	}
	return strings.Join(out, ", ")
}

// severity returns the icon and label of an alert severity.
func severityOf(s string) (icon, label string) {
	switch strings.ToLower(s) {
	case "critical":
		return ":red_circle:", "CRITICAL"
	case "high":
		return ":large_orange_circle:", "HIGH"
	case "medium":
		return ":large_yellow_circle:", "MEDIUM"
	case "low":
		return ":white_circle:", "LOW"
	}
	return ":white_circle:", esc(strings.ToUpper(orDash(s)))
}

// used renders a phase's time used against its budget.
func usedLine(e notify.Event) string {
	if e.Budget <= 0 {
		return durationText(e.Used) + " used (no budget)"
	}
	s := fmt.Sprintf("%s used of %s", durationText(e.Used), durationText(e.Budget))
	if e.Status != "" {
		s += " (" + esc(e.Status) + ")"
	}
	return s
}

func summaryLine(e notify.Event) string {
	if s := stepsLine(e); s != "" {
		return "\n" + s
	}
	return ""
}

func stepsLine(e notify.Event) string {
	if e.Summary == "" {
		return ""
	}
	return "Steps: " + shown(e.Summary, maxDetail)
}

// secondOf is b when a is set too (a is shown first), else "".
func secondOf(a, b string) string {
	if a != "" {
		return b
	}
	return ""
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
