package kpi

import (
	"encoding/json"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/parry-soc/parry/workflows"
)

var t0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

const m, h = time.Minute, time.Hour

// phase is a phase that ran from start to end (offsets from t0); end 0 means it never ended.
func phase(id string, budget, start, end time.Duration, breached bool) workflows.PhaseResult {
	p := workflows.PhaseResult{ID: id, Budget: budget, Started: at(start), Breached: breached}
	if end > 0 {
		p.Ended = at(end)
	}
	return p
}

func approval(step, state string, opened, decided time.Duration) workflows.ApprovalState {
	return workflows.ApprovalState{ID: step, Step: step, State: state, Opened: at(opened), Decided: at(decided)}
}

// synthetic are five runs whose KPIs are worked out by hand in the tests below. Offsets are from t0.
//
//	run  techniques            source/rule               host          alert         start   contained    end     state      disposition
//	A    T1566.001             elastic/Office child      WS-1          0             1m      11m          2h      completed  true-positive
//	B    T1566.001, T1204.002  proofpoint/malware        ws-1.corp…    30m           31m     51m, breach  1h30m   closed     false-positive
//	C    T1059.001             sigma/Encoded PowerShell  WS-2          none          2h      step failed  3h      failed     undetermined
//	D    T1059.001             sigma/Encoded PowerShell  none          5h (skewed)   4h59m   5h9m         5h19m   completed  benign
//	E    T1566.001             elastic/Office child      WS-1          1h10m         1h11m   1h41m, br.   1h45m   completed  false-positive
func synthetic() []workflows.Result {
	return []workflows.Result{
		{
			RunID: "parry-elastic-a", State: workflows.StateCompleted, Disposition: workflows.TruePositive,
			Alert:   workflows.AlertRef{Source: "elastic", Rule: "Office child", Host: "WS-1", Techniques: []string{"T1566.001"}, Time: at(0).Format(time.RFC3339)},
			Started: at(1 * m), Ended: at(2 * h),
			Phases: []workflows.PhaseResult{
				phase("immediate", 15*m, 1*m, 11*m, false),
				phase("investigation", 45*m, 11*m, 41*m, false),
				phase("recovery", 0, 41*m, 2*h, false),
			},
			Steps: []workflows.StepResult{
				{ID: "isolate-host", Phase: "immediate", State: workflows.StepSucceeded},
				{ID: "disable-user", Phase: "immediate", State: workflows.StepDenied},
				{ID: "hash-intel", Phase: "investigation", State: workflows.StepSucceeded},
				{ID: "reimage", Phase: "recovery", State: workflows.StepSucceeded},
			},
			Approvals: []workflows.ApprovalState{
				approval("isolate-host", workflows.ApprovalApproved, 1*m, 3*m),
				approval("disable-user", workflows.ApprovalDenied, 3*m, 8*m),
			},
		},
		{
			RunID: "parry-proofpoint-b", State: workflows.StateClosed, Disposition: workflows.FalsePositive,
			Alert:   workflows.AlertRef{Source: "proofpoint", Rule: "malware", Host: "ws-1.corp.example.com", Techniques: []string{"T1204.002", "T1566.001"}, Time: at(30 * m).Format(time.RFC3339)},
			Started: at(31 * m), Ended: at(90 * m),
			Phases: []workflows.PhaseResult{
				phase("immediate", 15*m, 31*m, 51*m, true),
				phase("investigation", 45*m, 51*m, 81*m, false),
			},
			Steps: []workflows.StepResult{
				{ID: "isolate-host", Phase: "immediate", State: workflows.StepSucceeded},
				{ID: "hash-intel", Phase: "investigation", State: workflows.StepSucceeded},
			},
			Approvals: []workflows.ApprovalState{approval("isolate-host", workflows.ApprovalTimedOut, 31*m, 36*m)},
		},
		{
			RunID: "parry-sigma-c", State: workflows.StateFailed, Disposition: workflows.Undetermined, Failure: "step kill failed",
			Alert:   workflows.AlertRef{Source: "sigma", Rule: "Encoded PowerShell", Host: "WS-2", Techniques: []string{"T1059.001"}},
			Started: at(2 * h), Ended: at(3 * h),
			Phases: []workflows.PhaseResult{
				phase("immediate", 15*m, 2*h, 2*h+5*m, false),
				{ID: "investigation", Budget: 45 * m},
				{ID: "recovery"},
			},
			Steps: []workflows.StepResult{
				{ID: "kill", Phase: "immediate", State: workflows.StepFailed},
				{ID: "hash-intel", Phase: "investigation", State: workflows.StepPending},
			},
		},
		{
			RunID: "parry-sigma-d", State: workflows.StateCompleted, Disposition: workflows.Benign,
			// The alert's clock is a minute ahead of the run's start: the start is the origin.
			Alert:   workflows.AlertRef{Source: "sigma", Rule: "Encoded PowerShell", Techniques: []string{"T1059.001"}, Time: at(5 * h).Format(time.RFC3339)},
			Started: at(4*h + 59*m), Ended: at(5*h + 19*m),
			Phases: []workflows.PhaseResult{
				phase("immediate", 15*m, 4*h+59*m, 5*h+9*m, false),
				phase("investigation", 45*m, 5*h+9*m, 5*h+19*m, false),
			},
			Steps: []workflows.StepResult{
				{ID: "kill", Phase: "immediate", State: workflows.StepSkipped},
				{ID: "hash-intel", Phase: "investigation", State: workflows.StepSucceeded},
			},
			// A rollback approval belongs to no phase.
			Approvals: []workflows.ApprovalState{{ID: workflows.RollbackID, State: workflows.ApprovalApproved, Opened: at(5*h + 10*m), Decided: at(5*h + 11*m)}},
		},
		{
			RunID: "parry-elastic-e", State: workflows.StateCompleted, Disposition: workflows.FalsePositive,
			Alert:   workflows.AlertRef{Source: "elastic", Rule: "Office child", Host: "WS-1", Techniques: []string{"T1566.001"}, Time: at(70 * m).Format(time.RFC3339)},
			Started: at(71 * m), Ended: at(105 * m),
			Phases: []workflows.PhaseResult{phase("immediate", 15*m, 71*m, 101*m, true)},
			Steps:  []workflows.StepResult{{ID: "isolate-host", Phase: "immediate", State: workflows.StepSucceeded}},
			Approvals: []workflows.ApprovalState{
				approval("isolate-host", workflows.ApprovalApproved, 71*m, 80*m),
			},
		},
	}
}

