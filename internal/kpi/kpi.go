// Package kpi computes a SOC's response KPIs from the results of closed playbook runs: per ATT&CK technique
// and per phase, how fast containment came, how long runs took to resolve, how often budgets were breached
// and runs failed, how long approvals waited, how often alerts were false positives (by technique, alert
// source and detection rule), and how many techniques an incident spanned. Compute is a pure function:
// the same runs give the same report, sorted, whatever their order.
//
// Definitions:
//   - Origin: when the alert fired (Result.Alert.Time), else when the run started. An alert time after the
//     run's start (a vendor clock ahead of Temporal's) is not trusted, and the run's start is used.
//   - Time to contain: origin → end of the containment phase, the phase with id "immediate" (else the
//     playbook's first phase), for runs where that phase is done: it ended with every step succeeded,
//     skipped or denied. A phase cut short by a failure or a close, or never reached, is no containment,
//     and the run is left out of the statistic (its N says how many runs it covers).
//   - Time to resolve: origin → run end, for runs that ended. MTTR is its mean.
//   - Budget-breach rate: runs with any phase over its budget / runs; per phase, breached / runs that
//     started the phase with a budget.
//   - Approval wait: opened → decided, for approvals a person approved or denied; approvals that timed out
//     or were canceled are counted apart (TimedOut), as they measure no decision.
//   - Failure rate: runs that ended failed (a step failed after its retries, or a budget breach with
//     on_breach: fail) / runs. Per phase: runs that failed in the phase / runs that started it; a run fails
//     in the phase of its first failed step, else of the breach that stopped it, else its last phase.
//   - False-positive rate: runs closed false-positive / runs closed with a disposition other than
//     undetermined (true-positive, false-positive, benign). Undetermined runs are left out: nobody said.
//   - Investigation depth: distinct ATT&CK techniques per incident. Unless the caller passes incidents,
//     an incident is the runs on one host key (the lowercased short host name, else the user, as
//     alerts.Alert.HostKey) whose origins fall within DefaultIncidentWindow of the incident's first run; the
//     next run after that opens a new incident. Runs with neither host nor user belong to no incident
//     (counted as Unkeyed).
//   - Median and p90 are nearest-rank percentiles: the value at rank ⌈p/100 × n⌉ of the sorted values, so
//     the median of an even count is the lower middle value, and every reported value is one that
//     occurred. Means are arithmetic (durations truncated to the nanosecond).
//
// Runs are counted under every technique their alert names; an alert with no technique (routed by
// tactic) is counted under the technique "" ("no technique").
package kpi

import (
	"encoding/json"
	"math"
	"sort"
	"time"

	"github.com/parry-soc/parry/alerts"
	"github.com/parry-soc/parry/attack"
	"github.com/parry-soc/parry/playbooks"
	"github.com/parry-soc/parry/workflows"
)

// DefaultIncidentWindow is how far after an incident's first alert another alert on the same host key
// still joins it.
const DefaultIncidentWindow = time.Hour

// ContainmentPhase is the id of the phase whose end is containment.
const ContainmentPhase = "immediate"

// Report is the KPIs of a set of runs.
type Report struct {
	Runs       int            `json:"runs"`
	Overall    Metrics        `json:"overall"`
	Techniques []TechniqueKPI `json:"techniques"` // by technique id
	Phases     []PhaseKPI     `json:"phases"`     // in playbook order
	Sources    []SourceKPI    `json:"sources"`    // by alert source
	Rules      []SourceKPI    `json:"rules"`      // by alert source, then rule
	Depth      Depth          `json:"investigation_depth"`
}

// Metrics are the KPIs of a group of runs.
type Metrics struct {
	Runs          int  `json:"runs"`
	TimeToContain Stat `json:"time_to_contain"`
	// TimeToResolve's Mean is the MTTR.
	TimeToResolve Stat `json:"time_to_resolve"`
	BudgetBreach  Rate `json:"budget_breach"`
	ApprovalWait  Stat `json:"approval_wait"`
	// ApprovalsTimedOut counts approvals that timed out or were canceled: they are not in ApprovalWait.
	ApprovalsTimedOut int  `json:"approvals_timed_out"`
	Failure           Rate `json:"failure"`
	FalsePositive     Rate `json:"false_positive"`
}

