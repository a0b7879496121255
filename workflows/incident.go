package workflows

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/alerts"
	"github.com/parry-soc/parry/attack"
	"github.com/parry-soc/parry/notify"
)

// Names of the incident workflow and its messages.
const (
	IncidentWorkflowName = "IncidentWorkflow"
	SignalAlert          = "alert"          // an IncidentAlert: a run started for an alert on this host
	SignalHold           = "hold"           // a Hold: a run contained something
	SignalRelease        = "release"        // a ReleaseRequest: a run wants to release something
	SignalRunEnded       = "run-ended"      // a RunEnded: a run closed; its holds go
	SignalReleaseAnswer  = "release-answer" // a ReleaseAnswer, sent back to the asking run
	QueryIncident        = "incident"
)

// Defaults of an incident.
const (
	DefaultIncidentWindow    = time.Hour
	DefaultIncidentThreshold = 12.0
	defaultIncidentIdle      = 24 * time.Hour
	// incidentSignalBudget bounds the signals one execution takes before continuing as new: Temporal caps an
	// execution at 10,000 signals and its history at 50 MB, and a busy host must never reach either.
	incidentSignalBudget = 1000
	maxIncidentAlerts    = 500
	maxPredictions       = 10
	maxGroups            = 5
)

// IncidentID is the workflow ID of the incident of a host key.
func IncidentID(hostKey string) string { return "parry-incident-" + hostKey }

// IncidentAlert is the small reference the front door sends an incident for each alert: never the raw
// payload.
type IncidentAlert struct {
	AlertID    string    `json:"alert_id"`
	Source     string    `json:"source"`
	RunID      string    `json:"run_id,omitempty"` // empty when the alert started no run (unrouted)
	Playbook   string    `json:"playbook,omitempty"`
	Title      string    `json:"title,omitempty"`
	Severity   string    `json:"severity,omitempty"`
	Host       string    `json:"host,omitempty"`
	User       string    `json:"user,omitempty"`
	Techniques []string  `json:"techniques,omitempty"`
	Tactics    []string  `json:"tactics,omitempty"` // ATT&CK short names of the techniques' tactics, and any the vendor named
	Time       time.Time `json:"time"`
	// Where the incident escalates: the playbook's notify settings.
	Channel    string `json:"channel,omitempty"`
	Escalation string `json:"escalation,omitempty"`
	Oncall     string `json:"oncall,omitempty"`
}

// Hold says a run contains something (a host isolated, an account disabled).
type Hold struct {
	Run    string `json:"run"`
	Kind   string `json:"kind"`
	Target string `json:"target"`
}

// ReleaseRequest asks whether a run may release something: it may when no other open run holds it. The
// answer goes back to Run as a release-answer signal.
type ReleaseRequest struct {
	Hold
	Step string `json:"step"`
}

// ReleaseAnswer answers a ReleaseRequest.
type ReleaseAnswer struct {
	Step    string   `json:"step"`
	Release bool     `json:"release"`
	HeldBy  []string `json:"held_by,omitempty"` // the other runs that still hold it
}

// RunEnded tells an incident a run closed.
type RunEnded struct {
	Run string `json:"run"`
}

// IncidentInput starts (or continues) an incident.
type IncidentInput struct {
	Key       string        `json:"key"`
	Window    time.Duration `json:"window,omitempty"`
	Threshold float64       `json:"threshold,omitempty"`
	Idle      time.Duration `json:"idle,omitempty"`
	// SignalBudget is how many signals one execution takes before continuing as new (default 1000).
	SignalBudget int `json:"signal_budget,omitempty"`
	// State is carried over continue-as-new.
	State *Incident `json:"state,omitempty"`
	// Hold is counted from the start: a ledger is started by the run that contains its target.
	Hold *Hold `json:"hold,omitempty"`
}

// Incident is an incident's state, as the incident query returns it.
type Incident struct {
	ID         string          `json:"id"`
	Key        string          `json:"key"`
	Opened     time.Time       `json:"opened"`
	Window     time.Duration   `json:"window"`
	Threshold  float64         `json:"threshold"`
	Alerts     []IncidentAlert `json:"alerts"` // the latest maxIncidentAlerts
	AlertsSeen int             `json:"alerts_seen"`
	Runs       []string        `json:"runs"`
	// Chain is the technique chain of the alerts within the window ending at the latest alert.
	Chain       []ChainLink   `json:"chain"`
	Risk        float64       `json:"risk"`
	Severity    string        `json:"severity"`
	Escalations []Escalation  `json:"escalations,omitempty"`
	Groups      []GroupMatch  `json:"groups,omitempty"`
	Predicted   []Prediction  `json:"predicted,omitempty"`
	Holds       []Hold        `json:"holds,omitempty"`
	Releases    []ReleaseNote `json:"releases,omitempty"`
	// Executions counts continue-as-new hand-overs.
	Executions int `json:"executions"`

	pending []workflow.Future // escalations and answers not yet delivered
}

