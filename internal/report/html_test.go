package report

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/workflows"
)

// parseReport renders tl as HTML and parses it.
func parseReport(t *testing.T, tl Timeline) (*html.Node, string) {
	t.Helper()
	var b bytes.Buffer
	if err := HTML(&b, tl); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return doc, b.String()
}

// find returns the elements under n that match.
func find(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func tag(name string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Data == name }
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, class string) bool {
	for _, c := range strings.Fields(attr(n, "class")) {
		if c == class {
			return true
		}
	}
	return false
}

func classed(name, class string) func(*html.Node) bool {
	return func(n *html.Node) bool { return (name == "" || n.Data == name) && hasClass(n, class) }
}

func byID(id string) func(*html.Node) bool {
	return func(n *html.Node) bool { return attr(n, "id") == id }
}

// text is the text content of n.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// rowTitle is the accessible title of a chart row: its first <title> child.
func rowTitle(g *html.Node) string {
	for c := g.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && c.Data == "title" {
			return text(c)
		}
	}
	return ""
}

func one(t *testing.T, nodes []*html.Node, what string) *html.Node {
	t.Helper()
	if len(nodes) != 1 {
		t.Fatalf("%d %s, want 1", len(nodes), what)
	}
	return nodes[0]
}

// TestHTMLChartHasARowAndBarsForEveryPhaseAndStep checks the Gantt chart of every golden run: one SVG, one
// row per phase, step and rollback step in order, each with an accessible title, a time-used bar for
// every phase that ran, a bar for every step that started or waited, and a table fallback with the same
// rows.
func TestHTMLChartHasARowAndBarsForEveryPhaseAndStep(t *testing.T) {
	for _, name := range goldenRuns {
		t.Run(name, func(t *testing.T) {
			tl := timelineOf(t, name)
			doc, _ := parseReport(t, tl)
			svg := one(t, find(doc, tag("svg")), "<svg> elements")
			if attr(svg, "role") != "img" || attr(svg, "aria-labelledby") == "" {
				t.Errorf("svg role=%q aria-labelledby=%q, want an image labelled by its title", attr(svg, "role"), attr(svg, "aria-labelledby"))
			}
			one(t, find(svg, byID("gantt-title")), "chart titles")

			rows := find(svg, classed("g", "row"))
			var want []string
			for _, p := range tl.Phases {
				want = append(want, "phase "+p.ID)
				for _, s := range tl.Steps {
					if s.Phase == p.ID {
						want = append(want, "step "+s.ID)
					}
				}
			}
			if len(tl.Rollback) > 0 {
				want = append(want, "rollback")
				for _, s := range tl.Rollback {
					want = append(want, "step "+s.ID)
				}
			}
			if len(rows) != len(want) {
				t.Fatalf("%d chart rows, want %d: %v", len(rows), len(want), want)
			}
			for i, g := range rows {
				title := rowTitle(g)
				if !strings.HasPrefix(title, want[i]) {
					t.Errorf("row %d is titled %q, want %q…", i, title, want[i])
				}
				bars := find(g, classed("rect", "bar"))
				for _, b := range bars {
					if rowTitle(b) == "" {
						t.Errorf("a bar of %s has no <title>", want[i])
					}
				}
				started := false
				switch {
				case hasClass(g, "phase-row") && want[i] != "rollback":
					p := tl.Phases[phaseIndex(tl, strings.TrimPrefix(want[i], "phase "))]
					started = !p.Started.IsZero()
					if used := find(g, classed("rect", "bar-used")); started && len(used) != 1 {
						t.Errorf("%s: %d time-used bars, want 1", want[i], len(used))
					}
				case strings.HasPrefix(want[i], "step "):
					s := stepByID(tl, strings.TrimPrefix(want[i], "step "))
					started = !s.Started.IsZero() || (s.Approval != nil && !s.Approval.Opened.IsZero())
				}
				if started && len(bars) == 0 {
					t.Errorf("%s started but has no bar", want[i])
				}
			}

			fallback := one(t, find(doc, byID("chart-data")), "chart data tables")
			if n := len(find(fallback, tag("tr"))) - 1; n != len(want) {
				t.Errorf("the chart's table fallback has %d rows, want %d", n, len(want))
			}
		})
	}
}

func phaseIndex(tl Timeline, id string) int {
	for i, p := range tl.Phases {
		if p.ID == id {
			return i
		}
	}
	return -1
}

func stepByID(tl Timeline, id string) Step {
	for _, s := range append(append([]Step(nil), tl.Steps...), tl.Rollback...) {
		if s.ID == id {
			return s
		}
	}
	return Step{}
}