// TechniqueKPI is the KPIs of the runs whose alert names one technique.
type TechniqueKPI struct {
	Technique string `json:"technique"` // "" for alerts without a technique
	Name      string `json:"name,omitempty"`
	Metrics
	// Depth is the investigation depth of the incidents this technique was part of.
	Depth IntStat `json:"investigation_depth"`
}

// PhaseKPI is the KPIs of one phase (by id) across runs.
type PhaseKPI struct {
	Phase        string `json:"phase"`
	Runs         int    `json:"runs"` // runs that started the phase
	Done         int    `json:"done"` // … and finished it: every step succeeded, skipped or denied
	Duration     Stat   `json:"duration"`
	BudgetBreach Rate   `json:"budget_breach"` // of runs that started it with a budget
	ApprovalWait Stat   `json:"approval_wait"`
	Failure      Rate   `json:"failure"`
}

// SourceKPI is the false-positive rate of one alert source, or one of its detection rules.
type SourceKPI struct {
	Source        string `json:"source"`
	Rule          string `json:"rule,omitempty"`
	Runs          int    `json:"runs"`
	FalsePositive Rate   `json:"false_positive"`
}

// Depth is the investigation depth over incidents.
type Depth struct {
	Incidents  int     `json:"incidents"`
	Techniques IntStat `json:"techniques"`   // distinct techniques per incident
	Unkeyed    int     `json:"unkeyed_runs"` // runs with neither host nor user: in no incident
}

// Incident is a set of runs that answered one intrusion on one host key.
type Incident struct {
	Key   string    `json:"key"`
	Start time.Time `json:"start"`
	Runs  []string  `json:"runs"` // run ids
}

// Stat summarises durations. Its JSON gives seconds.
type Stat struct {
	N      int
	Median time.Duration
	P90    time.Duration
	Mean   time.Duration
}