// ChainLink is one tactic of a technique chain, in kill-chain (matrix) order.
type ChainLink struct {
	Tactic     string    `json:"tactic"`
	Order      int       `json:"order"`
	Techniques []string  `json:"techniques"`
	Severity   string    `json:"severity"` // the highest among its alerts
	FirstSeen  time.Time `json:"first_seen"`
}

// GroupMatch is a hypothesis: an ATT&CK group whose known techniques match what this incident has seen.
type GroupMatch struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Score   float64  `json:"score"` // share of the seen techniques the group is known to use
	Matched []string `json:"matched"`
	URL     string   `json:"url"`
}

// Prediction is a hypothesis: a technique the best-matching groups use that has not been seen yet.
type Prediction struct {
	Technique string   `json:"technique"`
	Name      string   `json:"name"`
	Tactics   []string `json:"tactics"`
	Weight    float64  `json:"weight"` // sum of the scores of the matching groups that use it
	Groups    []string `json:"groups"`
}

// ReleaseNote records a release decision.
type ReleaseNote struct {
	At      time.Time `json:"at"`
	Run     string    `json:"run"`
	Kind    string    `json:"kind"`
	Target  string    `json:"target"`
	Release bool      `json:"release"`
	HeldBy  []string  `json:"held_by,omitempty"`
}

// IncidentWorkflow correlates the alerts of one host (or account): it links their runs, computes the
// technique chain and its risk, escalates when the risk crosses the threshold, ranks the ATT&CK groups whose
// known techniques best match (a hypothesis, never an attribution), and keeps the containment count so a
// host is released only when no open run still needs it contained.
func IncidentWorkflow(ctx workflow.Context, in IncidentInput) (Incident, error) {
	inc := in.State
	if inc == nil {
		inc = &Incident{ID: workflow.GetInfo(ctx).WorkflowExecution.ID, Key: in.Key, Opened: workflow.Now(ctx), Severity: alerts.SeverityLow}
	}
	inc.Window, inc.Threshold = in.Window, in.Threshold
	if inc.Window <= 0 {
		inc.Window = DefaultIncidentWindow
	}
	if inc.Threshold <= 0 {
		inc.Threshold = DefaultIncidentThreshold
	}
	idle := in.Idle
	if idle <= 0 {
		idle = defaultIncidentIdle
	}
	budget := in.SignalBudget
	if budget <= 0 {
		budget = incidentSignalBudget
	}
	if in.Hold != nil {
		inc.hold(*in.Hold)
	}
	if err := workflow.SetQueryHandler(ctx, QueryIncident, func() (Incident, error) { return *inc, nil }); err != nil {
		return *inc, fmt.Errorf("register incident query: %w", err)
	}
	alertCh := workflow.GetSignalChannel(ctx, SignalAlert)
	holdCh := workflow.GetSignalChannel(ctx, SignalHold)
	releaseCh := workflow.GetSignalChannel(ctx, SignalRelease)
	endedCh := workflow.GetSignalChannel(ctx, SignalRunEnded)

	signals := 0
	handle := func(sel workflow.Selector) {
		sel.AddReceive(alertCh, func(c workflow.ReceiveChannel, _ bool) {
			var a IncidentAlert
			c.Receive(ctx, &a)
			signals++
			inc.addAlert(ctx, a)
		})
		sel.AddReceive(holdCh, func(c workflow.ReceiveChannel, _ bool) {
			var h Hold
			c.Receive(ctx, &h)
			signals++
			inc.hold(h)
		})
		sel.AddReceive(releaseCh, func(c workflow.ReceiveChannel, _ bool) {
			var r ReleaseRequest
			c.Receive(ctx, &r)
			signals++
			inc.release(ctx, r)
		})
		sel.AddReceive(endedCh, func(c workflow.ReceiveChannel, _ bool) {
			var e RunEnded
			c.Receive(ctx, &e)
			signals++
			inc.runEnded(e.Run)
		})
	}
	for {
		timerCtx, cancelTimer := workflow.WithCancel(ctx)
		idleTimer := workflow.NewTimer(timerCtx, idle)
		timedOut := false
		sel := workflow.NewSelector(ctx)
		handle(sel)
		sel.AddFuture(idleTimer, func(workflow.Future) { timedOut = true })
		sel.Select(ctx)
		cancelTimer()
		if timedOut && len(inc.Holds) == 0 {
			inc.settle(ctx)
			if !pending(alertCh, holdCh, releaseCh, endedCh) {
				return *inc, nil // quiet for a day and holding nothing: the incident is over
			}
		}
		if signals >= budget || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			// Take every signal already delivered before handing over — none may be lost — and let what they
			// set off (escalations, answers) go out first; handling may deliver more, so repeat until quiet.
			for {
				inc.settle(ctx)
				drained := false
				for {
					sel := workflow.NewSelector(ctx)
					handle(sel)
					if !sel.HasPending() {
						break
					}
					sel.Select(ctx)
					drained = true
				}
				if !drained && len(inc.pending) == 0 {
					break
				}
			}
			inc.Executions++
			return *inc, workflow.NewContinueAsNewError(ctx, IncidentWorkflowName, IncidentInput{Key: in.Key, Window: in.Window, Threshold: in.Threshold, Idle: in.Idle, SignalBudget: in.SignalBudget, State: inc})
		}
	}
}