// TestHTMLMarksTheBreachedPhase checks that the breached phase's chart row carries the breach marker and
// its table row says BREACHED, and that a phase in budget has neither.
func TestHTMLMarksTheBreachedPhase(t *testing.T) {
	doc, _ := parseReport(t, timelineOf(t, "approval-timeout-and-breach"))
	svg := one(t, find(doc, tag("svg")), "<svg> elements")
	for _, g := range find(svg, classed("g", "phase-row")) {
		title := rowTitle(g)
		breach := find(g, classed("g", "mark-breach"))
		switch {
		case strings.HasPrefix(title, "phase immediate"):
			one(t, breach, "breach markers on phase immediate")
			if !strings.Contains(title, "BREACHED") {
				t.Errorf("phase immediate's row says %q, want BREACHED", title)
			}
		case len(breach) > 0:
			t.Errorf("%q has a breach marker", title)
		}
	}
	phases := one(t, find(doc, byID("phases")), "phase sections")
	rows := find(phases, classed("tr", "breached"))
	if r := one(t, rows, "breached phase rows"); !strings.Contains(text(r), "BREACHED") || !strings.Contains(text(r), "immediate") {
		t.Errorf("breached row reads %q", text(r))
	}
}

// TestHTMLListsEveryApprovalAttempt checks the attempts table: a row per attempt, in order, with who and
// the outcome — the outsider's refusal and the tester's grants.
func TestHTMLListsEveryApprovalAttempt(t *testing.T) {
	tl := timelineOf(t, "approvals-refused-and-denied")
	doc, _ := parseReport(t, tl)
	table := one(t, find(doc, classed("table", "attempts")), "attempt tables")
	rows := find(table, classed("tr", "attempt"))
	if len(rows) != len(tl.Attempts) || len(rows) == 0 {
		t.Fatalf("%d attempt rows, want %d", len(rows), len(tl.Attempts))
	}
	seen := map[string]bool{}
	for i, r := range rows {
		a := tl.Attempts[i]
		row := text(r)
		if !hasClass(r, "outcome-"+a.Outcome) || !strings.Contains(row, a.Outcome) || !strings.Contains(row, actor(a.Actor)) {
			t.Errorf("attempt %d reads %q, want %s by %s", i+1, row, a.Outcome, actor(a.Actor))
		}
		seen[a.Outcome] = true
	}
	if !seen[workflows.OutcomeRefused] || !seen[workflows.OutcomeGranted] {
		t.Errorf("outcomes %v, want refused and granted", seen)
	}
	if r := text(rows[0]); !strings.Contains(r, "operator outsider") || !strings.Contains(r, "not an approver of group containment") {
		t.Errorf("the first attempt reads %q, want the outsider refused", r)
	}
}

// TestHTMLShowsTheRollback checks the rollback section of the run closed with a rollback: its approval
// and the undo step, and the contained host released by it.
func TestHTMLShowsTheRollback(t *testing.T) {
	doc, _ := parseReport(t, timelineOf(t, "failure-and-rollback"))
	sec := one(t, find(doc, byID("rollback")), "rollback sections")
	row := one(t, find(sec, byID("step-undo-isolate-host")), "undo rows")
	if r := text(row); !strings.Contains(r, "edr.release_host") || !strings.Contains(r, "succeeded") {
		t.Errorf("undo row reads %q", r)
	}
	if s := text(sec); !strings.Contains(s, "Approval") || !strings.Contains(s, "approved") {
		t.Errorf("rollback section does not show its approval: %q", s)
	}
	if c := text(one(t, find(doc, byID("containment")), "containment sections")); !strings.Contains(c, "released by rollback") {
		t.Errorf("containment reads %q", c)
	}
}

var externalRef = regexp.MustCompile(`(?i)^\s*(https?:|//|data:|javascript:)`)

// TestHTMLIsSelfContained checks that no golden report loads or runs anything: no scripts, no external
// references in any attribute, no CSS that fetches (url() other than to the chart's own patterns, @import).
func TestHTMLIsSelfContained(t *testing.T) {
	for _, name := range goldenRuns {
		t.Run(name, func(t *testing.T) {
			doc, raw := parseReport(t, timelineOf(t, name))
			checkSelfContained(t, doc, raw)
		})
	}
}

