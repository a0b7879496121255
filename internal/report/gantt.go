package report

import (
	"fmt"
	"time"

	"github.com/parry-soc/parry/workflows"
)

// Geometry of the Gantt chart, in SVG user units (the SVG scales to the page width).
const (
	ganttWidth  = 1000.0
	ganttLabelW = 200.0 // row labels, left
	ganttStateW = 130.0 // state text, right
	ganttAxisH  = 34.0  // the time axis, top
	ganttRowH   = 20.0
	ganttPhaseH = 26.0
	ganttMinBar = 2.0 // a bar never vanishes, however short the step against the run
)

// gantt is the chart: one row per phase (budget bracket, time used, breach) and per step (approval or task
// wait, run, failure), rollback last, on one time axis from the run's start to its end.
type gantt struct {
	Width, Height float64
	Left, Right   float64 // the chart area
	AxisY         float64 // the axis line
	LegendY       float64 // the legend, under the rows
	Ticks         []ganttTick
	Rows          []ganttRow
	Title, Desc   string
}

type ganttTick struct {
	X     float64
	Label string
}

type ganttRow struct {
	Y, H float64 // top and height
	// BarY and BarH place the row's bars: under the budget bracket in a phase row, filling a step row.
	BarY, BarH float64
	Label      string
	Phase      bool // a phase (or the rollback) row
	State      string
	Class      string // st-ok, st-bad, … of the state
	Title      string // what the row says, for assistive technology and tooltips
	Bars       []ganttBar
	Bracket    *ganttBracket
	Marks      []ganttMark
}

type ganttBar struct {
	X, W  float64
	Class string // run, wait, task, used, running
	Title string
}

type ganttBracket struct {
	X1, X2 float64
	Open   bool // the deadline lies beyond the chart
	Title  string
}

type ganttMark struct {
	X     float64
	Kind  string // breach, fail, denied, refused, counted
	Title string
}

// ganttTicks are the tick spacings the axis chooses from.
var ganttTicks = []time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour,
}

func newGantt(t *Timeline) gantt {
	g := gantt{Width: ganttWidth, Left: ganttLabelW, Right: ganttWidth - ganttStateW, AxisY: ganttAxisH - 6}
	start, end := t.Start, t.End
	span := end.Sub(start)
	if span <= 0 {
		span = time.Second
	}
	x := func(at time.Time) float64 {
		f := float64(at.Sub(start)) / float64(span)
		f = min(max(f, 0), 1)
		return g.Left + f*(g.Right-g.Left)
	}
	bar := func(from, to time.Time, class, title string) ganttBar {
		x1, x2 := x(from), x(to)
		w := max(x2-x1, ganttMinBar)
		if x1+w > g.Right {
			x1 = g.Right - w
		}
		return ganttBar{X: x1, W: w, Class: class, Title: title}
	}
	g.Title = fmt.Sprintf("Timeline of run %s: %d phases, %d steps", t.Run.RunID, len(t.Phases), len(t.Steps)+len(t.Rollback))
	g.Desc = fmt.Sprintf("From %s to %s (%s). One row per phase (budget bracket, time used, breach) and per step (approval or task wait hatched, run solid, failure crossed).",
		stamp(start), stamp(end), human(end.Sub(start)))

	step := ganttTicks[len(ganttTicks)-1]
	for _, d := range ganttTicks {
		if span/d <= 8 {
			step = d
			break
		}
	}
	for d := time.Duration(0); d <= span; d += step {
		label := "+" + human(d)
		if d == 0 {
			label = "0"
		}
		g.Ticks = append(g.Ticks, ganttTick{X: x(start.Add(d)), Label: label})
	}

	y := ganttAxisH
	addRow := func(r ganttRow) {
		r.Y = y
		if r.H == 0 {
			r.H = ganttRowH
		}
		r.BarY, r.BarH = y+5, r.H-10
		if r.Phase {
			r.BarY, r.BarH = y+10, r.H-14
		}
		y += r.H
		g.Rows = append(g.Rows, r)
	}
	stepRow := func(s Step) ganttRow {
		r := ganttRow{Label: s.ID, State: stateMark(s.State) + " " + s.State, Class: stateClass(s.State)}
		r.Title = fmt.Sprintf("step %s (%s): %s", s.ID, s.Action, s.State)
		if a := s.Approval; a != nil && !a.Opened.IsZero() {
			to := a.Decided
			if to.IsZero() {
				to = end
			}
			r.Bars = append(r.Bars, bar(a.Opened, to, "wait", fmt.Sprintf("%s waited for approval %s → %s (%s): %s",
				s.ID, t.offset(a.Opened), t.offset(to), human(to.Sub(a.Opened)), a.State)))
		}
		if !s.Started.IsZero() {
			to, class := s.Ended, "run"
			if s.Task != nil {
				class = "task"
			}
			if to.IsZero() {
				to, class = end, "running"
			}
			what := "ran"
			if s.Task != nil {
				what = "waited for a person"
			}
			r.Bars = append(r.Bars, bar(s.Started, to, class, fmt.Sprintf("%s %s %s → %s (%s): %s",
				s.ID, what, t.offset(s.Started), t.offset(to), human(to.Sub(s.Started)), s.State)))
			r.Title += fmt.Sprintf(", %s → %s", t.offset(s.Started), t.offset(to))
		}
		if s.Approval != nil {
			r.Marks = append(r.Marks, attemptMarks(t, s.Approval, x)...)
		}
		switch {
		case s.State == workflows.StepFailed && !s.Ended.IsZero():
			r.Marks = append(r.Marks, ganttMark{X: x(s.Ended), Kind: "fail", Title: s.ID + " failed: " + oneLine(stepNote(s))})
		case s.State == workflows.StepDenied && s.Approval != nil && !s.Approval.Decided.IsZero():
			r.Marks = append(r.Marks, ganttMark{X: x(s.Approval.Decided), Kind: "denied", Title: s.ID + " denied: " + oneLine(s.Reason)})
		}
		if n := stepNote(s); n != "" && s.State != workflows.StepSucceeded {
			r.Title += ": " + oneLine(n)
		}
		return r
	}

	for _, p := range t.Phases {
		r := ganttRow{Label: "phase " + p.ID, Phase: true, H: ganttPhaseH}
		r.State, r.Class = phaseState(p)
		r.Title = "phase " + p.ID + ": " + r.State
		if p.Budget > 0 && !p.Started.IsZero() {
			r.Bracket = &ganttBracket{X1: x(p.Started), X2: x(p.Deadline), Open: p.Deadline.After(end),
				Title: fmt.Sprintf("budget %s: deadline %s (%s)", human(p.Budget), stamp(p.Deadline), t.offset(p.Deadline))}
			r.Title += ", budget " + human(p.Budget)
		}
		if !p.Started.IsZero() {
			to, class := p.Ended, "used"
			if to.IsZero() {
				to, class = end, "used running"
			}
			r.Bars = append(r.Bars, bar(p.Started, to, class, fmt.Sprintf("phase %s ran %s → %s (%s)", p.ID, t.offset(p.Started), t.offset(to), human(to.Sub(p.Started)))))
			r.Title += fmt.Sprintf(", used %s", human(to.Sub(p.Started)))
		}
		if p.Breached {
			r.Marks = append(r.Marks, ganttMark{X: x(p.BreachedAt), Kind: "breach",
				Title: fmt.Sprintf("budget breached at %s (%s), on_breach: %s", stamp(p.BreachedAt), t.offset(p.BreachedAt), p.OnBreach)})
			r.Title += ", BREACHED at " + t.offset(p.BreachedAt)
		}
		addRow(r)
		for _, s := range t.Steps {
			if s.Phase == p.ID {
				addRow(stepRow(s))
			}
		}
	}
	if rb := t.approval(workflows.RollbackID); rb != nil || len(t.Rollback) > 0 {
		r := ganttRow{Label: "rollback", Phase: true, H: ganttPhaseH, State: "", Class: "st-muted", Title: "rollback"}
		if rb != nil {
			to := rb.Decided
			if to.IsZero() {
				to = end
			}
			r.Bars = append(r.Bars, bar(rb.Opened, to, "wait", fmt.Sprintf("rollback waited for approval %s → %s: %s", t.offset(rb.Opened), t.offset(to), rb.State)))
			r.State, r.Class = stateMark(rb.State)+" "+rb.State, stateClass(rb.State)
			r.Title += ": approval " + rb.State
			r.Marks = append(r.Marks, attemptMarks(t, rb, x)...)
		}
		addRow(r)
		for _, s := range t.Rollback {
			addRow(stepRow(s))
		}
	}
	g.LegendY = y + 14
	g.Height = g.LegendY + 36
	return g
}

