package slackapp

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// Slack's limits on what a message may hold (https://api.slack.com/reference/block-kit/blocks#section,
// https://api.slack.com/reference/block-kit/composition-objects#confirm). Text from alerts and vendors is
// clipped well below them so that one long error message never makes Slack refuse the whole post.
const (
	maxTitle   = 200  // an alert title, an approval's what/why
	maxDetail  = 1500 // an error, a note, a summary
	maxConfirm = 300  // a confirm dialog's text
)

// mrkdwnEscaper escapes the three characters Slack reads as markup. Everything Parry shows comes from
// alerts, playbooks and vendors, and an alert title is whatever an attacker wrote in an email subject:
// unescaped, "<!channel>" would page the whole channel and "<https://evil|Approve>" would be a link.
// https://api.slack.com/reference/surfaces/formatting#escaping
var mrkdwnEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// esc makes s safe to show in mrkdwn.
func esc(s string) string { return mrkdwnEscaper.Replace(s) }

// clip shortens s to at most n runes, marking the cut. It runs before esc so that it never splits an
// entity.
func clipText(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// text is s clipped and escaped: the form every outside string takes in a message.
func shown(s string, n int) string { return esc(clipText(s, n)) }

// code renders s as inline code. A backtick in s would close the span, so it becomes a quote.
func inlineCode(s string) string {
	if s == "" {
		return "-"
	}
	return "`" + esc(strings.ReplaceAll(clipText(s, maxTitle), "`", "'")) + "`"
}

// orDash shows a missing value as a dash.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// date renders t in each reader's own time zone, with UTC as the fallback for clients (and notifications)
// that do not format dates. https://api.slack.com/reference/surfaces/formatting#date-formatting
func slackDate(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

// duration renders d the way playbooks write budgets: 15m, 1h30m, 3m12s.
func durationText(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	d = d.Round(time.Second)
	if d == 0 {
		return "<1s"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// budget renders a phase budget, where zero means none.
func budgetText(d time.Duration) string {
	if d <= 0 {
		return "no budget"
	}
	return durationText(d)
}

// actor renders who did something, as the approval package names people: "slack:U123" or
// "slack:U123 (Alice)" becomes a mention, "operator:alice" the operator's name.
func actorText(who string) string {
	who = strings.TrimSpace(who)
	if i := strings.Index(who, " ("); i > 0 && strings.HasSuffix(who, ")") {
		who = who[:i]
	}
	kind, id, ok := strings.Cut(who, ":")
	switch {
	case !ok || id == "":
		return esc(orDash(who))
	case kind == "slack" && isSlackID(id, "UW"):
		return "<@" + id + ">"
	case kind == "operator":
		return esc(id) + " (operator)"
	}
	return esc(who)
}

// actors renders a list of people.
func actorsText(list []string) string {
	out := make([]string, 0, len(list))
	for _, a := range list {
		out = append(out, actorText(a))
	}
	return strings.Join(out, ", ")
}

// subteam mentions a Slack user group, which notifies its members. A value that is not a group id
// (S…) is shown as text rather than trusted as markup.
func subteam(id string) string {
	id = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(id), "!"), "subteam^")
	if isSlackID(id, "S") {
		return "<!subteam^" + id + ">"
	}
	return esc(id)
}

// isSlackID reports whether s looks like a Slack object id starting with one of the given letters.
func isSlackID(s, first string) bool {
	if len(s) < 2 || !strings.ContainsRune(first, rune(s[0])) {
		return false
	}
	for _, c := range s {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// size renders a byte count.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Block Kit shorthands.

func mrkdwnText(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

func plainText(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

func sectionBlock(s string, fields ...string) *slack.SectionBlock {
	var fs []*slack.TextBlockObject
	for _, f := range fields {
		fs = append(fs, mrkdwnText(f))
	}
	return slack.NewSectionBlock(mrkdwnText(s), fs, nil)
}

func contextBlock(parts ...string) *slack.ContextBlock {
	return slack.NewContextBlock("", mrkdwnText(strings.Join(parts, " · ")))
}