func TestOverallKPIsMatchHandComputedValues(t *testing.T) {
	rep := Compute(synthetic(), nil)
	if rep.Runs != 5 {
		t.Errorf("runs = %d, want 5", rep.Runs)
	}
	want := Metrics{
		Runs: 5,
		// Contained: A 11m, B 51m−30m = 21m, D 5h9m−4h59m = 10m, E 1h41m−1h10m = 31m; C failed in immediate.
		// Sorted 10 11 21 31: median rank ⌈2⌉ = 11m, p90 rank ⌈3.6⌉ = 31m, mean 73m/4.
		TimeToContain: Stat{N: 4, Median: 11 * m, P90: 31 * m, Mean: 18*m + 15*time.Second},
		// A 2h, B 60m, C 60m (no alert time: from the start), D 20m, E 35m. Sorted 20 35 60 60 120:
		// median rank 3 = 60m, p90 rank ⌈4.5⌉ = 120m, MTTR 295m/5 = 59m.
		TimeToResolve: Stat{N: 5, Median: 60 * m, P90: 120 * m, Mean: 59 * m},
		BudgetBreach:  Rate{2, 5}, // B, E
		// A 2m and 5m, D's rollback 1m, E 9m; B's timed out. Sorted 1 2 5 9: median 2m, p90 9m, mean 17m/4.
		ApprovalWait:      Stat{N: 4, Median: 2 * m, P90: 9 * m, Mean: 4*m + 15*time.Second},
		ApprovalsTimedOut: 1,
		Failure:           Rate{1, 5}, // C
		// B and E false positives, of A, B, D, E (C undetermined is left out).
		FalsePositive: Rate{2, 4},
	}
	if !reflect.DeepEqual(rep.Overall, want) {
		t.Errorf("overall:\ngot  %+v\nwant %+v", rep.Overall, want)
	}
}

