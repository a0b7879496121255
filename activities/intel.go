package activities

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/parry-soc/parry/actions"
)

// Detonate implements sandbox.detonate. It heartbeats while the sandbox runs and resumes from the last
// heartbeat; the full report is kept as evidence (kind "report") and the output's report is its locator.
func (a *Activities) Detonate(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "sandbox.detonate", "sandbox", a.Sandbox, req)
	if err != nil {
		return actions.Result{}, err
	}
	if a.Store == nil {
		return actions.Result{}, notConfigured(c.action.Name, "evidence store")
	}
	sha := strings.ToLower(param(req, "sha256"))
	beat := newBeater(ctx)
	d, err := a.Sandbox.Detonate(ctx, req.IdempotencyKey, sha, resume(ctx), beat.report)
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	ev, err := a.Store.Put(ctx, req.IdempotencyKey, "sandbox-report.json", &beatingReader{r: bytes.NewReader(d.Report), beat: beat})
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	ev.Kind = "report"
	iocs := d.IOCs
	if iocs == nil {
		iocs = []string{}
	}
	return c.result(map[string]any{"verdict": d.Verdict, "score": d.Score, "family": d.Family, "iocs": iocs, "report": ev.Locator},
		fmt.Sprintf("detonated %s: %s (score %d)", short(sha), d.Verdict, d.Score), ev), nil
}

// LookupHash implements intel.lookup_hash.
func (a *Activities) LookupHash(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "intel.lookup_hash", "intel", a.Intel, req)
	if err != nil {
		return actions.Result{}, err
	}
	sha := strings.ToLower(param(req, "sha256"))
	hi, err := a.Intel.LookupHash(ctx, sha)
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	det := hi.Detections
	if det == nil {
		det = []string{}
	}
	note := fmt.Sprintf("%s is %s", short(sha), hi.Verdict)
	if hi.Family != "" {
		note += " (" + hi.Family + ")"
	}
	return c.result(map[string]any{"verdict": hi.Verdict, "family": hi.Family, "detections": det, "first_seen": hi.FirstSeen}, note), nil
}

// LookupIP implements intel.lookup_ip.
func (a *Activities) LookupIP(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "intel.lookup_ip", "intel", a.Intel, req)
	if err != nil {
		return actions.Result{}, err
	}
	ip := param(req, "ip")
	ii, err := a.Intel.LookupIP(ctx, ip)
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	tags := ii.Tags
	if tags == nil {
		tags = []string{}
	}
	return c.result(map[string]any{"verdict": ii.Verdict, "reputation": ii.Reputation, "tags": tags},
		fmt.Sprintf("%s is %s (reputation %d)", ip, ii.Verdict, ii.Reputation)), nil
}