// MarshalJSON writes the durations in seconds, for scripts and spreadsheets.
func (s Stat) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		N      int     `json:"n"`
		Median float64 `json:"median_seconds"`
		P90    float64 `json:"p90_seconds"`
		Mean   float64 `json:"mean_seconds"`
	}{s.N, s.Median.Seconds(), s.P90.Seconds(), s.Mean.Seconds()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Stat) UnmarshalJSON(b []byte) error {
	var v struct {
		N      int     `json:"n"`
		Median float64 `json:"median_seconds"`
		P90    float64 `json:"p90_seconds"`
		Mean   float64 `json:"mean_seconds"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	sec := func(f float64) time.Duration { return time.Duration(math.Round(f * float64(time.Second))) }
	*s = Stat{N: v.N, Median: sec(v.Median), P90: sec(v.P90), Mean: sec(v.Mean)}
	return nil
}

// IntStat summarises counts.
type IntStat struct {
	N      int     `json:"n"`
	Median int     `json:"median"`
	P90    int     `json:"p90"`
	Max    int     `json:"max"`
	Mean   float64 `json:"mean"` // rounded to two decimals
}

// Rate is Count of Of.
type Rate struct {
	Count int
	Of    int
}

// Value is the rate as a fraction, 0 when Of is 0.
func (r Rate) Value() float64 {
	if r.Of == 0 {
		return 0
	}
	return float64(r.Count) / float64(r.Of)
}

// MarshalJSON writes the count, the total and the fraction (4 decimals).
func (r Rate) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Count int     `json:"count"`
		Of    int     `json:"of"`
		Rate  float64 `json:"rate"`
	}{r.Count, r.Of, math.Round(r.Value()*1e4) / 1e4})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Rate) UnmarshalJSON(b []byte) error {
	var v struct {
		Count int `json:"count"`
		Of    int `json:"of"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = Rate{Count: v.Count, Of: v.Of}
	return nil
}

// Percentile is the nearest-rank p-th percentile (0 < p ≤ 100) of sorted values: the value at rank
// ⌈p/100 × n⌉. It returns the zero value for no values.
func Percentile[T int | time.Duration](sorted []T, p float64) T {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func durationStat(ds []time.Duration) Stat {
	if len(ds) == 0 {
		return Stat{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Stat{N: len(s), Median: Percentile(s, 50), P90: Percentile(s, 90), Mean: sum / time.Duration(len(s))}
}

func intStat(ns []int) IntStat {
	if len(ns) == 0 {
		return IntStat{}
	}
	s := append([]int(nil), ns...)
	sort.Ints(s)
	sum := 0
	for _, n := range s {
		sum += n
	}
	return IntStat{N: len(s), Median: Percentile(s, 50), P90: Percentile(s, 90), Max: s[len(s)-1],
		Mean: math.Round(float64(sum)/float64(len(s))*100) / 100}
}

// Origin is when the response clock starts for a run: the alert's time, else the run's start.
func Origin(r workflows.Result) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, r.Alert.Time); err == nil && !r.Started.IsZero() && !t.After(r.Started) {
		return t
	}
	if r.Started.IsZero() {
		if t, err := time.Parse(time.RFC3339Nano, r.Alert.Time); err == nil {
			return t
		}
	}
	return r.Started
}

// TimeToContain returns origin → end of the containment phase, and whether the run contained at all.
func TimeToContain(r workflows.Result) (time.Duration, bool) {
	i := containmentPhase(r)
	if i < 0 || !phaseDone(r, i) {
		return 0, false
	}
	return r.Phases[i].Ended.Sub(Origin(r)), true
}

// containmentPhase is the index of the "immediate" phase, else of the first phase, or -1 without phases.
func containmentPhase(r workflows.Result) int {
	for i, p := range r.Phases {
		if p.ID == ContainmentPhase {
			return i
		}
	}
	if len(r.Phases) > 0 {
		return 0
	}
	return -1
}

// phaseDone reports whether a phase ended with every step succeeded, skipped or denied.
func phaseDone(r workflows.Result, i int) bool {
	p := r.Phases[i]
	if p.Started.IsZero() || p.Ended.IsZero() {
		return false
	}
	for _, s := range r.Steps {
		if s.Phase != p.ID {
			continue
		}
		switch s.State {
		case workflows.StepSucceeded, workflows.StepSkipped, workflows.StepDenied:
		default:
			return false
		}
	}
	return true
}

// failedPhase is the phase a failed run failed in, "" for a run that did not fail.
func failedPhase(r workflows.Result) string {
	if r.State != workflows.StateFailed {
		return ""
	}
	for _, s := range r.Steps {
		if s.State == workflows.StepFailed {
			return s.Phase
		}
	}
	for _, p := range r.Phases {
		if p.Breached && p.OnBreach == playbooks.BreachFail {
			return p.ID
		}
	}
	last := ""
	for _, p := range r.Phases {
		if !p.Started.IsZero() {
			last = p.ID
		}
	}
	return last
}

// approvalWait is how long a decided approval waited; decided is false for approvals a person did not
// decide, and undecided true for those that timed out or were canceled (open ones are neither).
func approvalWait(a workflows.ApprovalState) (wait time.Duration, decided, undecided bool) {
	switch a.State {
	case workflows.ApprovalApproved, workflows.ApprovalDenied:
		if a.Decided.IsZero() || a.Opened.IsZero() {
			return 0, false, false
		}
		return a.Decided.Sub(a.Opened), true, false
	case workflows.ApprovalTimedOut, workflows.ApprovalCanceled:
		return 0, false, true
	}
	return 0, false, false // still open: a running result
}

// accumulator gathers one group's raw values.
type accumulator struct {
	runs                   int
	contain, resolve, wait []time.Duration
	breached, failed       int
	fp, disposed, timedOut int
}

func (a *accumulator) add(r workflows.Result) {
	a.runs++
	if d, ok := TimeToContain(r); ok {
		a.contain = append(a.contain, d)
	}
	if !r.Ended.IsZero() {
		a.resolve = append(a.resolve, r.Ended.Sub(Origin(r)))
	}
	for _, p := range r.Phases {
		if p.Breached {
			a.breached++
			break
		}
	}
	for _, ap := range r.Approvals {
		if w, decided, undecided := approvalWait(ap); decided {
			a.wait = append(a.wait, w)
		} else if undecided {
			a.timedOut++
		}
	}
	if r.State == workflows.StateFailed {
		a.failed++
	}
	switch r.Disposition {
	case workflows.FalsePositive:
		a.fp++
		a.disposed++
	case workflows.TruePositive, workflows.Benign:
		a.disposed++
	}
}

func (a *accumulator) metrics() Metrics {
	return Metrics{
		Runs:              a.runs,
		TimeToContain:     durationStat(a.contain),
		TimeToResolve:     durationStat(a.resolve),
		BudgetBreach:      Rate{a.breached, a.runs},
		ApprovalWait:      durationStat(a.wait),
		ApprovalsTimedOut: a.timedOut,
		Failure:           Rate{a.failed, a.runs},
		FalsePositive:     Rate{a.fp, a.disposed},
	}
}

type phaseAcc struct {
	order                                    int
	runs, done, withBudget, breached, failed int
	duration, wait                           []time.Duration
}

// Compute computes the KPIs of runs. incidents group the runs for investigation depth; nil groups them
// with GroupIncidents(results, DefaultIncidentWindow).
func Compute(results []workflows.Result, incidents []Incident) Report {
	results = dedupe(results)
	if incidents == nil {
		incidents = GroupIncidents(results, DefaultIncidentWindow)
	}
	var overall accumulator
	byTech := map[string]*accumulator{}
	phases := map[string]*phaseAcc{}
	sources := map[[2]string]*accumulator{}
	for _, r := range results {
		overall.add(r)
		techs := r.Alert.Techniques
		if len(techs) == 0 {
			techs = []string{""}
		}
		for _, t := range uniqueStrings(techs) {
			if byTech[t] == nil {
				byTech[t] = &accumulator{}
			}
			byTech[t].add(r)
		}
		for _, key := range [][2]string{{r.Alert.Source, "\x00"}, {r.Alert.Source, r.Alert.Rule}} {
			if sources[key] == nil {
				sources[key] = &accumulator{}
			}
			sources[key].add(r)
		}
		addPhases(phases, r)
	}

	rep := Report{Runs: len(results), Overall: overall.metrics()}

	// Investigation depth, overall and per technique.
	byID := map[string]workflows.Result{}
	for _, r := range results {
		byID[r.RunID] = r
	}
	var depths []int
	techDepths := map[string][]int{}
	inIncident := map[string]bool{}
	for _, inc := range incidents {
		set := map[string]bool{}
		for _, id := range inc.Runs {
			inIncident[id] = true
			for _, t := range byID[id].Alert.Techniques {
				set[t] = true
			}
		}
		depths = append(depths, len(set))
		for t := range set {
			techDepths[t] = append(techDepths[t], len(set))
		}
	}
	rep.Depth = Depth{Incidents: len(incidents), Techniques: intStat(depths)}
	for _, r := range results {
		if !inIncident[r.RunID] {
			rep.Depth.Unkeyed++
		}
	}

	catalog := attack.Default()
	for t, acc := range byTech {
		k := TechniqueKPI{Technique: t, Metrics: acc.metrics(), Depth: intStat(techDepths[t])}
		if tech, ok := catalog.Technique(t); ok {
			k.Name = tech.Name
		}
		rep.Techniques = append(rep.Techniques, k)
	}
	sort.Slice(rep.Techniques, func(i, j int) bool { return rep.Techniques[i].Technique < rep.Techniques[j].Technique })

	for id, p := range phases {
		rep.Phases = append(rep.Phases, PhaseKPI{
			Phase: id, Runs: p.runs, Done: p.done, Duration: durationStat(p.duration),
			BudgetBreach: Rate{p.breached, p.withBudget}, ApprovalWait: durationStat(p.wait), Failure: Rate{p.failed, p.runs},
		})
	}
	sort.Slice(rep.Phases, func(i, j int) bool {
		a, b := phases[rep.Phases[i].Phase], phases[rep.Phases[j].Phase]
		if a.order != b.order {
			return a.order < b.order
		}
		return rep.Phases[i].Phase < rep.Phases[j].Phase
	})

	for key, acc := range sources {
		s := SourceKPI{Source: key[0], Rule: key[1], Runs: acc.runs, FalsePositive: Rate{acc.fp, acc.disposed}}
		if key[1] == "\x00" {
			s.Rule = ""
			rep.Sources = append(rep.Sources, s)
		} else {
			rep.Rules = append(rep.Rules, s)
		}
	}
	for _, list := range [][]SourceKPI{rep.Sources, rep.Rules} {
		sort.Slice(list, func(i, j int) bool {
			if list[i].Source != list[j].Source {
				return list[i].Source < list[j].Source
			}
			return list[i].Rule < list[j].Rule
		})
	}
	return rep
}

// addPhases adds one run's phases to the per-phase accumulators.
func addPhases(phases map[string]*phaseAcc, r workflows.Result) {
	stepPhase := map[string]string{}
	for _, s := range r.Steps {
		stepPhase[s.ID] = s.Phase
	}
	failedIn := failedPhase(r)
	for i, p := range r.Phases {
		acc := phases[p.ID]
		if acc == nil {
			acc = &phaseAcc{order: i}
			phases[p.ID] = acc
		}
		acc.order = min(acc.order, i)
		if p.Started.IsZero() {
			continue
		}
		acc.runs++
		if phaseDone(r, i) {
			acc.done++
			acc.duration = append(acc.duration, p.Ended.Sub(p.Started))
		}
		if p.Budget > 0 {
			acc.withBudget++
			if p.Breached {
				acc.breached++
			}
		}
		if failedIn == p.ID {
			acc.failed++
		}
	}
	for _, a := range r.Approvals {
		ph := stepPhase[a.Step]
		if ph == "" || phases[ph] == nil {
			continue // a rollback approval belongs to no phase
		}
		if w, decided, _ := approvalWait(a); decided {
			phases[ph].wait = append(phases[ph].wait, w)
		}
	}
}

// GroupIncidents groups runs into incidents by host key within window of each incident's first run,
// sorted by start, then key. Runs with neither host nor user are in no incident.
func GroupIncidents(results []workflows.Result, window time.Duration) []Incident {
	type keyed struct {
		key    string
		origin time.Time
		id     string
	}
	var rs []keyed
	for _, r := range results {
		key := alerts.Alert{Host: r.Alert.Host, User: r.Alert.User}.HostKey()
		if key == "" {
			continue
		}
		rs = append(rs, keyed{key, Origin(r), r.RunID})
	}
	sort.Slice(rs, func(i, j int) bool {
		if !rs[i].origin.Equal(rs[j].origin) {
			return rs[i].origin.Before(rs[j].origin)
		}
		return rs[i].id < rs[j].id
	})
	open := map[string]int{} // key → index of its latest incident
	var out []Incident
	for _, r := range rs {
		if i, ok := open[r.key]; ok && r.origin.Sub(out[i].Start) < window {
			out[i].Runs = append(out[i].Runs, r.id)
			continue
		}
		open[r.key] = len(out)
		out = append(out, Incident{Key: r.key, Start: r.origin, Runs: []string{r.id}})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.Before(out[j].Start)
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// dedupe keeps the first result of each run id, and sorts by run id so that order never matters.
func dedupe(results []workflows.Result) []workflows.Result {
	seen := map[string]bool{}
	var out []workflows.Result
	for _, r := range results {
		if seen[r.RunID] {
			continue
		}
		seen[r.RunID] = true
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].RunID < out[j].RunID })
	return out
}

func uniqueStrings(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
