package report

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/workflows"
)

// Limits of output summaries: a report names what a step produced, it never dumps it.
const (
	maxValueRunes = 60 // a string value longer than this is truncated with an ellipsis
	maxListItems  = 3  // items of a list shown before "…"
	maxOutputKeys = 8  // keys of an output shown before "and n more"
)

// stamp is a time in UTC, RFC 3339 with milliseconds.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// offset is t relative to the timeline's start: +MM:SS.s (+H:MM:SS.s past an hour, +Dd HH:MM:SS past a
// day). Runs shorter than a minute show milliseconds, so their steps stay apart.
func (t *Timeline) offset(at time.Time) string {
	if at.IsZero() || t.Start.IsZero() {
		return ""
	}
	d := at.Sub(t.Start)
	sign := "+"
	if d < 0 {
		sign, d = "−", -d
	}
	fine := t.End.Sub(t.Start) < time.Minute
	return sign + clockDur(d, fine)
}

func clockDur(d time.Duration, fine bool) string {
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h := d / time.Hour
	d -= h * time.Hour
	m := d / time.Minute
	d -= m * time.Minute
	var sec string
	if fine {
		sec = fmt.Sprintf("%06.3f", d.Seconds())
	} else {
		sec = fmt.Sprintf("%04.1f", math.Floor(d.Seconds()*10)/10)
	}
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %02d:%02d:%s", days, h, m, sec[:2])
	case h > 0:
		return fmt.Sprintf("%d:%02d:%s", h, m, sec)
	}
	return fmt.Sprintf("%02d:%s", m, sec)
}

// when is a time with its offset: "2026-11-26T19:32:27.034Z (+00:00.137)".
func (t *Timeline) when(at time.Time) string {
	if at.IsZero() {
		return ""
	}
	if off := t.offset(at); off != "" {
		return stamp(at) + " (" + off + ")"
	}
	return stamp(at)
}

// human is a duration as people say it: 18ms, 4.1s, 14m59s, 15m, 2h05m, 2d3h.
func human(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return strconv.FormatFloat(math.Floor(d.Seconds()*10)/10, 'f', 1, 64) + "s"
	case d < time.Hour:
		if s := int(d.Seconds()) % 60; s != 0 {
			return fmt.Sprintf("%dm%02ds", int(d.Minutes()), s)
		}
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		if m := int(d.Minutes()) % 60; m != 0 {
			return fmt.Sprintf("%dh%02dm", int(d.Hours()), m)
		}
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	days := int(d.Hours()) / 24
	if h := int(d.Hours()) % 24; h != 0 {
		return fmt.Sprintf("%dd%dh", days, h)
	}
	return fmt.Sprintf("%dd", days)
}

// took is how long a step or phase ran, or "" when it has not both started and ended.
func took(from, to time.Time) string {
	if from.IsZero() || to.IsZero() {
		return ""
	}
	return human(to.Sub(from))
}

// truncate shortens s to n runes, ending in an ellipsis.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimRight(string(r[:n-1]), " ") + "…"
}

// oneLine folds a string onto one line: vendor messages may carry newlines that would break a table.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// summariseValue says what a value is in at most about n runes: short strings as they are, long ones
// truncated, lists by their first items and length, objects by their keys.
func summariseValue(v any, n int) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return truncate(oneLine(x), n)
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	case []any:
		if len(x) == 0 {
			return "[]"
		}
		var items []string
		for i, e := range x {
			if i == maxListItems {
				break
			}
			items = append(items, summariseValue(e, 24))
		}
		s := "[" + strings.Join(items, ", ")
		if len(x) > maxListItems {
			s += fmt.Sprintf(", … (%d items)", len(x))
		}
		return truncate(s+"]", n+20)
	case map[string]any:
		keys := slices.Sorted(maps.Keys(x))
		if len(keys) > 4 {
			return fmt.Sprintf("{%s, … (%d keys)}", strings.Join(keys[:4], ", "), len(keys))
		}
		return "{" + strings.Join(keys, ", ") + "}"
	default:
		return truncate(oneLine(fmt.Sprint(x)), n)
	}
}

// KV is one summarised key of an output.
type KV struct {
	Key, Value string
}

// summarise lists an output's keys with short values; past maxOutputKeys it says how many more there are.
func summarise(m map[string]any) (kvs []KV, more int) {
	keys := slices.Sorted(maps.Keys(m))
	for i, k := range keys {
		if i == maxOutputKeys {
			return kvs, len(keys) - maxOutputKeys
		}
		kvs = append(kvs, KV{Key: k, Value: summariseValue(m[k], maxValueRunes)})
	}
	return kvs, 0
}

// size is a byte count as people read it.
func size(n int64) string {
	switch {
	case n <= 0:
		return ""
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

// stateMark is a step or approval state as a symbol, so that a printout in black and white still tells
// states apart.
func stateMark(state string) string {
	switch state {
	case workflows.StepSucceeded, workflows.ApprovalApproved, workflows.StateCompleted, workflows.OutcomeGranted:
		return "✓"
	case workflows.StepFailed:
		return "✗"
	case workflows.StepDenied, workflows.OutcomeRefused:
		return "⊘"
	case workflows.StepSkipped:
		return "–"
	case workflows.StepCanceled:
		return "⨯"
	case workflows.ApprovalTimedOut:
		return "⌛"
	case workflows.StepRunning:
		return "▶"
	case workflows.StepWaitingApproval, workflows.StepWaitingTask, workflows.ApprovalOpen:
		return "…"
	case workflows.StepPending:
		return "○"
	case workflows.OutcomeCounted:
		return "+"
	}
	return "·"
}

// actor is who a person is, for a reader: "operator tester", "Slack user U0LEAD1 (Ana)".
func actor(a string) string {
	kind, id, ok := strings.Cut(a, ":")
	if !ok {
		return a
	}
	switch kind {
	case "slack":
		return "Slack user " + id
	case "operator":
		return "operator " + id
	}
	return a
}

// countedText says whether an attempt counted, and why not.
func countedText(a Attempt) string {
	switch a.Outcome {
	case workflows.OutcomeGranted:
		if a.Kind() == "approval" {
			return "yes — decided it"
		}
		return "yes"
	case workflows.OutcomeCounted:
		if a.Why != "" {
			return "yes — " + a.Why
		}
		return "yes — towards min"
	case workflows.OutcomeRefused:
		return "no — " + a.Why
	}
	return a.Outcome
}

// evidenceLine is an evidence item's kind and size: "memory, 1.0 MiB".
func evidenceLine(e actions.Evidence) string {
	parts := []string{e.Kind}
	if s := size(e.Size); s != "" {
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// stepNote is the one thing to say about a step beside its state: why it was skipped, denied or failed,
// what it did, who did the task.
func stepNote(s Step) string {
	switch {
	case s.Error != "" && s.Reason == "":
		return s.Error
	case s.Reason != "":
		return s.Reason
	}
	return s.Note
}