func checkSelfContained(t *testing.T, doc *html.Node, raw string) {
	t.Helper()
	for _, el := range []string{"script", "link", "iframe", "img", "object", "embed", "base", "form"} {
		if n := find(doc, tag(el)); len(n) > 0 {
			t.Errorf("the report has %d <%s> elements", len(n), el)
		}
	}
	for _, n := range find(doc, func(*html.Node) bool { return true }) {
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") {
				t.Errorf("<%s> has an event handler %s", n.Data, a.Key)
			}
			switch a.Key {
			case "src", "href", "xlink:href", "action", "srcset", "poster":
				if externalRef.MatchString(a.Val) || !strings.HasPrefix(a.Val, "#") {
					t.Errorf("<%s %s=%q> refers outside the file", n.Data, a.Key, a.Val)
				}
			}
		}
	}
	for _, m := range regexp.MustCompile(`url\(([^)]*)\)`).FindAllStringSubmatch(raw, -1) {
		if !strings.HasPrefix(strings.Trim(m[1], `'" `), "#") {
			t.Errorf("CSS fetches %s", m[0])
		}
	}
	if strings.Contains(raw, "@import") || strings.Contains(raw, "@font-face") {
		t.Error("the CSS imports or fetches fonts")
	}
	style := one(t, find(doc, tag("style")), "<style> elements")
	if css := text(style); !strings.Contains(css, "@media print") {
		t.Error("no print stylesheet")
	}
}

// hostile is what an attacker controls: an alert's title, host and rule, a vendor's output and error.
const hostile = `<script>alert("pwned")</script><img src=x onerror=alert(1)>`

// TestHTMLEscapesAlertAndVendorText feeds markup through every field that comes from an alert or a vendor
// and checks that the report shows it as text: no element it names appears, and the text reads back.
func TestHTMLEscapesAlertAndVendorText(t *testing.T) {
	start := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	res := workflows.Result{
		RunID:       "parry-parry-hostile",
		Playbook:    workflows.PlaybookRef{ID: "pb", Name: hostile, Version: 1, SHA256: strings.Repeat("ab", 32)},
		Alert:       workflows.AlertRef{ID: "a-1", Source: "parry", Title: hostile, Host: hostile, User: `"><svg onload=alert(1)>`, Rule: hostile, Techniques: []string{"T1566.001"}},
		State:       workflows.StateFailed,
		Disposition: workflows.Undetermined,
		Started:     start,
		Ended:       start.Add(time.Minute),
		Phases:      []workflows.PhaseResult{{ID: "immediate", Started: start, Ended: start.Add(time.Minute), Used: time.Minute}},
		Steps: []workflows.StepResult{{ID: "scan", Phase: "immediate", Action: "edr.scan_host", State: workflows.StepFailed,
			Started: start, Ended: start.Add(time.Second), Reason: hostile, Error: hostile, Note: hostile,
			With:     map[string]any{"host": hostile},
			Output:   map[string]any{"verdict": hostile, "url": "javascript:alert(1)"},
			Evidence: []actions.Evidence{{Kind: "report", Locator: "javascript:alert(1)//" + hostile, SHA256: hostile}}}},
		ApprovalLog: []workflows.Attempt{{Approval: "scan", Actor: "slack:" + hostile, Verb: "approve", Reason: hostile, At: start, Outcome: workflows.OutcomeRefused, Why: hostile}},
		Escalations: []workflows.Escalation{{At: start, Reason: hostile}},
		Failure:     hostile,
	}
	doc, raw := parseReport(t, FromResult(res))
	checkSelfContained(t, doc, raw)
	if n := len(find(doc, tag("svg"))); n != 1 {
		t.Errorf("%d <svg> elements: the user's svg got through", n)
	}
	h1 := one(t, find(doc, tag("h1")), "<h1> elements")
	if got := text(h1); got != hostile {
		t.Errorf("h1 reads %q, want the title as text", got)
	}
	if title := text(one(t, find(doc, func(n *html.Node) bool { return n.Data == "title" && n.Parent.Data == "head" }), "document titles")); !strings.Contains(title, hostile) {
		t.Errorf("document title %q lacks the alert title as text", title)
	}

	var md bytes.Buffer
	if err := Markdown(&md, FromResult(res)); err != nil {
		t.Fatal(err)
	}
	// Code spans show their content literally (CommonMark 6.1); everything else must be escaped.
	prose := regexp.MustCompile("`[^`]*`").ReplaceAllString(md.String(), "")
	if regexp.MustCompile(`(^|[^\\])<`).MatchString(prose) {
		t.Errorf("the Markdown report carries raw markup:\n%s", md.String())
	}
	if !strings.Contains(md.String(), `\<script\>alert("pwned")\</script\>`) {
		t.Errorf("the Markdown report does not show the title escaped:\n%s", md.String())
	}
}
