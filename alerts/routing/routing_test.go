package routing

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/parry-soc/parry/alerts"
	"github.com/parry-soc/parry/playbooks"
)

func pb(id string, priority int, techniques []string, tactics []string, when string) *playbooks.Playbook {
	p := &playbooks.Playbook{ID: id, Priority: priority, Techniques: techniques, Tactics: tactics}
	if when != "" {
		p.Match = &playbooks.Match{When: when}
	}
	return p
}

func TestRoute(t *testing.T) {
	var (
		localAccounts = pb("local-accounts", 50, []string{"T1078.003"}, nil, "")
		validAccounts = pb("valid-accounts", 50, []string{"T1078"}, nil, "")
		generic       = pb("generic-endpoint-triage", 0, nil, []string{"persistence", "defense-evasion", "credential-access"}, "")
		phishA        = pb("phish-a", 50, []string{"T1566.001"}, nil, "")
		phishB        = pb("phish-b", 50, []string{"T1566.001"}, nil, "")
		phishHigh     = pb("phish-z-priority", 90, []string{"T1566.001"}, nil, "")
		phishGuarded  = pb("phish-guarded", 100, []string{"T1566.001"}, nil, "has(alert.severity) && alert.severity == 'critical'")
		hiddenFiles   = pb("hidden-files", 50, []string{"T1564"}, nil, "")
	)
	for _, tt := range []struct {
		name        string
		alert       alerts.Alert
		library     []*playbooks.Playbook
		want        string
		specificity string
		technique   string
		tactic      string
		others      []Candidate
	}{
		{
			name:        "sub-technique beats technique beats tactic",
			alert:       alerts.Alert{Techniques: []string{"T1078.003"}},
			library:     []*playbooks.Playbook{generic, validAccounts, localAccounts},
			want:        "local-accounts",
			specificity: BySubTechnique,
			technique:   "T1078.003",
			others: []Candidate{
				{ID: "valid-accounts", Specificity: ByTechnique, Technique: "T1078.003", Priority: 50},
				{ID: "generic-endpoint-triage", Specificity: ByTactic, Technique: "T1078.003", Tactic: "persistence"},
			},
		},
		{
			name:        "parent technique matches a sub-technique alert",
			alert:       alerts.Alert{Techniques: []string{"t1078.003 "}},
			library:     []*playbooks.Playbook{validAccounts, generic},
			want:        "valid-accounts",
			specificity: ByTechnique,
			technique:   "T1078.003",
			others:      []Candidate{{ID: "generic-endpoint-triage", Specificity: ByTactic, Technique: "T1078.003", Tactic: "persistence"}},
		},
		{
			name:        "a sub-technique playbook does not answer its parent technique",
			alert:       alerts.Alert{Techniques: []string{"T1078"}},
			library:     []*playbooks.Playbook{localAccounts, validAccounts},
			want:        "valid-accounts",
			specificity: ByTechnique,
			technique:   "T1078",
		},
		{
			name:        "priority breaks a tie",
			alert:       alerts.Alert{Techniques: []string{"T1566.001"}},
			library:     []*playbooks.Playbook{phishA, phishHigh, phishB},
			want:        "phish-z-priority",
			specificity: BySubTechnique,
			technique:   "T1566.001",
			others: []Candidate{
				{ID: "phish-a", Specificity: BySubTechnique, Technique: "T1566.001", Priority: 50},
				{ID: "phish-b", Specificity: BySubTechnique, Technique: "T1566.001", Priority: 50},
			},
		},
		{
			name:        "id breaks a tie of equal priority",
			alert:       alerts.Alert{Techniques: []string{"T1566.001"}},
			library:     []*playbooks.Playbook{phishB, phishA},
			want:        "phish-a",
			specificity: BySubTechnique,
			technique:   "T1566.001",
			others:      []Candidate{{ID: "phish-b", Specificity: BySubTechnique, Technique: "T1566.001", Priority: 50}},
		},
		{
			name:        "match.when false leaves the playbook out",
			alert:       alerts.Alert{Severity: "high", Techniques: []string{"T1566.001"}},
			library:     []*playbooks.Playbook{phishGuarded, phishA},
			want:        "phish-a",
			specificity: BySubTechnique,
			technique:   "T1566.001",
		},
		{
			name:        "match.when true takes part",
			alert:       alerts.Alert{Severity: "critical", Techniques: []string{"T1566.001"}},
			library:     []*playbooks.Playbook{phishGuarded, phishA},
			want:        "phish-guarded",
			specificity: BySubTechnique,
			technique:   "T1566.001",
			others:      []Candidate{{ID: "phish-a", Specificity: BySubTechnique, Technique: "T1566.001", Priority: 50}},
		},
		{
			name:        "tactic of the alert's technique",
			alert:       alerts.Alert{Techniques: []string{"T1564.001"}},
			library:     []*playbooks.Playbook{phishA, generic},
			want:        "generic-endpoint-triage",
			specificity: ByTactic,
			technique:   "T1564.001",
			tactic:      "defense-evasion",
		},
		{
			name:        "tactic the alert names itself",
			alert:       alerts.Alert{Tactics: []string{"CredentialAccess"}},
			library:     []*playbooks.Playbook{generic},
			want:        "generic-endpoint-triage",
			specificity: ByTactic,
			tactic:      "credential-access",
		},
		{
			name:        "technique playbook beats tactic fallback for the same alert",
			alert:       alerts.Alert{Techniques: []string{"T1564.001"}},
			library:     []*playbooks.Playbook{generic, hiddenFiles},
			want:        "hidden-files",
			specificity: ByTechnique,
			technique:   "T1564.001",
			others:      []Candidate{{ID: "generic-endpoint-triage", Specificity: ByTactic, Technique: "T1564.001", Tactic: "defense-evasion"}},
		},
		{
			name:        "nil playbooks are skipped",
			alert:       alerts.Alert{Techniques: []string{"T1078"}},
			library:     []*playbooks.Playbook{nil, validAccounts},
			want:        "valid-accounts",
			specificity: ByTechnique,
			technique:   "T1078",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Route(tt.alert, tt.library)
			if err != nil {
				t.Fatal(err)
			}
			if got.Playbook.ID != tt.want || got.Specificity != tt.specificity || got.Technique != tt.technique || got.Tactic != tt.tactic {
				t.Errorf("Route = %s (%s, technique %q, tactic %q), want %s (%s, technique %q, tactic %q)",
					got.Playbook.ID, got.Specificity, got.Technique, got.Tactic, tt.want, tt.specificity, tt.technique, tt.tactic)
			}
			if !reflect.DeepEqual(got.Others, tt.others) {
				t.Errorf("Others = %+v, want %+v", got.Others, tt.others)
			}
		})
	}
}