func pending(chs ...workflow.ReceiveChannel) bool {
	for _, c := range chs {
		if c.Len() > 0 {
			return true
		}
	}
	return false
}

// addAlert links an alert and its run and recomputes the chain, risk and hypotheses.
func (inc *Incident) addAlert(ctx workflow.Context, a IncidentAlert) {
	for _, seen := range inc.Alerts {
		if seen.Source == a.Source && seen.AlertID == a.AlertID {
			return // the same alert again (a retried front door request)
		}
	}
	if a.Time.IsZero() {
		a.Time = workflow.Now(ctx)
	}
	inc.AlertsSeen++
	inc.Alerts = append(inc.Alerts, a)
	if len(inc.Alerts) > maxIncidentAlerts {
		inc.Alerts = inc.Alerts[len(inc.Alerts)-maxIncidentAlerts:]
	}
	if a.RunID != "" && !slices.Contains(inc.Runs, a.RunID) {
		inc.Runs = append(inc.Runs, a.RunID)
	}
	if alerts.SeverityRank(a.Severity) > alerts.SeverityRank(inc.Severity) {
		inc.Severity = a.Severity
	}
	inc.Chain, inc.Risk = Chain(inc.Alerts, inc.Window)
	inc.Groups, inc.Predicted = Attribute(inc.seenTechniques())
	if inc.Risk >= inc.Threshold && !inc.escalatedForChain() {
		reason := fmt.Sprintf("technique chain on %s: %s — risk %.1f crosses %.1f within %s", inc.Key, chainText(inc.Chain), inc.Risk, inc.Threshold, inc.Window)
		inc.Severity = alerts.SeverityCritical
		inc.Escalations = append(inc.Escalations, Escalation{At: workflow.Now(ctx), Reason: reason})
		inc.escalate(ctx, a, reason)
	}
}

// escalatedForChain reports whether the incident already escalated for alerts within the current window.
func (inc *Incident) escalatedForChain() bool {
	if len(inc.Escalations) == 0 || len(inc.Alerts) == 0 {
		return false
	}
	latest := inc.Alerts[len(inc.Alerts)-1].Time
	return latest.Sub(inc.Escalations[len(inc.Escalations)-1].At) < inc.Window
}

func (inc *Incident) seenTechniques() []string {
	var ids []string
	for _, a := range inc.Alerts {
		ids = append(ids, a.Techniques...)
	}
	return alerts.NormalizeTechniques(ids)
}