// attemptMarks mark the attempts on an approval that did not decide it: refused ones, and approvals that
// counted towards min. (The deciding attempt is where the wait ends.)
func attemptMarks(t *Timeline, a *Approval, x func(time.Time) float64) []ganttMark {
	var marks []ganttMark
	for _, at := range a.Attempts {
		switch at.Outcome {
		case workflows.OutcomeRefused:
			marks = append(marks, ganttMark{X: x(at.At), Kind: "refused",
				Title: fmt.Sprintf("%s by %s at %s refused: %s", at.Verb, actor(at.Actor), t.offset(at.At), at.Why)})
		case workflows.OutcomeCounted:
			marks = append(marks, ganttMark{X: x(at.At), Kind: "counted",
				Title: fmt.Sprintf("%s by %s at %s counted (%s)", at.Verb, actor(at.Actor), t.offset(at.At), at.Why)})
		}
	}
	return marks
}

// phaseState is a phase's state in words, with the class to show it.
func phaseState(p Phase) (string, string) {
	switch {
	case p.Started.IsZero():
		return "○ not started", "st-muted"
	case p.Breached:
		return "◆ BREACHED", "st-bad"
	case p.Ended.IsZero():
		return "▶ running", "st-run"
	case p.Budget == 0:
		return "✓ done", "st-ok"
	}
	return "✓ in budget", "st-ok"
}

// stateClass is the CSS class a state is shown with; the text and symbol carry it too.
func stateClass(state string) string {
	switch state {
	case workflows.StepSucceeded, workflows.ApprovalApproved, workflows.StateCompleted, workflows.OutcomeGranted, workflows.OutcomeCounted:
		return "st-ok"
	case workflows.StepFailed:
		return "st-bad"
	case workflows.StepDenied, workflows.OutcomeRefused, workflows.ApprovalTimedOut:
		return "st-warn"
	case workflows.StepRunning, workflows.StepWaitingApproval, workflows.StepWaitingTask, workflows.ApprovalOpen:
		return "st-run"
	}
	return "st-muted"
}
