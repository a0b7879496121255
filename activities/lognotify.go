package activities

import (
	"context"
	"log/slog"
	"strings"
	"sync"

	"github.com/parry-soc/parry/notify"
)

var _ notify.Notifier = (*LogNotifier)(nil)

// LogNotifier delivers run events and escalations as structured log lines, one per event: the notifier of
// the dev default and of workers without Slack.
//
// It drops an event it already logged, by (run id, seq), so a notify activity retried on the same worker
// logs once. It remembers only in memory: a retry that lands on another worker process, or after a
// restart, logs the line again. Log consumers that need exactly-once should dedupe on run and seq.
type LogNotifier struct {
	logger *slog.Logger

	mu   sync.Mutex
	seen map[string]map[int]bool // "event <run>" or "escalation <run>" → seqs logged
	runs []string                // seen's keys, oldest first, to forget old runs
}

// maxRuns bounds the LogNotifier's memory: a redelivery comes within seconds, not after thousands of runs.
const maxRuns = 4096

// NewLogNotifier returns a LogNotifier writing to logger (nil: slog.Default()).
func NewLogNotifier(logger *slog.Logger) *LogNotifier {
	if logger == nil {
		logger = slog.Default()
	}
	return &LogNotifier{logger: logger, seen: map[string]map[int]bool{}}
}

// Notify logs one event.
func (n *LogNotifier) Notify(ctx context.Context, e notify.Event) (notify.Posted, error) {
	if !n.first("event "+e.Run.ID, e.Seq) {
		return notify.Posted{}, nil
	}
	level := slog.LevelInfo
	switch e.Kind {
	case notify.BudgetBreached, notify.StepFailed, notify.RunFailed:
		level = slog.LevelWarn
	}
	n.logger.LogAttrs(ctx, level, "parry "+e.Kind, eventAttrs(e)...)
	return notify.Posted{}, nil
}

// Escalate logs one escalation, at warning level.
func (n *LogNotifier) Escalate(ctx context.Context, esc notify.Escalation) error {
	if !n.first("escalation "+esc.Event.Run.ID, esc.Event.Seq) {
		return nil
	}
	attrs := append([]slog.Attr{slog.String("reason", esc.Reason)}, eventAttrs(esc.Event)...)
	if esc.Event.Run.Escalation != "" {
		attrs = append(attrs, slog.String("escalation_channel", esc.Event.Run.Escalation))
	}
	if esc.Event.Run.Oncall != "" {
		attrs = append(attrs, slog.String("oncall", esc.Event.Run.Oncall))
	}
	n.logger.LogAttrs(ctx, slog.LevelWarn, "parry escalation", attrs...)
	return nil
}

// first records (key, seq) and reports whether it is new.
func (n *LogNotifier) first(key string, seq int) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	seqs := n.seen[key]
	if seqs == nil {
		if len(n.runs) >= maxRuns {
			delete(n.seen, n.runs[0])
			n.runs = n.runs[1:]
		}
		seqs = map[int]bool{}
		n.seen[key] = seqs
		n.runs = append(n.runs, key)
	}
	if seqs[seq] {
		return false
	}
	seqs[seq] = true
	return true
}

// eventAttrs are the fields of an event worth a log line; empty ones are left out.
func eventAttrs(e notify.Event) []slog.Attr {
	attrs := []slog.Attr{
		slog.String("kind", e.Kind),
		slog.String("run", e.Run.ID),
		slog.Int("seq", e.Seq),
	}
	str := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	str("phase", e.Phase)
	str("step", e.Step)
	str("action", e.Action)
	str("status", e.Status)
	str("message", e.Message)
	str("error", e.Error)
	if e.Kind == notify.RunStarted {
		str("playbook", e.Run.Playbook)
		str("alert", e.Run.Source+"/"+e.Run.AlertID)
		str("severity", e.Run.Severity)
		str("host", e.Run.Host)
		str("techniques", strings.Join(e.Run.Techniques, ","))
		str("channel", e.Run.Channel)
	}
	if e.Budget > 0 {
		attrs = append(attrs, slog.Duration("budget", e.Budget), slog.Duration("used", e.Used))
	}
	if !e.Deadline.IsZero() {
		attrs = append(attrs, slog.Time("deadline", e.Deadline))
	}
	if ev := e.Evidence; ev != nil {
		str("evidence_kind", ev.Kind)
		str("evidence", ev.Locator)
		str("evidence_sha256", ev.SHA256)
	}
	if ap := e.Approval; ap != nil {
		str("approval", ap.ID)
		str("approval_group", ap.Group)
		str("approval_actor", ap.Actor)
		str("approval_decision", ap.Decision)
		str("approval_outcome", ap.Outcome)
		str("approval_reason", ap.Reason)
	}
	str("disposition", e.Disposition)
	str("summary", e.Summary)
	return attrs
}