// escalate sends the escalation through the notifier's escalation lane.
func (inc *Incident) escalate(ctx workflow.Context, a IncidentAlert, reason string) {
	e := notify.Event{
		Run: notify.Run{ID: inc.ID, Playbook: "incident", Name: "Incident on " + inc.Key, AlertID: a.AlertID, Source: a.Source,
			Title: "Technique chain on " + inc.Key, Severity: inc.Severity, Host: a.Host, User: a.User, Techniques: inc.seenTechniques(),
			Channel: a.Channel, Escalation: a.Escalation, Oncall: a.Oncall},
		Seq: 1000000 + len(inc.Escalations), Kind: "incident.escalated", Time: workflow.Now(ctx), Message: reason,
	}
	opts := activityOptions(fmt.Sprintf("escalate-incident-%d", len(inc.Escalations)), mustAction(actions.NotifyEscalation), nil)
	opts.ScheduleToCloseTimeout = time.Hour
	// The incident goes on taking signals while the escalation is delivered; it waits for it only before
	// handing over or ending.
	inc.pending = append(inc.pending, workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), actions.NotifyEscalation, notify.Escalation{Event: e, Reason: reason}))
}

// settle waits for the escalations and release answers still in flight.
func (inc *Incident) settle(ctx workflow.Context) {
	for _, f := range inc.pending {
		_ = f.Get(ctx, nil)
	}
	inc.pending = nil
}

// Chain computes the technique chain of the alerts within window of the latest one — distinct tactics in
// kill-chain (matrix) order — and its risk: the sum over the chain's tactics of the highest severity seen
// for each (low 1, medium 2, high 3, critical 4), times 1 + 0.25 per tactic beyond the first (a longer
// chain is further along the kill chain), times 1.25 when the tactics appeared in kill-chain order (an
// intrusion progressing rather than unrelated noise). Three high alerts for initial access, execution and
// lateral movement within the hour give 9 × 1.5 × 1.25 ≈ 16.9; one alone gives 3.
func Chain(list []IncidentAlert, window time.Duration) ([]ChainLink, float64) {
	if len(list) == 0 {
		return nil, 0
	}
	latest := list[0].Time
	for _, a := range list {
		if a.Time.After(latest) {
			latest = a.Time
		}
	}
	cat := attack.Default()
	links := map[string]*ChainLink{}
	for _, a := range list {
		if latest.Sub(a.Time) > window {
			continue
		}
		for _, tactic := range a.Tactics {
			order := cat.TacticOrder(tactic)
			if order < 0 {
				continue
			}
			l, ok := links[tactic]
			if !ok {
				l = &ChainLink{Tactic: tactic, Order: order, FirstSeen: a.Time, Severity: a.Severity}
				links[tactic] = l
			}
			if a.Time.Before(l.FirstSeen) {
				l.FirstSeen = a.Time
			}
			if alerts.SeverityRank(a.Severity) > alerts.SeverityRank(l.Severity) {
				l.Severity = a.Severity
			}
			for _, t := range a.Techniques {
				if !slices.Contains(l.Techniques, t) && slices.ContainsFunc(cat.TacticsOf(t), func(tc attack.Tactic) bool { return tc.ShortName == tactic }) {
					l.Techniques = append(l.Techniques, t)
				}
			}
		}
	}
	chain := make([]ChainLink, 0, len(links))
	for _, k := range workflow.DeterministicKeys(links) {
		l := links[k]
		sort.Strings(l.Techniques)
		chain = append(chain, *l)
	}
	sort.SliceStable(chain, func(i, j int) bool { return chain[i].Order < chain[j].Order })
	if len(chain) == 0 {
		return nil, 0
	}
	sum := 0.0
	inOrder := true
	for i, l := range chain {
		sum += float64(max(alerts.SeverityRank(l.Severity), 1))
		if i > 0 && l.FirstSeen.Before(chain[i-1].FirstSeen) {
			inOrder = false
		}
	}
	risk := sum * (1 + 0.25*float64(len(chain)-1))
	if inOrder && len(chain) > 1 {
		risk *= 1.25
	}
	return chain, risk
}

func chainText(chain []ChainLink) string {
	var parts []string
	for _, l := range chain {
		parts = append(parts, l.Tactic+" ("+strings.Join(l.Techniques, ", ")+")")
	}
	return strings.Join(parts, " → ")
}

