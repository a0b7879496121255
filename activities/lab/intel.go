package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/parry-soc/parry/activities/provider"
)

// Detonate runs a file in the simulated sandbox: the verdict, behaviour and indicators come from the
// fixture, and the detonation takes the file's sandbox.seconds (or timing.detonation_seconds). The lab has
// no sample of a file the fixture does not know: it reports verdict "unknown" at once.
func (l *Lab) Detonate(ctx context.Context, key, sha256 string, resume provider.Progress, report provider.ProgressFunc) (provider.Detonation, error) {
	sha256 = strings.ToLower(strings.TrimSpace(sha256))
	f := l.fx.file(sha256)
	if f == nil {
		return effect(l, "sandbox.detonate", key, sha256, func(_ *State, now time.Time) (provider.Detonation, error) {
			return detonation(sha256, nil, now)
		})
	}
	seconds := l.fx.Timing.DetonationSeconds
	if f.Sandbox != nil && f.Sandbox.Seconds != nil {
		seconds = *f.Sandbox.Seconds
	}
	return long(ctx, l, "sandbox.detonate", key, sha256, seconds, resume, report, func(_ *State, now time.Time) (provider.Detonation, error) {
		return detonation(sha256, f, now)
	})
}

func detonation(sha256 string, f *File, now time.Time) (provider.Detonation, error) {
	d := provider.Detonation{Verdict: provider.Unknown, IOCs: []string{}}
	rep := map[string]any{
		"simulated": true,
		"banner":    "PARRY LAB SIMULATION - no file was executed",
		"sha256":    sha256,
		"finished":  now.UTC().Format(time.RFC3339),
	}
	switch {
	case f == nil:
		rep["note"] = "the lab has no sample of this file"
	default:
		d.Verdict, d.Score, d.Family = f.Verdict, f.Score, f.Family
		rep["name"] = f.Name
		if f.Sandbox != nil {
			d.Score = f.Sandbox.Score
			d.IOCs = append(d.IOCs, f.Sandbox.IOCs...)
			rep["behaviour"] = f.Sandbox.Behaviour
		}
	}
	rep["verdict"], rep["score"], rep["family"], rep["iocs"] = d.Verdict, d.Score, d.Family, d.IOCs
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return provider.Detonation{}, fmt.Errorf("write sandbox report: %w", err)
	}
	d.Report = append(data, '\n')
	return d, nil
}

// LookupHash returns what the fixture's threat intelligence knows about a file; an unknown hash has verdict
// "unknown".
func (l *Lab) LookupHash(_ context.Context, sha256 string) (provider.HashIntel, error) {
	if err := l.inject("intel.lookup_hash", "", sha256); err != nil {
		return provider.HashIntel{}, err
	}
	f := l.fx.file(sha256)
	if f == nil {
		return provider.HashIntel{Verdict: provider.Unknown, Detections: []string{}}, nil
	}
	return provider.HashIntel{Verdict: f.Verdict, Family: f.Family, Detections: append([]string{}, f.Detections...), FirstSeen: f.FirstSeen}, nil
}

// LookupIP returns what the fixture's threat intelligence knows about an address; an unknown one has
// verdict "unknown".
func (l *Lab) LookupIP(_ context.Context, ip string) (provider.IPIntel, error) {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return provider.IPIntel{}, provider.InvalidInput("%q is not an IP address", ip)
	}
	if err := l.inject("intel.lookup_ip", "", addr.String()); err != nil {
		return provider.IPIntel{}, err
	}
	k := l.fx.ip(addr)
	if k == nil {
		return provider.IPIntel{Verdict: provider.Unknown, Tags: []string{}}, nil
	}
	return provider.IPIntel{Verdict: k.Verdict, Reputation: k.Reputation, Tags: append([]string{}, k.Tags...)}, nil
}

// GroupMembers returns the Slack user ids of a Slack user group, sorted.
func (l *Lab) GroupMembers(_ context.Context, group string) ([]string, error) {
	g := l.fx.groups[group]
	if g == nil {
		return nil, provider.NotFound("Slack user group", group)
	}
	members := slices.Clone(g.Members)
	slices.Sort(members)
	return slices.Compact(members), nil
}
