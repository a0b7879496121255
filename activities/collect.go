package activities

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/activities/provider"
)

// logKinds are the logs evidence.collect_logs accepts, as the catalog documents them.
var logKinds = []string{"security", "powershell", "web", "rdp", "taskscheduler", "sysmon"}

// Default durations of the catalog's optional parameters.
const (
	defaultCapture = 5 * time.Minute
	defaultSince   = 24 * time.Hour
)

// collect streams what a provider collects into the store as evidence name of the step. A retry whose step
// already stored the evidence (the worker died after storing, before completing) returns it without asking
// the provider again.
func (a *Activities) collect(ctx context.Context, c *call, kind, name string,
	get func(resume provider.Progress, report provider.ProgressFunc) (provider.Capture, error)) (actions.Evidence, error) {
	if a.Store == nil {
		return actions.Evidence{}, notConfigured(c.action.Name, "evidence store")
	}
	key := c.req.IdempotencyKey
	if ev, ok, err := a.Store.Lookup(ctx, key, name); err != nil {
		return actions.Evidence{}, c.fail(err)
	} else if ok {
		ev.Kind = kind
		return ev, nil
	}
	beat := newBeater(ctx)
	capture, err := get(resume(ctx), beat.report)
	if err != nil {
		return actions.Evidence{}, c.fail(err)
	}
	return a.store(ctx, c, kind, name, capture, beat)
}

// store streams a capture into the store, heartbeating while it copies: a real memory image takes minutes.
func (a *Activities) store(ctx context.Context, c *call, kind, name string, capture provider.Capture, beat *beater) (actions.Evidence, error) {
	if capture.Body == nil {
		return actions.Evidence{}, c.fail(fmt.Errorf("provider %s returned no data", c.info.Name()))
	}
	defer capture.Body.Close()
	ev, err := a.Store.Put(ctx, c.req.IdempotencyKey, name, &beatingReader{r: capture.Body, beat: beat})
	if err != nil {
		return actions.Evidence{}, c.fail(err)
	}
	ev.Kind = kind
	return ev, nil
}

// MemoryDump implements evidence.memory_dump.
func (a *Activities) MemoryDump(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "evidence.memory_dump", "evidence", a.Evidence, req)
	if err != nil {
		return actions.Result{}, err
	}
	host := param(req, "host")
	ev, err := a.collect(ctx, c, "memory", "memory.raw", func(r provider.Progress, p provider.ProgressFunc) (provider.Capture, error) {
		return a.Evidence.MemoryDump(ctx, req.IdempotencyKey, host, r, p)
	})
	if err != nil {
		return actions.Result{}, err
	}
	return c.result(evidenceOutput(ev, "size", ev.Size), fmt.Sprintf("captured a %s memory image of %s", bytesize(ev.Size), host), ev), nil
}

// NetworkCapture implements evidence.network_capture.
func (a *Activities) NetworkCapture(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "evidence.network_capture", "evidence", a.Evidence, req)
	if err != nil {
		return actions.Result{}, err
	}
	host := param(req, "host")
	d, err := req.Duration("duration", defaultCapture)
	if err != nil {
		return actions.Result{}, invalid(c.action.Name, "%v", err)
	}
	ev, err := a.collect(ctx, c, "pcap", "capture.pcap", func(r provider.Progress, p provider.ProgressFunc) (provider.Capture, error) {
		return a.Evidence.NetworkCapture(ctx, req.IdempotencyKey, host, d, r, p)
	})
	if err != nil {
		return actions.Result{}, err
	}
	return c.result(evidenceOutput(ev, "size", ev.Size), fmt.Sprintf("captured %s of %s traffic (%s)", d, host, bytesize(ev.Size)), ev), nil
}

// CollectTriage implements evidence.collect_triage.
func (a *Activities) CollectTriage(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "evidence.collect_triage", "evidence", a.Evidence, req)
	if err != nil {
		return actions.Result{}, err
	}
	host := param(req, "host")
	ev, err := a.collect(ctx, c, "triage", "triage.zip", func(r provider.Progress, p provider.ProgressFunc) (provider.Capture, error) {
		return a.Evidence.CollectTriage(ctx, req.IdempotencyKey, host, r, p)
	})
	if err != nil {
		return actions.Result{}, err
	}
	return c.result(evidenceOutput(ev, "size", ev.Size), fmt.Sprintf("collected a %s triage package from %s", bytesize(ev.Size), host), ev), nil
}

// CollectLogs implements evidence.collect_logs. The event count comes from the provider, so a retry asks
// it again even when the export is already stored (the store keeps the first export).
func (a *Activities) CollectLogs(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "evidence.collect_logs", "evidence", a.Evidence, req)
	if err != nil {
		return actions.Result{}, err
	}
	if a.Store == nil {
		return actions.Result{}, notConfigured(c.action.Name, "evidence store")
	}
	host, log := param(req, "host"), param(req, "log")
	if !slices.Contains(logKinds, log) {
		return actions.Result{}, invalid(c.action.Name, "parameter log: %q is not one of %v", log, logKinds)
	}
	since, err := req.Duration("since", defaultSince)
	if err != nil {
		return actions.Result{}, invalid(c.action.Name, "%v", err)
	}
	beat := newBeater(ctx)
	lc, err := a.Evidence.CollectLogs(ctx, req.IdempotencyKey, host, log, since, resume(ctx), beat.report)
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	ev, err := a.store(ctx, c, "logs", log+"-log.jsonl", lc.Capture, beat)
	if err != nil {
		return actions.Result{}, err
	}
	return c.result(evidenceOutput(ev, "events", lc.Events), fmt.Sprintf("exported %d %s event(s) of the last %s from %s", lc.Events, log, since, host), ev), nil
}

// EmailHeaders implements evidence.email_headers.
func (a *Activities) EmailHeaders(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "evidence.email_headers", "evidence", a.Evidence, req)
	if err != nil {
		return actions.Result{}, err
	}
	if a.Store == nil {
		return actions.Result{}, notConfigured(c.action.Name, "evidence store")
	}
	id := param(req, "message_id")
	hc, err := a.Evidence.EmailHeaders(ctx, req.IdempotencyKey, id)
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	ev, err := a.store(ctx, c, "email-headers", "headers.txt", hc.Capture, newBeater(ctx))
	if err != nil {
		return actions.Result{}, err
	}
	return c.result(evidenceOutput(ev, "sender_ip", hc.SenderIP), fmt.Sprintf("preserved the headers of %s", id), ev), nil
}

// evidenceOutput is the output of a capture: locator, sha256 and one more documented key.
func evidenceOutput(ev actions.Evidence, key string, v any) map[string]any {
	return map[string]any{"locator": ev.Locator, "sha256": ev.SHA256, key: v}
}

func bytesize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// beatingReader keeps the activity alive while evidence is copied into the store (a real memory image
// takes minutes to upload): every second of copying it repeats the provider's last progress as the
// heartbeat, so a retry after a crash here still resumes from a finished capture.
type beatingReader struct {
	r    io.Reader
	beat *beater
	last time.Time
}

func (b *beatingReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if now := time.Now(); now.Sub(b.last) >= time.Second {
		b.last = now
		b.beat.again()
	}
	return n, err
}