func TestTechniqueKPIsMatchHandComputedValues(t *testing.T) {
	rep := Compute(synthetic(), nil)
	want := []TechniqueKPI{
		{
			Technique: "T1059.001", Name: "PowerShell",
			Metrics: Metrics{Runs: 2,
				TimeToContain: Stat{N: 1, Median: 10 * m, P90: 10 * m, Mean: 10 * m},
				// C 60m, D 20m.
				TimeToResolve: Stat{N: 2, Median: 20 * m, P90: 60 * m, Mean: 40 * m},
				BudgetBreach:  Rate{0, 2},
				ApprovalWait:  Stat{N: 1, Median: 1 * m, P90: 1 * m, Mean: 1 * m},
				Failure:       Rate{1, 2},
				FalsePositive: Rate{0, 1}, // D benign; C undetermined
			},
			// C's incident on ws-2 (D has no host key).
			Depth: IntStat{N: 1, Median: 1, P90: 1, Max: 1, Mean: 1},
		},
		{
			Technique: "T1204.002", Name: "Malicious File",
			Metrics: Metrics{Runs: 1,
				TimeToContain:     Stat{N: 1, Median: 21 * m, P90: 21 * m, Mean: 21 * m},
				TimeToResolve:     Stat{N: 1, Median: 60 * m, P90: 60 * m, Mean: 60 * m},
				BudgetBreach:      Rate{1, 1},
				ApprovalsTimedOut: 1,
				Failure:           Rate{0, 1},
				FalsePositive:     Rate{1, 1},
			},
			Depth: IntStat{N: 1, Median: 2, P90: 2, Max: 2, Mean: 2},
		},
		{
			Technique: "T1566.001", Name: "Spearphishing Attachment",
			Metrics: Metrics{Runs: 3,
				// A 11m, B 21m, E 31m.
				TimeToContain: Stat{N: 3, Median: 21 * m, P90: 31 * m, Mean: 21 * m},
				// E 35m, B 60m, A 120m: mean 215m/3.
				TimeToResolve:     Stat{N: 3, Median: 60 * m, P90: 120 * m, Mean: 71*m + 40*time.Second},
				BudgetBreach:      Rate{2, 3},
				ApprovalWait:      Stat{N: 3, Median: 5 * m, P90: 9 * m, Mean: 5*m + 20*time.Second},
				ApprovalsTimedOut: 1,
				Failure:           Rate{0, 3},
				FalsePositive:     Rate{2, 3},
			},
			// Incidents {A, B}: 2 techniques, {E}: 1.
			Depth: IntStat{N: 2, Median: 1, P90: 2, Max: 2, Mean: 1.5},
		},
	}
	if !reflect.DeepEqual(rep.Techniques, want) {
		t.Errorf("techniques:\ngot  %+v\nwant %+v", rep.Techniques, want)
	}
}

func TestPhaseKPIsMatchHandComputedValues(t *testing.T) {
	rep := Compute(synthetic(), nil)
	want := []PhaseKPI{
		{
			// Started by all five; C's failed. Done: A 10m, B 20m, D 10m, E 30m.
			Phase: "immediate", Runs: 5, Done: 4,
			Duration:     Stat{N: 4, Median: 10 * m, P90: 30 * m, Mean: 17*m + 30*time.Second},
			BudgetBreach: Rate{2, 5},
			// A 2m and 5m, E 9m (B's timed out).
			ApprovalWait: Stat{N: 3, Median: 5 * m, P90: 9 * m, Mean: 5*m + 20*time.Second},
			Failure:      Rate{1, 5},
		},
		{
			// A 30m, B 30m, D 10m; C never reached it, E has none.
			Phase: "investigation", Runs: 3, Done: 3,
			Duration:     Stat{N: 3, Median: 30 * m, P90: 30 * m, Mean: 23*m + 20*time.Second},
			BudgetBreach: Rate{0, 3},
			Failure:      Rate{0, 3},
		},
		{
			// Only A; no budget.
			Phase: "recovery", Runs: 1, Done: 1,
			Duration: Stat{N: 1, Median: 79 * m, P90: 79 * m, Mean: 79 * m},
			Failure:  Rate{0, 1},
		},
	}
	if !reflect.DeepEqual(rep.Phases, want) {
		t.Errorf("phases:\ngot  %+v\nwant %+v", rep.Phases, want)
	}
}

func TestFalsePositiveRatesBySourceAndRule(t *testing.T) {
	rep := Compute(synthetic(), nil)
	wantSources := []SourceKPI{
		{Source: "elastic", Runs: 2, FalsePositive: Rate{1, 2}},
		{Source: "proofpoint", Runs: 1, FalsePositive: Rate{1, 1}},
		{Source: "sigma", Runs: 2, FalsePositive: Rate{0, 1}},
	}
	if !reflect.DeepEqual(rep.Sources, wantSources) {
		t.Errorf("sources:\ngot  %+v\nwant %+v", rep.Sources, wantSources)
	}
	wantRules := []SourceKPI{
		{Source: "elastic", Rule: "Office child", Runs: 2, FalsePositive: Rate{1, 2}},
		{Source: "proofpoint", Rule: "malware", Runs: 1, FalsePositive: Rate{1, 1}},
		{Source: "sigma", Rule: "Encoded PowerShell", Runs: 2, FalsePositive: Rate{0, 1}},
	}
	if !reflect.DeepEqual(rep.Rules, wantRules) {
		t.Errorf("rules:\ngot  %+v\nwant %+v", rep.Rules, wantRules)
	}
}

