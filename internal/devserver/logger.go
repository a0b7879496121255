package devserver

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// levelHandler drops records below min before they reach the wrapped
// handler (the Temporal server logs hundreds of info lines at start-up),
// warnings that are part of normal operation, and, once stopping is set,
// everything below error: a shutting-down server warns about every poll
// and connection it cuts.
type levelHandler struct {
	min      slog.Leveler
	stopping *atomic.Bool
	inner    slog.Handler
}

func newLevelHandler(min slog.Leveler, inner slog.Handler) levelHandler {
	return levelHandler{min: min, stopping: new(atomic.Bool), inner: inner}
}

func (h levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	if h.stopping.Load() && l < slog.LevelError {
		return false
	}
	return l >= h.min.Level() && h.inner.Enabled(ctx, l)
}

func (h levelHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelError && expectedWarning(r.Message) {
		return nil
	}
	return h.inner.Handle(ctx, r)
}

func (h levelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelHandler{min: h.min, stopping: h.stopping, inner: h.inner.WithAttrs(attrs)}
}

func (h levelHandler) WithGroup(name string) slog.Handler {
	return levelHandler{min: h.min, stopping: h.stopping, inner: h.inner.WithGroup(name)}
}

// expectedWarning matches warnings the dev server causes on purpose.
func expectedWarning(msg string) bool {
	// The frontend's HTTP API (and so Nexus) is left off; Parry uses gRPC.
	return strings.HasPrefix(msg, "HTTP API port has not been set")
}

// temporalLogger adapts a *slog.Logger to the Temporal server's log.Logger.
type temporalLogger struct {
	l *slog.Logger
}

var (
	_ log.Logger      = temporalLogger{}
	_ log.WithLogger  = temporalLogger{}
	_ log.SLogWrapper = temporalLogger{}
)

func (t temporalLogger) log(level slog.Level, msg string, tags []tag.Tag) {
	ctx := context.Background()
	if !t.l.Enabled(ctx, level) {
		return
	}
	t.l.LogAttrs(ctx, level, msg, attrs(tags)...)
}

func attrs(tags []tag.Tag) []slog.Attr {
	out := make([]slog.Attr, 0, len(tags))
	for _, tg := range tags {
		out = append(out, slog.Any(tg.Key(), tg.Value()))
	}
	return out
}

func (t temporalLogger) Debug(msg string, tags ...tag.Tag) { t.log(slog.LevelDebug, msg, tags) }
func (t temporalLogger) Info(msg string, tags ...tag.Tag)  { t.log(slog.LevelInfo, msg, tags) }
func (t temporalLogger) Warn(msg string, tags ...tag.Tag)  { t.log(slog.LevelWarn, msg, tags) }
func (t temporalLogger) Error(msg string, tags ...tag.Tag) { t.log(slog.LevelError, msg, tags) }

// DPanic only panics in zap's development mode; the server runs in
// production mode, where it is an error.
func (t temporalLogger) DPanic(msg string, tags ...tag.Tag) { t.log(slog.LevelError, msg, tags) }

func (t temporalLogger) Panic(msg string, tags ...tag.Tag) {
	t.log(slog.LevelError, msg, tags)
	panic(msg)
}

// Fatal keeps zap's contract, which the server relies on: callers do not
// expect to return (a failed listener, an unreadable namespace registry).
// Start checks ports beforehand so that the usual causes surface as errors.
func (t temporalLogger) Fatal(msg string, tags ...tag.Tag) {
	t.l.LogAttrs(context.Background(), slog.LevelError, "temporal server fatal error: "+msg, attrs(tags)...)
	os.Exit(1)
}

func (t temporalLogger) With(tags ...tag.Tag) log.Logger {
	args := make([]any, 0, len(tags))
	for _, a := range attrs(tags) {
		args = append(args, a)
	}
	return temporalLogger{l: t.l.With(args...)}
}

// SLog lets the server's own slog bridge reuse our logger directly.
func (t temporalLogger) SLog() *slog.Logger { return t.l }