func TestRouteUnrouted(t *testing.T) {
	library := []*playbooks.Playbook{pb("phish", 50, []string{"T1566.001"}, nil, "")}
	for _, tt := range []struct {
		name  string
		alert alerts.Alert
		want  string
	}{
		{
			name:  "technique without a playbook",
			alert: alerts.Alert{Techniques: []string{"T1564.001"}},
			want:  "no playbook matches techniques T1564.001 (tactics defense-evasion); add a playbook listing one of the techniques, or a fallback playbook with tactics: [defense-evasion]",
		},
		{
			name:  "tactics only",
			alert: alerts.Alert{Tactics: []string{"lateral-movement"}},
			want:  "no playbook matches tactics lateral-movement; add a fallback playbook with tactics: [lateral-movement]",
		},
		{
			name:  "unknown technique",
			alert: alerts.Alert{Techniques: []string{"T9999"}},
			want:  "no playbook matches techniques T9999; add a playbook listing one of them",
		},
		{
			name:  "nothing to route by",
			alert: alerts.Alert{},
			want:  "no playbook matches the alert: it carries no ATT&CK technique or tactic; map the detection to ATT&CK where it is raised, or send techniques with the alert",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Route(tt.alert, library)
			var ue *UnroutedError
			if !errors.As(err, &ue) {
				t.Fatalf("Route error = %v, want *UnroutedError", err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error\ngot:  %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestRouteRefusesBrokenGuard(t *testing.T) {
	for _, tt := range []struct {
		name string
		when string
		want string
	}{
		{"does not compile", "alert.severity ==", "playbook broken: match.when"},
		{"does not evaluate", "alert.severity == 'high'", "test optional fields with has()"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			library := []*playbooks.Playbook{pb("broken", 0, []string{"T1078"}, nil, tt.when)}
			_, err := Route(alerts.Alert{ID: "a1", Techniques: []string{"T1078"}}, library)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Route error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestResolveInputs(t *testing.T) {
	p := &playbooks.Playbook{ID: "spearphishing-attachment", Inputs: []playbooks.Input{
		{Name: "host", From: "alert.host", Required: true},
		{Name: "sha256", From: "alert.hashes.sha256"},
		{Name: "pid", From: "alert.raw.pid"},
		{Name: "techniques", From: "alert.techniques"},
	}}
	got, err := ResolveInputs(p, alerts.Alert{Host: "WS-0042", Techniques: []string{"T1566.001"}, Raw: []byte(`{"pid":42}`)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"host": "WS-0042", "sha256": "", "pid": int64(42), "techniques": []string{"T1566.001"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ResolveInputs = %#v, want %#v", got, want)
	}
}

func TestResolveInputsNamesMissingRequiredField(t *testing.T) {
	p := &playbooks.Playbook{ID: "spearphishing-attachment", Inputs: []playbooks.Input{
		{Name: "sha256", From: "alert.hashes.sha256"},
		{Name: "host", From: "alert.host", Required: true},
		{Name: "user", From: "alert.user", Required: true},
	}}
	_, err := ResolveInputs(p, alerts.Alert{User: "alice", Host: " "})
	var me *MissingInputError
	if !errors.As(err, &me) {
		t.Fatalf("error = %v, want *MissingInputError", err)
	}
	if me.Input != "host" || me.From != "alert.host" || me.Playbook != "spearphishing-attachment" {
		t.Errorf("MissingInputError = %+v", me)
	}
	want := "alert has no host (alert.host), which playbook spearphishing-attachment requires as input host"
	if got := err.Error(); got != want {
		t.Errorf("error\ngot:  %s\nwant: %s", got, want)
	}
}