func TestInvestigationDepthGroupsByHostKeyWithinTheWindow(t *testing.T) {
	results := synthetic()
	incidents := GroupIncidents(results, DefaultIncidentWindow)
	// A (0) and B (30m, ws-1.corp.example.com is ws-1) share an incident; E (1h10m) is past the hour after
	// its start and opens a new one; C is on ws-2; D has no host or user.
	want := []Incident{
		{Key: "ws-1", Start: at(0), Runs: []string{"parry-elastic-a", "parry-proofpoint-b"}},
		{Key: "ws-1", Start: at(70 * m), Runs: []string{"parry-elastic-e"}},
		{Key: "ws-2", Start: at(2 * h), Runs: []string{"parry-sigma-c"}},
	}
	if !reflect.DeepEqual(incidents, want) {
		t.Errorf("incidents:\ngot  %+v\nwant %+v", incidents, want)
	}
	rep := Compute(results, nil)
	// Depths 2, 1, 1: median 1, p90 2, mean 4/3.
	wantDepth := Depth{Incidents: 3, Techniques: IntStat{N: 3, Median: 1, P90: 2, Max: 2, Mean: 1.33}, Unkeyed: 1}
	if rep.Depth != wantDepth {
		t.Errorf("depth = %+v, want %+v", rep.Depth, wantDepth)
	}

	// Incidents from elsewhere (the incident workflows) replace the grouping.
	rep = Compute(results, []Incident{{Key: "all", Runs: []string{"parry-elastic-a", "parry-proofpoint-b", "parry-sigma-c", "parry-sigma-d", "parry-elastic-e"}}})
	if got := rep.Depth; got.Incidents != 1 || got.Techniques.Max != 3 || got.Unkeyed != 0 {
		t.Errorf("depth with given incidents = %+v", got)
	}
}

func TestIncidentWindowIsExclusive(t *testing.T) {
	r := func(id string, off time.Duration, user string) workflows.Result {
		return workflows.Result{RunID: id, Started: at(off), Alert: workflows.AlertRef{User: user, Time: at(off).Format(time.RFC3339)}}
	}
	got := GroupIncidents([]workflows.Result{r("a", 0, "Alice"), r("b", 59*m, "alice"), r("c", 60*m, "alice")}, time.Hour)
	if len(got) != 2 || len(got[0].Runs) != 2 || got[1].Runs[0] != "c" || got[0].Key != "alice" {
		t.Errorf("incidents = %+v: want {a, b} (the user is the key, lowercased) then {c} (exactly an hour later)", got)
	}
}

func TestComputeIgnoresOrderAndDuplicates(t *testing.T) {
	want := Compute(synthetic(), nil)
	rs := append(synthetic(), synthetic()[2])
	rand.New(rand.NewSource(1)).Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
	if got := Compute(rs, nil); !reflect.DeepEqual(got, want) {
		t.Errorf("shuffled with a duplicate:\ngot  %+v\nwant %+v", got, want)
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	ten := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tt := range []struct {
		name   string
		values []int
		p      float64
		want   int
	}{
		{"median of ten is the fifth", ten, 50, 5},
		{"p90 of ten is the ninth", ten, 90, 9},
		{"p90 of four is the fourth", []int{1, 2, 3, 4}, 90, 4},
		{"median of four is the lower middle", []int{1, 2, 3, 4}, 50, 2},
		{"one value", []int{7}, 90, 7},
		{"no values", nil, 50, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.values, tt.p); got != tt.want {
				t.Errorf("Percentile(%v, %v) = %d, want %d", tt.values, tt.p, got, tt.want)
			}
		})
	}
}

func TestEmptyInputGivesAnEmptyReport(t *testing.T) {
	rep := Compute(nil, nil)
	if rep.Runs != 0 || rep.Overall.FalsePositive.Value() != 0 || len(rep.Techniques) != 0 || rep.Depth.Incidents != 0 {
		t.Errorf("empty report = %+v", rep)
	}
}

func TestReportJSONGivesSecondsAndRates(t *testing.T) {
	rep := Compute(synthetic(), nil)
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Overall struct {
			TimeToContain map[string]float64 `json:"time_to_contain"`
			FalsePositive map[string]float64 `json:"false_positive"`
		} `json:"overall"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Overall.TimeToContain; got["n"] != 4 || got["median_seconds"] != 660 || got["p90_seconds"] != 1860 || got["mean_seconds"] != 1095 {
		t.Errorf("time_to_contain = %v", got)
	}
	if got := doc.Overall.FalsePositive; got["count"] != 2 || got["of"] != 4 || got["rate"] != 0.5 {
		t.Errorf("false_positive = %v", got)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, rep) {
		t.Errorf("the report does not survive a JSON round trip:\ngot  %+v\nwant %+v", back, rep)
	}
}
