package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/workflows"
)

//go:embed report.html.tmpl
var htmlSource string

//go:embed report.css
var cssSource string

// HTML writes the timeline as one self-contained HTML file: inline CSS (with a print stylesheet), the
// Gantt chart as inline SVG, no scripts, fonts or other resources to fetch. Every value is escaped by
// html/template, so alert and vendor text cannot inject markup.
func HTML(w io.Writer, t Timeline) error {
	v := htmlView{T: &t, CSS: template.CSS(cssSource), Gantt: newGantt(&t), Breaches: t.breaches()}
	return htmlTemplate.Execute(w, v)
}

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	// times and states
	"when":       whenHTML,
	"stamp":      stamp,
	"took":       took,
	"human":      human,
	"mark":       stateMark,
	"class":      stateClass,
	"phaseclass": func(p Phase) string { _, c := phaseState(p); return c },
	"budget":     budget,
	"used":       usedLine,
	"outcome":    budgetLine,
	// steps
	"stepsOf": func(t *Timeline, steps []Step, withPhase bool) stepsView {
		return stepsView{T: t, Steps: steps, WithPhase: withPhase}
	},
	"attempts": attemptsLine,
	"note":     stepNote,
	"failures": failures,
	"kvs":      func(m map[string]any) kvList { kvs, more := summarise(m); return kvList{kvs, more} },
	"evidence": func(e actions.Evidence) string { return evidenceLine(e) },
	// people and outcomes
	"actor":     actor,
	"counted":   countedText,
	"contained": containedState,
	"route":     routeLine,
	"signature": signatureLine,
	// text and numbers
	"join":     strings.Join,
	"oneline":  oneLine,
	"truncate": truncate,
	"f":        func(x float64) string { return fmt.Sprintf("%.1f", x) },
	"add":      func(a, b float64) float64 { return a + b },
	"sub":      func(a, b float64) float64 { return a - b },
	"inc":      func(i int) int { return i + 1 },
}).Parse(htmlSource))

// whenHTML is a time and its offset, each kept on one line. Both are made here from a time, never from
// input, so they need no escaping.
func whenHTML(t *Timeline, at time.Time) template.HTML {
	if at.IsZero() {
		return ""
	}
	h := `<span class="ts">` + stamp(at) + `</span>`
	if off := t.offset(at); off != "" {
		h += ` <span class="off">(` + off + `)</span>`
	}
	return template.HTML(h)
}

// failures are an activity's failures worth a line of their own: those the step's error does not already say.
func failures(s Step) []string {
	if s.Activity == nil {
		return nil
	}
	var out []string
	for _, f := range s.Activity.Failures {
		if f != s.Error {
			out = append(out, f)
		}
	}
	return out
}

// htmlView is what the template renders.
type htmlView struct {
	T        *Timeline
	CSS      template.CSS
	Gantt    gantt
	Breaches int
}

// stepsView is a table of steps: the run's, or its rollback's.
type stepsView struct {
	T         *Timeline
	Steps     []Step
	WithPhase bool
}

type kvList struct {
	KVs  []KV
	More int
}

// Rolled reports whether rollback undid a step.
func (v htmlView) Rolled(step string) bool { return v.T.rolledBack(step) }

// RollbackApproval is the rollback's approval, if one was asked for.
func (v htmlView) RollbackApproval() *Approval { return v.T.approval(workflows.RollbackID) }

// CloseAttempt is the close request that counted.
func (v htmlView) CloseAttempt() *Attempt { return v.T.closeAttempt() }

// WithHistory reports whether attempts carry Temporal's acceptance times.
func (v htmlView) WithHistory() bool { return v.T.attemptsAccepted() }