// Attribute ranks the ATT&CK groups by the share of the seen techniques each is known to use (a group using
// a technique's parent or one of its sub-techniques counts), and predicts the techniques the best-matching
// groups use that have not been seen yet. Both are hypotheses for an analyst, not findings.
func Attribute(seen []string) ([]GroupMatch, []Prediction) {
	if len(seen) == 0 {
		return nil, nil
	}
	cat := attack.Default()
	related := func(a, b string) bool {
		return a == b || strings.HasPrefix(a, b+".") || strings.HasPrefix(b, a+".")
	}
	var matches []GroupMatch
	uses := map[string][]string{} // group id → techniques
	for _, g := range cat.Groups() {
		var matched []string
		for _, s := range seen {
			if slices.ContainsFunc(g.Techniques, func(t string) bool { return related(s, t) }) {
				matched = append(matched, s)
			}
		}
		if len(matched) == 0 {
			continue
		}
		uses[g.ID] = g.Techniques
		matches = append(matches, GroupMatch{ID: g.ID, Name: g.Name, Score: float64(len(matched)) / float64(len(seen)), Matched: matched, URL: g.URL})
	}
	sort.SliceStable(matches, func(i, j int) bool {
		if matches[i].Score != matches[j].Score {
			return matches[i].Score > matches[j].Score
		}
		// Equal coverage: the group with the smaller known repertoire is the more specific match.
		if li, lj := len(uses[matches[i].ID]), len(uses[matches[j].ID]); li != lj {
			return li < lj
		}
		return matches[i].ID < matches[j].ID
	})
	if len(matches) > maxGroups {
		matches = matches[:maxGroups]
	}
	weights := map[string]*Prediction{}
	for _, m := range matches {
		for _, t := range uses[m.ID] {
			if slices.ContainsFunc(seen, func(s string) bool { return related(s, t) }) {
				continue
			}
			p, ok := weights[t]
			if !ok {
				tech, _ := cat.Technique(t)
				p = &Prediction{Technique: t, Name: tech.Name}
				for _, tc := range cat.TacticsOf(t) {
					p.Tactics = append(p.Tactics, tc.ShortName)
				}
				weights[t] = p
			}
			p.Weight += m.Score
			p.Groups = append(p.Groups, m.ID)
		}
	}
	preds := make([]Prediction, 0, len(weights))
	for _, k := range workflow.DeterministicKeys(weights) {
		preds = append(preds, *weights[k])
	}
	sort.SliceStable(preds, func(i, j int) bool {
		if preds[i].Weight != preds[j].Weight {
			return preds[i].Weight > preds[j].Weight
		}
		return preds[i].Technique < preds[j].Technique
	})
	if len(preds) > maxPredictions {
		preds = preds[:maxPredictions]
	}
	return matches, preds
}

// normTarget is how holds compare targets: case-insensitively, and hosts by the short name incidents
// correlate on, so "WS-0042" held by one run and "ws-0042.corp.example.com" released by another are the
// same host.
func normTarget(kind, s string) string {
	if kind == "host" {
		return alerts.Alert{Host: strings.TrimSpace(s)}.HostKey()
	}
	return strings.ToLower(strings.TrimSpace(s))
}

func (inc *Incident) hold(h Hold) {
	h.Target = normTarget(h.Kind, h.Target)
	for _, x := range inc.Holds {
		if x == h {
			return
		}
	}
	inc.Holds = append(inc.Holds, h)
}

// release drops the asking run's hold and answers whether anything else still holds the target.
func (inc *Incident) release(ctx workflow.Context, r ReleaseRequest) {
	r.Target = normTarget(r.Kind, r.Target)
	var others []string
	kept := inc.Holds[:0]
	for _, h := range inc.Holds {
		switch {
		case h.Kind == r.Kind && h.Target == r.Target && h.Run == r.Run:
			// this run lets go
		case h.Kind == r.Kind && h.Target == r.Target:
			others = append(others, h.Run)
			kept = append(kept, h)
		default:
			kept = append(kept, h)
		}
	}
	inc.Holds = kept
	ans := ReleaseAnswer{Step: r.Step, Release: len(others) == 0, HeldBy: others}
	inc.Releases = append(inc.Releases, ReleaseNote{At: workflow.Now(ctx), Run: r.Run, Kind: r.Kind, Target: r.Target, Release: ans.Release, HeldBy: others})
	if len(inc.Releases) > maxIncidentAlerts {
		inc.Releases = inc.Releases[len(inc.Releases)-maxIncidentAlerts:]
	}
	// The asking run waits for this answer; if it has ended meanwhile the signal fails and nothing is lost.
	inc.pending = append(inc.pending, workflow.SignalExternalWorkflow(ctx, r.Run, "", SignalReleaseAnswer, ans))
}

func (inc *Incident) runEnded(run string) {
	inc.Holds = slices.DeleteFunc(inc.Holds, func(h Hold) bool { return h.Run == run })
}
